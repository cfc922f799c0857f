"""Experiment configuration: dataclasses loaded from YAML, validated once, every problem reported.

Keys follow MUNIT's config names (gen.dim, gen.n_downsample, dis.n_layer, ...) so that a reader who
knows MUNIT finds them where they expect. Unknown keys are errors: a typo must not silently fall back
to a default.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

import yaml

Activation = Literal["relu", "lrelu", "tanh", "none"]
PadType = Literal["reflect", "replicate", "zero"]
DisNorm = Literal["none", "in"]
GanType = Literal["lsgan"]

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
DOMAIN_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# The style encoder downsamples four times whatever gen.n_downsample says (MUNIT's fixed choice).
STYLE_ENCODER_DOWNSAMPLINGS = 4


class ConfigError(ValueError):
    """A configuration value is impossible; the message names every offending field."""


@dataclass(frozen=True)
class GenConfig:
    dim: int = 64  # channels after the first 7x7 conv; doubled at each downsampling
    style_dim: int = 8  # length of the style code
    n_downsample: int = 2  # stride-2 convs in the content encoder (and upsamplings in the decoder)
    n_res: int = 4  # residual blocks in the content encoder and in the decoder
    mlp_dim: int = 256  # hidden width of the style -> AdaIN-parameter MLP
    activ: Activation = "relu"
    pad_type: PadType = "reflect"


@dataclass(frozen=True)
class DisConfig:
    dim: int = 64  # channels of the first conv of each scale; doubled per layer
    n_layer: int = 4  # stride-2 convs per scale
    num_scales: int = 3  # image scales, each half the size of the previous
    norm: DisNorm = "none"
    activ: Activation = "lrelu"  # leaky slope 0.2
    pad_type: PadType = "reflect"
    gan_type: GanType = "lsgan"
    spectral_norm: bool = False  # SAGAN's spectral normalisation of every discriminator weight


@dataclass(frozen=True)
class AttentionConfig:
    enabled: bool = True  # false builds plain MUNIT (no attention anywhere), whatever the sites say
    content_encoder: bool = False  # one layer before each downsampling of the content encoder
    decoder_bottleneck: bool = True  # one layer after the AdaIN residual blocks (reference placement)
    decoder_upsampling: bool = False  # one layer before each upsampling of the decoder
    discriminator: bool = True  # one layer after the last strided conv of each scale (reference)
    pool_key_value: bool = False  # max-pool keys and values 2x2 (BigGAN): 4x less attention memory

    def site_enabled(self, site: str) -> bool:
        return self.enabled and bool(getattr(self, site))


@dataclass(frozen=True)
class DomainsConfig:
    a: str = "a"  # human name of domain A (e.g. circles)
    b: str = "b"  # human name of domain B (e.g. squares)


@dataclass(frozen=True)
class TrainConfig:
    """MUNIT's training recipe (Huang et al. 2018); defaults are the paper's."""

    batch_size: int = 1  # images per domain per iteration
    max_iter: int = 1000000  # iterations (one discriminator + one generator update each)
    lr: float = 0.0001  # Adam learning rate of both generators
    lr_dis: float | None = None  # Adam learning rate of both discriminators; null = lr (two-timescale otherwise)
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    weight_decay: float = 0.0001  # Adam L2 weight decay
    lr_step: int = 100000  # iterations between learning-rate decays
    lr_gamma: float = 0.5  # learning-rate factor at each decay
    gan_w: float = 1.0  # weight of the LSGAN adversarial loss
    recon_x_w: float = 10.0  # weight of the within-domain image reconstruction loss
    recon_s_w: float = 1.0  # weight of the style-code reconstruction loss
    recon_c_w: float = 1.0  # weight of the content-code reconstruction loss
    recon_x_cyc_w: float = 10.0  # weight of the cycle reconstruction loss; 0 switches it off
    num_workers: int = 0  # data-loading worker processes
    checkpoint_every: int = 10000  # iterations between checkpoints (one is also written at the end)
    sample_every: int = 10000  # iterations between sample grids
    log_every: int = 1  # iterations between log lines
    sample_images: int = 4  # inputs per domain in a sample grid
    sample_styles: int = 3  # random styles per input in a sample grid
    seed: int = 0  # seeds data order, augmentation and sampled style codes

    @property
    def dis_lr(self) -> float:
        return self.lr if self.lr_dis is None else self.lr_dis


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "sa-munit"  # model name in the manifest and in object-store keys
    seed: int = 0  # seeds weight initialisation
    image_size: int = 256  # side length in pixels the model is trained and exported at
    domains: DomainsConfig = field(default_factory=DomainsConfig)
    gen: GenConfig = field(default_factory=GenConfig)
    dis: DisConfig = field(default_factory=DisConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def architecture(self) -> str:
        return "sa-munit" if self.attention.enabled else "munit"

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this for the translator graphs.

        Each downsampling halves the size exactly; a pooled attention layer at the bottleneck or
        on the decoder's way up halves it once more.
        """
        multiple = 2**self.gen.n_downsample
        decoder_pools = self.attention.pool_key_value and (
            self.attention.site_enabled("decoder_bottleneck")
            or self.attention.site_enabled("decoder_upsampling")
        )
        return multiple * 2 if decoder_pools else multiple

    @property
    def min_size(self) -> int:
        # The style encoder needs 2^4 pixels to reach a 1x1 map; reflect padding needs the
        # bottleneck to be at least 2 wide.
        return max(2**STYLE_ENCODER_DOWNSAMPLINGS, 2 * self.size_multiple)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_positive(errors: list[str], path: str, value: int) -> None:
    if value <= 0:
        errors.append(f"{path}: must be a positive integer (got {value})")


def _semantic_errors(cfg: ExperimentConfig) -> list[str]:
    errors: list[str] = []
    if not NAME_PATTERN.match(cfg.name):
        errors.append(f"name: must match {NAME_PATTERN.pattern} (got {cfg.name!r})")
    if cfg.seed < 0:
        errors.append(f"seed: must be >= 0 (got {cfg.seed})")
    for path, value in (
        ("image_size", cfg.image_size),
        ("gen.dim", cfg.gen.dim),
        ("gen.style_dim", cfg.gen.style_dim),
        ("gen.mlp_dim", cfg.gen.mlp_dim),
        ("dis.dim", cfg.dis.dim),
        ("dis.n_layer", cfg.dis.n_layer),
        ("dis.num_scales", cfg.dis.num_scales),
    ):
        _check_positive(errors, path, value)
    if cfg.gen.n_downsample < 0:
        errors.append(f"gen.n_downsample: must be >= 0 (got {cfg.gen.n_downsample})")
    if cfg.gen.n_res < 0:
        errors.append(f"gen.n_res: must be >= 0 (got {cfg.gen.n_res})")
    for domain in ("a", "b"):
        value = getattr(cfg.domains, domain)
        if not DOMAIN_NAME_PATTERN.match(value):
            errors.append(f"domains.{domain}: must match {DOMAIN_NAME_PATTERN.pattern} (got {value!r})")
    if cfg.domains.a == cfg.domains.b:
        errors.append(f"domains: a and b must differ (both {cfg.domains.a!r})")
    errors += _train_errors(cfg.train)
    if errors:
        return errors
    # Query/key convs project to C/8 channels: every attended feature map needs at least 8 channels.
    if cfg.attention.enabled and cfg.gen.dim < 8 and (
        cfg.attention.content_encoder or cfg.attention.decoder_upsampling
    ):
        errors.append(f"gen.dim: must be >= 8 when attention runs at full width (got {cfg.gen.dim})")
    if cfg.image_size % cfg.size_multiple != 0:
        errors.append(
            f"image_size: must be a multiple of {cfg.size_multiple} "
            f"(2^gen.n_downsample, doubled when decoder attention pools keys) (got {cfg.image_size})"
        )
    if cfg.image_size < cfg.min_size:
        errors.append(f"image_size: must be >= {cfg.min_size} (got {cfg.image_size})")
    scales_floor = 2 ** (cfg.dis.n_layer + cfg.dis.num_scales - 1)
    if cfg.image_size < scales_floor:
        errors.append(
            f"image_size: {cfg.image_size} is too small for dis.n_layer={cfg.dis.n_layer} and "
            f"dis.num_scales={cfg.dis.num_scales} (needs >= {scales_floor})"
        )
    return errors


def _train_errors(train: TrainConfig) -> list[str]:
    errors: list[str] = []
    for name in ("batch_size", "max_iter", "lr_step", "checkpoint_every", "sample_every", "log_every",
                 "sample_images", "sample_styles"):
        _check_positive(errors, f"train.{name}", getattr(train, name))
    for name in ("num_workers", "seed"):
        if getattr(train, name) < 0:
            errors.append(f"train.{name}: must be >= 0 (got {getattr(train, name)})")
    if not train.lr > 0:
        errors.append(f"train.lr: must be > 0 (got {train.lr})")
    if train.lr_dis is not None and not train.lr_dis > 0:
        errors.append(f"train.lr_dis: must be > 0 or null (got {train.lr_dis})")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(train, name) < 1:
            errors.append(f"train.{name}: must be in [0, 1) (got {getattr(train, name)})")
    if not 0 < train.lr_gamma <= 1:
        errors.append(f"train.lr_gamma: must be in (0, 1] (got {train.lr_gamma})")
    for name in ("weight_decay", "gan_w", "recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w"):
        value = getattr(train, name)
        if not (value >= 0 and value != float("inf")):
            errors.append(f"train.{name}: must be a finite number >= 0 (got {value})")
    return errors


def _float_or_error(value: Any, field_path: str, errors: list[str]) -> float | None:
    # YAML 1.1 reads "1e-4" (no dot) as a string: say so instead of a bare type error.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = " (write exponents with a dot, e.g. 1.0e-4)" if isinstance(value, str) else ""
        errors.append(f"{field_path}: must be a number (got {value!r}){hint}")
        return None
    return float(value)


def _build(cls: type, raw: Any, path: str, errors: list[str]) -> Any:
    """Builds dataclass `cls` from a mapping, recording unknown keys and wrong types under `path`."""
    prefix = f"{path}." if path else ""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.append(f"{path or '<root>'}: must be a mapping (got {type(raw).__name__})")
        return cls()
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            errors.append(f"{prefix}{key}: unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        value = raw[f.name]
        hint = hints[f.name]
        field_path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            values[f.name] = _build(hint, value, field_path, errors)
        elif getattr(hint, "__origin__", None) is Literal:
            allowed = get_args(hint)
            if value not in allowed:
                errors.append(f"{field_path}: must be one of {', '.join(map(str, allowed))} (got {value!r})")
            else:
                values[f.name] = value
        elif hint is bool:
            if not isinstance(value, bool):
                errors.append(f"{field_path}: must be true or false (got {value!r})")
            else:
                values[f.name] = value
        elif hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(f"{field_path}: must be an integer (got {value!r})")
            else:
                values[f.name] = value
        elif hint is float or hint == (float | None):
            if value is None and hint != float:
                values[f.name] = None
            else:
                number = _float_or_error(value, field_path, errors)
                if number is not None:
                    values[f.name] = number
        elif hint is str:
            if not isinstance(value, str):
                errors.append(f"{field_path}: must be a string (got {value!r})")
            else:
                values[f.name] = value
        else:  # pragma: no cover - a new field type without a branch here is a programming error
            raise TypeError(f"unsupported config field type {hint} for {field_path}")
    return cls(**values)


def config_from_dict(raw: Any, source: str = "<dict>") -> ExperimentConfig:
    errors: list[str] = []
    cfg = _build(ExperimentConfig, raw, "", errors)
    # Fields with the wrong type fell back to defaults above, so range checks on the rest still
    # run: every problem is reported in one go.
    errors += _semantic_errors(cfg)
    if errors:
        raise ConfigError(f"invalid config {source}:\n  " + "\n  ".join(errors))
    return cfg


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    return config_from_dict(raw, str(path))

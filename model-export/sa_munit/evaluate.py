"""Evaluation on the shapes benchmark's test split, for a training checkpoint or an ONNX export.

Every metric is named for what it measures. There are no Inception or LPIPS weights here, so
nothing is called FID or LPIPS: the learned metrics use the project's own judges (judges.py).

Per direction (A→B turns circles into squares, B→A squares into circles), with the same
`styles` style codes for every input, drawn from the shared seed→style PRNG so that a checkpoint
and its export are measured on identical inputs:

- translation success: share of translations the domain classifier labels as the target domain;
- shape IoU: IoU of the translation's object mask (segmenter) with the ideal answer, the target
  shape at the source object's position and size (benchmark factors);
- content IoU and centroid shift: source object mask versus the translation's object mask. A
  perfect circle→square translation scores π/4 ≈ 0.785 here, not 1, because the shapes differ;
- diversity: mean pairwise L1 between the translations of one input under different styles
  (StarGAN v2's protocol), in pixels (images scaled to [0, 1]) and in classifier feature space;
- cycle reconstruction L1: translate with a random style, translate back with the input's own
  style code, compare with the input (both backends); within-domain reconstruction L1 (encode,
  decode with the own style) needs the source decoder, which an export does not contain;
- style-code reconstruction: mean |E_style(translation) - style| over the style codes used;
- the final γ of every attention layer.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import onnx
import onnxruntime
import torch
from PIL import Image
from tqdm import tqdm

from .benchmark_data import DOMAIN_SHAPES, ideal_target_mask
from .checkpoint import load_checkpoint
from .judges import Judges, LabelledSplit, benchmark_info, judge_quality, load_split, mask_ious
from .manifest import sha256_of
from .networks import SAMUNIT
from .seed_style import style_from_seed
from .train import attention_gammas, grid_image

Domain = Literal["a", "b"]
DIRECTIONS: tuple[tuple[Domain, Domain], ...] = (("a", "b"), ("b", "a"))
EVALUATION_FORMAT = "sa-munit-evaluation/1"
STYLE_SEED_BASE = 1_000_003  # style k of an evaluation with seed s comes from style_from_seed(STYLE_SEED_BASE * s + k)


class EvaluationError(ValueError):
    """An evaluation cannot run; the message names the file, folder or option."""


@dataclass(frozen=True)
class EvalConfig:
    styles: int = 10  # style codes per input (StarGAN v2 uses 10 for diversity)
    max_images: int | None = None  # test images per domain; None = the whole test split
    seed: int = 0  # picks the style codes
    batch_size: int = 50  # images per forward pass


class Backend(Protocol):
    """What the evaluation needs from a model, whether PyTorch checkpoint or ONNX export."""

    description: dict[str, Any]
    image_size: int
    style_dim: int

    def translate(self, images: torch.Tensor, source: Domain, styles: torch.Tensor) -> torch.Tensor: ...

    def encode_style(self, images: torch.Tensor, domain: Domain) -> torch.Tensor: ...

    def reconstruct(self, images: torch.Tensor, domain: Domain) -> torch.Tensor | None: ...

    def attention_gammas(self) -> dict[str, float]: ...


def _other(domain: Domain) -> Domain:
    return "b" if domain == "a" else "a"


class CheckpointBackend:
    def __init__(self, path: str | Path) -> None:
        cfg, model, extra = load_checkpoint(path)
        self.model: SAMUNIT = model
        for network in (model.gen_a, model.gen_b):
            network.eval()
        self.image_size = cfg.image_size
        self.style_dim = cfg.gen.style_dim
        self.description = {"kind": "checkpoint", "path": str(path), "name": cfg.name,
                            "architecture": cfg.architecture, "iteration": extra.get("iteration")}

    @torch.no_grad()
    def translate(self, images: torch.Tensor, source: Domain, styles: torch.Tensor) -> torch.Tensor:
        content = self.model.generator(source).content_encoder(images)
        return self.model.generator(_other(source)).decode(content, styles)

    @torch.no_grad()
    def encode_style(self, images: torch.Tensor, domain: Domain) -> torch.Tensor:
        return self.model.generator(domain).style_encoder(images)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, domain: Domain) -> torch.Tensor | None:
        generator = self.model.generator(domain)
        content, style = generator.encode(images)
        return generator.decode(content, style)

    def attention_gammas(self) -> dict[str, float]:
        return attention_gammas(self.model)


class OnnxBackend:
    """An exported model folder (manifest.json + graphs), run in onnxruntime on CPU."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        manifest_path = folder / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise EvaluationError(f"{manifest_path}: no such file (--onnx takes an exported model folder)") from err
        except (OSError, json.JSONDecodeError) as err:
            raise EvaluationError(f"{manifest_path} is unreadable: {err}") from err
        self.sessions: dict[str, onnxruntime.InferenceSession] = {}
        self.gammas: dict[str, float] = {}
        for graph in manifest["graphs"]:
            path = folder / graph["file"]
            if not path.is_file():
                raise EvaluationError(f"{path}: listed in {manifest_path} but missing")
            if sha256_of(path) != graph["sha256"]:
                raise EvaluationError(f"{path}: sha256 differs from {manifest_path}")
            key = graph["direction"] if graph["role"] == "translator" else f"style_{graph['domain']}"
            self.sessions[key] = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            # The exporter keeps a γ as a named initializer unless it folded it into a constant.
            for initializer in onnx.load(str(path)).graph.initializer:
                if initializer.name.endswith(".gamma"):
                    value = float(onnx.numpy_helper.to_array(initializer))
                    self.gammas[f"{Path(graph['file']).stem}:{initializer.name}"] = value
        self.image_size = int(manifest["image_size"])
        self.style_dim = int(manifest["style_dim"])
        self.description = {"kind": "onnx", "path": str(folder), "name": manifest["name"],
                            "version": manifest["version"], "architecture": manifest["architecture"]}

    def translate(self, images: torch.Tensor, source: Domain, styles: torch.Tensor) -> torch.Tensor:
        session = self.sessions[f"{source}2{_other(source)}"]
        out = session.run(None, {"image": images.numpy(), "style": styles.numpy().astype(np.float32)})[0]
        return torch.from_numpy(out)

    def encode_style(self, images: torch.Tensor, domain: Domain) -> torch.Tensor:
        return torch.from_numpy(self.sessions[f"style_{domain}"].run(None, {"image": images.numpy()})[0])

    def reconstruct(self, images: torch.Tensor, domain: Domain) -> torch.Tensor | None:
        return None  # an export holds source encoders and target decoders only

    def attention_gammas(self) -> dict[str, float]:
        return dict(self.gammas)


def open_backend(checkpoint: str | None, onnx_folder: str | None) -> Backend:
    if (checkpoint is None) == (onnx_folder is None):
        raise EvaluationError("give exactly one of --checkpoint or --onnx")
    return CheckpointBackend(checkpoint) if checkpoint is not None else OnnxBackend(onnx_folder)  # type: ignore[arg-type]


# -- the metrics ------------------------------------------------------------------------------------


def evaluation_styles(cfg: EvalConfig, style_dim: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([style_from_seed(STYLE_SEED_BASE * cfg.seed + k, style_dim)
                                      for k in range(cfg.styles)]))


def _pairwise_l1(values: torch.Tensor) -> torch.Tensor:
    """values [N, K, D] -> mean |v_i - v_j| over the K(K-1)/2 pairs of each input, per input [N]."""
    pairs = list(itertools.combinations(range(values.shape[1]), 2))
    if not pairs:
        return torch.zeros(values.shape[0])
    return torch.stack([(values[:, i] - values[:, j]).abs().mean(dim=1) for i, j in pairs], dim=1).mean(dim=1)


def _centroids(masks: np.ndarray) -> np.ndarray:
    """[N,H,W] bool -> [N,2] (x, y) pixel-centre centroids; NaN for an empty mask."""
    ys, xs = np.mgrid[0:masks.shape[1], 0:masks.shape[2]] + 0.5
    area = masks.sum(axis=(1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (masks * xs).sum(axis=(1, 2)) / area
        cy = (masks * ys).sum(axis=(1, 2)) / area
    return np.stack([cx, cy], axis=1)


def _mean_sd(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values))}


def evaluate_direction(backend: Backend, judges: Judges, split: LabelledSplit, factors: dict[str, dict[str, Any]],
                       source: Domain, cfg: EvalConfig, styles: torch.Tensor, progress: bool) -> dict[str, Any]:
    target = _other(source)
    target_shape = DOMAIN_SHAPES[1 if target == "b" else 0]
    selected = (split.labels == (0 if source == "a" else 1)).nonzero()[:, 0]
    images, source_masks = split.images[selected], split.masks[selected].numpy() > 0.5
    missing = [split.files[i] for i in selected.tolist() if split.files[i] not in factors]
    if missing:
        raise EvaluationError(f"no ground-truth factors for {', '.join(missing[:3])} (is the benchmark folder complete?)")
    ideal = np.stack([ideal_target_mask(factors[split.files[i]], target_shape, backend.image_size)
                      for i in selected.tolist()])
    k = cfg.styles
    success, shape_iou, content_iou, shifts, empty = [], [], [], [], 0
    pixel_div, feature_div, cycle_l1, within_l1, style_err = [], [], [], [], []
    for start in tqdm(range(0, len(images), cfg.batch_size), desc=f"{source}→{target}", unit="batch",
                      disable=not progress):
        x = images[start:start + cfg.batch_size]
        n = x.shape[0]
        repeated = x.repeat_interleave(k, dim=0)  # [n*k]: input i with styles 0..k-1
        style_codes = styles.repeat(n, 1)
        translated = backend.translate(repeated, source, style_codes).clamp(-1, 1)
        success.append((judges.target_probability(translated, target) > 0.5).float().numpy())
        masks = judges.object_masks(translated)
        shape_iou.append(mask_ious(masks, np.repeat(ideal[start:start + n], k, axis=0)))
        src = np.repeat(source_masks[start:start + n], k, axis=0)
        content_iou.append(mask_ious(masks, src))
        shift = np.linalg.norm(_centroids(masks) - _centroids(src), axis=1)
        empty += int(np.isnan(shift).sum())
        shifts.append(shift[~np.isnan(shift)])
        as_unit = (translated + 1) / 2  # pixels in [0, 1]
        pixel_div.append(_pairwise_l1(as_unit.reshape(n, k, -1)).numpy())
        feature_div.append(_pairwise_l1(judges.features(translated).reshape(n, k, -1)).numpy())
        style_err.append((backend.encode_style(translated, target) - style_codes).abs().mean(dim=1).numpy())
        # Cycle: back to the source domain with the input's own style code.
        own_style = backend.encode_style(x, source)
        first_style = translated.reshape(n, k, *x.shape[1:])[:, 0]
        back = backend.translate(first_style, target, own_style).clamp(-1, 1)
        cycle_l1.append(((back - x).abs().mean(dim=(1, 2, 3)) / 2).numpy())  # /2: in [0, 1] pixel units
        within = backend.reconstruct(x, source)
        if within is not None:
            within_l1.append(((within.clamp(-1, 1) - x).abs().mean(dim=(1, 2, 3)) / 2).numpy())
    shift_values = np.concatenate(shifts) if shifts else np.zeros(0)
    return {
        "source": source,
        "target": target,
        "inputs": int(len(images)),
        "translations": int(len(images) * k),
        "translation_success": float(np.mean(np.concatenate(success))),
        "shape_iou": _mean_sd(np.concatenate(shape_iou)),
        "content_iou": _mean_sd(np.concatenate(content_iou)),
        "centroid_shift_px": _mean_sd(shift_values) if len(shift_values) else None,
        "empty_object_masks": empty,
        "diversity_pixel_l1": _mean_sd(np.concatenate(pixel_div)),
        "diversity_feature_l1": _mean_sd(np.concatenate(feature_div)),
        "cycle_reconstruction_l1": _mean_sd(np.concatenate(cycle_l1)),
        "within_domain_reconstruction_l1": _mean_sd(np.concatenate(within_l1)) if within_l1 else None,
        "style_reconstruction_l1": _mean_sd(np.concatenate(style_err)),
    }


def _factors_by_file(data_dir: Path) -> dict[str, dict[str, Any]]:
    """"testA/00007.png" -> that image's ground-truth factors."""
    factors: dict[str, dict[str, Any]] = {}
    for folder in ("testA", "testB"):
        path = data_dir / "factors" / f"{folder}.jsonl"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
            factors.update({f"{folder}/{raw['file']}": raw for raw in map(json.loads, filter(None, lines))})
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise EvaluationError(f"{path}: cannot read the ground-truth factors ({err})") from err
    return factors


def evaluate(backend: Backend, judges: Judges, data_dir: str | Path, cfg: EvalConfig = EvalConfig(),
             progress: bool = True) -> dict[str, Any]:
    info = benchmark_info(data_dir)
    data_size = int(info["config"]["image_size"])
    if data_size != backend.image_size:
        raise EvaluationError(f"{data_dir}: benchmark images are {data_size} px, the model was trained at "
                              f"{backend.image_size} px (write a benchmark with --image-size {backend.image_size})")
    if judges.image_size != data_size:
        raise EvaluationError(f"judges were trained on {judges.image_size} px images, the benchmark has {data_size} px")
    if cfg.styles < 2:
        raise EvaluationError(f"--styles: must be >= 2 for a pairwise diversity (got {cfg.styles})")
    split = load_split(data_dir, "test", cfg.max_images)
    factors = _factors_by_file(Path(data_dir))
    styles = evaluation_styles(cfg, backend.style_dim)
    directions = {f"{source}2{target}": evaluate_direction(backend, judges, split, factors, source, cfg, styles, progress)
                  for source, target in DIRECTIONS}
    return {
        "format": EVALUATION_FORMAT,
        "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "model": backend.description,
        "benchmark": {"path": str(data_dir), **info["config"]},
        "config": asdict(cfg),
        "judges": {"trained": judges.trained, "on_this_test_split": judge_quality(judges, split)},
        "directions": directions,
        "attention_gammas": backend.attention_gammas(),
    }


def translation_grid(backend: Backend, data_dir: str | Path, inputs: int = 6, styles: int = 6, seed: int = 0) -> Image.Image:
    """Rows: the first `inputs` test images of A, then of B. Columns: input, then one translation per style."""
    split = load_split(data_dir, "test", inputs)
    codes = evaluation_styles(EvalConfig(styles=styles, seed=seed), backend.style_dim)
    rows = []
    for source, _ in DIRECTIONS:
        x = split.images[split.labels == (0 if source == "a" else 1)]
        translated = backend.translate(x.repeat_interleave(styles, dim=0), source, codes.repeat(len(x), 1))
        rows.append(torch.cat([x[:, None], translated.reshape(len(x), styles, *x.shape[1:])], dim=1))
    return grid_image(torch.cat(rows))


# -- reports ----------------------------------------------------------------------------------------

METRIC_ROWS: tuple[tuple[str, str, int], ...] = (
    # (key, label, decimals); the label says what each number is and which way is better
    ("translation_success", "translation success (classifier says target domain) ↑", 3),
    ("shape_iou", "shape IoU with the ideal target shape ↑", 3),
    ("content_iou", "content IoU, source vs translation mask (ideal circle↔square: 0.785)", 3),
    ("centroid_shift_px", "centroid shift, px ↓", 2),
    ("diversity_pixel_l1", "diversity: mean pairwise L1 over styles, pixels in [0,1] ↑", 4),
    ("diversity_feature_l1", "diversity: mean pairwise L1 in classifier feature space ↑", 4),
    ("cycle_reconstruction_l1", "cycle reconstruction L1, pixels in [0,1] ↓", 4),
    ("within_domain_reconstruction_l1", "within-domain reconstruction L1, pixels in [0,1] ↓", 4),
    ("style_reconstruction_l1", "style-code reconstruction error (mean abs) ↓", 4),
)


def metric_mean(value: Any) -> float | None:
    if value is None:
        return None
    return float(value["mean"]) if isinstance(value, dict) else float(value)


def format_value(value: Any, decimals: int) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, dict):
        return f"{value['mean']:.{decimals}f} ± {value['sd']:.{decimals}f}"
    return f"{value:.{decimals}f}"


def markdown_report(result: dict[str, Any]) -> str:
    model, judges = result["model"], result["judges"]
    quality = judges["on_this_test_split"]
    lines = [
        f"# Evaluation of {model['name']} ({model['kind']}: `{model['path']}`)",
        "",
        f"Benchmark `{result['benchmark']['path']}`, {result['benchmark']['image_size']} px test split; "
        f"{result['config']['styles']} style codes per input (seed {result['config']['seed']}). "
        "Values are mean ± sd over translations (over inputs for reconstructions).",
        "",
        f"Judges on the real test images: domain classifier accuracy {quality['classifier_accuracy']:.3f}, "
        f"object segmenter mean IoU {quality['segmenter_mean_iou']:.3f} ({quality['images']} images).",
        "",
        "| metric | A→B | B→A |",
        "| --- | --- | --- |",
    ]
    directions = result["directions"]
    for key, label, decimals in METRIC_ROWS:
        lines.append(f"| {label} | {format_value(directions['a2b'][key], decimals)} | "
                     f"{format_value(directions['b2a'][key], decimals)} |")
    empty = directions["a2b"]["empty_object_masks"], directions["b2a"]["empty_object_masks"]
    lines += ["", f"Translations with no object found (left out of the centroid shift): A→B {empty[0]}, B→A {empty[1]}."]
    gammas = result["attention_gammas"]
    lines += ["", "## Attention γ", ""]
    if gammas:
        lines += ["| layer | γ |", "| --- | --- |"] + [f"| {name} | {value:.4f} |" for name, value in gammas.items()]
    else:
        lines.append("No attention layers (or none visible in the exported graphs).")
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evaluation.json", out_dir / "evaluation.md"
    write_text_atomically(json_path, json.dumps(result, indent=2) + "\n")
    write_text_atomically(md_path, markdown_report(result))
    return json_path, md_path


def write_text_atomically(path: Path, text: str) -> None:
    """A report is either the old one or the new one, never half written."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def is_finite_report(result: dict[str, Any]) -> bool:
    values = [metric_mean(d[key]) for d in result["directions"].values() for key, _, _ in METRIC_ROWS]
    return all(v is None or math.isfinite(v) for v in values)

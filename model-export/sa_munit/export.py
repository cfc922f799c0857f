"""ONNX export: per direction a translator graph, per domain a style-encoder graph, a manifest, and
parity fixtures, checked in onnxruntime before the folder appears.

The export is written to a staging folder and renamed into place at the end, so a failed export
never leaves a half-written model folder behind.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn

from .config import ExperimentConfig
from .manifest import NORMALIZATION, graph_file_entry, validate_manifest
from .networks import SAMUNIT, DomainGenerator, SelfAttention
from .seed_style import style_from_seed

Exporter = Literal["torchscript", "dynamo"]
OPSET = 18
EXAMPLE_BATCH = 2  # >= 2: a batch-1 trace can bake batch-1 special cases into the graph
PARITY_TOLERANCE = 1e-4  # max abs error on [-1, 1] outputs at the fixture size
# At the training size a randomly initialised reference model (256², 256-channel convs, a 4096-key
# softmax) already differs by ~5e-5 between PyTorch float32 and float64 and by ~1e-4 between
# onnxruntime and float64: float32 rounding, not an export fault. The full-size check therefore
# allows 1e-3, still a quarter of one 8-bit level (1/255 of the [-1, 1] range is 7.8e-3).
FULL_SIZE_TOLERANCE = 1e-3
FIXTURE_BATCHES = (1, 3)
FIXTURE_IMAGE_SEED = 1234


class ExportError(ValueError):
    """The export cannot be produced or failed its checks; the message says which graph or path."""


class TranslatorGraph(nn.Module):
    """Content encoder of the source domain + MLP and decoder of the target domain."""

    def __init__(self, source: DomainGenerator, target: DomainGenerator) -> None:
        super().__init__()
        self.source = source
        self.target = target

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        # image [N,3,H,W] in [-1,1], style [N,style_dim] -> translated [N,3,H,W] in [-1,1]
        return self.target.decode(self.source.content_encoder(image), style)


class StyleEncoderGraph(nn.Module):
    def __init__(self, generator: DomainGenerator) -> None:
        super().__init__()
        self.encoder = generator.style_encoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image)  # [N, style_dim]


@dataclass(frozen=True)
class GraphSpec:
    file: str
    module: nn.Module
    inputs: dict[str, list[int | str]]  # name -> manifest shape (ints, or N/H/W)
    outputs: dict[str, list[int | str]]
    role_fields: dict[str, str]

    def example(self, batch: int, height: int, width: int, style_dim: int, first_seed: int = 0) -> dict[str, np.ndarray]:
        """Deterministic inputs: images uniform in [-1, 1]; styles from the shared seed PRNG."""
        generator = torch.Generator().manual_seed(FIXTURE_IMAGE_SEED + batch * 7919 + height + width)
        values: dict[str, np.ndarray] = {
            "image": (torch.rand(batch, 3, height, width, generator=generator) * 2 - 1).numpy()
        }
        if "style" in self.inputs:
            values["style"] = np.stack([style_from_seed(first_seed + i, style_dim) for i in range(batch)])
        return values


def graph_specs(cfg: ExperimentConfig, model: SAMUNIT) -> list[GraphSpec]:
    image: list[int | str] = ["N", 3, "H", "W"]
    style: list[int | str] = ["N", cfg.gen.style_dim]
    specs = []
    for source, target in (("a", "b"), ("b", "a")):
        direction = f"{source}2{target}"
        specs.append(
            GraphSpec(
                file=f"translator_{direction}.onnx",
                module=TranslatorGraph(model.generator(source), model.generator(target)),
                inputs={"image": image, "style": style},
                outputs={"translated": image},
                role_fields={"role": "translator", "direction": direction, "source": source, "target": target},
            )
        )
    for domain in ("a", "b"):
        specs.append(
            GraphSpec(
                file=f"style_encoder_{domain}.onnx",
                module=StyleEncoderGraph(model.generator(domain)),
                inputs={"image": image},
                outputs={"style": style},
                role_fields={"role": "style_encoder", "domain": domain},
            )
        )
    return specs


@dataclass(frozen=True)
class ExportOptions:
    version: str
    fixture_size: int | None = 64  # side of the parity fixtures; None writes none
    exporter: Exporter = "torchscript"
    metrics: dict[str, Any] | None = None
    overwrite: bool = False
    tolerance: float = PARITY_TOLERANCE
    log: Callable[[str], None] = field(default=lambda message: None)


def _dynamic_axes(spec: GraphSpec) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for name, shape in {**spec.inputs, **spec.outputs}.items():
        axes[name] = {i: dim for i, dim in enumerate(shape) if isinstance(dim, str)}
    return axes


def _dynamic_shapes(spec: GraphSpec) -> dict[str, dict[int, Any]]:
    dims = {"N": torch.export.Dim("N", min=1, max=1024), "H": torch.export.Dim.DYNAMIC, "W": torch.export.Dim.DYNAMIC}
    return {name: {i: dims[d] for i, d in enumerate(shape) if isinstance(d, str)} for name, shape in spec.inputs.items()}


def _export_graph(spec: GraphSpec, path: Path, cfg: ExperimentConfig, exporter: Exporter) -> None:
    example = spec.example(EXAMPLE_BATCH, cfg.image_size, cfg.image_size, cfg.gen.style_dim)
    args = tuple(torch.from_numpy(example[name]) for name in spec.inputs)
    common = dict(input_names=list(spec.inputs), output_names=list(spec.outputs), opset_version=OPSET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters warn about their own deprecations
        if exporter == "torchscript":
            torch.onnx.export(spec.module, args, str(path), dynamo=False, dynamic_axes=_dynamic_axes(spec), **common)
        else:
            torch.onnx.export(
                spec.module, args, str(path), dynamo=True, dynamic_shapes=_dynamic_shapes(spec), external_data=False, **common
            )
    onnx.checker.check_model(str(path))


def _run_torch(spec: GraphSpec, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        result = spec.module(*(torch.from_numpy(inputs[name]) for name in spec.inputs))
    return {next(iter(spec.outputs)): result.numpy()}


def _write_fixture(folder: Path, stem: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    entries = {}
    for name, array in arrays.items():
        file = f"{stem}.{name}.bin"
        array.astype("<f4").tofile(folder / file)
        entries[name] = {"shape": list(array.shape), "file": file}
    return entries


def _check_parity(
    spec: GraphSpec, session: onnxruntime.InferenceSession, inputs: dict[str, np.ndarray], tolerance: float
) -> dict[str, np.ndarray]:
    expected = _run_torch(spec, inputs)
    actual = session.run(list(spec.outputs), inputs)
    for (name, want), got in zip(expected.items(), actual):
        if got.shape != want.shape:
            raise ExportError(f"{spec.file}: onnxruntime output {name} has shape {got.shape}, PyTorch {want.shape}")
        error = float(np.max(np.abs(got - want)))
        if not error <= tolerance:
            raise ExportError(f"{spec.file}: onnxruntime differs from PyTorch by {error:.3g} (> {tolerance})")
    return expected


def export_model(cfg: ExperimentConfig, model: SAMUNIT, out_dir: str | Path, options: ExportOptions) -> dict[str, Any]:
    """Exports `model` into `out_dir` and returns the manifest written there."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not options.overwrite:
        raise ExportError(f"output folder {out_dir} is not empty (versions are immutable; pass --overwrite to replace it)")
    if options.fixture_size is not None:
        size = options.fixture_size
        if size % cfg.size_multiple or size < cfg.min_size:
            raise ExportError(
                f"fixture size {size}: must be a multiple of {cfg.size_multiple} and >= {cfg.min_size}"
            )
    for network in (model.gen_a, model.gen_b):
        network.eval()

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        manifest = _export_into(cfg, model, staging, options)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _export_into(cfg: ExperimentConfig, model: SAMUNIT, folder: Path, options: ExportOptions) -> dict[str, Any]:
    fixtures_dir = folder / "fixtures"
    if options.fixture_size is not None:
        fixtures_dir.mkdir()
    graphs: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    for spec in graph_specs(cfg, model):
        path = folder / spec.file
        options.log(f"exporting {spec.file} ({options.exporter})")
        _export_graph(spec, path, cfg, options.exporter)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]
        if names != (list(spec.inputs), list(spec.outputs)):
            raise ExportError(f"{spec.file}: graph has inputs/outputs {names}, expected {list(spec.inputs)}/{list(spec.outputs)}")
        # Parity at the training size and, when fixtures are written, at a non-square fixture size.
        full_size = spec.example(EXAMPLE_BATCH, cfg.image_size, cfg.image_size, cfg.gen.style_dim)
        _check_parity(spec, session, full_size, max(options.tolerance, FULL_SIZE_TOLERANCE))
        if options.fixture_size is not None:
            for batch in FIXTURE_BATCHES:
                height = options.fixture_size
                width = options.fixture_size + (cfg.size_multiple if batch > 1 else 0)
                inputs = spec.example(batch, height, width, cfg.gen.style_dim)
                outputs = _check_parity(spec, session, inputs, options.tolerance)
                stem = f"{Path(spec.file).stem}.b{batch}"
                cases.append(
                    {
                        "graph": spec.file,
                        "batch": batch,
                        "inputs": _write_fixture(fixtures_dir, stem, inputs),
                        "outputs": _write_fixture(fixtures_dir, stem, outputs),
                    }
                )
        graphs.append(
            {
                **spec.role_fields,
                **graph_file_entry(path),
                "inputs": [{"name": n, "dtype": "float32", "shape": s} for n, s in spec.inputs.items()],
                "outputs": [{"name": n, "dtype": "float32", "shape": s} for n, s in spec.outputs.items()],
            }
        )
    if options.fixture_size is not None:
        index = {"tolerance": options.tolerance, "cases": cases}
        (fixtures_dir / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")

    attention = cfg.attention
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "name": cfg.name,
        "version": options.version,
        "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "architecture": cfg.architecture,
        "domains": [{"key": "a", "name": cfg.domains.a}, {"key": "b", "name": cfg.domains.b}],
        "image_size": cfg.image_size,
        "size_multiple": cfg.size_multiple,
        "min_size": cfg.min_size,
        "style_dim": cfg.gen.style_dim,
        "normalization": NORMALIZATION,
        "attention": {
            "content_encoder": attention.site_enabled("content_encoder"),
            "decoder_bottleneck": attention.site_enabled("decoder_bottleneck"),
            "decoder_upsampling": attention.site_enabled("decoder_upsampling"),
            "discriminator": attention.site_enabled("discriminator"),
            "pool_key_value": attention.enabled and attention.pool_key_value,
        },
        "graphs": graphs,
        "opset": OPSET,
        "exporter": {"torch": torch.__version__, "onnx": onnx.__version__, "dynamo": options.exporter == "dynamo"},
        "config": cfg.to_dict(),
        "metrics": options.metrics,
    }
    validate_manifest(manifest, f"{folder.name}/manifest.json")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def set_attention_gamma(model: SAMUNIT, gamma: float) -> None:
    """Sets every attention gamma: an untrained export with gamma 0 would never exercise attention."""
    for network in (model.gen_a, model.gen_b, model.dis_a, model.dis_b):
        for module in network.modules():
            if isinstance(module, SelfAttention):
                module.gamma.data.fill_(gamma)

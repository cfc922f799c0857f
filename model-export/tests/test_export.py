from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from sa_munit.config import ExperimentConfig
from sa_munit.export import (
    ExportError,
    ExportOptions,
    StyleEncoderGraph,
    TranslatorGraph,
    export_model,
    set_attention_gamma,
)
from sa_munit.manifest import ManifestError, sha256_of, validate_manifest
from sa_munit.networks import build_model

from .conftest import with_attention

GRAPH_FILES = {"translator_a2b.onnx", "translator_b2a.onnx", "style_encoder_a.onnx", "style_encoder_b.onnx"}


@pytest.fixture
def trained_like(tiny_cfg: ExperimentConfig):
    """A tiny model whose attention layers do real work (gamma != 0), as after training."""
    model = build_model(tiny_cfg)
    set_attention_gamma(model, 0.2)
    return model


def _onnx_vs_torch(path: Path, module: torch.nn.Module, inputs: dict[str, np.ndarray]) -> float:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, inputs)
    with torch.no_grad():
        want = module(*(torch.from_numpy(v) for v in inputs.values())).numpy()
    assert got.shape == want.shape
    return float(np.abs(got - want).max())


def test_export_round_trip_with_dynamic_batch_and_size(tiny_cfg, trained_like, tmp_path: Path) -> None:
    out = tmp_path / "export"
    manifest = export_model(tiny_cfg, trained_like, out, ExportOptions(version="1.0.0", fixture_size=32))
    assert {g["file"] for g in manifest["graphs"]} == GRAPH_FILES
    validate_manifest(json.loads((out / "manifest.json").read_text()))
    style_dim = tiny_cfg.gen.style_dim
    a2b = TranslatorGraph(trained_like.gen_a, trained_like.gen_b).eval()
    enc_b = StyleEncoderGraph(trained_like.gen_b).eval()
    rng = np.random.default_rng(0)
    for batch, height, width in [(1, 16, 16), (3, 32, 48), (5, 64, 32)]:
        image = rng.uniform(-1, 1, (batch, 3, height, width)).astype(np.float32)
        style = rng.standard_normal((batch, style_dim)).astype(np.float32)
        assert _onnx_vs_torch(out / "translator_a2b.onnx", a2b, {"image": image, "style": style}) <= 1e-4
        assert _onnx_vs_torch(out / "style_encoder_b.onnx", enc_b, {"image": image}) <= 1e-4


def test_manifest_describes_files_and_signatures(tiny_cfg, trained_like, tmp_path: Path) -> None:
    out = tmp_path / "export"
    manifest = export_model(tiny_cfg, trained_like, out, ExportOptions(version="1.0.0", fixture_size=None))
    assert manifest["architecture"] == "sa-munit"
    assert manifest["style_dim"] == tiny_cfg.gen.style_dim
    assert manifest["size_multiple"] == 4 and manifest["min_size"] == 16
    assert manifest["config"] == tiny_cfg.to_dict()
    assert manifest["metrics"] is None
    for graph in manifest["graphs"]:
        path = out / graph["file"]
        assert graph["bytes"] == path.stat().st_size
        assert graph["sha256"] == sha256_of(path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == [i["name"] for i in graph["inputs"]]
        assert [o.name for o in session.get_outputs()] == [o["name"] for o in graph["outputs"]]
    assert not (out / "fixtures").exists()


def test_adain_exports_as_instance_normalization(tiny_cfg, trained_like, tmp_path: Path) -> None:
    export_model(tiny_cfg, trained_like, tmp_path / "e", ExportOptions(version="1", fixture_size=None))
    ops = {node.op_type for node in onnx.load(str(tmp_path / "e" / "translator_a2b.onnx")).graph.node}
    assert "InstanceNormalization" in ops
    assert "BatchNormalization" not in ops
    assert "Softmax" in ops  # the attention layers are in the graph


def test_dynamo_exporter_is_correct_too(tiny_cfg, trained_like, tmp_path: Path) -> None:
    out = tmp_path / "dynamo"
    manifest = export_model(tiny_cfg, trained_like, out, ExportOptions(version="1", fixture_size=32, exporter="dynamo"))
    assert manifest["exporter"]["dynamo"] is True
    ops = {node.op_type for node in onnx.load(str(out / "translator_b2a.onnx")).graph.node}
    assert "InstanceNormalization" in ops and "BatchNormalization" not in ops
    b2a = TranslatorGraph(trained_like.gen_b, trained_like.gen_a).eval()
    image = np.random.default_rng(1).uniform(-1, 1, (3, 3, 32, 48)).astype(np.float32)
    style = np.random.default_rng(2).standard_normal((3, tiny_cfg.gen.style_dim)).astype(np.float32)
    assert _onnx_vs_torch(out / "translator_b2a.onnx", b2a, {"image": image, "style": style}) <= 1e-4


def test_fixtures_cover_every_graph_at_batch_1_and_3(tiny_cfg, trained_like, tmp_path: Path) -> None:
    out = tmp_path / "e"
    export_model(tiny_cfg, trained_like, out, ExportOptions(version="1", fixture_size=32))
    index = json.loads((out / "fixtures" / "index.json").read_text())
    assert index["tolerance"] == 1e-4
    assert {(c["graph"], c["batch"]) for c in index["cases"]} == {(g, b) for g in GRAPH_FILES for b in (1, 3)}
    for case in index["cases"]:
        for tensor in [*case["inputs"].values(), *case["outputs"].values()]:
            assert (out / "fixtures" / tensor["file"]).stat().st_size == 4 * int(np.prod(tensor["shape"]))
        assert case["inputs"]["image"]["shape"][0] == case["batch"]


def test_reference_config_exports_with_parity(tmp_path: Path) -> None:
    cfg = ExperimentConfig()
    model = build_model(cfg)
    set_attention_gamma(model, 0.1)
    # export_model checks onnxruntime against PyTorch at 256x256 (batch 2) and at the 64x64 fixtures
    # (batch 1 and 3, within 1e-4), and raises otherwise.
    manifest = export_model(cfg, model, tmp_path / "ref", ExportOptions(version="1", fixture_size=64))
    assert manifest["attention"] == {
        "content_encoder": False, "decoder_bottleneck": True, "decoder_upsampling": False,
        "discriminator": True, "pool_key_value": False,
    }


def test_plain_munit_export(tiny_cfg, tmp_path: Path) -> None:
    cfg = with_attention(tiny_cfg, enabled=False)
    manifest = export_model(cfg, build_model(cfg), tmp_path / "m", ExportOptions(version="1", fixture_size=None))
    assert manifest["architecture"] == "munit"
    assert not any(manifest["attention"].values())
    ops = {node.op_type for node in onnx.load(str(tmp_path / "m" / "translator_a2b.onnx")).graph.node}
    assert "Softmax" not in ops


def test_non_empty_output_is_refused_unless_overwrite(tiny_cfg, trained_like, tmp_path: Path) -> None:
    out = tmp_path / "e"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(ExportError, match="not empty"):
        export_model(tiny_cfg, trained_like, out, ExportOptions(version="1", fixture_size=None))
    assert (out / "keep.txt").read_text() == "precious"
    export_model(tiny_cfg, trained_like, out, ExportOptions(version="2", fixture_size=None, overwrite=True))
    assert json.loads((out / "manifest.json").read_text())["version"] == "2"


def test_failed_export_leaves_nothing_behind(tiny_cfg, trained_like, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_model(tiny_cfg, trained_like, tmp_path / "e", ExportOptions(version="1", fixture_size=32, tolerance=0.0))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [30, 8])
def test_invalid_fixture_size(tiny_cfg, trained_like, tmp_path: Path, size: int) -> None:
    with pytest.raises(ExportError, match=f"fixture size {size}: must be a multiple of 4 and >= 16"):
        export_model(tiny_cfg, trained_like, tmp_path / "e", ExportOptions(version="1", fixture_size=size))


def test_schema_rejects_broken_manifests(tiny_cfg, trained_like, tmp_path: Path) -> None:
    manifest = export_model(tiny_cfg, trained_like, tmp_path / "e", ExportOptions(version="1", fixture_size=None))
    cases = [
        (lambda m: m.pop("style_dim"), "'style_dim' is a required property"),
        (lambda m: m["graphs"][0].update(sha256="xyz"), "graphs[0]"),
        (lambda m: m["graphs"][1]["inputs"][0].update(shape=["N", 3, "Q", "W"]), "graphs[1]"),
        (lambda m: m.update(version="has space"), "manifest.version"),
        (lambda m: m["graphs"].pop(), "graphs"),
        (lambda m: m.update(extra=1), "Additional properties"),
    ]
    for mutate, expected in cases:
        broken = copy.deepcopy(manifest)
        mutate(broken)
        with pytest.raises(ManifestError) as info:
            validate_manifest(broken)
        assert expected in str(info.value)

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from sa_munit.ablation import AblationPlan, check_arms, run_ablation
from sa_munit.benchmark_data import ShapesBenchmarkConfig, write_benchmark
from sa_munit.checkpoint import load_checkpoint
from sa_munit.cli import main
from sa_munit.config import ConfigError, ExperimentConfig, load_config
from sa_munit.evaluate import (
    METRIC_ROWS,
    CheckpointBackend,
    EvalConfig,
    EvaluationError,
    OnnxBackend,
    evaluate,
    is_finite_report,
)
from sa_munit.export import ExportOptions, export_model
from sa_munit.judges import JudgeTrainConfig, Judges, judge_quality, load_judges, load_split, save_judges, train_judges
from sa_munit.train import run

from .conftest import MODEL_EXPORT_DIR

CPU = torch.device("cpu")
TINY_CONFIG = MODEL_EXPORT_DIR / "configs" / "train_tiny_test.yaml"
SMALL_EVAL = EvalConfig(styles=3, max_images=4)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "shapes"
    write_benchmark(ShapesBenchmarkConfig(image_size=32, train_per_domain=400, test_per_domain=16), out, progress=False)
    return out


@pytest.fixture(scope="module")
def judges(shapes: Path) -> Judges:
    torch.set_num_threads(1)
    return train_judges(shapes, JudgeTrainConfig(iterations=600), progress=False)


@pytest.fixture(scope="module")
def checkpoint(shapes: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    run(load_config(TINY_CONFIG), shapes, run_dir, device=CPU, progress=False)
    return run_dir / "checkpoint.pt"


class IdentityBackend:
    """Returns its input: no shape change, no diversity; the metrics must say exactly that."""

    description = {"kind": "identity", "path": "-", "name": "identity"}
    image_size = 32
    style_dim = 4

    def translate(self, images: torch.Tensor, source: str, styles: torch.Tensor) -> torch.Tensor:
        return images.clone()

    def encode_style(self, images: torch.Tensor, domain: str) -> torch.Tensor:
        return torch.zeros(images.shape[0], self.style_dim)

    def reconstruct(self, images: torch.Tensor, domain: str) -> torch.Tensor | None:
        return images.clone()

    def attention_gammas(self) -> dict[str, float]:
        return {}


def test_judges_learn_shape_and_object_from_the_benchmark(judges: Judges, shapes: Path) -> None:
    quality = judge_quality(judges, load_split(shapes, "test"))
    assert quality["classifier_accuracy"] >= 0.85, quality
    assert quality["segmenter_mean_iou"] >= 0.6, quality
    assert judges.trained["test"] == quality


def test_identity_translation_is_scored_as_unchanged(judges: Judges, shapes: Path) -> None:
    result = evaluate(IdentityBackend(), judges, shapes, EvalConfig(styles=3), progress=False)
    for direction in result["directions"].values():
        assert direction["translation_success"] <= 0.2  # the classifier still sees the source domain
        assert direction["diversity_pixel_l1"]["mean"] == 0.0
        assert direction["diversity_feature_l1"]["mean"] == 0.0
        assert direction["cycle_reconstruction_l1"]["mean"] == 0.0
        # The translation's mask is the source's: content IoU is the segmenter's own quality, shape IoU
        # lower because the ideal target has the other shape.
        assert direction["content_iou"]["mean"] > direction["shape_iou"]["mean"]
        assert direction["centroid_shift_px"]["mean"] < 2.0
        assert direction["inputs"] == 16 and direction["translations"] == 48


def test_checkpoint_and_its_onnx_export_give_the_same_metrics(
    judges: Judges, shapes: Path, checkpoint: Path, tmp_path: Path
) -> None:
    cfg, model, _ = load_checkpoint(checkpoint)
    export_model(cfg, model, tmp_path / "export", ExportOptions(version="t", fixture_size=None))
    from_checkpoint = evaluate(CheckpointBackend(checkpoint), judges, shapes, SMALL_EVAL, progress=False)
    from_onnx = evaluate(OnnxBackend(tmp_path / "export"), judges, shapes, SMALL_EVAL, progress=False)
    assert is_finite_report(from_checkpoint) and is_finite_report(from_onnx)
    for name in ("a2b", "b2a"):
        ours, theirs = from_checkpoint["directions"][name], from_onnx["directions"][name]
        for key in ("diversity_pixel_l1", "cycle_reconstruction_l1", "style_reconstruction_l1"):
            assert math.isclose(ours[key]["mean"], theirs[key]["mean"], abs_tol=1e-4), key
        assert ours["within_domain_reconstruction_l1"] is not None
        assert theirs["within_domain_reconstruction_l1"] is None  # an export has no source decoder
    assert from_checkpoint["model"]["iteration"] == 4
    assert set(from_checkpoint["attention_gammas"]) >= {"gamma/gen_a.decoder.bottleneck_attention"}


def test_cli_writes_json_markdown_and_a_grid(judges: Judges, shapes: Path, checkpoint: Path, tmp_path: Path) -> None:
    save_judges(judges, tmp_path / "judges.pt")
    assert load_judges(tmp_path / "judges.pt").trained == judges.trained
    code = main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(shapes), "--judges",
                 str(tmp_path / "judges.pt"), "--out", str(tmp_path / "eval"), "--styles", "2", "--max-images", "2"])
    assert code == 0
    report = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert set(report["directions"]) == {"a2b", "b2a"}
    markdown = (tmp_path / "eval" / "evaluation.md").read_text()
    for _, label, _ in METRIC_ROWS:
        assert label in markdown
    assert "classifier accuracy" in markdown and "FID" not in markdown and "LPIPS" not in markdown
    assert (tmp_path / "eval" / "translations.png").stat().st_size > 0


def test_cli_errors_name_the_file(
    judges: Judges, shapes: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    base = ["evaluate", "--data", str(shapes), "--out", str(tmp_path / "eval")]
    assert main([*base, "--checkpoint", str(checkpoint), "--judges", str(tmp_path / "none.pt")]) == 2
    assert "none.pt: no such file" in capsys.readouterr().err
    save_judges(judges, tmp_path / "judges.pt")
    assert main([*base, "--onnx", str(tmp_path), "--judges", str(tmp_path / "judges.pt")]) == 2
    assert "manifest.json: no such file" in capsys.readouterr().err
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    assert main([*base, "--checkpoint", str(tmp_path / "corrupt.pt"), "--judges", str(tmp_path / "judges.pt")]) == 2
    assert "corrupt.pt" in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()  # nothing half-written


def test_a_benchmark_at_another_size_is_refused(judges: Judges, checkpoint: Path, tmp_path: Path) -> None:
    write_benchmark(ShapesBenchmarkConfig(image_size=16, train_per_domain=2, test_per_domain=2), tmp_path / "b16",
                    progress=False)
    with pytest.raises(EvaluationError, match="--image-size 32"):
        evaluate(CheckpointBackend(checkpoint), judges, tmp_path / "b16", SMALL_EVAL, progress=False)


def test_ablation_arms_may_differ_in_attention_only(tmp_path: Path) -> None:
    sa = load_config(TINY_CONFIG)
    plain = dataclasses.replace(sa, name="munit-tiny", attention=dataclasses.replace(sa.attention, enabled=False))
    check_arms([(Path("sa.yaml"), sa), (Path("munit.yaml"), plain)])
    tuned = dataclasses.replace(plain, train=dataclasses.replace(plain.train, lr=0.001))
    with pytest.raises(ConfigError, match="munit.yaml: train differs"):
        check_arms([(Path("sa.yaml"), sa), (Path("munit.yaml"), tuned)])
    with pytest.raises(ConfigError, match="names must differ"):
        check_arms([(Path("sa.yaml"), sa), (Path("copy.yaml"), sa)])


def test_ablation_trains_evaluates_and_resumes(judges: Judges, shapes: Path, tmp_path: Path) -> None:
    import yaml

    sa = load_config(TINY_CONFIG)
    plain = dataclasses.replace(sa, name="munit-tiny", attention=dataclasses.replace(sa.attention, enabled=False))
    arms = []
    for cfg in (sa, plain):
        path = tmp_path / f"{cfg.name}.yaml"
        path.write_text(yaml.safe_dump(cfg.to_dict()))
        arms.append(path)
    save_judges(judges, tmp_path / "judges.pt")
    plan = AblationPlan(arms=tuple(arms), seeds=(1, 2), max_iter=2, data=shapes, judges=tmp_path / "judges.pt",
                        out=tmp_path / "ablation", eval=EvalConfig(styles=2, max_images=2))
    summary = run_ablation(plan, CPU, log=lambda _: None)
    assert set(summary["arms"]) == {sa.name, "munit-tiny"}
    success = summary["arms"]["munit-tiny"]["metrics"]["a2b/translation_success"]
    assert len(success["per_seed"]) == 2 and success["sd"] >= 0
    assert summary["arms"]["munit-tiny"]["attention_gammas"] == {1: {}, 2: {}}
    markdown = (tmp_path / "ablation" / "ablation.md").read_text()
    assert "sa-munit-tiny-train" in markdown and "munit-tiny" in markdown and "## B→A" in markdown
    runs = sorted((tmp_path / "ablation").glob("*/seed*/checkpoint.pt"))
    assert len(runs) == 4
    stamps = [p.stat().st_mtime_ns for p in runs]
    run_ablation(plan, CPU, log=lambda _: None)  # everything done: nothing retrains
    assert [p.stat().st_mtime_ns for p in runs] == stamps


def test_train_judges_cli(shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train-judges", "--data", str(shapes), "--out", str(tmp_path / "j.pt"), "--iterations", "2"]) == 0
    assert "classifier accuracy" in capsys.readouterr().out
    assert main(["train-judges", "--data", str(tmp_path), "--out", str(tmp_path / "j2.pt")]) == 2
    assert "benchmark.json: no such file" in capsys.readouterr().err

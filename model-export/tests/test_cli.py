"""The CLI as a user runs it: a real process, exit codes, one-line messages, no tracebacks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from sa_munit.checkpoint import save_checkpoint
from sa_munit.config import ExperimentConfig

from .conftest import MODEL_EXPORT_DIR, PYTHON, with_attention
from sa_munit.networks import build_model


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "sa_munit", *args], cwd=MODEL_EXPORT_DIR, capture_output=True, text=True, timeout=300)


def write_config(path: Path, cfg: ExperimentConfig) -> Path:
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_export_from_checkpoint_embeds_metrics(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    config = write_config(tmp_path / "tiny.yaml", tiny_cfg)
    save_checkpoint(tmp_path / "c.pt", tiny_cfg, build_model(tiny_cfg))
    (tmp_path / "metrics.json").write_text(json.dumps({"translation_success_a2b": 0.5}))
    result = run_cli("export", "--config", str(config), "--checkpoint", str(tmp_path / "c.pt"),
                     "--out", str(tmp_path / "out"), "--version", "3.1.0", "--fixture-size", "32",
                     "--metrics", str(tmp_path / "metrics.json"))
    assert result.returncode == 0, result.stderr
    assert "exported tiny 3.1.0 (sa-munit)" in result.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["metrics"] == {"translation_success_a2b": 0.5}


def test_bad_config_names_the_field(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    raw = tiny_cfg.to_dict()
    raw["gen"]["style_dim"] = 0
    raw["gen"]["colour"] = "red"
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = run_cli("export", "--config", str(config), "--out", str(tmp_path / "o"), "--version", "1")
    assert_user_error(result, "bad.yaml", "gen.style_dim: must be a positive integer", "gen.colour: unknown key")
    assert not (tmp_path / "o").exists()


def test_unreadable_checkpoint_names_the_file(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 truncated")
    result = run_cli("export", "--checkpoint", str(tmp_path / "broken.pt"), "--out", str(tmp_path / "o"), "--version", "1")
    assert_user_error(result, "broken.pt is unreadable")


def test_checkpoint_of_another_architecture_names_the_field(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "plain.pt", with_attention(tiny_cfg, enabled=False), build_model(with_attention(tiny_cfg, enabled=False)))
    config = write_config(tmp_path / "tiny.yaml", tiny_cfg)
    result = run_cli("export", "--config", str(config), "--checkpoint", str(tmp_path / "plain.pt"),
                     "--out", str(tmp_path / "o"), "--version", "1")
    assert_user_error(result, "plain.pt was trained with another architecture", "attention.enabled")


def test_fixture_size_that_is_not_a_valid_multiple(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    config = write_config(tmp_path / "tiny.yaml", tiny_cfg)
    result = run_cli("export", "--config", str(config), "--out", str(tmp_path / "o"), "--version", "1", "--fixture-size", "33")
    assert_user_error(result, "fixture size 33: must be a multiple of 4")


@pytest.mark.parametrize("args,fragment", [
    (["attention-memory", "--sizes", "0"], "expected positive integers"),
    (["export", "--out", "x"], "--version"),
    (["params", "--config", "/nonexistent/c.yaml"], "cannot read config file /nonexistent/c.yaml"),
])
def test_argument_errors(args: list[str], fragment: str) -> None:
    assert_user_error(run_cli(*args), fragment)


def test_params_and_attention_memory_reports() -> None:
    params = run_cli("params")
    assert params.returncode == 0 and "15,108,428" in params.stdout
    memory = run_cli("attention-memory", "--sizes", "256,512")
    assert memory.returncode == 0
    assert "| decoder_bottleneck | no | 256² | 1 | 256x64x64 | 64.00 MiB |" in memory.stdout

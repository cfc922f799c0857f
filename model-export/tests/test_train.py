from __future__ import annotations

import dataclasses
import json
import os
import signal
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sa_munit import losses
from sa_munit.benchmark_data import ShapesBenchmarkConfig, write_benchmark
from sa_munit.checkpoint import CheckpointError, read_checkpoint
from sa_munit.cli import main
from sa_munit.config import ExperimentConfig, load_config
from sa_munit.image_folder import DataError, SkippedImagesWarning, list_images, read_rgb
from sa_munit.train import TrainingError, run

from .conftest import MODEL_EXPORT_DIR

CPU = torch.device("cpu")
TINY_CONFIG = MODEL_EXPORT_DIR / "configs" / "train_tiny_test.yaml"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "shapes"
    write_benchmark(ShapesBenchmarkConfig(image_size=32, train_per_domain=8, test_per_domain=2), out, progress=False)
    return out


@pytest.fixture
def cfg() -> ExperimentConfig:
    return load_config(TINY_CONFIG)


def with_train(cfg: ExperimentConfig, **changes: object) -> ExperimentConfig:
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **changes))


def log_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_a_few_iterations_log_every_loss_and_gamma(shapes: Path, cfg: ExperimentConfig, tmp_path: Path) -> None:
    result = run(cfg, shapes, tmp_path / "run", device=CPU, progress=False)
    assert result.iteration == 4 and not result.interrupted
    lines = log_lines(tmp_path / "run")
    assert [line["iteration"] for line in lines] == [1, 2, 3, 4]
    expected = {"dis/adv_a", "dis/adv_b", "dis/total", "gen/adv_a", "gen/adv_b", "gen/recon_x_a", "gen/recon_x_b",
                "gen/recon_s_a", "gen/recon_s_b", "gen/recon_c_a", "gen/recon_c_b", "gen/recon_x_cyc_a",
                "gen/recon_x_cyc_b", "gen/total", "lr/gen", "lr/dis"}
    assert expected <= set(lines[-1])
    gammas = {key for key in lines[-1] if key.startswith("gamma/")}
    # decoder bottleneck in each generator, one layer per scale in each discriminator (2 scales)
    assert len(gammas) == 2 + 2 * 2, gammas
    assert all(np.isfinite(lines[-1][key]) for key in expected | gammas)
    assert any(lines[-1][key] != 0 for key in gammas)  # gamma is trained
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["iter_00000002.png", "iter_00000004.png"]
    grid = Image.open(tmp_path / "run" / "samples" / "iter_00000004.png")
    # 2 inputs per domain x 2 domains rows; input, reconstruction, 2 styles columns; 32 px + 2 px gaps
    assert grid.size == (4 * 34 + 2, 4 * 34 + 2)
    assert load_config(tmp_path / "run" / "config.yaml") == cfg
    assert read_checkpoint(tmp_path / "run" / "checkpoint.pt")["extra"]["iteration"] == 4


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_resume_is_bit_exact(shapes: Path, cfg: ExperimentConfig, tmp_path: Path, spectral_norm: bool) -> None:
    # Spectral norm keeps power-iteration vectors as buffers: they must travel with the checkpoint too.
    cfg = dataclasses.replace(cfg, dis=dataclasses.replace(cfg.dis, spectral_norm=spectral_norm))
    cfg = with_train(cfg, max_iter=6, checkpoint_every=100, sample_every=100)
    run(cfg, shapes, tmp_path / "straight", device=CPU, progress=False)
    run(with_train(cfg, max_iter=3), shapes, tmp_path / "split", device=CPU, progress=False)
    result = run(cfg, shapes, tmp_path / "split", device=CPU, resume=True, progress=False)
    assert result.iteration == 6
    straight = read_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    split = read_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for net in ("gen_a", "gen_b", "dis_a", "dis_b"):
        for key, value in straight[net].items():
            assert torch.equal(value, split[net][key]), f"{net}.{key}"
    assert log_lines(tmp_path / "straight")[-1]["gen/total"] == log_lines(tmp_path / "split")[-1]["gen/total"]
    assert [line["iteration"] for line in log_lines(tmp_path / "split")] == [1, 2, 3, 4, 5, 6]


def test_fresh_run_refuses_a_run_folder_with_a_checkpoint(shapes: Path, cfg: ExperimentConfig, tmp_path: Path) -> None:
    run(with_train(cfg, max_iter=1), shapes, tmp_path / "run", device=CPU, progress=False)
    with pytest.raises(TrainingError, match="--resume"):
        run(cfg, shapes, tmp_path / "run", device=CPU, progress=False)


def test_resume_refuses_a_mismatching_config(shapes: Path, cfg: ExperimentConfig, tmp_path: Path) -> None:
    run(with_train(cfg, max_iter=1), shapes, tmp_path / "run", device=CPU, progress=False)
    other = dataclasses.replace(cfg, gen=dataclasses.replace(cfg.gen, mlp_dim=32))
    with pytest.raises(CheckpointError, match="gen.mlp_dim"):
        run(other, shapes, tmp_path / "run", device=CPU, resume=True, progress=False)
    with pytest.raises(TrainingError, match="train.batch_size: config says 3, checkpoint has 2"):
        run(with_train(cfg, batch_size=3), shapes, tmp_path / "run", device=CPU, resume=True, progress=False)


@pytest.mark.parametrize("missing", ["", "trainB"])
def test_missing_folder_is_named(shapes: Path, cfg: ExperimentConfig, tmp_path: Path, missing: str) -> None:
    data = tmp_path / "data"
    if missing:
        shutil.copytree(shapes, data)
        shutil.rmtree(data / missing)
    with pytest.raises(DataError, match=str(data / missing) if missing else str(data)):
        run(cfg, data, tmp_path / "run", device=CPU, progress=False)


def test_empty_folder_is_named(shapes: Path, cfg: ExperimentConfig, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(shapes, data)
    for file in (data / "trainA").iterdir():
        file.unlink()
    (data / "trainA" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=f"{data / 'trainA'}: no images"):
        run(cfg, data, tmp_path / "run", device=CPU, progress=False)


def test_corrupt_and_truncated_files_are_skipped_with_a_count(shapes: Path, tmp_path: Path) -> None:
    folder = tmp_path / "trainA"
    shutil.copytree(shapes / "trainA", folder)
    (folder / "zz_corrupt.png").write_bytes(b"not a png at all")
    whole = (folder / "00000.png").read_bytes()
    (folder / "zz_truncated.png").write_bytes(whole[: len(whole) // 2])
    with pytest.warns(SkippedImagesWarning, match=r"skipped 2 unreadable of 10 files: zz_corrupt.png"):
        files = list_images(folder)
    assert len(files) == 8


def test_all_files_corrupt_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.warns(SkippedImagesWarning), pytest.raises(DataError, match="none of its 1 files"):
        list_images(tmp_path)


def test_grayscale_rgba_palette_and_16_bit_images_train(shapes: Path, cfg: ExperimentConfig, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(shapes, data)
    files = sorted((data / "trainA").iterdir())
    Image.open(files[0]).convert("L").save(files[0])
    Image.open(files[1]).convert("RGBA").save(files[1])
    Image.open(files[2]).convert("P").save(files[2])
    gray = np.asarray(Image.open(files[3]).convert("L"))
    Image.fromarray(gray.astype(np.uint16) * 257).save(files[3])  # 16-bit grayscale PNG (mode I;16)
    assert Image.open(files[3]).mode.startswith("I")
    # Scaled from 16 bits back to the same 8-bit values, not clipped to white.
    np.testing.assert_array_equal(np.asarray(read_rgb(files[3])), np.repeat(gray[:, :, None], 3, axis=2))
    result = run(with_train(cfg, max_iter=8), data, tmp_path / "run", device=CPU, progress=False)
    assert result.iteration == 8  # 8 iterations x batch 2 = 2 epochs: every file was loaded


def test_non_finite_loss_stops_and_keeps_last_checkpoint(
    shapes: Path, cfg: ExperimentConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = losses.l1_recon
    per_iteration = 8  # l1_recon calls per generator update with the cycle term on

    def poisoned(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        value = real(output, target)
        return value * float("nan") if calls["n"] > 3 * per_iteration else value

    monkeypatch.setattr(losses, "l1_recon", poisoned)
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"stopped at iteration 4: non-finite loss: gen/recon_x_a=nan.*iteration 2"):
        run(with_train(cfg, max_iter=10), shapes, run_dir, device=CPU, progress=False)
    checkpoint = read_checkpoint(run_dir / "checkpoint.pt")
    assert checkpoint["extra"]["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in checkpoint["gen_a"].values())


def test_cli_trains_and_exits_2_for_missing_data(shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["train", "--config", str(TINY_CONFIG), "--data", str(shapes), "--run", str(tmp_path / "run"),
            "--max-iter", "2", "--device", "cpu"]
    assert main(args) == 0
    assert main([*args[:-4], "--max-iter", "3", "--device", "cpu", "--resume"]) == 0
    assert read_checkpoint(tmp_path / "run" / "checkpoint.pt")["extra"]["iteration"] == 3
    capsys.readouterr()
    assert main(["train", "--config", str(TINY_CONFIG), "--data", str(tmp_path / "nowhere"),
                 "--run", str(tmp_path / "run2")]) == 2
    assert str(tmp_path / "nowhere") in capsys.readouterr().err


def test_lsgan_losses_sum_over_scales() -> None:
    fake = [torch.zeros(1, 1, 4, 4), torch.full((1, 1, 2, 2), 0.5)]
    real = [torch.ones(1, 1, 4, 4), torch.full((1, 1, 2, 2), 0.5)]
    assert losses.lsgan_dis_loss(fake, real).item() == pytest.approx(0 + 0.25 + 0 + 0.25)
    assert losses.lsgan_gen_loss(fake).item() == pytest.approx(1 + 0.25)


def test_ctrl_c_saves_a_checkpoint_that_resumes(
    shapes: Path, cfg: ExperimentConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = losses.l1_recon

    def interrupting(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 2 * 8 + 1:  # first loss of iteration 3: Ctrl-C mid-iteration
            os.kill(os.getpid(), signal.SIGINT)
        return real(output, target)

    monkeypatch.setattr(losses, "l1_recon", interrupting)
    cfg = with_train(cfg, max_iter=10, checkpoint_every=100)
    result = run(cfg, shapes, tmp_path / "run", device=CPU, progress=False, log=lambda _: None)
    assert result.interrupted and result.iteration == 3  # the iteration in flight finishes, then saves
    assert read_checkpoint(tmp_path / "run" / "checkpoint.pt")["extra"]["iteration"] == 3
    monkeypatch.setattr(losses, "l1_recon", real)
    assert run(cfg, shapes, tmp_path / "run", device=CPU, resume=True, progress=False).iteration == 10


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"train": {"lr": "1e-4"}}, "train.lr: must be a number (got '1e-4') (write exponents with a dot"),
        ({"train": {"lr": 0}}, "train.lr: must be > 0"),
        ({"train": {"lr_dis": -1.0}}, "train.lr_dis: must be > 0 or null"),
        ({"train": {"recon_x_cyc_w": -1}}, "train.recon_x_cyc_w: must be a finite number >= 0"),
        ({"train": {"beta1": 1.0}}, "train.beta1: must be in [0, 1)"),
        ({"train": {"batch_size": 0}}, "train.batch_size: must be a positive integer"),
        ({"train": {"lr_gamma": 2}}, "train.lr_gamma: must be in (0, 1]"),
        ({"train": {"batchsize": 2}}, "train.batchsize: unknown key"),
    ],
)
def test_train_config_errors_name_the_field(raw: dict, message: str) -> None:
    from sa_munit.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert message in str(info.value)


def test_lr_dis_defaults_to_lr() -> None:
    from sa_munit.config import config_from_dict

    assert config_from_dict({"train": {"lr": 0.0002}}).train.dis_lr == 0.0002
    assert config_from_dict({"train": {"lr": 0.0002, "lr_dis": 0.0004}}).train.dis_lr == 0.0004
    assert config_from_dict({"train": {"lr_dis": None}}).train.lr_dis is None

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from sa_munit.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sa_munit.config import ExperimentConfig
from sa_munit.networks import build_model

from .conftest import with_attention


def test_round_trip_restores_every_network(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    model = build_model(tiny_cfg)
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, tiny_cfg, model, extra={"iteration": 12})
    cfg, loaded, extra = load_checkpoint(path, tiny_cfg)
    assert cfg == tiny_cfg and extra == {"iteration": 12}
    for name in ("gen_a", "gen_b", "dis_a", "dis_b"):
        for (key, want), got in zip(getattr(model, name).state_dict().items(), getattr(loaded, name).state_dict().values()):
            assert torch.equal(want, got), f"{name}.{key}"
    assert not list(tmp_path.glob("*.partial"))


def test_without_config_uses_the_stored_one(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", tiny_cfg, build_model(tiny_cfg))
    cfg, _, _ = load_checkpoint(tmp_path / "c.pt")
    assert cfg == tiny_cfg


def test_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.pt: no such file"):
        load_checkpoint(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="garbage.pt is unreadable"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt is not a sa-munit-checkpoint"):
        load_checkpoint(foreign)


def test_truncated_checkpoint_is_refused(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, tiny_cfg, build_model(tiny_cfg))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="c.pt is unreadable"):
        load_checkpoint(path)


def test_other_architecture_names_the_differing_fields(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, tiny_cfg, build_model(tiny_cfg))
    wider = dataclasses.replace(tiny_cfg, gen=dataclasses.replace(tiny_cfg.gen, dim=16))
    with pytest.raises(CheckpointError, match=r"gen.dim: config says 16, checkpoint has 8"):
        load_checkpoint(path, wider)
    with pytest.raises(CheckpointError, match=r"attention.enabled"):
        load_checkpoint(path, with_attention(tiny_cfg, enabled=False))


def test_tampered_weights_of_another_shape_are_refused(tiny_cfg: ExperimentConfig, tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, tiny_cfg, build_model(tiny_cfg))
    payload = torch.load(path, weights_only=True)
    key = next(iter(payload["gen_a"]))
    payload["gen_a"][key] = torch.zeros(1)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="gen_a does not match the architecture"):
        load_checkpoint(path)

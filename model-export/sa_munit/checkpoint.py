"""Checkpoint files: the four networks plus the config that built them, written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, ExperimentConfig, config_from_dict
from .networks import SAMUNIT, build_model

CHECKPOINT_FORMAT = "sa-munit-checkpoint/1"
NETWORKS = ("gen_a", "gen_b", "dis_a", "dis_b")
# Config sections that decide the networks' shapes; the rest (name, domains, image size) may differ.
ARCHITECTURE_SECTIONS = ("gen", "dis", "attention")


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message names the file and the reason."""


def save_checkpoint(path: str | Path, cfg: ExperimentConfig, model: SAMUNIT, extra: dict[str, Any] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.to_dict(),
        **{name: getattr(model, name).state_dict() for name in NETWORKS},
        "extra": extra or {},
    }
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)  # a crash mid-write never leaves a truncated checkpoint under `path`


def _architecture_differences(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    differences = []
    for section in ARCHITECTURE_SECTIONS:
        for key, value in expected.get(section, {}).items():
            stored = found.get(section, {}).get(key)
            if stored != value:
                differences.append(f"{section}.{key}: config says {value!r}, checkpoint has {stored!r}")
    return differences


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt file; all mean "unreadable"
        raise CheckpointError(f"checkpoint {path} is unreadable: {type(err).__name__}: {str(err)[:200]}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a {CHECKPOINT_FORMAT} file")
    return payload


def saved_iteration(path: str | Path) -> int:
    """The iteration a training checkpoint was written at (0 for one without training state)."""
    return int(read_checkpoint(path).get("extra", {}).get("iteration", 0))


def load_checkpoint(path: str | Path, cfg: ExperimentConfig | None = None) -> tuple[ExperimentConfig, SAMUNIT, dict[str, Any]]:
    """Loads a checkpoint; with `cfg`, refuses one whose architecture differs from it."""
    payload = read_checkpoint(path)
    try:
        stored_cfg = config_from_dict(payload["config"], f"stored in checkpoint {path}")
    except ConfigError as err:
        raise CheckpointError(str(err)) from err
    if cfg is not None:
        differences = _architecture_differences(cfg.to_dict(), stored_cfg.to_dict())
        if differences:
            raise CheckpointError(
                f"checkpoint {path} was trained with another architecture:\n  " + "\n  ".join(differences)
            )
    use_cfg = cfg or stored_cfg
    model = build_model(use_cfg)
    for name in NETWORKS:
        state = payload.get(name)
        if not isinstance(state, dict):
            raise CheckpointError(f"checkpoint {path}: missing network {name}")
        try:
            result = getattr(model, name).load_state_dict(state, strict=False)
        except RuntimeError as err:  # tensor shape mismatches
            raise CheckpointError(f"checkpoint {path}: {name} does not match the architecture: {str(err)[:300]}") from err
        if result.missing_keys or result.unexpected_keys:
            raise CheckpointError(
                f"checkpoint {path}: {name} does not match the architecture "
                f"(missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]})"
            )
    return use_cfg, model, payload.get("extra", {})

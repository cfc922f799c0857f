from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

from sa_munit.config import AttentionConfig, ExperimentConfig, GenConfig, DisConfig

MODEL_EXPORT_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = MODEL_EXPORT_DIR.parent
PYTHON = sys.executable

torch.backends.nnpack.set_flags(False)  # NNPACK is unsupported on these CPUs and only prints warnings


@pytest.fixture
def one_thread() -> object:
    """Training-sized tests on tiny networks: extra threads only contend (seconds per step on shared CPUs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_cfg() -> ExperimentConfig:
    """Small but complete: every generator attention site on, so each code path runs."""
    return ExperimentConfig(
        name="tiny",
        image_size=32,
        gen=GenConfig(dim=8, style_dim=4, n_downsample=2, n_res=1, mlp_dim=16),
        dis=DisConfig(dim=8, n_layer=3, num_scales=2),
        attention=AttentionConfig(content_encoder=True, decoder_bottleneck=True, decoder_upsampling=True),
    )


def with_attention(cfg: ExperimentConfig, **changes: bool) -> ExperimentConfig:
    return dataclasses.replace(cfg, attention=dataclasses.replace(cfg.attention, **changes))

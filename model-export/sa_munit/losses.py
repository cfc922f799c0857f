"""MUNIT's objective as plain functions (Huang et al. 2018, eq. 5-7; LSGAN of Mao et al. 2017).

Multi-scale discriminators return one patch map per scale; adversarial losses sum the per-scale
means, as in the paper.
"""

from __future__ import annotations

import torch

REAL_TARGET = 1.0
FAKE_TARGET = 0.0


def lsgan_dis_loss(fake_outputs: list[torch.Tensor], real_outputs: list[torch.Tensor]) -> torch.Tensor:
    """Discriminator: push fakes to 0 and reals to 1 at every scale."""
    return sum(
        ((fake - FAKE_TARGET) ** 2).mean() + ((real - REAL_TARGET) ** 2).mean()
        for fake, real in zip(fake_outputs, real_outputs, strict=True)
    )


def lsgan_gen_loss(fake_outputs: list[torch.Tensor]) -> torch.Tensor:
    """Generator: make every scale call the fakes real."""
    return sum(((fake - REAL_TARGET) ** 2).mean() for fake in fake_outputs)


def l1_recon(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, used for image, content-code and style-code reconstruction."""
    return (output - target).abs().mean()

"""Seed -> style vector, the Python mirror of contract/seed-style.ts (used by tests and fixtures).

The TypeScript module is the definition; this mirror exists so that tests can check both sides give
the same vector. SplitMix64 over a uint64 state initialised to the seed; uniforms in (0, 1) from the
top 53 bits; standard normals by Box-Muller over consecutive pairs (cosine first, then sine).
"""

from __future__ import annotations

import math

import numpy as np

MAX_SEED = 2**53 - 1
_MASK64 = 2**64 - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def _splitmix64(state: int) -> tuple[int, int]:
    state = (state + _GOLDEN_GAMMA) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def style_from_seed(seed: int, style_dim: int) -> np.ndarray:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2^53-1] (got {seed!r})")
    state = seed
    values: list[float] = []
    while len(values) < style_dim:
        state, r1 = _splitmix64(state)
        state, r2 = _splitmix64(state)
        u1 = ((r1 >> 11) + 0.5) / 2**53
        u2 = ((r2 >> 11) + 0.5) / 2**53
        radius = math.sqrt(-2.0 * math.log(u1))
        values += [radius * math.cos(2 * math.pi * u2), radius * math.sin(2 * math.pi * u2)]
    return np.asarray(values[:style_dim], dtype=np.float32)

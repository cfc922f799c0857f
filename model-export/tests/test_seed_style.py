from __future__ import annotations

import json

import numpy as np
import pytest

from sa_munit.seed_style import MAX_SEED, style_from_seed

from .conftest import REPO_ROOT


def test_matches_the_shared_golden_vectors() -> None:
    """The same file is checked by the TypeScript suite: both sides give the same style for a seed."""
    golden = json.loads((REPO_ROOT / "contract" / "seed-style.golden.json").read_text())
    for case in golden["cases"]:
        got = style_from_seed(case["seed"], case["style_dim"])
        np.testing.assert_allclose(got, np.asarray(case["style"], dtype=np.float32), atol=golden["tolerance"])


def test_is_standard_normal_over_many_seeds() -> None:
    values = np.concatenate([style_from_seed(seed, 8) for seed in range(5000)])
    assert abs(values.mean()) < 0.03
    assert abs(values.std() - 1.0) < 0.03


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 1.5, True, "7"])
def test_rejects_seeds_outside_the_range(seed: object) -> None:
    with pytest.raises(ValueError, match="seed must be an integer"):
        style_from_seed(seed, 8)  # type: ignore[arg-type]

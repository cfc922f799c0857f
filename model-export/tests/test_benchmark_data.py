"""The synthetic circles-vs-squares benchmark: determinism, layout, ground truth, geometry, CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sa_munit import benchmark_data
from sa_munit.benchmark_data import (
    BenchmarkConfigError,
    BenchmarkError,
    ShapesBenchmarkConfig,
    draw_factors,
    ideal_target_mask,
    mask_iou,
    read_factors,
    render_sample,
    split_factors,
    write_benchmark,
)

from .conftest import MODEL_EXPORT_DIR, PYTHON

TINY = ShapesBenchmarkConfig(image_size=32, train_per_domain=6, test_per_domain=6, seed=3)
FOLDERS = ("trainA", "trainB", "testA", "testB")


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "shapes"
    write_benchmark(TINY, out, progress=False)
    return out


# --- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"image_size": 0}, "image_size"),
        ({"train_per_domain": -1}, "train_per_domain"),
        ({"test_per_domain": 0}, "test_per_domain"),
        ({"seed": -2}, "seed"),
        ({"image_size": 32.0}, "image_size"),
        ({"min_object_fraction": 0.7}, "min_object_fraction"),
        ({"max_object_fraction": 1.5}, "max_object_fraction"),
        ({"image_size": 16, "min_object_fraction": 0.1}, "min_object_fraction"),
        ({"domain_names": ("x", "x")}, "domain_names"),
        ({"domain_names": ("Bad Name", "b")}, "domain_names"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(BenchmarkConfigError, match=field) as info:
        ShapesBenchmarkConfig(**changes)
    assert field in dict(info.value.problems)


def test_config_reports_every_problem_at_once() -> None:
    with pytest.raises(BenchmarkConfigError) as info:
        ShapesBenchmarkConfig(image_size=0, train_per_domain=-1)
    assert {"image_size", "train_per_domain"} <= set(dict(info.value.problems))


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tiny_benchmark: Path, tmp_path: Path) -> None:
    write_benchmark(TINY, tmp_path / "again", progress=False)
    assert all_bytes(tmp_path / "again") == all_bytes(tiny_benchmark)


def test_different_seed_gives_different_images(tiny_benchmark: Path, tmp_path: Path) -> None:
    write_benchmark(dataclasses.replace(TINY, seed=4), tmp_path / "other", progress=False)
    for folder in FOLDERS:
        assert (tmp_path / "other" / folder / "00000.png").read_bytes() != (tiny_benchmark / folder / "00000.png").read_bytes()


def test_splits_are_independent_streams() -> None:
    # Changing one split's count leaves the other split untouched and extends its own as a prefix.
    more_train = dataclasses.replace(TINY, train_per_domain=10)
    for domain in (0, 1):
        assert split_factors(more_train, "test", domain) == split_factors(TINY, "test", domain)
        assert split_factors(more_train, "train", domain)[:6] == split_factors(TINY, "train", domain)
    # Train and test never share a sample (continuous factors: no collision expected, none allowed).
    big = dataclasses.replace(TINY, train_per_domain=300, test_per_domain=100)
    for domain in (0, 1):
        train = {(f.cx, f.cy, f.size) for f in split_factors(big, "train", domain)}
        test = {(f.cx, f.cy, f.size) for f in split_factors(big, "test", domain)}
        assert not train & test


# --- layout and ground truth ---------------------------------------------------------------------


def test_layout_and_counts(tiny_benchmark: Path) -> None:
    names = [f"{i:05d}.png" for i in range(6)]
    for folder in FOLDERS:
        assert sorted(p.name for p in (tiny_benchmark / folder).iterdir()) == names
        assert sorted(p.name for p in (tiny_benchmark / "masks" / folder).iterdir()) == names
        lines = (tiny_benchmark / "factors" / f"{folder}.jsonl").read_text().splitlines()
        assert [json.loads(line)["file"] for line in lines] == names
        image = read_png(tiny_benchmark / folder / names[0])
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    info = json.loads((tiny_benchmark / "benchmark.json").read_text())
    assert info["config"] == TINY.to_dict()
    assert ShapesBenchmarkConfig(**{**info["config"], "domain_names": tuple(info["config"]["domain_names"])}) == TINY
    assert info["domains"]["A"] == {"name": "circles", "shape": "circle"}
    assert info["domains"]["B"] == {"name": "squares", "shape": "square"}
    assert info["counts"] == dict.fromkeys(FOLDERS, 6)


def test_factors_match_images_and_masks(tiny_benchmark: Path) -> None:
    for folder, shape in zip(FOLDERS, ("circle", "square") * 2):
        for index, factors in enumerate(read_factors(tiny_benchmark / "factors" / f"{folder}.jsonl")):
            assert factors.shape == shape
            name = f"{index:05d}.png"
            image = read_png(tiny_benchmark / folder / name)
            saved_mask = read_png(tiny_benchmark / "masks" / folder / name)
            assert set(np.unique(saved_mask)) <= {0, 255}
            rendered, mask = render_sample(factors, TINY.image_size)
            np.testing.assert_array_equal(rendered, image)
            np.testing.assert_array_equal(mask, saved_mask == 255)
            # Fully covered pixels have exactly the object colour; mask pixels (at least half covered)
            # are at least as close to it as to the background behind them.
            interior = benchmark_data.object_coverage(shape, factors.cx, factors.cy, factors.size, 32) == 1
            assert interior.sum() > 0
            assert (image[interior] == np.array(factors.object_rgb)).all()
            pixels = image[mask].astype(float)
            to_object = np.linalg.norm(pixels - np.array(factors.object_rgb), axis=1)
            to_background = np.linalg.norm(pixels - benchmark_data.background_image(factors, 32)[mask], axis=1)
            assert (to_object <= to_background + math.sqrt(3)).all()  # uint8 rounding moves each by <= sqrt(3)/2
            # The object lies wholly inside the image.
            half = factors.size / 2
            assert half <= factors.cx <= 32 - half and half <= factors.cy <= 32 - half


# --- geometry and content ------------------------------------------------------------------------


def test_circles_and_squares_differ_in_geometry() -> None:
    cfg = dataclasses.replace(TINY, image_size=64, train_per_domain=40)
    for domain, expected in ((0, math.pi / 4), (1, 1.0)):
        for factors in split_factors(cfg, "train", domain):
            _, mask = render_sample(factors, cfg.image_size)
            fill = mask.sum() / factors.size**2  # fill ratio of the object's bounding square
            assert fill == pytest.approx(expected, abs=0.08), factors


def test_content_draws_do_not_depend_on_the_shape() -> None:
    # The same random stream gives the same factors whatever the shape: both domains share every
    # content and style distribution, by construction.
    for seed in range(20):
        circle = draw_factors(np.random.default_rng(seed), "circle", TINY)
        square = draw_factors(np.random.default_rng(seed), "square", TINY)
        assert dataclasses.replace(circle, shape="square") == square


def test_content_statistics_match_between_domains() -> None:
    cfg = dataclasses.replace(TINY, image_size=64, train_per_domain=1000)
    stats = []
    for domain in (0, 1):
        factors = split_factors(cfg, "train", domain)
        values = np.array([(f.cx, f.cy, f.size, *f.object_rgb) for f in factors])
        stats.append((values.mean(axis=0), values.std(axis=0)))
    (mean_a, std_a), (mean_b, std_b) = stats
    # Standard error of a mean of 1000 draws is ~3% of the spread; 6 standard errors is generous.
    assert np.all(np.abs(mean_a - mean_b) < 6 * std_a / math.sqrt(1000) * math.sqrt(2))
    np.testing.assert_allclose(std_a, std_b, rtol=0.15)
    sizes = [f.size for d in (0, 1) for f in split_factors(cfg, "train", d)]
    assert 0.25 * 64 <= min(sizes) and max(sizes) <= 0.6 * 64


def test_ideal_target_mask_and_iou() -> None:
    cfg = dataclasses.replace(TINY, image_size=64, train_per_domain=20)
    for factors in split_factors(cfg, "train", 0):
        _, circle = render_sample(factors, cfg.image_size)
        ideal_square = ideal_target_mask(factors, "square", cfg.image_size)
        assert mask_iou(circle, ideal_square) == pytest.approx(math.pi / 4, abs=0.08)
        assert mask_iou(circle, ideal_target_mask(factors, "circle", cfg.image_size)) == 1.0
        # The same factors rendered as a square are the ideal answer exactly; JSON factors work too.
        _, square = render_sample(dataclasses.replace(factors, shape="square"), cfg.image_size)
        assert mask_iou(square, ideal_square) == 1.0
        as_json = json.loads(json.dumps(factors.to_json("x.png")))
        np.testing.assert_array_equal(ideal_target_mask(as_json, "square", cfg.image_size), ideal_square)


def test_mask_iou_edge_cases() -> None:
    empty = np.zeros((4, 4), dtype=bool)
    full = np.ones((4, 4), dtype=bool)
    assert mask_iou(empty, empty) == 1.0
    assert mask_iou(empty, full) == 0.0
    with pytest.raises(ValueError, match="shape"):
        mask_iou(empty, np.zeros((3, 3), dtype=bool))


# --- atomic writing ------------------------------------------------------------------------------


def test_refuses_non_empty_folder_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(BenchmarkError, match="not empty"):
        write_benchmark(TINY, out, progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    write_benchmark(TINY, out, overwrite=True, progress=False)
    assert not (out / "keep.txt").exists() and (out / "benchmark.json").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    write_benchmark(TINY, empty, progress=False)  # an existing empty folder is fine


def test_failure_leaves_no_staging_and_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_render = benchmark_data.render_sample

    def failing_render(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 9:
            raise OSError("disk full")
        return real_render(*args, **kwargs)

    monkeypatch.setattr(benchmark_data, "render_sample", failing_render)
    with pytest.raises(OSError, match="disk full"):
        write_benchmark(TINY, tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


# --- CLI -----------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "sa_munit", *args], cwd=MODEL_EXPORT_DIR, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("option", "value"), [("--image-size", "0"), ("--train", "-1"), ("--test", "0"), ("--seed", "-1")])
def test_cli_bad_values_exit_2_naming_the_option(tmp_path: Path, option: str, value: str) -> None:
    result = run_cli("make-benchmark", "--out", str(tmp_path / "out"), option, value)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert option in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_writes_benchmark_and_preview(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("make-benchmark", "--out", str(out), "--image-size", "32", "--train", "3", "--test", "2", "--seed", "5")
    result = run_cli(*args, "--preview", str(tmp_path / "preview.png"))
    assert result.returncode == 0, result.stderr
    assert len(list((out / "trainB").iterdir())) == 3 and len(list((out / "testA").iterdir())) == 2
    with Image.open(tmp_path / "preview.png") as preview:
        assert preview.mode == "RGB" and preview.width > preview.height
    again = run_cli(*args)
    assert again.returncode == 2 and "not empty" in again.stderr and "--overwrite" in again.stderr
    assert run_cli(*args, "--overwrite").returncode == 0

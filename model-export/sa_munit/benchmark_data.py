"""Synthetic unpaired benchmark: circles (domain A) versus squares (domain B).

The domains differ in geometry only. Content is the object's position and size and the layout of
the background; style is colour: the object's colour and the two colours of the background
gradient. Every factor except the shape is drawn by the same code from the same distribution in
both domains, so a perfect A→B translation keeps position, size and background and swaps a circle
for the square of the same extent (`ideal_target_mask`).

Everything is a pure function of the config: each (split, domain) has its own random stream,
`np.random.default_rng([seed, split_index, domain_index])`, so any split can be regenerated alone,
changing one split's count leaves the others untouched, and train and test never share a sample.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from tqdm import tqdm

from .config import DOMAIN_NAME_PATTERN, ConfigError

Shape = Literal["circle", "square"]
RGB = tuple[int, int, int]

FORMAT = "sa-munit-shapes-benchmark/1"
SPLITS = ("train", "test")  # index in the tuple = split_index of the random stream
DOMAIN_LETTERS = ("A", "B")  # index in the tuple = domain_index of the random stream
DOMAIN_SHAPES: tuple[Shape, Shape] = ("circle", "square")  # A = circles, B = squares
MIN_IMAGE_SIZE = 16  # pixels; below this the smallest objects are a few pixels wide
MIN_OBJECT_PIXELS = 4  # the smallest object must span this many pixels to tell a circle from a square
SUPERSAMPLE = 4  # anti-aliasing: coverage sampled on a 4x4 grid per pixel
MIN_COLOUR_DISTANCE = 96.0  # Euclidean RGB distance between the object and both gradient colours
MASK_COVERAGE = 0.5  # a pixel is in the mask when at least half of it is covered by the object


class BenchmarkError(ValueError):
    """The benchmark cannot be written (e.g. the output folder is not empty)."""


class BenchmarkConfigError(ConfigError):
    """Invalid benchmark config; `problems` holds (field, problem) pairs so a CLI can name its options."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid benchmark config:\n  " + "\n  ".join(f"{f}: {p}" for f, p in problems))


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapesBenchmarkConfig:
    image_size: int = 64  # side of every image in pixels
    train_per_domain: int = 2000  # images in trainA and in trainB
    test_per_domain: int = 200  # images in testA and in testB
    seed: int = 0  # root of every random stream
    min_object_fraction: float = 0.25  # smallest object extent (circle diameter = square side) / image_size
    max_object_fraction: float = 0.6  # largest object extent / image_size
    domain_names: tuple[str, str] = ("circles", "squares")  # labels of A (circles) and B (squares)

    def __post_init__(self) -> None:
        problems = _config_problems(self)
        if problems:
            raise BenchmarkConfigError(problems)

    def count(self, split: str) -> int:
        return self.train_per_domain if split == "train" else self.test_per_domain

    def to_dict(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        raw["domain_names"] = list(self.domain_names)
        return raw


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _config_problems(cfg: ShapesBenchmarkConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name, low in (("image_size", MIN_IMAGE_SIZE), ("train_per_domain", 1), ("test_per_domain", 1), ("seed", 0)):
        value = getattr(cfg, name)
        if not _is_int(value):
            problems.append((name, f"must be an integer (got {value!r})"))
        elif value < low:
            problems.append((name, f"must be >= {low} (got {value})"))
    fractions_ok = True
    for name in ("min_object_fraction", "max_object_fraction"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            problems.append((name, f"must be a number in (0, 1] (got {value!r})"))
            fractions_ok = False
    if fractions_ok:
        if cfg.min_object_fraction > cfg.max_object_fraction:
            problems.append(("min_object_fraction", f"must be <= max_object_fraction "
                             f"({cfg.min_object_fraction} > {cfg.max_object_fraction})"))
        elif "image_size" not in dict(problems) and cfg.min_object_fraction * cfg.image_size < MIN_OBJECT_PIXELS:
            problems.append(("min_object_fraction", f"objects must span >= {MIN_OBJECT_PIXELS} pixels "
                             f"({cfg.min_object_fraction} x image_size {cfg.image_size} is smaller)"))
    names = cfg.domain_names
    if not isinstance(names, tuple) or len(names) != 2 or not all(isinstance(n, str) for n in names):
        problems.append(("domain_names", f"must be two strings (got {names!r})"))
    else:
        for name in names:
            if not DOMAIN_NAME_PATTERN.match(name):
                problems.append(("domain_names", f"{name!r} must match {DOMAIN_NAME_PATTERN.pattern}"))
        if names[0] == names[1]:
            problems.append(("domain_names", f"must differ (both {names[0]!r})"))
    return problems


# ---------------------------------------------------------------------------------------------
# Factors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeFactors:
    """Ground truth of one image. Coordinates in pixels, origin at the top-left corner of the image."""

    shape: Shape
    cx: float  # object centre, x
    cy: float  # object centre, y
    size: float  # circle diameter = square side (the object's bounding square)
    object_rgb: RGB  # style
    background_rgb_start: RGB  # style: gradient colour at the start of the gradient axis
    background_rgb_end: RGB  # style: gradient colour at the end of the gradient axis
    background_angle_deg: float  # content: direction of the gradient axis (0 = left to right)

    def to_json(self, file: str) -> dict[str, Any]:
        return {
            "file": file,
            "shape": self.shape,
            "cx": self.cx,
            "cy": self.cy,
            "size": self.size,
            "object_rgb": list(self.object_rgb),
            "background": {
                "rgb_start": list(self.background_rgb_start),
                "rgb_end": list(self.background_rgb_end),
                "angle_deg": self.background_angle_deg,
            },
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ShapeFactors:
        background = raw["background"]
        return cls(
            shape=raw["shape"],
            cx=float(raw["cx"]),
            cy=float(raw["cy"]),
            size=float(raw["size"]),
            object_rgb=_rgb(raw["object_rgb"]),
            background_rgb_start=_rgb(background["rgb_start"]),
            background_rgb_end=_rgb(background["rgb_end"]),
            background_angle_deg=float(background["angle_deg"]),
        )


def _rgb(values: Any) -> RGB:
    r, g, b = (int(v) for v in values)
    return (r, g, b)


def _random_rgb(rng: np.random.Generator) -> RGB:
    return _rgb(rng.integers(0, 256, size=3))


def draw_factors(rng: np.random.Generator, shape: Shape, cfg: ShapesBenchmarkConfig) -> ShapeFactors:
    """One sample's factors. The draws never depend on `shape`: both domains share every distribution."""
    n = cfg.image_size
    size = round(float(rng.uniform(cfg.min_object_fraction, cfg.max_object_fraction)) * n, 3)
    # The whole object stays inside the image.
    cx = round(float(rng.uniform(size / 2, n - size / 2)), 3)
    cy = round(float(rng.uniform(size / 2, n - size / 2)), 3)
    angle = round(float(rng.uniform(0.0, 360.0)), 2)
    while True:  # rejection sampling: the object must stand out against the whole gradient
        obj, start, end = _random_rgb(rng), _random_rgb(rng), _random_rgb(rng)
        if min(math.dist(obj, start), math.dist(obj, end)) >= MIN_COLOUR_DISTANCE:
            break
    return ShapeFactors(shape, cx, cy, size, obj, start, end, angle)


def split_factors(cfg: ShapesBenchmarkConfig, split: str, domain_index: int) -> list[ShapeFactors]:
    """All factors of one split of one domain, from that pair's own random stream."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} (got {split!r})")
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), domain_index])
    return [draw_factors(rng, DOMAIN_SHAPES[domain_index], cfg) for _ in range(cfg.count(split))]


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def object_coverage(shape: Shape, cx: float, cy: float, size: float, image_size: int) -> np.ndarray:
    """Fraction of each pixel covered by the object, [H,W] float64 in [0,1] (4x4 supersampling)."""
    steps = (np.arange(image_size * SUPERSAMPLE) + 0.5) / SUPERSAMPLE  # sample points in pixel units
    dx = steps[None, :] - cx
    dy = steps[:, None] - cy
    half = size / 2
    if shape == "circle":
        inside = dx * dx + dy * dy <= half * half
    elif shape == "square":
        inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    else:
        raise ValueError(f"shape must be 'circle' or 'square' (got {shape!r})")
    blocks = inside.reshape(image_size, SUPERSAMPLE, image_size, SUPERSAMPLE)
    return blocks.mean(axis=(1, 3))


def background_image(factors: ShapeFactors, image_size: int) -> np.ndarray:
    """Linear gradient along `background_angle_deg` spanning the image, [H,W,3] float64."""
    centres = np.arange(image_size) + 0.5 - image_size / 2
    angle = math.radians(factors.background_angle_deg)
    cos, sin = math.cos(angle), math.sin(angle)
    reach = image_size / 2 * (abs(cos) + abs(sin))  # projection of a corner: t spans exactly [0, 1]
    t = (centres[None, :] * cos + centres[:, None] * sin) / reach * 0.5 + 0.5
    start = np.asarray(factors.background_rgb_start, dtype=np.float64)
    end = np.asarray(factors.background_rgb_end, dtype=np.float64)
    return start + (end - start) * t[:, :, None]


def render_sample(factors: ShapeFactors, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Renders one image from its factors: (RGB uint8 [H,W,3], object mask bool [H,W])."""
    coverage = object_coverage(factors.shape, factors.cx, factors.cy, factors.size, image_size)
    obj = np.asarray(factors.object_rgb, dtype=np.float64)
    alpha = coverage[:, :, None]
    image = background_image(factors, image_size) * (1 - alpha) + obj * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), coverage >= MASK_COVERAGE


def ideal_target_mask(factors: ShapeFactors | Mapping[str, Any], target_shape: Shape, image_size: int) -> np.ndarray:
    """The ideal translation's object mask: `target_shape` at the source object's position and size."""
    if not isinstance(factors, ShapeFactors):
        factors = ShapeFactors.from_json(factors)
    return object_coverage(target_shape, factors.cx, factors.cy, factors.size, image_size) >= MASK_COVERAGE


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}")
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


# ---------------------------------------------------------------------------------------------
# Writing to disk
# ---------------------------------------------------------------------------------------------


def file_name(index: int, count: int) -> str:
    return f"{index:0{max(5, len(str(count - 1)))}d}.png"


def write_benchmark(
    cfg: ShapesBenchmarkConfig, out_dir: str | Path, *, overwrite: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Writes the benchmark into `out_dir` and returns the `benchmark.json` written there.

    Layout: trainA/ trainB/ testA/ testB/ (images), masks/<split><letter>/ (0/255 PNGs of the same
    names), factors/<split><letter>.jsonl (one line per image, in file order), benchmark.json.
    The folder appears only when complete: everything goes to a staging folder beside it first.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise BenchmarkError(f"output folder {out_dir} is not empty (pass --overwrite to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        info = _write_into(cfg, staging, progress)
        if out_dir.is_dir():
            shutil.rmtree(out_dir)
        elif out_dir.exists():
            out_dir.unlink()
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


def _write_into(cfg: ShapesBenchmarkConfig, folder: Path, progress: bool) -> dict[str, Any]:
    total = 2 * (cfg.train_per_domain + cfg.test_per_domain)
    (folder / "factors").mkdir()
    with tqdm(total=total, desc="benchmark", unit="img", disable=not progress) as bar:
        for split in SPLITS:
            for domain_index, letter in enumerate(DOMAIN_LETTERS):
                name = f"{split}{letter}"
                (folder / name).mkdir()
                (folder / "masks" / name).mkdir(parents=True)
                all_factors = split_factors(cfg, split, domain_index)
                lines = []
                for index, factors in enumerate(all_factors):
                    file = file_name(index, len(all_factors))
                    image, mask = render_sample(factors, cfg.image_size)
                    Image.fromarray(image, mode="RGB").save(folder / name / file)
                    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(folder / "masks" / name / file)
                    lines.append(json.dumps(factors.to_json(file)) + "\n")
                    bar.update()
                (folder / "factors" / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")
    info = {
        "format": FORMAT,
        "config": cfg.to_dict(),
        "domains": {letter: {"name": cfg.domain_names[i], "shape": DOMAIN_SHAPES[i]}
                    for i, letter in enumerate(DOMAIN_LETTERS)},
        "counts": {f"{split}{letter}": cfg.count(split) for split in SPLITS for letter in DOMAIN_LETTERS},
        "mask_coverage_threshold": MASK_COVERAGE,
        "supersample": SUPERSAMPLE,
    }
    (folder / "benchmark.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def read_factors(path: str | Path) -> list[ShapeFactors]:
    """Factors of a `factors/<split><letter>.jsonl` file, in file order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [ShapeFactors.from_json(json.loads(line)) for line in lines if line]


# ---------------------------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------------------------

PREVIEW_TILE = 96  # pixels per tile in the preview grid (nearest-neighbour upscaling)
PREVIEW_GAP = 4  # pixels between tiles


def preview_grid(cfg: ShapesBenchmarkConfig, per_domain: int = 8, split: str = "train") -> Image.Image:
    """A grid of the first `per_domain` images of each domain: row 1 = A (circles), row 2 = B (squares)."""
    step = PREVIEW_TILE + PREVIEW_GAP
    grid = Image.new("RGB", (per_domain * step + PREVIEW_GAP, 2 * step + PREVIEW_GAP), (255, 255, 255))
    for domain_index in range(len(DOMAIN_LETTERS)):
        shown = dataclasses.replace(cfg, **{f"{split}_per_domain": per_domain})
        for column, factors in enumerate(split_factors(shown, split, domain_index)):
            image, _ = render_sample(factors, cfg.image_size)
            tile = Image.fromarray(image, mode="RGB").resize((PREVIEW_TILE, PREVIEW_TILE), Image.NEAREST)
            grid.paste(tile, (PREVIEW_GAP + column * step, PREVIEW_GAP + domain_index * step))
    return grid


def write_preview(cfg: ShapesBenchmarkConfig, path: str | Path, per_domain: int = 8) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    preview_grid(cfg, per_domain).save(path)
    return path


"""The evaluation's two judges for the shapes benchmark, trained by the project on its training split.

No pretrained networks can be downloaded here (no Inception, no LPIPS weights), so the learned
parts of the evaluation use two small networks trained on the benchmark's own ground truth:

- a domain classifier (circle or square?) whose verdict on a translation is "translation success"
  and whose penultimate features give a feature-space diversity;
- an object segmenter (which pixels are the object?) whose mask of a translation is compared with
  the ideal target shape and with the source object.

Both see random colours for object and background during training, exactly as the benchmark
draws them, so they judge shape, not colour. Their own accuracy on the real test split is measured
by `judge_quality` and printed first in every evaluation report.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm import tqdm

from .benchmark_data import FORMAT as BENCHMARK_FORMAT
from .image_folder import DataError, domain_folders, list_images, read_rgb, to_tensor

JUDGES_FORMAT = "sa-munit-judges/1"
FEATURE_DIM = 128
LABELS = {"a": 0, "b": 1}
SEGMENTER_THRESHOLD = 0.5  # probability above which a pixel belongs to the object


class JudgeError(ValueError):
    """Judges cannot be trained or loaded; the message names the file or folder."""


@dataclass(frozen=True)
class JudgeTrainConfig:
    iterations: int = 1000  # optimiser steps (both judges step together)
    batch_size: int = 16  # images per step, from both domains
    lr: float = 0.001  # Adam learning rate
    seed: int = 0  # seeds initialisation, batch order and flips


def _conv(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DomainClassifier(nn.Module):
    """A full-resolution conv block, three stride-2 ones -> global max pool (the features) -> two logits.

    Max, not average, pooling: a corner is a few pixels of a large map, and averaging drowns it in
    the colours (an average-pooled variant stayed at chance on the 64 px benchmark). The first block
    keeps full resolution so that the smallest objects (a quarter of the image side) keep their corners.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(3, 16, 1), _conv(16, 32, 2), _conv(32, 64, 2), _conv(64, FEATURE_DIM, 2))
        self.head = nn.Linear(FEATURE_DIM, len(LABELS))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images).amax(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class ObjectSegmenter(nn.Module):
    """A small three-level U-Net: one object logit per pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.down1 = _conv(3, 16, 1)
        self.down2 = nn.Sequential(_conv(16, 32, 2), _conv(32, 32, 1))
        self.down3 = nn.Sequential(_conv(32, 64, 2), _conv(64, 64, 1))
        self.up2 = _conv(64 + 32, 32, 1)
        self.up1 = _conv(32 + 16, 16, 1)
        self.out = nn.Conv2d(16, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(images)
        d2 = self.down2(d1)
        d3 = self.down3(d2)
        u2 = self.up2(torch.cat([F.interpolate(d3, size=d2.shape[2:], mode="nearest"), d2], dim=1))
        u1 = self.up1(torch.cat([F.interpolate(u2, size=d1.shape[2:], mode="nearest"), d1], dim=1))
        return self.out(u1)[:, 0]  # [N, H, W] logits


@dataclass
class Judges:
    image_size: int
    classifier: DomainClassifier
    segmenter: ObjectSegmenter
    trained: dict[str, Any]  # how they were trained: data, config, test quality

    def __post_init__(self) -> None:
        self.classifier.eval()
        self.segmenter.eval()

    @torch.no_grad()
    def target_probability(self, images: torch.Tensor, domain: str) -> torch.Tensor:
        """P(image belongs to `domain`) per image; images [N,3,H,W] in [-1, 1]."""
        return torch.softmax(self.classifier(images), dim=1)[:, LABELS[domain]]

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images)

    @torch.no_grad()
    def object_masks(self, images: torch.Tensor) -> np.ndarray:
        """Boolean object masks [N,H,W]."""
        return (torch.sigmoid(self.segmenter(images)) > SEGMENTER_THRESHOLD).numpy()


# -- data -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledSplit:
    images: torch.Tensor  # [N,3,H,W] in [-1, 1]
    labels: torch.Tensor  # [N] 0 = domain A, 1 = domain B
    masks: torch.Tensor  # [N,H,W] float 0/1
    files: list[str]  # "<folder>/<name>" of each image, e.g. "testA/00007.png"


def benchmark_info(data_dir: str | Path) -> dict[str, Any]:
    path = Path(data_dir) / "benchmark.json"
    if not path.is_file():
        raise JudgeError(f"{path}: no such file (judges and evaluation need a folder written by make-benchmark)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise JudgeError(f"{path} is unreadable: {err}") from err
    if not isinstance(info, dict) or info.get("format") != BENCHMARK_FORMAT:
        raise JudgeError(f"{path} is not a {BENCHMARK_FORMAT} description")
    return info


def read_mask(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L")) >= 128
    except OSError as err:
        raise DataError(f"mask {path} is unreadable: {err}") from err


def load_split(data_dir: str | Path, split: str, limit: int | None = None) -> LabelledSplit:
    """Images, domain labels and object masks of one split of a shapes benchmark folder."""
    image_size = int(benchmark_info(data_dir)["config"]["image_size"])
    images, labels, masks, names = [], [], [], []
    for letter, folder in zip("AB", domain_folders(data_dir, split)):
        files = list_images(folder)[:limit]
        for path in files:
            image = read_rgb(path)
            if image.size != (image_size, image_size):
                raise DataError(f"image {path} is {image.width}x{image.height}, the benchmark says {image_size}")
            images.append(to_tensor(image))
            masks.append(torch.from_numpy(read_mask(Path(data_dir) / "masks" / folder.name / path.name)))
            labels.append(LABELS[letter.lower()])
            names.append(f"{folder.name}/{path.name}")
    return LabelledSplit(torch.stack(images), torch.tensor(labels), torch.stack(masks).float(), names)


# -- training ---------------------------------------------------------------------------------------


def _batches(count: int, cfg: JudgeTrainConfig, rng: np.random.Generator):  # noqa: ANN202 - a generator
    order = rng.permutation(count)
    position = 0
    for _ in range(cfg.iterations):
        if position + cfg.batch_size > count:
            order, position = rng.permutation(count), 0
        yield order[position:position + cfg.batch_size], rng.random(cfg.batch_size) < 0.5
        position += cfg.batch_size


def _flip(images: torch.Tensor, flips: np.ndarray) -> torch.Tensor:
    flipped = images.clone()
    flipped[torch.from_numpy(flips)] = flipped[torch.from_numpy(flips)].flip(-1)
    return flipped


def _recolour(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Permutes the colour channels and inverts some images: shape is what the judges must see."""
    signs = torch.from_numpy(np.where(rng.random((len(images), 1, 1, 1)) < 0.5, -1.0, 1.0)).float()
    return images[:, torch.from_numpy(rng.permutation(3))] * signs


def train_judges(data_dir: str | Path, cfg: JudgeTrainConfig = JudgeTrainConfig(), progress: bool = True) -> Judges:
    """Trains both judges on the training split and measures them on the test split."""
    info = benchmark_info(data_dir)
    train = load_split(data_dir, "train")
    torch.manual_seed(cfg.seed)
    classifier, segmenter = DomainClassifier(), ObjectSegmenter()
    parameters = [*classifier.parameters(), *segmenter.parameters()]
    optimiser = torch.optim.Adam(parameters, lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    classifier.train()
    segmenter.train()
    with tqdm(total=cfg.iterations, desc="judges", unit="it", disable=not progress) as bar:
        for index, flips in _batches(len(train.labels), cfg, rng):
            batch = torch.from_numpy(index)
            images = _recolour(_flip(train.images[batch], flips), rng)
            masks = _flip(train.masks[batch], flips)
            class_loss = F.cross_entropy(classifier(images), train.labels[batch])
            mask_loss = F.binary_cross_entropy_with_logits(segmenter(images), masks)
            optimiser.zero_grad(set_to_none=True)
            (class_loss + mask_loss).backward()
            optimiser.step()
            bar.update()
            bar.set_postfix(cls=f"{class_loss.item():.3f}", seg=f"{mask_loss.item():.3f}")
    judges = Judges(int(info["config"]["image_size"]), classifier, segmenter, {})
    judges.trained = {
        "benchmark": info["config"],
        "config": dataclasses.asdict(cfg),
        "test": judge_quality(judges, load_split(data_dir, "test")),
    }
    return judges


def judge_quality(judges: Judges, split: LabelledSplit, batch_size: int = 100) -> dict[str, float]:
    """Classifier accuracy and segmenter mean IoU on real images with known labels and masks."""
    correct, ious = 0, []
    for start in range(0, len(split.labels), batch_size):
        images = split.images[start:start + batch_size]
        labels = split.labels[start:start + batch_size]
        predicted_b = judges.target_probability(images, "b") > 0.5
        correct += int((predicted_b.long() == labels).sum())
        predicted = judges.object_masks(images)
        truth = split.masks[start:start + batch_size].numpy() > 0.5
        ious += list(mask_ious(predicted, truth))
    return {"classifier_accuracy": correct / len(split.labels), "segmenter_mean_iou": float(np.mean(ious)),
            "images": len(split.labels)}


def mask_ious(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-image IoU of boolean masks [N,H,W]; 1.0 where both are empty."""
    intersection = np.logical_and(predicted, truth).sum(axis=(1, 2))
    union = np.logical_or(predicted, truth).sum(axis=(1, 2))
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1))


# -- files ------------------------------------------------------------------------------------------


def save_judges(judges: Judges, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({"format": JUDGES_FORMAT, "image_size": judges.image_size, "trained": judges.trained,
                "classifier": judges.classifier.state_dict(), "segmenter": judges.segmenter.state_dict()}, partial)
    partial.replace(path)


def load_judges(path: str | Path) -> Judges:
    path = Path(path)
    if not path.is_file():
        raise JudgeError(f"judges file {path}: no such file (make one with `python -m sa_munit train-judges`)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt file; all mean "unreadable"
        raise JudgeError(f"judges file {path} is unreadable: {type(err).__name__}: {str(err)[:200]}") from err
    if not isinstance(payload, dict) or payload.get("format") != JUDGES_FORMAT:
        raise JudgeError(f"judges file {path} is not a {JUDGES_FORMAT} file")
    classifier, segmenter = DomainClassifier(), ObjectSegmenter()
    try:
        classifier.load_state_dict(payload["classifier"])
        segmenter.load_state_dict(payload["segmenter"])
    except (KeyError, RuntimeError) as err:
        raise JudgeError(f"judges file {path} does not match the judge networks: {str(err)[:200]}") from err
    return Judges(int(payload["image_size"]), classifier, segmenter, payload.get("trained", {}))

"""Unpaired image folders (trainA/ trainB/ testA/ testB/) as deterministic, resumable sample streams.

Every image is checked once when the folder is opened: an unreadable or truncated file is skipped
with one counted warning, so training never meets it. Any mode PIL reads (grayscale, RGBA, palette,
16-bit) becomes 8-bit RGB.

The stream is a pure function of (seed, domain, position): position p lies in epoch p // n, whose
order is a permutation drawn from `default_rng([seed, domain, epoch])`, and its crop and flip come
from `default_rng([seed, domain, epoch, p])`. A resumed run therefore sees exactly the batches an
uninterrupted run would, with no loader state to save, and worker processes change nothing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
SIXTEEN_BIT_MAX = 65535.0
SKIPPED_NAMES_SHOWN = 5
SPLIT_FOLDERS = {"train": ("trainA", "trainB"), "test": ("testA", "testB")}


class DataError(ValueError):
    """A data folder cannot be used; the message names the folder or file."""


class SkippedImagesWarning(UserWarning):
    """Some files of an image folder were unreadable and are left out."""


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode; 16-bit grayscale is scaled, not clipped."""
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64) / SIXTEEN_BIT_MAX * 255.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")
    elif image.mode == "P":
        image = image.convert("RGBA")  # palette transparency becomes alpha, then is dropped below
    return image.convert("RGB")


def read_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return to_rgb(image)


def list_images(folder: str | Path) -> list[Path]:
    """Readable images of `folder`, sorted by name; unreadable ones are skipped with a counted warning."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder {folder}: no such folder")
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not candidates:
        raise DataError(f"image folder {folder}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    good, bad = [], []
    for path in candidates:
        try:
            read_rgb(path)
        except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as err:
            bad.append(f"{path.name} ({type(err).__name__})")
        else:
            good.append(path)
    if bad:
        shown = ", ".join(bad[:SKIPPED_NAMES_SHOWN]) + (", ..." if len(bad) > SKIPPED_NAMES_SHOWN else "")
        warnings.warn(f"image folder {folder}: skipped {len(bad)} unreadable of {len(candidates)} files: {shown}",
                      SkippedImagesWarning, stacklevel=2)
    if not good:
        raise DataError(f"image folder {folder}: none of its {len(candidates)} files is a readable image")
    return good


def to_tensor(image: Image.Image) -> torch.Tensor:
    """[3, H, W] float32 in [-1, 1]."""
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def resize_shorter(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    return image if new == image.size else image.resize(new, Image.BILINEAR)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    image = resize_shorter(image, size)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return image.crop((left, top, left + size, top + size))


def random_crop_flip(image: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    """MUNIT's augmentation: shorter side to `size`, random `size` x `size` crop, horizontal flip p=0.5."""
    image = resize_shorter(image, size)
    left = int(rng.integers(0, image.width - size + 1))
    top = int(rng.integers(0, image.height - size + 1))
    image = image.crop((left, top, left + size, top + size))
    return image.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


class ImageStream(Dataset):
    """Position-indexed infinite stream over one folder's images (see the module docstring)."""

    def __init__(self, files: list[Path], image_size: int, seed: int, domain_index: int, length: int) -> None:
        self.files = files
        self.image_size = image_size
        self.seed = seed
        self.domain_index = domain_index
        self.length = length  # positions a sampler may ask for (max_iter * batch_size)

    def __len__(self) -> int:
        return self.length

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, self.domain_index, epoch]).permutation(len(self.files))

    def __getitem__(self, position: int) -> torch.Tensor:
        epoch, offset = divmod(position, len(self.files))
        path = self.files[int(self._order(epoch)[offset])]
        rng = np.random.default_rng([self.seed, self.domain_index, epoch, position])
        try:
            image = read_rgb(path)
        except OSError as err:  # changed on disk since it was checked
            raise DataError(f"image {path} became unreadable during training: {err}") from err
        return to_tensor(random_crop_flip(image, self.image_size, rng))


def domain_folders(data_dir: str | Path, split: str) -> tuple[Path, Path]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data folder {data_dir}: no such folder")
    folder_a, folder_b = (data_dir / name for name in SPLIT_FOLDERS[split])
    return folder_a, folder_b


def fixed_images(files: list[Path], count: int, image_size: int) -> torch.Tensor:
    """The first `count` images, centre-cropped: the same inputs in every sample grid."""
    return torch.stack([to_tensor(center_crop(read_rgb(path), image_size)) for path in files[:count]])

"""Fashion-MNIST through torchvision's own loader, as float tensors in [0, 1].

Where the data lives: the directory named by the environment variable ``UAP_DATA_DIR``,
else a per-user cache directory. torchvision downloads the data there when it is missing;
where that is impossible (no network) a :class:`DataUnavailableError` says where it looked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torchvision

from .checks import check_int, check_seed

DATA_DIR_ENV = "UAP_DATA_DIR"

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

SPLITS = ("train", "test")


class DataUnavailableError(RuntimeError):
    """Fashion-MNIST is neither on disk nor downloadable."""


class DataDirError(DataUnavailableError, ValueError):
    """``UAP_DATA_DIR`` names something that cannot be the data folder (a file, or a path below a file).

    Both a ValueError (a bad setting) and a :class:`DataUnavailableError`, so code that reports
    missing data (the web app, the command line) reports this too.
    """


@dataclass(frozen=True)
class Dataset:
    """Images (N, 1, 28, 28) float32 in [0, 1] and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None, seed: int = 0) -> Dataset:
        """``n`` images drawn without replacement by a seeded shuffle (all of them if ``n`` is None)."""
        seed = check_seed(seed)
        if n is None:
            return self
        n = check_int(n, "n", low=1, high=len(self))  # at most the images available
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return Dataset(self.images[order], self.labels[order])


def data_dir() -> Path:
    """The data root: ``$UAP_DATA_DIR`` if set, else ``$XDG_CACHE_HOME/uap_core`` (``~/.cache/uap_core``).

    A ``UAP_DATA_DIR`` that cannot be a folder (an existing file, a path below a file, a NUL byte)
    raises :class:`DataDirError`, which names the variable and what it holds.
    """
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    if configured:
        return _check_data_dir(configured)
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(cache) / "uap_core"


def load_fashion_mnist(split: str = "train", root: str | Path | None = None, download: bool = True) -> Dataset:
    """Load one split ("train" or "test") of Fashion-MNIST with ``torchvision.datasets.FashionMNIST``.

    Raises :class:`DataUnavailableError` when the files are missing and cannot be downloaded.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    root = Path(root) if root is not None else data_dir()
    try:
        dataset = torchvision.datasets.FashionMNIST(root=str(root), train=split == "train", download=download)
    except (RuntimeError, OSError) as error:
        raise DataUnavailableError(
            f"Fashion-MNIST ({split} split) is not in {root / 'FashionMNIST' / 'raw'} "
            f"and could not be downloaded ({_first_line(error)}). "
            f"Set the environment variable {DATA_DIR_ENV} to a folder that holds FashionMNIST/raw/, "
            "or run once on a machine with internet access so torchvision can download it."
        ) from error
    images = dataset.data.unsqueeze(1).float().div_(255.0)
    return Dataset(images, dataset.targets.long())


def shared_fashion_mnist(split: str = "train", root: str | Path | None = None) -> Dataset:
    """:func:`load_fashion_mnist`, read once per process and data folder, then the same object every time.

    The web app and the experiments share it, so a process holds one copy of the data: treat it as
    read-only. A :class:`DataUnavailableError` is not remembered; the next call tries again.
    """
    return _shared(split, str(Path(root) if root is not None else data_dir()))


@lru_cache(maxsize=4)
def _shared(split: str, root: str) -> Dataset:
    return load_fashion_mnist(split, root)


def _check_data_dir(configured: str) -> Path:
    expected = f"environment variable {DATA_DIR_ENV} must name a folder (existing, or one that can be created)"
    if "\x00" in configured:
        raise DataDirError(f"{expected}, got {configured!r}, which holds a NUL byte")
    folder = Path(configured).expanduser()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DataDirError(f"{expected}, got {configured!r}: {existing} is a file")
    return folder


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

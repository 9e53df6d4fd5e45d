"""Process-wide, bounded caches the app's pages and its worker threads share; no Streamlit here.

Worker threads cannot call Streamlit's caches, so the model and the data live here, behind plain
``functools`` caches with a bound. Training subsets are cached as seeded index orders (8 bytes per
image), never as copies of the images: a visitor trying many seeds and sizes costs a few kilobytes
each, and the images of a run are gathered when it starts and freed when it ends.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from uap_core import MODEL_NAMES, Dataset, data_dir, load_model
from uap_core.checks import env_int
from uap_core.data import shared_fashion_mnist

from .page import THREADS_ENV

MAX_ORDERS = 32  # seeded index orders kept (64 KB each for the 8,226-image training split)


# torch threads in the server unless UAP_TORCH_THREADS says otherwise. Measured here (README, Lecture hall):
# with 2 threads a computation slows 4x as soon as anything else wants a core (another process, the
# server's own page threads), and 30 watching pages got no result in 180 s; with 1 thread all 30 got it.
SERVER_THREADS = 1


def apply_torch_threads() -> str | None:
    """Set torch's thread count from ``UAP_TORCH_THREADS`` (unset: :data:`SERVER_THREADS`); return the
    problem as a sentence when the setting is malformed."""
    try:
        threads = env_int(THREADS_ENV)
    except ValueError as error:
        torch.set_num_threads(SERVER_THREADS)
        return f"{error}; using {SERVER_THREADS} thread instead"
    torch.set_num_threads(threads or SERVER_THREADS)
    return None


apply_torch_threads()  # once per process, as soon as the app needs torch; pages name a problem (uap_app.page)


@lru_cache(maxsize=len(MODEL_NAMES) + 2)
def model(name: str) -> nn.Module:
    """The trained classifier ``name``, frozen, shared by every session and thread (never trained here)."""
    return load_model(name)


def dataset(split: str) -> Dataset:
    """The whole "train" or "test" split from ``$UAP_DATA_DIR`` (one copy per process and folder)."""
    return shared_fashion_mnist(split, str(data_dir()))


@lru_cache(maxsize=MAX_ORDERS)
def _order(split: str, size: int, seed: int, root: str) -> torch.Tensor:
    # The same shuffle as Dataset.subset, so a subset here equals uap_core's (and the CLI's) for that seed.
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed))


def subset(split: str, n: int, seed: int = 0) -> Dataset:
    """``n`` images of a split drawn by a seeded shuffle (at most the whole split), equal to ``Dataset.subset``.

    The images are a fresh copy for the caller: keep it only as long as it is needed.
    """
    data = dataset(split)
    order = _order(split, len(data), seed, str(data_dir()))[: min(n, len(data))]
    return Dataset(data.images[order], data.labels[order])

"""Process-wide, bounded caches the app's pages and its worker threads share. No Streamlit here.

Worker threads cannot call Streamlit's caches, so the model and the data live here, behind plain
``functools`` caches with a bound. Training subsets are cached as seeded index orders (8 bytes per
image), never as copies of the images: a visitor trying many seeds and sizes costs a few kilobytes
each, and the images of a run are gathered when it starts and freed when it ends.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from uap_core import MODEL_NAMES, Dataset, data_dir, load_model, predict, random_fooling_rate
from uap_core.data import shared_fashion_mnist

from .environment import torch_threads

MAX_ORDERS = 32  # seeded index orders kept (64 KB each for the 8,226-image training split)
MAX_BASELINES = 32  # random-noise fooling rates kept, one per (model, norm, size)
# One draw of random noise over the 4,443 test images: its standard error is at most 0.75 percentage points
# (√(p(1 − p)/n)), and uap_core's default of five draws would add about 4 s to every result's wait here.
RANDOM_TRIALS = 1


@lru_cache(maxsize=1)
def use_server_threads() -> None:
    """Set torch's threads for the whole process, once, as the app first needs a model or the data: every computation
    then runs on ``UAP_TORCH_THREADS`` threads (pages name a malformed value). Importing this module sets nothing."""
    torch.set_num_threads(torch_threads()[0])


@lru_cache(maxsize=len(MODEL_NAMES) + 2)
def model(name: str) -> nn.Module:
    """The trained classifier ``name``, frozen, shared by every session and thread (never trained here)."""
    use_server_threads()
    return load_model(name)


def dataset(split: str) -> Dataset:
    """The whole "train" or "test" split from ``$UAP_DATA_DIR`` (one copy per process and folder)."""
    use_server_threads()
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


# The test split's clean predictions and the noise baselines are the same for every perturbation of a given
# model (and norm and size), so a result's evaluation needs one forward pass of the test images, not three.
# No lock: two threads asking at once (a page and the warm-up) may both compute one; neither waits for the other.


@lru_cache(maxsize=len(MODEL_NAMES))
def _clean_test_labels(model_name: str, root: str) -> torch.Tensor:
    return predict(model(model_name), dataset("test").images)


def clean_test_labels(model_name: str) -> torch.Tensor:
    """The model's predictions (N,) on the clean test split, computed once per model. Read-only."""
    return _clean_test_labels(model_name, str(data_dir()))


@lru_cache(maxsize=MAX_BASELINES)
def _noise_fooling_rate(model_name: str, size: float, p: float, root: str) -> float:
    test = dataset("test")
    return random_fooling_rate(model(model_name), test.images, size, p, RANDOM_TRIALS, 0, clean_test_labels(model_name))


def noise_fooling_rate(model_name: str, size: float, p: float) -> float:
    """The paper's baseline on the test split: the fooling rate of :data:`RANDOM_TRIALS` random perturbations
    of ℓp norm exactly ``size`` (seed 0), as ``uap_core.evaluate`` draws it; computed once per (model, p, size)."""
    return _noise_fooling_rate(model_name, size, p, str(data_dir()))

"""The Streamlit layer over the app's caches: spinners, the data guard, evaluations.

The objects themselves live in :mod:`uap_app.resources` (plain, bounded caches that worker threads can
use too); every cache here has a bound as well. Nothing here trains the model or changes a cached
tensor in place.
"""

from __future__ import annotations

import dataclasses
import threading

import streamlit as st
from torch import nn

from uap_core import Dataset, DataUnavailableError, Evaluation, data_dir, evaluate
from uap_core.data import DATA_DIR_ENV, SPLITS
from uap_core.files import perturbation_from_npy, perturbation_to_npy
from uap_core.norms import lp_norm

from . import resources
from .memory import release_freed_memory

# An evaluation, which a visitor waits for, splits the test images between two threads (torch runs on one thread per
# computation in the server): 1.35 s -> about 0.8 s for the 4,443 test images on 2 cores, with the same labels.
EVAL_WORKERS = 2
# One evaluation at a time: runs taking turns finish together, and their pages' evaluations at once would hold
# their activations and threads' arenas together (docs/job-service.md, memory).
EVALUATING = threading.Lock()


def data_root() -> str:
    """The folder Fashion-MNIST is read from (``$UAP_DATA_DIR`` or the user cache), as a cache key."""
    return str(data_dir())


@st.cache_resource(show_spinner="Loading Fashion-MNIST…", max_entries=4)
def _load_split(split: str, root: str) -> Dataset:
    # Keyed by the folder, so changing UAP_DATA_DIR (as the tests do) never serves stale data.
    # A DataUnavailableError is not cached: the next rerun tries again. This layer adds the spinner;
    # the object is uap_core's shared copy, which the runs and the experiments read too (one copy per process).
    return resources.dataset(split)


def dataset(split: str) -> Dataset:
    """The whole "train" or "test" split, shared by all sessions. Call :func:`require_data` first."""
    return _load_split(split, data_root())


def subset(split: str, n: int, seed: int = 0) -> Dataset:
    """``n`` images of a split drawn by a seeded shuffle (at most the whole split): a fresh copy, not cached
    (only the seeded order is), so trying many seeds and sizes keeps the server's memory flat."""
    dataset(split)  # the spinner, on first use
    return resources.subset(split, n, seed)


def require_data(*splits: str) -> None:
    """Stop the page with a friendly message when Fashion-MNIST is missing and cannot be downloaded.

    Every page calls this first (with the splits it needs; both by default), so a missing data set
    never ends in a traceback.
    """
    try:
        for split in splits or SPLITS:
            dataset(split)
    except DataUnavailableError as error:
        st.error(
            f"**The Fashion-MNIST data set is not available.**\n\n{error}\n\n"
            f"To fix it, put the files in a folder that holds `FashionMNIST/raw/` and start the app with "
            f"`{DATA_DIR_ENV}=/path/to/that/folder streamlit run app.py`, "
            "or start it once on a machine with internet access so the data is downloaded.",
            icon=":material/warning:",
        )
        st.stop()


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def model(name: str) -> nn.Module:
    """The trained classifier ``name`` in eval mode, frozen, shared by all sessions (never trained here)."""
    return resources.model(name)


@st.cache_data(show_spinner="Evaluating on the test images…", max_entries=32)
def evaluate_on_test(
    model_name: str, v_npy: bytes, p: float, root: str | None = None, target: str | None = None
) -> Evaluation:
    """:func:`uap_core.evaluate` of a perturbation (as .npy bytes, the cache key) on the whole test split, with
    :data:`~uap_app.resources.RANDOM_TRIALS` random draws; the clean predictions and the noise baseline are
    the ones kept per model (see :mod:`uap_app.resources`), so only clip(x + v) goes through the model here.

    ``root`` (the data folder) is only part of the cache key; ``target``: also the targeted success rate.
    """
    test = dataset("test")
    v = perturbation_from_npy(v_npy)
    clean = resources.clean_test_labels(model_name)
    with EVALUATING:
        judged = evaluate(model(model_name), test.images, test.labels, v, p, random_trials=0, target=target,
                          clean_labels=clean, workers=EVAL_WORKERS)  # fmt: skip
        size = lp_norm(v, p).item()  # as evaluate measures it: the baseline is drawn at exactly this norm
        judged = dataclasses.replace(judged, random_fooling_rate=resources.noise_fooling_rate(model_name, size, p))
        release_freed_memory()  # the activations of its batches (see uap_app.memory)
    return judged


def evaluation(model_name: str, v, p: float, target: str | None = None) -> Evaluation:
    """The perturbation judged on the whole test split, computed once per (model, v, norm, target), then cached."""
    return evaluate_on_test(model_name, perturbation_to_npy(v), p, data_root(), target)

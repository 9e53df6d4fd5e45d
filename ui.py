"""Shared building blocks of the web app's pages: cached model and data, the data guard, the cap on
heavy runs, progress with Stop, figures, image grids, metric cards and downloads.

Everything a page needs twice lives here, so pages stay short and read top to bottom.
The model and the data are loaded once per server process and shared by all sessions; nothing
here trains the model or changes a cached tensor in place.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image, ImageOps
from torch import nn

from uap_core import (
    CLASS_NAMES,
    MODEL_NAMES,
    Dataset,
    DataUnavailableError,
    Evaluation,
    data_dir,
    evaluate,
)
from uap_core import load_model as _load_model
from uap_core.data import DATA_DIR_ENV, shared_fashion_mnist
from uap_core.experiments import EXPERIMENTS, ExperimentResult, load_result
from uap_core.files import perturbation_from_npy, perturbation_png, perturbation_to_npy
from uap_core.metrics import logits

T = TypeVar("T")

MAX_HEAVY_RUNS = 2  # simultaneous perturbation searches per server process; others are asked to wait
BUSY_MESSAGE = "Another run is in progress on this server, try again in a few seconds."
IMAGE_PX = 112  # 28 x 28 images are enlarged 4 times, nearest neighbour, so pixels stay sharp on a projector
FOOLED_COLOUR, KEPT_COLOUR, PLAIN_COLOUR = (200, 30, 45), (40, 140, 70), (225, 228, 232)
ProgressCallback = Callable[[float, str], None]

# UAP_TORCH_THREADS caps torch's threads per process. On a server shared by several visitors at
# once, 1 keeps simultaneous runs from fighting over the cores; unset, torch uses every core, which
# is fastest for one user at a time (a lecture).
if os.environ.get("UAP_TORCH_THREADS"):
    torch.set_num_threads(int(os.environ["UAP_TORCH_THREADS"]))
DOWNLOAD_STYLE = {"icon": ":material/download:", "width": "stretch"}


# Pictures stay sharp however the browser scales them, and the page starts near the top of the screen.
STYLE = """<style>
[data-testid="stImage"] img { image-rendering: pixelated; }
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
</style>"""


def apply_style() -> None:
    """Page-wide display tweaks; app.py calls this once per run, before the page."""
    st.html(STYLE)


# ---------------------------------------------------------------- model and data (once per process)


def data_root() -> str:
    """The folder Fashion-MNIST is read from (``$UAP_DATA_DIR`` or the user cache), as a cache key."""
    return str(data_dir())


@st.cache_resource(show_spinner="Loading Fashion-MNIST…")
def _load_split(split: str, root: str) -> Dataset:
    # Keyed by the folder, so changing UAP_DATA_DIR (as the tests do) never serves stale data.
    # A DataUnavailableError is not cached: the next rerun tries again. This layer adds the spinner;
    # the object is uap_core's shared copy, which the findings' experiments read too (one copy per process).
    return shared_fashion_mnist(split, root)


def dataset(split: str) -> Dataset:
    """The whole "train" or "test" split, shared by all sessions. Call :func:`require_data` first."""
    return _load_split(split, data_root())


@st.cache_resource(show_spinner=False)
def _subset(split: str, n: int, seed: int, root: str) -> Dataset:
    return _load_split(split, root).subset(min(n, len(_load_split(split, root))), seed)


def subset(split: str, n: int, seed: int = 0) -> Dataset:
    """``n`` images of a split drawn by a seeded shuffle (at most the whole split), cached per process."""
    return _subset(split, n, seed, data_root())


def require_data() -> None:
    """Stop the page with a friendly message when Fashion-MNIST is missing and cannot be downloaded.

    Every page calls this first, so a missing data set never ends in a traceback.
    """
    try:
        dataset("train")
        dataset("test")
    except DataUnavailableError as error:
        st.error(
            f"**The Fashion-MNIST data set is not available.**\n\n{error}\n\n"
            f"To fix it, put the files in a folder that holds `FashionMNIST/raw/` and start the app with "
            f"`{DATA_DIR_ENV}=/path/to/that/folder streamlit run app.py`, "
            "or start it once on a machine with internet access so the data is downloaded.",
            icon=":material/warning:",
        )
        st.stop()


@st.cache_resource(show_spinner="Loading the model…")
def model(name: str) -> nn.Module:
    """The trained classifier ``name`` in eval mode, frozen, shared by all sessions (never trained here)."""
    return _load_model(name)


@st.cache_data(show_spinner="Evaluating on the test images…", max_entries=64)
def evaluate_on_test(model_name: str, v_npy: bytes, p: float, root: str | None = None) -> Evaluation:
    """:func:`uap_core.evaluate` of a perturbation (as .npy bytes, the cache key) on the whole test split.

    ``root`` (the data folder) is only part of the cache key.
    """
    test = dataset("test")
    return evaluate(model(model_name), test.images, test.labels, perturbation_from_npy(v_npy), p)


def evaluation(model_name: str, v: torch.Tensor, p: float) -> Evaluation:
    """The perturbation judged on the whole test split, computed once per (model, v, norm) and then cached."""
    return evaluate_on_test(model_name, perturbation_to_npy(v), p, data_root())


# ---------------------------------------------------------------- heavy runs: cap, progress, Stop


@st.cache_resource
def _run_slots() -> threading.BoundedSemaphore:
    # One semaphore per server process, shared by every session.
    return threading.BoundedSemaphore(MAX_HEAVY_RUNS)


@contextmanager
def heavy_run(label: str, key: str = "stop") -> Iterator[ProgressCallback | None]:
    """Reserve one of the server's run slots and show a progress bar with a Stop button.

    Yields a ``(fraction, message)`` callback that moves the bar, or ``None`` (after telling the
    user to wait) when all slots are taken. Stop works because clicking any widget reruns the
    script, which interrupts the running one at its next Streamlit call; the slot is released in
    every case, interrupted or not.
    """
    slots = _run_slots()
    if not slots.acquire(blocking=False):
        st.warning(BUSY_MESSAGE, icon=":material/hourglass_top:")
        yield None
        return
    try:
        stop_column, bar_column = st.columns([1, 7], vertical_alignment="center")
        stop = stop_column.empty()  # a placeholder, so the button can be removed when the run ends
        stop.button("Stop", key=key, icon=":material/stop_circle:", help="Stop now and keep the best result so far.")
        bar = bar_column.progress(0.0, text=label)

        def report(fraction: float, message: str) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)

        yield report
        stop.empty()
        bar.empty()
    finally:
        slots.release()


def run_task(task: Callable[[ProgressCallback], T], label: str, key: str = "stop") -> T | None:
    """Run ``task(report)`` under :func:`heavy_run`; ``None`` when the server is busy."""
    with heavy_run(label, key) as report:
        return None if report is None else task(report)


# ---------------------------------------------------------------- figures and pictures


def show_figure(fig: go.Figure, caption: str | None = None, key: str | None = None) -> None:
    """A plotly figure across the page width, with an optional caption below it."""
    # theme=None keeps the figure's own large fonts (Streamlit's theme would shrink them for a projector).
    st.plotly_chart(fig, width="stretch", theme=None, key=key, config={"displaylogo": False})
    if caption:
        st.caption(caption)


def picture(image: torch.Tensor, border: tuple[int, int, int] = PLAIN_COLOUR, size: int = IMAGE_PX) -> np.ndarray:
    """A (1, H, W) image in [0, 1] as an RGB array enlarged to ``size`` px without blur, in a coloured frame."""
    grey = (image.detach().float().mean(0).clamp(0, 1) * 255).round().byte().cpu().numpy()
    enlarged = Image.fromarray(grey).convert("RGB").resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(ImageOps.expand(enlarged, border=max(3, size // 28), fill=border))


def image_row(title: str, pictures: Sequence[np.ndarray], captions: Sequence[str]) -> None:
    """A title, then a row of pictures with a caption (markdown) under each."""
    st.markdown(f"**{title}**")
    columns = st.columns(len(pictures), gap="small")
    for column, image, caption in zip(columns, pictures, captions, strict=True):
        column.image(image, width="stretch")
        column.markdown(caption)


def diverse_indices(labels: torch.Tensor, n: int) -> list[int]:
    """``n`` positions taking the classes in turn (first of each class, then the second...), for varied rows."""
    by_class = [torch.nonzero(labels == k).flatten().tolist() for k in range(int(labels.max()) + 1)]
    chosen: list[int] = []
    for rank in range(max(map(len, by_class))):
        chosen += [positions[rank] for positions in by_class if rank < len(positions)]
        if len(chosen) >= n:
            break
    return chosen[:n]


def prediction_rows(net: nn.Module, images: torch.Tensor, v: torch.Tensor) -> None:
    """Two rows: the clean images and the same images plus ``v``, each with the predicted label and confidence.

    A perturbed image whose label changed (fooled) gets a red frame and ✗; one that kept its label a green ✓.
    """
    clean_probs = torch.softmax(logits(net, images), 1)
    perturbed_probs = torch.softmax(logits(net, images, v), 1)
    clean_conf, clean_pred = clean_probs.max(1)
    pert_conf, pert_pred = perturbed_probs.max(1)
    fooled = (clean_pred != pert_pred).tolist()
    perturbed = (images + v).clamp(0, 1)
    image_row(
        "Original",
        [picture(x) for x in images],
        [f"{CLASS_NAMES[k]}  \n{c:.0%}" for k, c in zip(clean_pred.tolist(), clean_conf.tolist(), strict=True)],
    )
    image_row(
        "With the perturbation",
        [picture(x, FOOLED_COLOUR if f else KEPT_COLOUR) for x, f in zip(perturbed, fooled, strict=True)],
        [
            f":red[**✗ {CLASS_NAMES[k]}**]  \n{c:.0%}" if f else f":green[✓ {CLASS_NAMES[k]}]  \n{c:.0%}"
            for k, c, f in zip(pert_pred.tolist(), pert_conf.tolist(), fooled, strict=True)
        ],
    )
    st.caption(f"{sum(fooled)} of {len(fooled)} shown images are fooled (red frame, ✗): their label changed.")


# ---------------------------------------------------------------- numbers and files


def format_size(value: float, p: float) -> str:
    """A perturbation size as text; for ℓ∞ also in /255 grey levels (0.2 -> "0.200 = 51/255")."""
    return f"{value:.3f} = {value * 255:.0f}/255" if math.isinf(p) else f"{value:.2f}"


def metric_cards(result: Evaluation) -> None:
    """The headline numbers of a perturbation on the test images, as a row of metric cards."""
    cards = st.columns([1, 1.5, 0.8, 1.2, 1.1])  # wider where the value is longer, so nothing is cut
    cards[0].metric(
        "Fooling rate (test images)",
        f"{result.fooling_rate:.1%}",
        help="Share of test images whose predicted label changes when the perturbation is added.",
    )
    cards[1].metric(
        "Accuracy before → after",
        f"{result.clean_accuracy:.1%} → {result.perturbed_accuracy:.1%}",
        delta=f"{(result.perturbed_accuracy - result.clean_accuracy) * 100:+.1f} points",
    )
    cards[2].metric("‖v‖₂", f"{result.l2:.2f}", help="Euclidean norm of the perturbation, in pixel units.")
    cards[3].metric(
        f"‖v‖∞ = {result.linf * 255:.0f}/255", f"{result.linf:.3f}", help="Largest change of any pixel (0 to 1 scale)."
    )
    cards[4].metric(
        "Random noise, same norm",
        f"{result.random_fooling_rate:.1%}",
        help="Fooling rate of random noise with the same norm: the paper's baseline.",
    )


def perturbation_downloads(v: torch.Tensor, metrics_json: str, stem: str = "uap") -> None:
    """Download buttons: the perturbation as .npy and .png, and the metrics as .json."""
    columns = st.columns(3)
    columns[0].download_button(
        "perturbation.npy", perturbation_to_npy(v), f"{stem}.npy", "application/octet-stream", **DOWNLOAD_STYLE
    )
    columns[1].download_button("perturbation.png", perturbation_png(v), f"{stem}.png", "image/png", **DOWNLOAD_STYLE)
    columns[2].download_button(
        "metrics.json", metrics_json, f"{stem}-metrics.json", "application/json", **DOWNLOAD_STYLE
    )


# ---------------------------------------------------------------- the paper's findings, one page each


@st.cache_resource(show_spinner=False)
def shipped_result(name: str) -> ExperimentResult:
    """The result the project computed and ships for experiment ``name`` (read once per process)."""
    return load_result(name)


def finding_page(name: str, here: str, reading: Callable[[ExperimentResult], str]) -> ExperimentResult:
    """A findings page: the paper's claim, what is computed here, the figure with what produced it,
    what this model shows (``reading`` turns the numbers into a sentence), and a live recompute.

    The page opens on the shipped result; a recompute made in this session replaces it until the
    page's "Back to the shipped result" button. A recompute stopped half-way leaves the previous
    result on screen and says so.
    """
    require_data()
    experiment = EXPERIMENTS[name]
    key = f"finding_{name}"
    st.title(experiment.title)
    st.markdown(f"**The paper:** {experiment.claim}\n\n**Here:** {here}")
    if st.session_state.pop(f"{key}_running", False):
        st.warning("The recompute was stopped before it finished; the result below is the previous one.")

    fresh = st.session_state.get(key)
    result = fresh if fresh is not None else shipped_result(name)
    origin = "computed live in this session" if fresh is not None else f"shipped, computed by `{result.command}`"
    show_figure(experiment.figure(result), f"{result.caption()} · {origin}", key=f"{key}_figure")
    st.markdown(f"**What this model shows:** {reading(result)}")

    with st.expander("Recompute it live", icon=":material/refresh:"):
        settings = dict(experiment.quick)
        if "model" in inspect.signature(experiment.run).parameters:
            settings["model"] = st.selectbox("Model", MODEL_NAMES, key=f"{key}_model")
        st.caption(
            "Smaller settings than the shipped result, so that it takes well under a minute: "
            + ", ".join(f"{setting} = {value}" for setting, value in settings.items())
        )
        left, right = st.columns(2)
        if fresh is not None and right.button("Back to the shipped result", key=f"{key}_reset"):
            del st.session_state[key]
            st.rerun()
        if left.button("Recompute", type="primary", key=f"{key}_run", icon=":material/play_arrow:"):
            st.session_state[f"{key}_running"] = True  # still set on the next run if Stop interrupted this one
            computed = run_task(lambda report: experiment.run(**settings, progress=report), "Starting…", f"{key}_stop")
            del st.session_state[f"{key}_running"]
            if computed is not None:
                st.session_state[key] = computed
                st.rerun()
    return result


def share(value: float) -> str:
    """A fraction as a whole percentage, for sentences."""
    return f"{value:.0%}"

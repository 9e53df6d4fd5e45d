"""One page per finding of the paper (:func:`finding_page`), and the in-script heavy runs its recompute uses.

A recompute runs inside the page's script with a progress bar and a Stop button; at most
``MAX_HEAVY_RUNS`` of them run at once per server, and a visitor beyond that is asked to wait.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st

from uap_core import MODEL_NAMES
from uap_core.experiments import EXPERIMENTS, ExperimentResult, load_result

from .cache import require_data
from .widgets import show_figure

T = TypeVar("T")
ProgressCallback = Callable[[float, str], None]
MAX_HEAVY_RUNS = 2  # simultaneous recomputes per server process; others are asked to wait
BUSY_MESSAGE = "Another run is in progress on this server, try again in a few seconds."


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


@st.cache_resource(show_spinner=False, max_entries=16)
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


def share_range(values: Sequence[float]) -> str:
    """The lowest and highest of some fractions as "12%–34%", or one percentage when they read the same."""
    low, high = share(min(values)), share(max(values))
    return low if low == high else f"{low}–{high}"

"""One page per finding of the paper (:func:`finding_page`), with its "Recompute it live": a job of the server's job
service (:mod:`uap_app.recompute`), queued and taking turns like every other, watched by a panel that shows its
progress and, once it ends, its result.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import streamlit as st

from uap_core import MODEL_NAMES
from uap_core.experiments import EXPERIMENTS, ExperimentResult, load_result

from .cache import require_data
from .jobs import BUDGET, DONE, FAILED, QUEUED, Job
from .page import queue_notice, quiet_looks
from .recompute import Recompute, run_recompute
from .server import job_budget_s, jobs, watcher
from .watching import Watch
from .widgets import show_figure

LOOK_S, NEWS_WAIT_S = 1.0, 0.5  # how often the recompute panel looks at its job, and how long a look waits for news
STOPPED_NOTICE = "The recompute was stopped before it finished; the result below is the previous one."


@st.cache_resource(show_spinner=False, max_entries=16)
def shipped_result(name: str) -> ExperimentResult:
    """The result the project computed and ships for experiment ``name`` (read once per process)."""
    return load_result(name)


def _ended(key: str, job: Job) -> None:
    """Take what an ended recompute reached: its result when it finished or spent its budget (then with a notice),
    a notice alone when it was stopped or failed."""
    view = job.snapshot
    if job.state == DONE or (job.reason == BUDGET and view is not None and view.result is not None):
        st.session_state[key] = view.result
    if job.state == FAILED:
        st.session_state[f"{key}_notice"] = f"The recompute failed: {job.error}"
    elif job.reason == BUDGET:
        st.session_state[f"{key}_notice"] = (
            f"Stopped at the compute budget of {job.budget_s:.0f} s: the figure shows the points computed by then."
        )
    elif job.state != DONE:
        st.session_state[f"{key}_notice"] = STOPPED_NOTICE


def finding_page(name: str, here: str, reading: Callable[[ExperimentResult], str]) -> ExperimentResult:
    """A findings page: the paper's claim, what is computed here, the figure with what produced it,
    what this model shows (``reading`` turns the numbers into a sentence), and a live recompute.

    The page opens on the shipped result; a recompute made in this session replaces it until the
    page's "Back to the shipped result" button. A recompute stopped half-way leaves the previous
    result on screen and says so; one that spent its compute budget shows the points it finished.
    """
    require_data()
    experiment = EXPERIMENTS[name]
    key = f"finding_{name}"
    watch = Watch(st.session_state, jobs(), watcher(), page=name)
    if (left := watch.take_left()) is not None:  # another page opened while it ran
        _ended(key, left)
    st.title(experiment.title)
    st.markdown(f"**The paper:** {experiment.claim}\n\n**Here:** {here}")
    if notice := st.session_state.pop(f"{key}_notice", None):
        st.warning(notice, icon=":material/stop_circle:")

    fresh = st.session_state.get(key)
    result = fresh if fresh is not None else shipped_result(name)
    origin = "computed live in this session" if fresh is not None else f"shipped, computed by `{result.command}`"
    show_figure(experiment.figure(result), f"{result.caption()} · {origin}", key=f"{key}_figure")
    st.markdown(f"**What this model shows:** {reading(result)}")

    with st.expander("Recompute it live", icon=":material/refresh:", expanded=watch.job is not None):
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

        def start() -> None:
            watch.start(Recompute.of(name, settings), run_recompute, job_budget_s()[0])

        def stop() -> None:
            if watch.stop() is not None:
                st.session_state[f"{key}_notice"] = STOPPED_NOTICE

        if watch.job is None:
            left.button("Recompute", type="primary", key=f"{key}_run", icon=":material/play_arrow:", on_click=start)
        else:
            quiet_looks()
            left.button(
                "Stop", key=f"{key}_stop", icon=":material/stop_circle:", on_click=stop,
                help="Stop now; the result on screen stays.",
            )  # fmt: skip

        @st.fragment(run_every=LOOK_S if watch.job is not None else None)
        def recompute_panel() -> None:
            job = watch.look()
            if job is None:
                return
            job.wait_for(job.version + 1, NEWS_WAIT_S)
            if not job.active:
                watch.end()
                _ended(key, job)
                st.rerun()
            if job.state == QUEUED:
                st.info(queue_notice(jobs().position(job), jobs().estimate(job)), icon=":material/hourglass_top:")
            elif (view := job.snapshot) is not None:
                st.progress(min(max(view.fraction, 0.0), 1.0), text=view.message)

        recompute_panel()
    return result


def share(value: float) -> str:
    """A fraction as a whole percentage, for sentences."""
    return f"{value:.0%}"


def share_range(values: Sequence[float]) -> str:
    """The lowest and highest of some fractions as "12%–34%", or one percentage when they read the same."""
    low, high = share(min(values)), share(max(values))
    return low if low == high else f"{low}–{high}"

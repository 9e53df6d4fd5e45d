"""What app.py puts on every page before the page's own code: the page-wide style, the checks of the settings the
environment gives, and leaving the jobs of the session's other pages. Nothing here imports torch unless it is loaded
already or ``UAP_TORCH_THREADS`` is given: on a freshly started server the home page's first picture then reaches
the screen while torch is still loading (docs/architecture.md).
"""

from __future__ import annotations

import streamlit as st

from . import watching
from .environment import torch_threads
from .server import jobs, setting_problems, watcher

# Pictures stay sharp however the browser scales them, and the page starts near the top of the screen.
STYLE = """<style>
[data-testid="stImage"] img, .uap-strip img { image-rendering: pixelated; }
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
</style>"""
# While a page watches a job, Streamlit's "running" animation and greying of stale output would play at every look
# in every browser; the progress line says what goes on instead (docs/design/polling.md).
QUIET_LOOKS = """<style>
[data-testid='stStatusWidget'] { visibility: hidden; }
[data-stale='true'] { opacity: 1 !important; transition: none !important; }
</style>"""
SOON_S = 3.0  # a shorter wait is finer than a page's looks, 2 s apart, can show: "in a moment"


def apply_style() -> None:
    """Page-wide display tweaks and setting problems; app.py calls this once per run, before the page."""
    st.html(STYLE)
    # A malformed setting is not fatal (its default applies): every page says what was wrong.
    for problem in filter(None, (torch_threads()[1], *setting_problems())):
        st.warning(problem, icon=":material/settings_alert:")


def quiet_looks() -> None:
    """Hide Streamlit's running indicator and stale-output greying on a page that looks at a job every few seconds."""
    st.html(QUIET_LOOKS)


def leave_other_pages(page: str) -> None:
    """Page ``page`` (its url path) has opened in this session: stop watching the other pages' jobs, which then stop
    at once unless another visitor watches them. Back on such a page, what its job had reached is shown, as after
    Stop."""
    if any(watching.page_of(other) != page for other in st.session_state.get(watching.WATCHED, {})):
        watching.leave_other_pages(st.session_state, jobs(), watcher(), page)


def queue_notice(position: int | None, estimate_s: float | None) -> str:
    """What a page says while its job waits for a place: its place in the queue and, once the jobs ahead have reported
    enough progress, the wait expected from it."""
    if estimate_s is None:
        wait = "when a run ahead ends"
    elif estimate_s < SOON_S:
        wait = "in a moment"
    else:
        wait = f"in about {estimate_s:.0f} s"
    return (
        f"Waiting for a free slot: number {position or 1} in the queue, starting {wait}. "
        "It starts by itself; keep this page open."
    )

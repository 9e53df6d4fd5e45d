"""What app.py puts on every page before the page's own code: the page-wide style, the check of the
``UAP_TORCH_THREADS`` setting, and leaving the live page's run when another page opens. Nothing here imports
torch unless it is loaded already or that setting is given: on a freshly started server the home page's first
picture then reaches the screen while torch is still loading (about 3 s here).
"""

from __future__ import annotations

import os

import streamlit as st

THREADS_ENV = "UAP_TORCH_THREADS"
LIVE_RUN, LEFT_RUN = "live_run", "live_left_run"  # the run this session watches on the live page; the one it left

# Pictures stay sharp however the browser scales them, and the page starts near the top of the screen.
STYLE = """<style>
[data-testid="stImage"] img, .uap-strip img { image-rendering: pixelated; }
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
</style>"""


def apply_style() -> None:
    """Page-wide display tweaks and setting problems; app.py calls this once per run, before the page."""
    st.html(STYLE)
    # UAP_TORCH_THREADS sets torch's threads per process (unset: uap_app.resources.SERVER_THREADS, applied when
    # torch is first needed, and nothing to check). A malformed value is not fatal: every page says what was wrong.
    if THREADS_ENV in os.environ:
        from .resources import apply_torch_threads  # torch: only when there is a setting to apply

        if problem := apply_torch_threads():
            st.warning(problem, icon=":material/settings_alert:")


def leave_live_run() -> None:
    """Another page has opened in this session: stop watching the live page's run, which then stops at once unless
    another visitor watches it. Back on the live page, its best perturbation measured so far is the result, as
    after Stop."""
    if (run := st.session_state.pop(LIVE_RUN, None)) is None:
        return
    from .cache import live_runs, live_watcher  # torch is loaded already: the live page made the run

    live_runs().leave(run, live_watcher())
    st.session_state[LEFT_RUN] = run

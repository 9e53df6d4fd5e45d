"""This session's live controllers, wired to the server's job service and the work of a live run: the Streamlit side
of :mod:`uap_app.live_controller` (the live page) and :mod:`uap_app.comparison` (the defence page)."""

from __future__ import annotations

import streamlit as st

from .comparison import Comparison
from .live import run_live
from .live_controller import LiveController
from .server import job_budget_s, jobs, watcher


def live_controller() -> LiveController:
    """The live page's controller for the session whose script run calls this."""
    return LiveController(st.session_state, jobs(), watcher(), run_live, job_budget_s()[0])


def comparison() -> Comparison:
    """The defence page's two runs for the session whose script run calls this."""
    return Comparison(st.session_state, jobs(), watcher(), run_live, job_budget_s()[0])

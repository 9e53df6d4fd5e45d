"""The server's one job service and this session's name as its watcher: the Streamlit layer over :mod:`uap_app.jobs`.

No torch here: the router (app.py) uses it to leave a page's job before torch is loaded. The figures behind each
setting are in docs/job-service.md.
"""

from __future__ import annotations

import uuid

import streamlit as st

from . import streamlit_internals
from .environment import env_int
from .jobs import JobService
from .shutdown import finish_at_exit

SLOTS = 1  # jobs computing at once: one run already keeps both of 2 cores busy (search + views)
PLACES_ENV = "UAP_JOB_PLACES"
PLACES = 4  # jobs in flight, taking turns; the others queue (docs/job-service.md: memory and waits)
QUANTUM_S = 0.2  # a turn's length before it passes to a waiting job (docs/design/turns.md)
KEPT_JOBS = 8  # finished jobs kept for visitors who ask for the same settings
WATCHER_TIMEOUT_S = 8.0  # a job nobody has looked at for this long is stopped (docs/design/polling.md)
BUDGET_ENV = "UAP_JOB_BUDGET_S"
BUDGET_S = 60  # seconds of computation a job may use (docs/job-service.md: what the page's runs need)
WATCHER_KEY = "job_watcher"


def _setting(variable: str, default: int, unit: str) -> tuple[int, str | None]:
    try:
        return env_int(variable) or default, None
    except ValueError as error:
        return default, f"{error}; using {default}{unit} instead"


def job_budget_s() -> tuple[int, str | None]:
    """Seconds of computation each job may use (``UAP_JOB_BUDGET_S``; unset: :data:`BUDGET_S`), and the problem as a
    sentence when the setting is malformed."""
    return _setting(BUDGET_ENV, BUDGET_S, " s")


def job_places() -> tuple[int, str | None]:
    """How many jobs may be in flight at once (``UAP_JOB_PLACES``; unset: :data:`PLACES`), and the problem as a
    sentence when the setting is malformed."""
    return _setting(PLACES_ENV, PLACES, "")


def setting_problems() -> list[str]:
    """A sentence for each malformed setting of the job service."""
    return [problem for _, problem in (job_budget_s(), job_places()) if problem]


def watcher() -> str:
    """This session's name as a watcher of jobs: its Streamlit session id, then a part of its own (AppTest gives every
    session the same id)."""
    return st.session_state.setdefault(WATCHER_KEY, f"{streamlit_internals.session_id()}/{uuid.uuid4().hex}")


def _connected(watcher: str) -> bool:
    """False once the browser of the watcher's session has gone (a closed tab, a page left for another site). The
    job service calls this from its own thread; without a server (AppTest) the heartbeats decide."""
    return streamlit_internals.session_is_active(watcher.split("/")[0])


@st.cache_resource
def jobs() -> JobService:
    """The server's job service: worker threads created once per process and shared by every session, stopped and
    joined as the process ends (a thread still inside torch then would abort it: see :mod:`uap_app.shutdown`)."""
    service = JobService(
        slots=SLOTS, places=job_places()[0], keep=KEPT_JOBS, watcher_timeout=WATCHER_TIMEOUT_S, quantum=QUANTUM_S,
        present=_connected,
    )  # fmt: skip
    finish_at_exit(service.join, service.stop)
    return service

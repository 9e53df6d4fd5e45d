"""The job each page of a session watches, kept in the session's state: start, look, stop, leave for another page.

The state is any mutable mapping (Streamlit's session state on the server, a dict in tests); the service is the
server's :class:`uap_app.jobs.JobService`. No Streamlit and no torch here: the router (app.py) leaves the jobs of
the pages it does not show before torch is loaded.
"""

from __future__ import annotations

from collections.abc import Hashable, MutableMapping
from typing import Any

from .jobs import LEFT, STOPPED, Job, JobService, Work

WATCHED, LEFT_JOBS = "watched_jobs", "left_jobs"  # session-state keys: name -> job watched; name -> job left
PART = "#"  # a page that watches several jobs names each "page#part"


def page_of(name: str) -> str:
    """The page (its url path) a watch named ``name`` belongs to: ``name`` itself, or its part before ``#``."""
    return name.split(PART, 1)[0]


class Watch:
    """The job that page ``page`` of one session (``watcher``) watches, if any. A page that watches several jobs
    gives each watch a name of its own, ``page#part``."""

    def __init__(self, state: MutableMapping[str, Any], service: JobService, watcher: str, page: str) -> None:
        self.state, self.service, self.watcher, self.page = state, service, watcher, page

    @property
    def job(self) -> Job | None:
        return self.state.get(WATCHED, {}).get(self.page)

    def start(self, key: Hashable, work: Work, budget_s: float) -> Job:
        """Watch the job for ``key`` (joined, kept or new) instead of the one watched so far."""
        self.stop()
        job = self.service.request(key, self.watcher, work, budget_s)
        self.state[WATCHED] = {**self.state.get(WATCHED, {}), self.page: job}
        return job

    def look(self) -> Job | None:
        """The job watched, after telling the service it still is. One stopped because nobody watched it for a moment
        (a browser pauses a hidden tab's timers) is asked for again: rejoined if another visitor restarted it, or
        queued anew."""
        job = self.job
        if job is None:
            return None
        self.service.heartbeat(job, self.watcher)
        if job.state == STOPPED and job.reason == LEFT:
            job = self.service.rejoin(job, self.watcher)
            self.state[WATCHED] = {**self.state.get(WATCHED, {}), self.page: job}
        return job

    def stop(self) -> Job | None:
        """Stop watching (the job stops unless another visitor watches it); returns the job that was watched."""
        job = self.end()
        if job is not None:
            self.service.leave(job, self.watcher)
        return job

    def end(self) -> Job | None:
        """Forget the job watched (it has ended); returns it."""
        watched = dict(self.state.get(WATCHED, {}))
        job = watched.pop(self.page, None)
        self.state[WATCHED] = watched
        return job

    def take_left(self) -> Job | None:
        """The job this page watched when another page opened (left then), once."""
        left = dict(self.state.get(LEFT_JOBS, {}))
        job = left.pop(self.page, None)
        self.state[LEFT_JOBS] = left
        return job


def leave_other_pages(state: MutableMapping[str, Any], service: JobService, watcher: str, page: str) -> None:
    """Page ``page`` has opened: stop watching the jobs of the session's other pages (each stops at once unless another
    visitor watches it), and keep them as left, so that each page can show what its jobs had reached."""
    watched = dict(state.get(WATCHED, {}))
    gone = {other: watched.pop(other) for other in list(watched) if page_of(other) != page}
    if not gone:
        return
    for job in gone.values():
        service.leave(job, watcher)
    state[WATCHED] = watched
    state[LEFT_JOBS] = {**state.get(LEFT_JOBS, {}), **gone}

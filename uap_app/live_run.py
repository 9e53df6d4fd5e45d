"""One live run a page of a session watches: start, join, stop, look, finish, and the result it leaves. No Streamlit
here: the session's state is any mutable mapping, so this is tested with a dict and plain functions as the work.

The live page watches one run (:mod:`uap_app.live_controller`); the defence page watches two side by side
(:mod:`uap_app.comparison`). Each run is named for its page (``name``), and every key it keeps in the session's
state starts with that name.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from .jobs import BUDGET, DONE, FAILED, QUEUED, STOPPED, Job, JobService, Work
from .live import LiveView
from .settings import LiveSettings
from .watching import Watch

# How often a live panel looks at its job, and how long each look waits for news: docs/design/polling.md.
REFRESH_S, NEWS_WAIT_S = 2.0, 0.9
CROWD, CROWD_REFRESH_S, CROWD_WAIT_S = 2, 4.0, 2.0  # a page joining a job more than CROWD watch looks less often
FIRST_WAIT_S = 1.5  # the look right after Run waits this long for the first progress report
FINISHED, STOPPED_EARLY, BUDGET_SPENT, FAILED_RUN = "finished", "stopped", "budget", "failed"  # how a run ended


@dataclass(frozen=True)
class Look:
    """What a live panel shows at one look: the latest snapshot, and while the run waits, its place in the queue."""

    view: LiveView | None
    ended: bool = False  # the run ended at this look: the page reruns to draw its result
    queued: bool = False
    position: int | None = None
    estimate_s: float | None = None  # until it starts; None while not known
    watchers: int = 0
    in_flight: int = 0  # runs taking turns on the server, this one included


@dataclass(frozen=True)
class Outcome:
    """A run's result for this session: its last snapshot, how it ended, and why where it stopped early."""

    view: LiveView | None
    ending: str  # FINISHED, STOPPED_EARLY (Stop, another page), BUDGET_SPENT or FAILED_RUN
    budget_s: float = 0.0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.ending == FINISHED

    @property
    def budget_spent(self) -> bool:
        return self.ending == BUDGET_SPENT

    @property
    def failed(self) -> bool:
        return self.ending == FAILED_RUN

    @property
    def has_result(self) -> bool:
        """Whether the run reached its first progress report: there is a perturbation to show."""
        return self.view is not None and self.view.result is not None


def outcome_of(job: Job) -> Outcome:
    """How ``job``, which has ended or was left, ended, with its latest snapshot (none when it failed)."""
    if job.state == FAILED:
        ending = FAILED_RUN
    elif job.state == DONE:
        ending = FINISHED
    elif job.state == STOPPED and job.reason == BUDGET:
        ending = BUDGET_SPENT
    else:
        ending = STOPPED_EARLY
    return Outcome(job.snapshot if ending != FAILED_RUN else None, ending, job.budget_s, job.error)


class LiveRun:
    """The run page ``name`` of one session watches: ``state`` is its session state, ``service`` the server's jobs,
    ``watcher`` the session's name as a watcher, ``work`` what a run computes (:func:`uap_app.live.run_live`),
    ``budget_s`` a run's compute budget. ``on_finish`` is called with each outcome as the run ends or is left."""

    def __init__(
        self,
        state: MutableMapping[str, Any],
        service: JobService,
        watcher: str,
        work: Work,
        budget_s: float,
        name: str,
        on_finish: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.state, self.service, self.work, self.budget_s, self.on_finish = state, service, work, budget_s, on_finish
        self._watch = Watch(state, service, watcher, name)
        self._result, self._runs = f"{name}_result", f"{name}_runs"
        self._drawn, self._started = f"{name}_drawn", f"{name}_started"  # (job number, version) shown; Run pressed

    @property
    def job(self) -> Job | None:
        """The run this session watches (queued or in flight), if any."""
        return self._watch.job

    @property
    def runs(self) -> int:
        """How many times this run was started in this session (keys the controls of each result)."""
        return self.state.get(self._runs, 0)

    def start(self, settings: LiveSettings) -> None:
        """Join, reuse or queue the run of ``settings``; the previous result is dropped."""
        self.state[self._runs] = self.runs + 1
        self.state.pop(self._result, None)
        self._watch.start(settings, self.work, self.budget_s)
        self.state[self._started] = True

    def stop(self) -> None:
        """Keep the best perturbation measured so far; the run goes on only if another visitor watches it."""
        if (job := self._watch.stop()) is not None:
            self._finish(job)

    def come_back(self) -> None:
        """Back from another page that opened while this run was watched: that run was left then, and what it had
        reached is this session's result, as after Stop."""
        if (job := self._watch.take_left()) is not None:
            self._finish(job)

    @property
    def crowd(self) -> bool:
        """Whether the run is watched by more than :data:`CROWD` visitors: the page then looks less often."""
        return self.job is not None and len(self.job.watchers) > CROWD

    @property
    def refresh_s(self) -> float | None:
        """Seconds between two looks of the live panel; None when there is no run to look at."""
        if self.job is None:
            return None
        return CROWD_REFRESH_S if self.crowd else REFRESH_S

    def look(self, wait: bool = True) -> Look:
        """One look: tell the server this session still watches, wait a moment for the run's next snapshot (unless
        ``wait`` is False), and return what to draw. A run that has ended becomes this session's result
        (``ended``)."""
        job = self._watch.look()
        if job is None:
            return Look(self.outcome.view if self.outcome else None)
        just_started = self.state.pop(self._started, False)
        if wait:  # until the first progress report, the wait skips the "Starting" snapshot
            number, seen = self.state.get(self._drawn, (None, 0))
            seen = seen if number == job.number else 0
            patience = FIRST_WAIT_S if just_started else CROWD_WAIT_S if self.crowd else NEWS_WAIT_S
            job.wait_for(max(seen + 1, 2), patience)
        if not job.active:
            self._watch.end()
            self._finish(job)
            return Look(job.snapshot, ended=True)
        self.state[self._drawn] = (job.number, job.version)
        queued = job.state == QUEUED
        return Look(
            job.snapshot,
            queued=queued,
            position=self.service.position(job) if queued else None,
            estimate_s=self.service.estimate(job) if queued else None,
            watchers=len(job.watchers),
            in_flight=self.service.in_flight(),
        )

    def _finish(self, job: Job) -> None:
        outcome = self.state[self._result] = outcome_of(job)
        if self.on_finish is not None:
            self.on_finish(outcome)

    @property
    def outcome(self) -> Outcome | None:
        """This session's result: the last run's, once it has ended or was stopped; None before."""
        return self.state.get(self._result)

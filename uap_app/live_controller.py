"""The live page's session, without Streamlit: its settings and the address, its run (start, join, stop, look,
finish), and its result for the other pages.

The page (app_pages/attack.py) lays out the controls and draws what :meth:`LiveController.look` and
:attr:`LiveController.outcome` return; everything it remembers between its script runs lives in the session state
held here, so this class is tested with a dict as the state and plain functions as the work. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from uap_core.norms import norm_label

from .current import LATEST_KEY
from .jobs import BUDGET, DONE, FAILED, QUEUED, STOPPED, Job, JobService, Work
from .live import LiveView
from .settings import DEFAULT_XI, LiveSettings, format_size, from_query
from .watching import Watch

PAGE = "attack"  # the live page's url path: the name its job is watched under
WIDGET_KEYS = ("model", "algorithm", "norm", "delta", "n_train", "max_passes", "seed", "target")
RESULT, RUNS, NOTICES = "attack_result", "attack_runs", "attack_url_notices"
SEEN_URLS, KEPT_URLS = "attack_seen_urls", 8  # the addresses this session has followed or written, latest last
DRAWN, STARTED = "attack_drawn", "attack_started"  # (job number, snapshot version) on screen; Run just pressed
# How often the live panel looks at its job, and how long each look waits for news: docs/design/polling.md.
REFRESH_S, NEWS_WAIT_S = 2.0, 0.9
CROWD, CROWD_REFRESH_S, CROWD_WAIT_S = 2, 4.0, 2.0  # a page joining a job more than CROWD watch looks less often
FIRST_WAIT_S = 1.5  # the look right after Run waits this long for the first progress report
FINISHED, STOPPED_EARLY, BUDGET_SPENT, FAILED_RUN = "finished", "stopped", "budget", "failed"  # how a run ended


def xi_key(norm: str) -> str:
    """The session-state key of the ξ control of ``norm`` (each norm keeps its own ξ)."""
    return f"xi_{norm}"


@dataclass(frozen=True)
class Look:
    """What the live panel shows at one look: the latest snapshot, and while the run waits, its place in the queue."""

    view: LiveView | None
    ended: bool = False  # the run ended at this look: the page reruns to draw its result
    queued: bool = False
    position: int | None = None
    estimate_s: float | None = None  # until it starts; None while not known
    watchers: int = 0
    in_flight: int = 0  # runs taking turns on the server, this one included


@dataclass(frozen=True)
class Outcome:
    """This session's result: the run's last snapshot, how the run ended, and why where it stopped early."""

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


class LiveController:
    """The live page of one session: ``state`` is its session state, ``service`` the server's jobs, ``watcher`` its
    name as a watcher, ``work`` what a run computes (:func:`uap_app.live.run_live`), ``budget_s`` a run's budget."""

    def __init__(
        self, state: MutableMapping[str, Any], service: JobService, watcher: str, work: Work, budget_s: float
    ) -> None:
        self.state, self.service, self.work, self.budget_s = state, service, work, budget_s
        self._watch = Watch(state, service, watcher, PAGE)

    # ------------------------------------------------------------ settings and the address

    def follow_address(self, query: Mapping[str, str]) -> None:
        """Set the controls from the address: a link with settings (a new visit, or an address from elsewhere) sets
        them, with a notice for each bad value; an address without settings (from another page) leaves the
        session's controls as they were. An address this session has already followed or written is not a new link
        but a browser that has not caught up yet (a control moved while the previous change's address was on its
        way): applying it would undo both changes. Streamlit drops the values of controls not on screen, so every
        control's value is written back (defaults first)."""
        query = dict(query)
        if query and query not in self.state.get(SEEN_URLS, []):
            self._remember(query)
            wanted, self.state[NOTICES] = from_query(query)
            for key in WIDGET_KEYS:
                self.state[key] = getattr(wanted, key)
            self.state[xi_key(wanted.norm)] = wanted.xi
        defaults = LiveSettings()
        for key in WIDGET_KEYS:
            self.state[key] = self.state.get(key, getattr(defaults, key))
        for norm, xi in DEFAULT_XI.items():
            self.state[xi_key(norm)] = self.state.get(xi_key(norm), xi)

    @property
    def notices(self) -> list[str]:
        """One sentence per bad value in the address last followed."""
        return self.state.get(NOTICES, [])

    def settings(self) -> LiveSettings:
        """The settings the controls show (read from the state: callbacks run before the controls are drawn)."""
        state = self.state
        return LiveSettings(
            state["model"], state["algorithm"], state["norm"], round(state[xi_key(state["norm"])], 6),
            round(state["delta"], 6), *map(int, (state["n_train"], state["max_passes"], state["seed"])),
            state["target"],
        )  # fmt: skip

    def address_to_write(self, query: Mapping[str, str]) -> dict[str, str] | None:
        """The address of the current settings, when the browser's (``query``) or the one last written differs."""
        address = self.settings().to_query()
        latest = self.state.get(SEEN_URLS, [None])[-1]
        if address == dict(query) and address == latest:
            return None
        self._remember(address)
        return address

    def _remember(self, address: dict[str, str]) -> None:
        seen = [url for url in self.state.get(SEEN_URLS, []) if url != address]
        self.state[SEEN_URLS] = [*seen, address][-KEPT_URLS:]

    # ------------------------------------------------------------ the run

    @property
    def job(self) -> Job | None:
        """The run this session watches (queued or in flight), if any."""
        return self._watch.job

    @property
    def runs(self) -> int:
        """How many times Run was pressed in this session (keys the controls of each result)."""
        return self.state.get(RUNS, 0)

    def start(self) -> None:
        """Run: join, reuse or queue the run of the current settings."""
        self.state[NOTICES] = []
        self.state[RUNS] = self.runs + 1
        self.state.pop(RESULT, None)
        self._watch.start(self.settings(), self.work, self.budget_s)
        self.state[STARTED] = True

    def stop(self) -> None:
        """Stop: keep the best perturbation measured so far; the run goes on only if another visitor watches it."""
        if (job := self._watch.stop()) is not None:
            self._finish(job)

    def come_back(self) -> None:
        """Back from another page that opened while a run was watched here: that run was left then, and what it had
        reached is this session's result, as after Stop."""
        if (job := self._watch.take_left()) is not None:
            self._finish(job)

    @property
    def crowd(self) -> bool:
        """Whether the run watched is watched by more than :data:`CROWD` visitors: this page then looks less often."""
        return self.job is not None and len(self.job.watchers) > CROWD

    @property
    def refresh_s(self) -> float | None:
        """Seconds between two looks of the live panel; None when there is no run to look at."""
        if self.job is None:
            return None
        return CROWD_REFRESH_S if self.crowd else REFRESH_S

    def look(self) -> Look:
        """One look of the live panel: tell the server this session still watches, wait a moment for the run's next
        snapshot, and return what to draw. A run that has ended becomes this session's result (``ended``)."""
        job = self._watch.look()
        if job is None:
            return Look(self.outcome.view if self.outcome else None)
        number, seen = self.state.get(DRAWN, (None, 0))
        seen = seen if number == job.number else 0
        # Until the first progress report, the wait skips the "Starting" snapshot.
        wait = FIRST_WAIT_S if self.state.pop(STARTED, False) else CROWD_WAIT_S if self.crowd else NEWS_WAIT_S
        job.wait_for(max(seen + 1, 2), wait)
        if not job.active:
            self._watch.end()
            self._finish(job)
            return Look(job.snapshot, ended=True)
        self.state[DRAWN] = (job.number, job.version)
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
        """Make the job's latest snapshot this session's result, and share its perturbation with the other pages."""
        if job.state == FAILED:
            ending = FAILED_RUN
        elif job.state == DONE:
            ending = FINISHED
        elif job.state == STOPPED and job.reason == BUDGET:
            ending = BUDGET_SPENT
        else:
            ending = STOPPED_EARLY
        view = job.snapshot if ending != FAILED_RUN else None
        self.state[RESULT] = Outcome(view, ending, job.budget_s, job.error)
        if view is not None and view.result is not None:
            self.state[LATEST_KEY] = latest_perturbation(view, ending)

    @property
    def outcome(self) -> Outcome | None:
        """This session's result: the last run's, once it has ended or was stopped; None before."""
        return self.state.get(RESULT)


def latest_perturbation(view: LiveView, ending: str) -> dict:
    """The run's perturbation as the other pages take it (:func:`uap_app.current.current_perturbation`)."""
    used, result = view.settings, view.result
    early = {STOPPED_EARLY: ", stopped early", BUDGET_SPENT: ", stopped at the compute budget"}.get(ending, "")
    size = format_size(used.xi, result.p)
    return {
        "perturbation": result.perturbation,
        "p": result.p,
        "model": used.model,
        "description": f"built on the live page ({used.algorithm}, {norm_label(result.p)} ξ = {size}, "
        f"{used.n_train} training images, seed {used.seed}"
        f"{f', sends images to {used.target_name}' if used.target_name else ''}{early})",
    }

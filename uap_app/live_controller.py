"""The live page's session, without Streamlit: its settings and the address, its run
(:class:`uap_app.live_run.LiveRun`), and its result for the other pages.

The page (app_pages/attack.py) lays out the controls and draws what :meth:`LiveController.look` and
:attr:`LiveController.outcome` return; everything it remembers between its script runs lives in the session state
held here, so this class is tested with a dict as the state and plain functions as the work. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from uap_core.norms import norm_label

from .current import LATEST_KEY
from .jobs import Job, JobService, Work
from .live import LiveView
from .live_run import BUDGET_SPENT, STOPPED_EARLY, LiveRun, Look, Outcome
from .settings import DEFAULT_XI, LiveSettings, format_size, from_query

PAGE = "attack"  # the live page's url path: the name its job is watched under
WIDGET_KEYS = ("model", "algorithm", "norm", "delta", "n_train", "max_passes", "seed", "target")
NOTICES = "attack_url_notices"
SEEN_URLS, KEPT_URLS = "attack_seen_urls", 8  # the addresses this session has followed or written, latest last


def xi_key(norm: str) -> str:
    """The session-state key of the ξ control of ``norm`` (each norm keeps its own ξ)."""
    return f"xi_{norm}"


class LiveController:
    """The live page of one session: ``state`` is its session state, ``service`` the server's jobs, ``watcher`` its
    name as a watcher, ``work`` what a run computes (:func:`uap_app.live.run_live`), ``budget_s`` a run's budget."""

    def __init__(
        self, state: MutableMapping[str, Any], service: JobService, watcher: str, work: Work, budget_s: float
    ) -> None:
        self.state = state
        self.run = LiveRun(state, service, watcher, work, budget_s, PAGE, on_finish=self._share)

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
        return self.run.job

    @property
    def runs(self) -> int:
        """How many times Run was pressed in this session (keys the controls of each result)."""
        return self.run.runs

    @property
    def refresh_s(self) -> float | None:
        """Seconds between two looks of the live panel; None when there is no run to look at."""
        return self.run.refresh_s

    @property
    def outcome(self) -> Outcome | None:
        """This session's result: the last run's, once it has ended or was stopped; None before."""
        return self.run.outcome

    def start(self) -> None:
        """Run: join, reuse or queue the run of the current settings."""
        self.state[NOTICES] = []
        self.run.start(self.settings())

    def stop(self) -> None:
        """Stop: keep the best perturbation measured so far; the run goes on only if another visitor watches it."""
        self.run.stop()

    def come_back(self) -> None:
        """Back from another page: what the run left then had reached is this session's result, as after Stop."""
        self.run.come_back()

    def look(self) -> Look:
        """One look of the live panel (:meth:`uap_app.live_run.LiveRun.look`)."""
        return self.run.look()

    def _share(self, outcome: Outcome) -> None:
        """A run has ended: its perturbation is the one the other pages take."""
        if outcome.has_result:
            self.state[LATEST_KEY] = latest_perturbation(outcome.view, outcome.ending)


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

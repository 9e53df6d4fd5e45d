"""The defence page's session: its settings, and two live runs with the same settings side by side, one against the
undefended convnet and one against the defended one (:class:`uap_app.live_run.LiveRun` each, jobs of the server's
job service like every run). No Streamlit here: tested with a dict as the state and plain functions as the work.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from uap_core import DEFAULT_MODEL, DEFENDED_MODEL

from .jobs import JobService, Work
from .live_run import LiveRun, Look, Outcome
from .settings import DEFAULT_XI, LiveSettings

PAGE = "defence"  # the defence page's url path: its two runs are watched as "defence#<model>"
MODELS = (DEFAULT_MODEL, DEFENDED_MODEL)
NORM = "inf"  # the norm the defended model was trained against


class Comparison:
    """Both runs of the defence page of one session: ``state`` is its session state, ``service`` the server's jobs,
    ``watcher`` its name as a watcher, ``work`` what a run computes, ``budget_s`` each run's budget."""

    # The session-state keys of the page's controls; the other settings are the live page's defaults.
    ALGORITHM, XI, N_TRAIN, SEED = "defence_algorithm", "defence_xi", "defence_n_train", "defence_seed"

    def __init__(
        self, state: MutableMapping[str, Any], service: JobService, watcher: str, work: Work, budget_s: float
    ) -> None:
        self.state = state
        self.runs = {model: LiveRun(state, service, watcher, work, budget_s, f"{PAGE}#{model}") for model in MODELS}
        defaults = LiveSettings()
        state.setdefault(self.ALGORITHM, defaults.algorithm)
        state.setdefault(self.XI, DEFAULT_XI[NORM])
        state.setdefault(self.N_TRAIN, defaults.n_train)
        state.setdefault(self.SEED, defaults.seed)

    def settings(self, model: str = DEFAULT_MODEL) -> LiveSettings:
        """The settings the controls show, for the run against ``model``."""
        state = self.state
        return LiveSettings(
            model,
            state[self.ALGORITHM],
            NORM,
            round(state[self.XI], 6),
            n_train=int(state[self.N_TRAIN]),
            seed=int(state[self.SEED]),
        )

    @property
    def watching(self) -> bool:
        """Whether either run is still queued or in flight."""
        return any(run.job is not None for run in self.runs.values())

    @property
    def refresh_s(self) -> float | None:
        """Seconds between two looks of the panel (the shorter of the two runs'); None with nothing to look at."""
        periods = [run.refresh_s for run in self.runs.values() if run.refresh_s is not None]
        return min(periods) if periods else None

    def start(self) -> None:
        """Run both: join, reuse or queue the run of the current settings against each model."""
        for model, run in self.runs.items():
            run.start(self.settings(model))

    def stop(self) -> None:
        """Stop both, each keeping the best perturbation it measured so far."""
        for run in self.runs.values():
            run.stop()

    def come_back(self) -> None:
        """Back from another page: what each run had reached then is its result, as after Stop."""
        for run in self.runs.values():
            run.come_back()

    def look(self) -> dict[str, Look]:
        """One look at both runs; only the first waits a moment for news, so a look takes as long as on the live
        page."""
        return {model: run.look(wait=i == 0) for i, (model, run) in enumerate(self.runs.items())}

    def outcomes(self) -> dict[str, Outcome | None]:
        """Each run's result, by model: None until it has ended or was stopped."""
        return {model: run.outcome for model, run in self.runs.items()}

    @property
    def started(self) -> int:
        """How many times both runs were started in this session (keys the widgets of each result)."""
        return self.runs[DEFAULT_MODEL].runs

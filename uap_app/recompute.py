"""A findings page's "Recompute it live" as a job of the job service: an experiment with its quick settings, its
progress published for the page, its stop asked at every progress report. No Streamlit here.

The experiment's ``progress(fraction, message)`` callback is the job's check-in: it publishes the progress, then
returns :meth:`uap_app.jobs.Job.checkpoint`, which waits while another job has the turn and answers True when the
recompute must stop; the experiment then returns the points it finished (``complete`` False).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from uap_core.experiments import EXPERIMENTS, ExperimentResult

from .jobs import Job
from .memory import release_freed_memory


@dataclass(frozen=True)
class Recompute:
    """What determines a recompute's result (the job's key): the experiment's name and its settings."""

    experiment: str
    settings: tuple[tuple[str, Any], ...]  # sorted (name, value) pairs, hashable

    @classmethod
    def of(cls, experiment: str, settings: dict[str, Any]) -> Recompute:
        return cls(experiment, tuple(sorted(settings.items())))


@dataclass(frozen=True)
class RecomputeView:
    """One progress report of a recompute; the last one holds the result."""

    fraction: float
    message: str
    result: ExperimentResult | None = None


def run_recompute(job: Job) -> None:
    """The work of a recompute (keyed by its :class:`Recompute`): the experiment, reporting at every step."""
    request: Recompute = job.key

    def progress(fraction: float, message: str) -> bool:
        job.publish(RecomputeView(fraction, message), fraction)
        return job.checkpoint()

    job.publish(RecomputeView(0.0, "Starting…"), 0.0)
    try:
        result = EXPERIMENTS[request.experiment].run(**dict(request.settings), progress=progress)
        job.publish(RecomputeView(job.fraction, "Done" if result.complete else "Stopped", result))
    finally:  # the experiment's models, images and activations are free now: hand them back to the system
        release_freed_memory()

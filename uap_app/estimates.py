"""How long a queued job waits, from the jobs' own progress: plain arithmetic over numbers, no threads, no clock.

A job in flight reports the fraction of its work done. From its first report (``c0`` seconds of computation at
fraction ``f0``) to its latest (``c`` at ``f``) it advanced at ``(c - c0) / (f - f0)`` seconds per unit of work, so it
is expected to need ``c + (1 - f) (c - c0) / (f - f0)`` in all once that span is a tenth of its work, never more than
its budget; measuring from the first report leaves out what a job does once before it reports (gathering its images,
its first view). A job whose reports span less is expected to take as long as the jobs in flight whose reports span
enough (their mean expected total, capped by its own budget); with no such job, the wait is not known yet. The jobs
in flight share the ``slots`` turns equally (:mod:`uap_app.turns`), so with ``k`` of them each advances at
``slots / k`` of a core's speed; a queued job starts when one of the ``places`` in flight frees up and every job ahead
of it in the queue has taken one, and shows it at its first progress report. No Streamlit here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

MIN_SPAN = 0.1  # the rate since the first report counts once it spans this much of the work


@dataclass(frozen=True)
class Load:
    """What the estimate knows of one job: seconds computed so far, fraction done (0 to 1), its budget in seconds."""

    compute_s: float
    fraction: float
    budget_s: float
    first: tuple[float, float] | None = None  # (compute_s, fraction) at its first report

    def expected_total_s(self) -> float | None:
        """Seconds of computation it is expected to need in all, at most its budget; None until its reports span
        :data:`MIN_SPAN` of its work (before, the rate says too little: the first estimates of a crowd's runs, from
        ``c / f`` at their first reports, were 2.6 to 5.5 times the waits that followed)."""
        fraction = min(self.fraction, 1.0)
        if self.first is None or fraction - self.first[1] < MIN_SPAN:
            return None
        first_s, first_fraction = self.first
        total = self.compute_s + (1.0 - fraction) * (self.compute_s - first_s) / (fraction - first_fraction)
        return min(total, self.budget_s)


def seconds_until_start(in_flight: Sequence[Load], ahead: Sequence[float], slots: int, places: int) -> float | None:
    """Seconds until a queued job shows that it has started (its first progress report), behind the jobs
    ``in_flight`` and the queued jobs ``ahead`` of it (their budgets, in queue order); None while none of the jobs in
    flight has reported any progress (nothing to go by).

    Once it has a place, it is expected to compute before its first report as long as the jobs in flight did (the
    mean of their computation at their first reports), at its share of the turns: a visitor sees a run start when
    its progress appears, and for short waits that lead is most of the wait.
    """
    leads = [load.first[0] for load in in_flight if load.first is not None]
    lead = sum(leads) / len(leads) if leads else 0.0
    totals = [load.expected_total_s() for load in in_flight]
    known = [total for total in totals if total is not None]
    typical = sum(known) / len(known) if known else None
    left = []
    for load, total in zip(in_flight, totals, strict=True):
        expected = total if total is not None else typical
        if expected is None:
            return None
        left.append(max(min(expected, load.budget_s) - load.compute_s, 0.0))
    queue = deque(min(typical, budget) if typical is not None else budget for budget in ahead)
    elapsed = 0.0
    while True:
        while len(left) < places and queue:
            left.append(queue.popleft())
        if len(left) < places:
            return elapsed + lead / min(1.0, slots / (len(left) + 1))
        speed = min(1.0, slots / len(left))  # of a core, for each job in flight
        step = min(left) / speed
        elapsed += step
        left = [seconds - step * speed for seconds in left if seconds - step * speed > 1e-9]

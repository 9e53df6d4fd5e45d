"""Turn-taking among the jobs in flight: at most ``slots`` of them compute at a time, the others wait in line.

A plain record with no threads, no lock and no clock of its own: :class:`uap_app.jobs.JobService` calls it under
its lock with the time it reads, so the rules here are tested with numbers alone. No Streamlit here.

The rules: a job joins the end of the line; a free turn goes to the first in line; a holder that has held its
turn for longer than the quantum passes it on (to the end of the line) when somebody waits, and keeps it when
nobody does. The time a job holds its turn is its compute time, which its budget bounds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable


class Turns:
    """Who holds one of the ``slots`` turns (since when), and who waits for one, first come first served."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots = slots
        self._holders: dict[Hashable, float] = {}  # holder -> when it got its turn
        self._line: deque[Hashable] = deque()

    def join(self, who: Hashable, now: float) -> None:
        """``who`` waits for a turn at the end of the line (and gets one at once if a turn is free)."""
        if who not in self._holders and who not in self._line:
            self._line.append(who)
        self._grant(now)

    def holds(self, who: Hashable) -> bool:
        return who in self._holders

    def held_for(self, who: Hashable, now: float) -> float:
        """Seconds ``who`` has held its current turn (0 when it holds none)."""
        return now - self._holders[who] if who in self._holders else 0.0

    def waiting(self) -> int:
        """How many wait for a turn."""
        return len(self._line)

    def should_pass(self, who: Hashable, now: float, quantum: float) -> bool:
        """Whether ``who`` has held its turn longer than ``quantum`` seconds while somebody waits."""
        return bool(self._line) and self.held_for(who, now) >= quantum

    def pass_on(self, who: Hashable, now: float) -> float:
        """``who`` gives its turn to the first in line and queues again at the end; returns the seconds it held it."""
        held = self.leave(who, now)
        self._line.append(who)
        self._grant(now)
        return held

    def leave(self, who: Hashable, now: float) -> float:
        """``who`` gives up its turn or its place in line; returns the seconds it held its turn (0 if none)."""
        held = self.held_for(who, now)
        self._holders.pop(who, None)
        if who in self._line:
            self._line.remove(who)
        self._grant(now)
        return held

    def _grant(self, now: float) -> None:
        while self._line and len(self._holders) < self.slots:
            self._holders[self._line.popleft()] = now

"""The end of the process: the threads that compute in torch stop and end while the interpreter still runs.

A daemon thread that is still inside torch when the interpreter finalises aborts the whole process ("terminate
called without an active exception": exit status 134, or -6 for a server stopped with Ctrl+C). ``atexit`` handlers
run before that point, with every thread still alive, so the one handler here first tells every registered task to
stop, then waits for them all, within :data:`EXIT_WAIT_S` in all. Stopping everything before waiting for anything
matters: a thread that only finishes (the warm-up, at the lowest priority) would otherwise wait for the cores that a
run still holds.

Pure Python: No Streamlit here.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# A server stopped with Ctrl+C or SIGTERM exits within 5 s: a run stops at its next inner step (well under a second),
# the warm-up needs about 2 s of one core, and the server itself needs a moment before and after.
EXIT_WAIT_S = 4.0


@dataclass(frozen=True)
class _Task:
    stop: Callable[[], object]
    join: Callable[[float], object]


class ExitTasks:
    """Tasks that end together: each one is told to stop, then each one is waited for, within one time bound."""

    def __init__(self) -> None:
        self._tasks: list[_Task] = []
        self._lock = threading.Lock()

    def add(self, join: Callable[[float], object], stop: Callable[[], object] = lambda: None) -> None:
        """At :meth:`finish`, call ``stop()`` (which must return at once), then ``join(seconds)`` (which waits at most
        that long for the task's threads to end)."""
        with self._lock:
            self._tasks.append(_Task(stop, join))

    def finish(self, timeout: float = EXIT_WAIT_S) -> None:
        """Stop every task added so far, then wait for them all, at most ``timeout`` seconds in all. Each task is
        finished once; tasks added later are left for a later call."""
        with self._lock:
            tasks = self._tasks.copy()
            self._tasks.clear()
        for task in tasks:
            task.stop()
        deadline = time.monotonic() + timeout
        for task in tasks:
            task.join(max(deadline - time.monotonic(), 0.0))


AT_EXIT = ExitTasks()  # finished by ``atexit``, before the interpreter finalises
atexit.register(AT_EXIT.finish)


def finish_at_exit(join: Callable[[float], object], stop: Callable[[], object] = lambda: None) -> None:
    """At the end of the process, call ``stop()`` (which must return at once), then ``join(seconds)`` (see
    :meth:`ExitTasks.add`)."""
    AT_EXIT.add(join, stop)

"""Server-side runs shared by every visitor: worker threads owned by the server process, a fair queue.

A run is identified by a hashable key (the settings that determine its result), so a visitor who asks
for the key of a run in flight joins it and reads the same snapshots, and a finished run is served at
once from a small bounded store. Runs with other keys wait in a first-in, first-out queue until one of
``slots`` worker threads is free. A run lives while somebody watches it: every watcher sends heartbeats
(the page does so several times per second), and when the last watcher leaves (Stop, another run, its page
gone as ``present`` tells, or no heartbeat for ``watcher_timeout`` seconds) a queued run is dropped and a running
one is told to stop, which frees its slot at the computation's next inner step.

Pure Python: no Streamlit call here (worker threads have no script context), so it is unit-testable
with plain functions as the work.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Any

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
ACTIVE = (QUEUED, RUNNING)
PRESENCE_CHECK_S = 0.5  # how often the manager looks for watchers that are gone (and for lapsed heartbeats)


class Run:
    """One computation, shared by every watcher of its key. Its worker publishes snapshots; pages read them."""

    def __init__(self, key: Hashable, number: int, now: float) -> None:
        self.key = key
        self.number = number  # unique per manager, in order of creation
        self.state = QUEUED
        self.snapshot: Any = None  # the latest published snapshot (replaced, never changed in place)
        self.version = 0  # how many snapshots were published
        self.error: str | None = None
        self.queued_at, self.started_at, self.finished_at = now, math.nan, math.nan
        self.watchers: dict[str, float] = {}  # watcher id -> time of its last heartbeat
        self._stop = threading.Event()
        self._changed = threading.Condition()  # notified at every snapshot and when the run ends

    def publish(self, snapshot: Any) -> None:
        """Called by the work: make ``snapshot`` the one every watcher sees next."""
        with self._changed:
            self.snapshot = snapshot
            self.version += 1
            self._changed.notify_all()

    def wait_for(self, version: int, timeout: float) -> bool:
        """Block until snapshot ``version`` is published or the run has ended, at most ``timeout`` seconds;
        False if the time ran out first. The waiting thread uses no CPU and does not hold the interpreter lock,
        so a page can wait for news instead of looking more often."""
        with self._changed:
            return self._changed.wait_for(lambda: self.version >= version or not self.active, timeout)

    def _set_state(self, state: str) -> None:
        with self._changed:
            self.state = state
            self._changed.notify_all()

    def should_stop(self) -> bool:
        """True once nobody watches any more: the work should return at its next inner step."""
        return self._stop.is_set()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def __repr__(self) -> str:
        return f"Run(#{self.number}, {self.state}, {self.key!r})"


class RunManager:
    """Runs ``work(run)`` in ``slots`` worker threads, one run per key at a time, in a fair queue.

    ``work`` publishes snapshots with ``run.publish`` and returns when done or when ``run.should_stop()``;
    an exception marks the run failed (its message is kept for the page). ``keep`` finished runs are
    kept for immediate reuse (least recently asked for dropped first). ``typical_seconds`` is the
    duration assumed for queue estimates until runs have finished. ``present(watcher)``: False once the
    watcher's page is gone (a closed browser tab), checked every ``PRESENCE_CHECK_S``; it is called from the
    manager's own thread, so it must be safe there. ``clock`` is for tests.
    """

    def __init__(
        self,
        work: Callable[[Run], None],
        slots: int = 1,
        keep: int = 8,
        watcher_timeout: float = 1.0,
        typical_seconds: float = 10.0,
        present: Callable[[str], bool] = lambda watcher: True,
        clock: Callable[[], float] = time.monotonic,
        name: str = "uap-run",
    ) -> None:
        if slots < 1 or keep < 0 or watcher_timeout <= 0:
            raise ValueError(f"need slots >= 1, keep >= 0, watcher_timeout > 0; got {slots}, {keep}, {watcher_timeout}")
        self._work, self.slots, self._keep = work, slots, keep
        self._timeout, self._typical, self._present, self._clock = watcher_timeout, typical_seconds, present, clock
        self._lock = threading.Condition()
        self._queue: deque[Run] = deque()
        self._active: dict[Hashable, Run] = {}  # queued or running, by key
        self._finished: OrderedDict[Hashable, Run] = OrderedDict()  # bounded store of finished runs
        self._durations: deque[float] = deque(maxlen=8)
        self._numbers = itertools.count(1)
        self._closed = False
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(slots)]
        self._threads.append(threading.Thread(target=self._reap, name=f"{name}-reaper", daemon=True))
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------ what pages call

    def request(self, key: Hashable, watcher: str) -> Run:
        """The run for ``key``: the one in flight (joined), a finished one, or a new one put in the queue."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            run = self._active.get(key)
            if run is not None and not run.should_stop():
                run.watchers[watcher] = now
                return run
            run = self._finished.get(key)
            if run is not None:
                self._finished.move_to_end(key)
                return run
            run = Run(key, next(self._numbers), now)
            run.watchers[watcher] = now
            self._active[key] = run
            self._queue.append(run)
            self._lock.notify_all()  # the reaper waits on the same condition
            return run

    def heartbeat(self, run: Run, watcher: str) -> None:
        """``watcher`` still watches ``run`` (a page calls this several times per second)."""
        with self._lock:
            if run.active and not run.should_stop():
                run.watchers[watcher] = self._clock()

    def leave(self, run: Run, watcher: str) -> None:
        """``watcher`` stops watching ``run``; when nobody else watches, the run is dropped or stopped."""
        with self._lock:
            run.watchers.pop(watcher, None)
            if run.active and not run.watchers:
                self._cancel(run)

    def position(self, run: Run) -> int | None:
        """1 for the next run to start, 2 for the one after...; None when ``run`` is not queued."""
        with self._lock:
            return next((i for i, queued in enumerate(self._queue, 1) if queued is run), None)

    def estimate(self, run: Run) -> float:
        """Seconds until ``run`` starts, from the recent runs' durations (0 when it is not queued)."""
        with self._lock:
            position = next((i for i, queued in enumerate(self._queue, 1) if queued is run), None)
            if position is None:
                return 0.0
            typical = sum(self._durations) / len(self._durations) if self._durations else self._typical
            now = self._clock()
            # Each slot is busy for the rest of its current run, then takes queued runs in turn.
            busy = [max(typical - (now - r.started_at), 0.0) for r in self._active.values() if r.state == RUNNING]
            free_at = sorted(busy + [0.0] * (self.slots - len(busy)))
            for _ in range(position - 1):
                free_at[0] += typical
                free_at.sort()
            return free_at[0]

    def running(self) -> int:
        """How many runs are computing now."""
        with self._lock:
            return sum(run.state == RUNNING for run in self._active.values())

    def stop(self) -> None:
        """Tell every run to stop (through ``should_stop``, as when its last watcher leaves) and the threads to end
        once their run has returned; returns at once. The server calls this as its process ends (see
        :mod:`uap_app.shutdown`), tests to clean up."""
        with self._lock:
            self._closed = True
            for run in list(self._active.values()):
                self._cancel(run)
            self._lock.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds in all for the threads to end (after :meth:`stop`); True if they all did."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        return not any(thread.is_alive() for thread in self._threads)

    def close(self, timeout: float = 5.0) -> bool:
        """:meth:`stop`, then :meth:`join`: True once every thread has ended within ``timeout`` seconds."""
        self.stop()
        return self.join(timeout)

    # ------------------------------------------------------------ inside

    def _cancel(self, run: Run) -> None:
        run._stop.set()
        if run.state == QUEUED:
            self._queue.remove(run)
            run.finished_at = self._clock()
            run._set_state(STOPPED)
            self._forget(run)

    def _forget(self, run: Run) -> None:
        if self._active.get(run.key) is run:
            del self._active[run.key]

    def _expire(self, now: float) -> None:
        for run in list(self._active.values()):
            for watcher, seen in list(run.watchers.items()):
                if now - seen > self._timeout or not self._present(watcher):
                    del run.watchers[watcher]
            if not run.watchers and not run.should_stop():
                self._cancel(run)

    def _reap(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._expire(self._clock())
                self._lock.wait(min(self._timeout / 5, PRESENCE_CHECK_S))

    def _serve(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                run = self._queue.popleft()
                run.started_at = self._clock()
                run._set_state(RUNNING)
            error = None
            try:
                self._work(run)
            except Exception as exception:  # the page shows it; the server and the other runs go on
                error = f"{type(exception).__name__}: {exception}"
            with self._lock:
                run.finished_at = self._clock()
                self._forget(run)
                if error is not None:
                    run.error = error
                    run._set_state(FAILED)
                elif run.should_stop():
                    run._set_state(STOPPED)
                else:
                    run._set_state(DONE)
                    self._durations.append(run.finished_at - run.started_at)
                    if self._keep:
                        self._finished[run.key] = run
                        while len(self._finished) > self._keep:
                            self._finished.popitem(last=False)

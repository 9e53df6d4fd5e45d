"""The server's one job service: everything a visitor can start (a live run, a findings page's recompute) is a job.

Jobs are shared by key (the settings that determine the result): a visitor who asks for the key of a job in flight
joins it and reads the same snapshots, and a finished job is served at once from a small bounded store. A job lives
while somebody watches it: every watcher sends heartbeats, and when the last one leaves (Stop, another page, its
tab closed as ``present`` tells, or no heartbeat for ``watcher_timeout`` seconds) a queued job is dropped and a job
in flight is told to stop.

Fair by turn-taking (design and figures: docs/job-service.md): up to ``places`` jobs are in flight, each in a worker
thread of its own, the others wait in a first-in, first-out queue; of the jobs in flight only ``slots`` compute at a
time (:class:`uap_app.turns.Turns`). A job checks in at every :meth:`Job.checkpoint`, which the work calls before
each inner step (the engine's ``should_stop``, an experiment's ``progress``); there a job that has held its turn
longer than ``quantum`` seconds hands it on when another job waits. So a short job started beside a long one
finishes in about its own time times the number of jobs in flight, not after the long one.

One stop mechanism: :meth:`Job.checkpoint` returns True when the job must stop, and :attr:`Job.reason` says why:
its last watcher left (:data:`LEFT`), its compute budget (seconds holding a turn) is spent (:data:`BUDGET`), or the
service is closing (:data:`CLOSING`). A job stopped at its budget keeps what it computed and is kept like a
finished one.

No Streamlit here (worker threads have no script context): the service is unit-tested with a fake clock and plain
functions as the work.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Any

from .estimates import Load, seconds_until_start
from .turns import Turns

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
ACTIVE = (QUEUED, RUNNING)
LEFT, BUDGET, CLOSING = "left", "budget", "closing"  # why a job stopped
PRESENCE_CHECK_S = 0.5  # how often the service looks for watchers that are gone (and for lapsed heartbeats)

Work = Callable[["Job"], None]


class Job:
    """One computation, shared by every watcher of its key. Its work publishes snapshots; pages read them."""

    def __init__(
        self, service: JobService, key: Hashable, number: int, work: Work, budget_s: float, now: float
    ) -> None:
        self.key, self.number, self.work, self.budget_s = key, number, work, budget_s
        self.state = QUEUED
        self.reason: str | None = None  # why it stopped (or is stopping): LEFT, BUDGET or CLOSING
        self.snapshot: Any = None  # the latest published snapshot (replaced, never changed in place)
        self.version = 0  # how many snapshots were published
        self.fraction = 0.0  # of its work done, as the work last reported it
        self.first_report: tuple[float, float] | None = None  # (compute_s, fraction) when it first reported progress
        self.compute_s = 0.0  # seconds it held a turn, up to its last hand-over
        self.error: str | None = None
        self.queued_at, self.started_at, self.finished_at = now, math.nan, math.nan
        self.watchers: dict[str, float] = {}  # watcher id -> time of its last heartbeat
        self._service = service
        self._changed = threading.Condition()  # notified at every snapshot and when the job ends

    def checkpoint(self) -> bool:
        """Called by the work before every inner step: waits while another job has the turn, and returns True when
        the work must return now (:attr:`reason` says why)."""
        return self._service._checkpoint(self)

    def progress(self, fraction: float) -> None:
        """Called by the work, in its own thread, as it reaches ``fraction`` of its work: the queue estimates' figure
        (:mod:`uap_app.estimates`)."""
        computed = self._service.compute_s(self)
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        if self.fraction > 0 and self.first_report is None:
            self.first_report = (computed, self.fraction)

    def publish(self, snapshot: Any, fraction: float | None = None) -> None:
        """Called by the work: make ``snapshot`` the one every watcher sees next (and, from the work's own thread,
        report that ``fraction`` of the work is done)."""
        if fraction is not None:
            self.progress(fraction)
        with self._changed:
            self.snapshot = snapshot
            self.version += 1
            self._changed.notify_all()

    def wait_for(self, version: int, timeout: float) -> bool:
        """Block until snapshot ``version`` is published or the job has ended, at most ``timeout`` seconds; False if
        the time ran out first. The waiting thread uses no CPU, so a page can wait for news instead of looking more
        often."""
        with self._changed:
            return self._changed.wait_for(lambda: self.version >= version or not self.active, timeout)

    def _set_state(self, state: str) -> None:
        with self._changed:
            self.state = state
            self._changed.notify_all()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def kept(self) -> bool:
        """Whether it is served to whoever asks for its key again: it finished, or it spent its budget (asking
        again would spend it again for the same answer)."""
        return self.state == DONE or (self.state == STOPPED and self.reason == BUDGET)

    def __repr__(self) -> str:
        return f"Job(#{self.number}, {self.state}, {self.reason}, {self.key!r})"


class JobService:
    """Runs jobs in ``places`` worker threads, ``slots`` computing at a time by turns of ``quantum`` seconds.

    ``work(job)`` publishes snapshots with ``job.publish`` and returns when done or as soon as ``job.checkpoint()``
    returns True; an exception marks the job failed (its message is kept for the page). ``keep`` finished jobs are
    kept for immediate reuse (least recently asked for dropped first). ``present(watcher)``: False once the
    watcher's page is gone, checked every :data:`PRESENCE_CHECK_S` from the service's own thread. ``clock`` is
    for tests.
    """

    def __init__(
        self,
        *,
        slots: int = 1,
        places: int = 4,
        keep: int = 8,
        watcher_timeout: float = 1.0,
        quantum: float = 0.2,
        present: Callable[[str], bool] = lambda watcher: True,
        clock: Callable[[], float] = time.monotonic,
        name: str = "uap-job",
    ) -> None:
        if slots < 1 or places < slots or keep < 0 or watcher_timeout <= 0 or quantum <= 0:
            raise ValueError(
                "need slots >= 1, places >= slots, keep >= 0, watcher_timeout > 0, quantum > 0; "
                f"got {slots}, {places}, {keep}, {watcher_timeout}, {quantum}"
            )
        self.slots, self.places, self.quantum = slots, places, quantum
        self._keep, self._timeout, self._present, self._clock = keep, watcher_timeout, present, clock
        self._lock = threading.Condition()
        self._turns = Turns(slots)
        self._queue: deque[Job] = deque()  # waiting for a place in flight
        self._in_flight: list[Job] = []  # in order of their start
        self._unserved: deque[Job] = deque()  # in flight, not yet taken by a worker thread
        self._active: dict[Hashable, Job] = {}  # queued or in flight, by key
        self._finished: OrderedDict[Hashable, Job] = OrderedDict()  # bounded store of kept jobs
        self._numbers = itertools.count(1)
        self._closed = False
        self._threads = [threading.Thread(target=self._serve, name=f"{name}-{i}", daemon=True) for i in range(places)]
        self._threads.append(threading.Thread(target=self._reap, name=f"{name}-reaper", daemon=True))
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------ what pages call

    def request(self, key: Hashable, watcher: str, work: Work, budget_s: float) -> Job:
        """The job for ``key``: the one in flight or queued (joined), a kept one, or a new one doing ``work`` within
        ``budget_s`` seconds of computation, put in the queue."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the job service is closed")
            now = self._clock()
            self._expire(now)
            job = self._active.get(key)
            if job is not None and job.reason is None:
                job.watchers[watcher] = now
                return job
            job = self._finished.get(key)
            if job is not None:
                self._finished.move_to_end(key)
                return job
            job = Job(self, key, next(self._numbers), work, budget_s, now)
            job.watchers[watcher] = now
            self._active[key] = job
            self._queue.append(job)
            self._admit(now)
            self._lock.notify_all()  # the reaper waits on the same condition
            return job

    def rejoin(self, job: Job, watcher: str) -> Job:
        """The job for ``job``'s key again, with its work and budget (after it stopped because nobody watched)."""
        return self.request(job.key, watcher, job.work, job.budget_s)

    def heartbeat(self, job: Job, watcher: str) -> None:
        """``watcher`` still watches ``job`` (a page calls this several times per second)."""
        with self._lock:
            if job.active and job.reason is None:
                job.watchers[watcher] = self._clock()

    def leave(self, job: Job, watcher: str) -> None:
        """``watcher`` stops watching ``job``; when nobody else watches, the job is dropped or stopped."""
        with self._lock:
            job.watchers.pop(watcher, None)
            if job.active and not job.watchers:
                self._cancel(job, LEFT)

    def position(self, job: Job) -> int | None:
        """1 for the next job to start, 2 for the one after...; None when ``job`` is not queued."""
        with self._lock:
            return next((i for i, queued in enumerate(self._queue, 1) if queued is job), None)

    def estimate(self, job: Job) -> float | None:
        """Seconds until queued ``job`` starts, from the progress of the jobs ahead (:mod:`uap_app.estimates`):
        0 when it is not queued, None while no job in flight has reported progress yet."""
        with self._lock:
            if job.state != QUEUED:
                return 0.0
            now = self._clock()
            loads = [self._load(other, now) for other in self._in_flight]
            ahead = [queued.budget_s for queued in itertools.takewhile(lambda queued: queued is not job, self._queue)]
            return seconds_until_start(loads, ahead, self.slots, self.places)

    def in_flight(self) -> int:
        """How many jobs are in flight (taking turns to compute)."""
        with self._lock:
            return len(self._in_flight)

    def compute_s(self, job: Job) -> float:
        """Seconds ``job`` has computed so far (holding a turn)."""
        with self._lock:
            return job.compute_s + self._turns.held_for(job, self._clock())

    def stop(self) -> None:
        """Tell every job to stop (reason :data:`CLOSING`) and the threads to end once their job has returned;
        returns at once. The server calls this as its process ends (see :mod:`uap_app.shutdown`), tests to clean
        up."""
        with self._lock:
            self._closed = True
            for job in list(self._active.values()):
                self._cancel(job, CLOSING)
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

    # ------------------------------------------------------------ inside (under the lock unless said otherwise)

    def _load(self, job: Job, now: float) -> Load:
        if job.reason is not None:  # stopping: ends at its next checkpoint
            return Load(job.budget_s, 1.0, job.budget_s)
        return Load(job.compute_s + self._turns.held_for(job, now), job.fraction, job.budget_s, job.first_report)

    def _checkpoint(self, job: Job) -> bool:
        with self._lock:
            if job.reason is None and self._turns.holds(job):
                now = self._clock()
                if job.compute_s + self._turns.held_for(job, now) >= job.budget_s:
                    job.reason = BUDGET
                elif self._turns.should_pass(job, now, self.quantum):
                    job.compute_s += self._turns.pass_on(job, now)
                    self._lock.notify_all()
                else:
                    return False
            while job.reason is None and not self._turns.holds(job):
                self._lock.wait()
            return job.reason is not None

    def _admit(self, now: float) -> None:
        while self._queue and len(self._in_flight) < self.places:
            job = self._queue.popleft()
            job.started_at = now
            job._set_state(RUNNING)
            self._in_flight.append(job)
            self._unserved.append(job)
            self._turns.join(job, now)  # in line at once, so a holder hands over at its next checkpoint
        self._lock.notify_all()

    def _cancel(self, job: Job, reason: str) -> None:
        if job.reason is None:
            job.reason = reason
        now = self._clock()
        if job.state == QUEUED:
            self._queue.remove(job)
            job.finished_at = now
            job._set_state(STOPPED)
            self._forget(job)
        elif not self._turns.holds(job):
            self._turns.leave(job, now)  # out of the line: it ends without another turn
        self._lock.notify_all()  # a job waiting for its turn wakes up to stop

    def _forget(self, job: Job) -> None:
        if self._active.get(job.key) is job:
            del self._active[job.key]

    def _expire(self, now: float) -> None:
        for job in list(self._active.values()):
            for watcher, seen in list(job.watchers.items()):
                if now - seen > self._timeout or not self._present(watcher):
                    del job.watchers[watcher]
            if not job.watchers and job.reason is None:
                self._cancel(job, LEFT)

    def _reap(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._expire(self._clock())
                self._lock.wait(min(self._timeout / 5, PRESENCE_CHECK_S))

    def _serve(self) -> None:  # a worker thread, outside the lock
        while True:
            with self._lock:
                while not self._unserved and not self._closed:
                    self._lock.wait()
                if not self._unserved:
                    return
                job = self._unserved.popleft()
            error = None
            try:
                if not job.checkpoint():  # its first turn
                    job.work(job)
            except Exception as exception:  # the page shows it; the server and the other jobs go on
                error = f"{type(exception).__name__}: {exception}"
            self._end(job, error)

    def _end(self, job: Job, error: str | None) -> None:
        with self._lock:
            now = self._clock()
            job.compute_s += self._turns.leave(job, now)
            job.finished_at = now
            self._in_flight.remove(job)
            self._forget(job)
            if error is not None:
                job.error = error
                job._set_state(FAILED)
            elif job.reason is not None:
                job._set_state(STOPPED)
            else:
                job._set_state(DONE)
            if job.kept and self._keep:
                self._finished[job.key] = job
                while len(self._finished) > self._keep:
                    self._finished.popitem(last=False)
            if not self._closed:
                self._admit(now)
            self._lock.notify_all()

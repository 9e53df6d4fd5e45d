"""The job service (uap_app.jobs), its turns (uap_app.turns) and its queue estimates (uap_app.estimates) with
plain functions as the work: no Streamlit, no model.

Two kinds of work. :class:`Gated` waits on events the test controls, so the order of events is the test's.
:class:`Steps` does a number of steps of fake computation, each advancing a :class:`FakeClock` by a fixed time and
checking in at ``job.checkpoint()`` first, as the engine does before every inner step. Only the job holding the turn
advances the clock (the others wait inside their checkpoint), so the fake times of a schedule are exact and
repeatable.
"""

import threading
import time

import pytest

from uap_app.estimates import Load, seconds_until_start
from uap_app.jobs import BUDGET, CLOSING, DONE, FAILED, LEFT, QUEUED, RUNNING, STOPPED, JobService
from uap_app.turns import Turns

WAIT_S = 5.0
BIG = 1e6  # a budget that is never reached


def eventually(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


class FakeClock:
    """Seconds that pass only when the work says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class Steps:
    """Work of ``steps`` steps of ``step_s`` fake seconds each; records when each job ended and how many turns it got.
    ``pause_after``: the job named stops (really waits) after that many steps until the test sets ``resume``."""

    def __init__(self, clock: FakeClock, steps: dict, step_s: float = 0.05, pause_after: dict | None = None) -> None:
        self.clock, self.steps, self.step_s = clock, steps, step_s
        self.pause_after, self.resume, self.paused = pause_after or {}, threading.Event(), threading.Event()
        self.ended: dict = {}
        self.first_report: dict = {}  # when each job first reported progress
        self.turns: dict = {}
        self._holder = None

    def __call__(self, job) -> None:
        n = self.steps[job.key]
        for i in range(n):
            if job.checkpoint():
                return
            if self._holder != job.key:  # a new turn began
                self.turns[job.key] = self.turns.get(job.key, 0) + 1
                self._holder = job.key
            if self.pause_after.get(job.key) == i:
                self.paused.set()
                assert self.resume.wait(WAIT_S)
            self.clock.advance(self.step_s)
            job.publish(i + 1, fraction=(i + 1) / n)
            self.first_report.setdefault(job.key, self.clock())
        self.ended[job.key] = self.clock()


class Gated:
    """Work that publishes its key, then waits until released (checking in every 10 ms), counting its starts."""

    def __init__(self) -> None:
        self.release: dict = {}
        self.started: list = []

    def gate(self, key) -> threading.Event:
        return self.release.setdefault(key, threading.Event())

    def __call__(self, job) -> None:
        self.started.append(job.key)
        job.publish(("started", job.key))
        while not self.gate(job.key).wait(0.01):
            if job.checkpoint():
                return
        if job.key == "boom":
            raise RuntimeError("the work failed")
        job.publish(("done", job.key))


@pytest.fixture
def gated():
    return Gated()


@pytest.fixture
def service():
    service = JobService(slots=1, places=1, keep=2, watcher_timeout=5.0)  # watchers need no heartbeats here
    yield service
    service.close()


# ---------------------------------------------------------------- turns, fairness, quantum, budget (fake clock)


def test_turns_go_first_come_first_served_and_pass_after_the_quantum():
    turns = Turns(slots=1)
    turns.join("a", now=0.0)
    turns.join("b", now=0.0)
    turns.join("c", now=0.0)
    assert turns.holds("a") and turns.waiting() == 2
    assert not turns.should_pass("a", now=0.1, quantum=0.2)  # within its quantum
    assert turns.should_pass("a", now=0.2, quantum=0.2)
    assert turns.pass_on("a", now=0.25) == pytest.approx(0.25)  # the seconds it held the turn
    assert turns.holds("b") and not turns.holds("a")
    turns.pass_on("b", now=0.5)
    assert turns.holds("c")
    turns.pass_on("c", now=0.75)
    assert turns.holds("a")  # back to the first: a full round
    turns.leave("b", now=0.8)
    turns.leave("c", now=0.8)
    assert not turns.should_pass("a", now=9.0, quantum=0.2)  # nobody waits: it keeps its turn


def long_then_short(service, work):
    """The long job in flight and paused after its first steps, then the short one requested beside it."""
    long = service.request("long", "alice", work, BIG)
    assert work.paused.wait(WAIT_S)
    return long, service.request("short", "bob", work, BIG)


def test_a_short_job_finishes_while_a_long_one_is_in_flight_in_about_the_expected_turns():
    clock = FakeClock()
    # 1,000 steps of 50 ms (50 s) against 40 (2 s); the long one pauses after 10 steps so the short one joins it.
    work = Steps(clock, {"long": 1000, "short": 40}, pause_after={"long": 10})
    service = JobService(slots=1, places=4, quantum=0.2, watcher_timeout=BIG, clock=clock)
    try:
        long, short = long_then_short(service, work)
        assert short.state == RUNNING  # in flight at once: a place was free
        started = clock()
        work.resume.set()
        eventually(lambda: short.state == DONE)
        took = work.ended["short"] - started
        # Its own 2 s, plus the long job's turns between its own: 2 jobs in flight, so about 2 x 2 s.
        assert 3.6 <= took <= 4.4, took
        # 2 s in turns of 0.2 s (the quantum, rounded up to a whole step): about 10 turns.
        assert 9 <= work.turns["short"] <= 11, work.turns
        eventually(lambda: long.state == DONE)
        assert work.ended["long"] == pytest.approx(50.0 + 2.0)  # its own 50 s and the short one's 2 s
    finally:
        service.close()


def test_without_turns_the_short_job_would_wait_for_the_whole_long_one():
    """The same schedule with a quantum longer than the long job: the short job waits for all of it (the test above
    can fail)."""
    clock = FakeClock()
    work = Steps(clock, {"long": 200, "short": 40}, pause_after={"long": 10})
    service = JobService(slots=1, places=4, quantum=1e9, watcher_timeout=BIG, clock=clock)
    try:
        _, short = long_then_short(service, work)
        started = clock()
        work.resume.set()
        eventually(lambda: short.state == DONE)
        assert work.ended["short"] - started == pytest.approx(10.0 - 0.5 + 2.0)  # the long one's rest, then its own
    finally:
        service.close()


def test_a_job_that_reaches_its_budget_stops_with_reason_budget_and_is_kept():
    clock = FakeClock()
    work = Steps(clock, {"heavy": 10_000, "light": 10}, step_s=0.25)  # exact in binary: the sums are exact
    service = JobService(slots=1, places=2, keep=4, quantum=0.2, watcher_timeout=BIG, clock=clock)
    try:
        heavy = service.request("heavy", "alice", work, budget_s=3.0)
        eventually(lambda: not heavy.active)
        assert heavy.state == STOPPED and heavy.reason == BUDGET
        assert heavy.compute_s == pytest.approx(3.0) and heavy.snapshot == 12  # 12 steps of 0.25 s: all it was given
        assert "heavy" not in work.ended  # it returned at its checkpoint, before the end of its work
        assert service.request("heavy", "bob", work, budget_s=3.0) is heavy  # kept: asking again costs nothing
        light = service.request("light", "bob", work, budget_s=3.0)
        eventually(lambda: light.state == DONE)
        assert light.reason is None
    finally:
        service.close()


def test_the_budget_counts_only_the_time_a_job_holds_its_turn():
    clock = FakeClock()
    work = Steps(clock, {"a": 1000, "b": 1000}, step_s=0.25)
    service = JobService(slots=1, places=2, quantum=0.2, watcher_timeout=BIG, clock=clock)
    try:
        a = service.request("a", "alice", work, budget_s=2.0)
        b = service.request("b", "bob", work, budget_s=2.0)
        eventually(lambda: not a.active and not b.active)
        assert a.reason == b.reason == BUDGET
        assert a.compute_s == pytest.approx(2.0) and b.compute_s == pytest.approx(2.0)
        assert clock() == pytest.approx(4.0)  # taking turns: each got its 2 s
    finally:
        service.close()


def test_a_job_waiting_for_its_turn_stops_at_once_when_its_watcher_leaves():
    clock = FakeClock()
    work = Steps(clock, {"long": 1000, "short": 40}, pause_after={"long": 10})
    service = JobService(slots=1, places=2, quantum=0.2, watcher_timeout=BIG, clock=clock)
    try:
        long, short = long_then_short(service, work)
        service.leave(short, "bob")  # it waits for its first turn: no turn is spent on it
        eventually(lambda: short.state == STOPPED)
        assert short.reason == LEFT and short.version == 0 and service.in_flight() == 1
        work.resume.set()
        service.leave(long, "alice")
        eventually(lambda: long.state == STOPPED)
    finally:
        service.close()


# ---------------------------------------------------------------- queue estimates


def test_an_estimate_adds_up_the_jobs_ahead_sharing_the_turns():
    # Each job first reported at 0.1 s of computation and 1 % of its work (after gathering its data), and advanced
    # steadily since: 8 s per unit of work, 4 s and 2 s to go. One place each, one slot: they share the core.
    loads = [Load(4.02, 0.5, 60, first=(0.1, 0.01)), Load(6.02, 0.75, 60, first=(0.1, 0.01))]
    assert [load.expected_total_s() for load in loads] == [pytest.approx(8.02), pytest.approx(8.02)]
    # The 2 s job at half speed; then this job computes 0.1 s before its first report, at half speed beside the other.
    assert seconds_until_start(loads, [], slots=1, places=2) == pytest.approx(4.0 + 0.2)
    # Capped by the budget: a job that would need 100 s in all stops at its 10 s (and reported at once).
    assert seconds_until_start([Load(5.0, 0.05 + 0.1, 10.0, first=(0.0, 0.05))], [], 1, 1) == pytest.approx(5.0)
    # A queued job ahead is expected to take as long as the jobs in flight (their mean expected total, 8 s).
    assert seconds_until_start(loads[:1], [60], slots=1, places=1) == pytest.approx(4.0 + 8.02 + 0.1)
    # The rate counts from the first report, leaving out the 2 s of gathering data: 1 s per 10 %, 8 s to go,
    # where 3 s for 20 % would say 12 s.
    assert Load(3.0, 0.2, 60, first=(2.0, 0.1)).expected_total_s() == pytest.approx(3.0 + 8.0)
    # That job needed 2 s before its first report: so will the queued one once it starts, before it shows progress.
    assert seconds_until_start([Load(3.0, 0.2, 60, first=(2.0, 0.1))], [], 1, 1) == pytest.approx(8.0 + 2.0)
    # Until its reports span a tenth of its work, a job says nothing of its total, and alone nothing of the wait.
    assert Load(3.0, 0.15, 60, first=(2.0, 0.1)).expected_total_s() is None
    assert seconds_until_start([Load(0.5, 0.0, 60)], [], slots=1, places=1) is None


def test_queue_estimates_are_within_a_factor_of_2_of_the_wait_that_followed():
    clock = FakeClock()
    steps = {"a": 120, "b": 60, "c": 100, "d": 80, "e": 40}  # 6, 3, 5, 4 and 2 s
    work = Steps(clock, steps, pause_after={"b": 30})  # by then both jobs in flight have reported enough to tell
    service = JobService(slots=1, places=2, quantum=0.2, watcher_timeout=BIG, clock=clock)
    try:
        jobs = {key: service.request(key, f"visitor-{key}", work, BIG) for key in steps}
        assert work.paused.wait(WAIT_S)  # a and b in flight and reporting progress; c, d, e queued
        assert [service.position(jobs[key]) for key in "abcde"] == [None, None, 1, 2, 3]
        now = clock()
        estimates = {key: service.estimate(jobs[key]) for key in "cde"}
        work.resume.set()
        eventually(lambda: all(job.state == DONE for job in jobs.values()))
        for key, estimate in estimates.items():
            waited = work.first_report[key] - now  # until it showed that it had started
            assert waited / 2 <= estimate <= waited * 2, (key, estimate, waited)
        assert estimates["c"] < estimates["d"] < estimates["e"]
    finally:
        service.close()


# ---------------------------------------------------------------- sharing, the store, watchers (real time)


def test_same_settings_join_the_job_in_flight(service, gated):
    first = service.request("a", "alice", gated, BIG)
    eventually(lambda: first.state == RUNNING)
    second = service.request("a", "bob", gated, BIG)
    assert second is first and set(first.watchers) == {"alice", "bob"}
    gated.gate("a").set()
    eventually(lambda: first.state == DONE)
    assert first.snapshot == ("done", "a") and gated.started == ["a"]


def test_a_finished_job_is_served_at_once_from_a_bounded_store(service, gated):
    for key in ("a", "b", "c"):
        gated.gate(key).set()
        job = service.request(key, "alice", gated, BIG)
        eventually(lambda job=job: job.state == DONE)
    assert service.request("c", "bob", gated, BIG).state == DONE  # kept: no new start
    assert gated.started == ["a", "b", "c"]
    again = service.request("a", "bob", gated, BIG)  # keep=2: the oldest was dropped, so it is computed again
    eventually(lambda: again.state == DONE)
    assert gated.started == ["a", "b", "c", "a"]


def test_beyond_the_places_in_flight_jobs_wait_in_a_fifo_queue_and_start_by_themselves(service, gated):
    jobs = [service.request(key, f"visitor-{key}", gated, BIG) for key in ("a", "b", "c")]
    eventually(lambda: jobs[0].state == RUNNING)
    assert [service.position(job) for job in jobs] == [None, 1, 2]
    assert jobs[1].state == jobs[2].state == QUEUED
    for job in jobs:
        gated.gate(job.key).set()
        eventually(lambda job=job: job.state == DONE)
    assert gated.started == ["a", "b", "c"]


def test_stop_frees_the_place_at_once_unless_someone_else_watches(service, gated):
    shared = service.request("a", "alice", gated, BIG)
    service.request("a", "bob", gated, BIG)
    waiting = service.request("b", "carol", gated, BIG)
    eventually(lambda: shared.state == RUNNING)
    service.leave(shared, "alice")
    time.sleep(0.1)
    assert shared.state == RUNNING and shared.reason is None  # bob still watches it
    service.leave(shared, "bob")
    eventually(lambda: shared.state == STOPPED, timeout=1.0)  # the work returned at its next checkpoint
    assert shared.reason == LEFT
    eventually(lambda: waiting.state == RUNNING, timeout=1.0)  # and the place went to the queue
    gated.gate("b").set()
    eventually(lambda: waiting.state == DONE)
    assert service.request("a", "alice", gated, BIG) is not shared  # a job nobody watched is not kept


def test_leaving_the_page_stops_the_job_after_the_watcher_timeout(gated):
    service = JobService(places=1, keep=2, watcher_timeout=0.5)
    try:
        job = service.request("a", "alice", gated, BIG)
        eventually(lambda: job.state == RUNNING)
        for _ in range(8):  # heartbeats keep it alive well beyond the timeout
            time.sleep(0.1)
            service.heartbeat(job, "alice")
        assert job.state == RUNNING
        left_at = time.monotonic()
        eventually(lambda: job.state == STOPPED, timeout=2.0)
        assert time.monotonic() - left_at < 1.0  # timeout 0.5 s, plus the reaper's tick and the work's check
    finally:
        service.close()


def test_a_watcher_whose_page_is_gone_is_dropped_within_a_second(gated):
    # A closed browser tab: the page sends no more heartbeats, and ``present`` says so long before the timeout.
    connected = {"alice", "bob"}
    service = JobService(places=1, keep=2, watcher_timeout=60.0, present=lambda watcher: watcher in connected)
    try:
        job = service.request("a", "alice", gated, BIG)
        service.request("a", "bob", gated, BIG)
        eventually(lambda: job.state == RUNNING)
        connected.discard("alice")
        time.sleep(1.0)
        assert job.state == RUNNING and set(job.watchers) == {"bob"}  # bob still watches it
        connected.discard("bob")
        gone_at = time.monotonic()
        eventually(lambda: job.state == STOPPED, timeout=2.0)
        assert time.monotonic() - gone_at < 1.0  # the service's check every 0.5 s, plus the work's check
    finally:
        service.close()


def test_a_queued_job_nobody_watches_leaves_the_queue(service, gated):
    first = service.request("a", "alice", gated, BIG)
    queued = service.request("b", "bob", gated, BIG)
    service.leave(queued, "bob")
    assert queued.state == STOPPED and queued.reason == LEFT and service.position(queued) is None
    gated.gate("a").set()
    eventually(lambda: first.state == DONE)
    time.sleep(0.1)
    assert gated.started == ["a"]


def test_a_failing_job_is_reported_and_frees_its_place(service, gated):
    failing = service.request("boom", "alice", gated, BIG)
    after = service.request("b", "bob", gated, BIG)
    gated.gate("boom").set()
    eventually(lambda: failing.state == FAILED)
    assert failing.error == "RuntimeError: the work failed"
    gated.gate("b").set()
    eventually(lambda: after.state == DONE)
    assert service.in_flight() == 0


def test_a_stopped_job_is_asked_for_again_with_its_own_work_and_budget(service, gated):
    job = service.request("a", "alice", gated, 30.0)
    eventually(lambda: job.state == RUNNING)
    service.leave(job, "alice")
    eventually(lambda: job.state == STOPPED)
    again = service.rejoin(job, "alice")
    assert again is not job and again.work is gated and again.budget_s == 30.0
    gated.gate("a").set()
    eventually(lambda: again.state == DONE)


def test_close_stops_every_job_with_reason_closing(gated):
    service = JobService(places=1, keep=2, watcher_timeout=60)
    running = service.request("a", "alice", gated, BIG)
    queued = service.request("b", "bob", gated, BIG)
    eventually(lambda: running.state == RUNNING)
    assert service.close(timeout=2.0)
    assert running.state == queued.state == STOPPED and running.reason == queued.reason == CLOSING
    with pytest.raises(RuntimeError, match="closed"):
        service.request("c", "carol", gated, BIG)


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="slots"):
        JobService(slots=0)
    with pytest.raises(ValueError, match="places >= slots"):
        JobService(slots=2, places=1)


def test_a_watcher_waits_for_the_next_snapshot_without_looking_again(service, gated):
    job = service.request("a", "alice", gated, BIG)
    assert job.wait_for(1, timeout=WAIT_S) and job.snapshot == ("started", "a")
    began = time.monotonic()
    assert not job.wait_for(2, timeout=0.05)  # nothing new: the wait ends at its timeout
    assert time.monotonic() - began >= 0.05
    threading.Timer(0.05, gated.gate("a").set).start()
    assert job.wait_for(2, timeout=WAIT_S) and job.snapshot == ("done", "a")  # woken by the publication
    eventually(lambda: job.state == DONE)
    assert job.wait_for(99, timeout=WAIT_S)  # an ended job never makes anyone wait

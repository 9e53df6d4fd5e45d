"""The server-side run manager (uap_app.runs) with plain functions as the work: no Streamlit, no model.

Each test's work waits on events the test controls, so the order of events is the test's, not the clock's.
"""

import threading
import time

import pytest

from uap_app.runs import DONE, FAILED, QUEUED, RUNNING, STOPPED, RunManager

WAIT_S = 5.0


def eventually(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


class Work:
    """Work that publishes its key, then waits until released (or told to stop), counting its starts."""

    def __init__(self) -> None:
        self.release: dict = {}
        self.started: list = []

    def gate(self, key) -> threading.Event:
        return self.release.setdefault(key, threading.Event())

    def __call__(self, run) -> None:
        self.started.append(run.key)
        run.publish(("started", run.key))
        while not self.gate(run.key).wait(0.01):
            if run.should_stop():
                return
        if run.key == "boom":
            raise RuntimeError("the work failed")
        run.publish(("done", run.key))


@pytest.fixture
def work():
    return Work()


@pytest.fixture
def manager(work):
    manager = RunManager(work, slots=1, keep=2, watcher_timeout=5.0)  # watchers need no heartbeats here
    yield manager
    manager.close()


def test_same_settings_join_the_run_in_flight(manager, work):
    first = manager.request("a", "alice")
    eventually(lambda: first.state == RUNNING)
    second = manager.request("a", "bob")
    assert second is first and set(first.watchers) == {"alice", "bob"}
    work.gate("a").set()
    eventually(lambda: first.state == DONE)
    assert first.snapshot == ("done", "a") and work.started == ["a"]


def test_a_finished_run_is_served_at_once_from_a_bounded_store(manager, work):
    for key in ("a", "b", "c"):
        work.gate(key).set()
        run = manager.request(key, "alice")
        eventually(lambda run=run: run.state == DONE)
    assert manager.request("c", "bob").state == DONE  # kept: no new start
    assert work.started == ["a", "b", "c"]
    again = manager.request("a", "bob")  # keep=2: the oldest was dropped, so it is computed again
    eventually(lambda: again.state == DONE)
    assert work.started == ["a", "b", "c", "a"]


def test_other_settings_wait_in_a_fifo_queue_and_start_by_themselves(manager, work):
    runs = [manager.request(key, f"visitor-{key}") for key in ("a", "b", "c")]
    eventually(lambda: runs[0].state == RUNNING)
    assert [manager.position(run) for run in runs] == [None, 1, 2]
    assert runs[1].state == runs[2].state == QUEUED
    assert 0 < manager.estimate(runs[1]) < manager.estimate(runs[2])
    for run in runs:
        work.gate(run.key).set()
        eventually(lambda run=run: run.state == DONE)
    assert work.started == ["a", "b", "c"]


def test_stop_frees_the_slot_at_once_unless_someone_else_watches(manager, work):
    shared = manager.request("a", "alice")
    manager.request("a", "bob")
    waiting = manager.request("b", "carol")
    eventually(lambda: shared.state == RUNNING)
    manager.leave(shared, "alice")
    time.sleep(0.1)
    assert shared.state == RUNNING and not shared.should_stop()  # bob still watches it
    manager.leave(shared, "bob")
    eventually(lambda: shared.state == STOPPED, timeout=1.0)  # the work returned at its next check
    eventually(lambda: waiting.state == RUNNING, timeout=1.0)  # and the slot went to the queue
    work.gate("b").set()
    eventually(lambda: waiting.state == DONE)
    assert manager.request("a", "alice") is not shared  # a stopped run is not served as finished


def test_leaving_the_page_stops_the_run_after_the_watcher_timeout(work):
    manager = RunManager(work, slots=1, keep=2, watcher_timeout=0.5)
    run = manager.request("a", "alice")
    eventually(lambda: run.state == RUNNING)
    for _ in range(8):  # heartbeats keep it alive well beyond the timeout
        time.sleep(0.1)
        manager.heartbeat(run, "alice")
    assert run.state == RUNNING
    left_at = time.monotonic()
    eventually(lambda: run.state == STOPPED, timeout=2.0)
    assert time.monotonic() - left_at < 1.0  # timeout 0.5 s, plus the reaper's tick and the work's check
    manager.close()


def test_a_watcher_whose_page_is_gone_is_dropped_within_a_second(work):
    # A closed browser tab: the page sends no more heartbeats, and ``present`` says so long before the timeout.
    connected = {"alice", "bob"}
    manager = RunManager(work, slots=1, keep=2, watcher_timeout=60.0, present=lambda watcher: watcher in connected)
    run = manager.request("a", "alice")
    manager.request("a", "bob")
    eventually(lambda: run.state == RUNNING)
    connected.discard("alice")
    time.sleep(1.0)
    assert run.state == RUNNING and set(run.watchers) == {"bob"}  # bob still watches it
    connected.discard("bob")
    gone_at = time.monotonic()
    eventually(lambda: run.state == STOPPED, timeout=2.0)
    assert time.monotonic() - gone_at < 1.0  # the manager's check every 0.5 s, plus the work's check
    manager.close()


def test_a_queued_run_nobody_watches_leaves_the_queue(manager, work):
    first = manager.request("a", "alice")
    queued = manager.request("b", "bob")
    manager.leave(queued, "bob")
    assert queued.state == STOPPED and manager.position(queued) is None
    work.gate("a").set()
    eventually(lambda: first.state == DONE)
    time.sleep(0.1)
    assert work.started == ["a"]


def test_a_failing_run_is_reported_and_frees_its_slot(manager, work):
    failing = manager.request("boom", "alice")
    after = manager.request("b", "bob")
    work.gate("boom").set()
    eventually(lambda: failing.state == FAILED)
    assert failing.error == "RuntimeError: the work failed"
    work.gate("b").set()
    eventually(lambda: after.state == DONE)


def test_an_interrupted_run_releases_its_slot_for_the_next():
    """Issue 8: a run whose work is interrupted (an exception mid-way, or Stop) gives its slot back."""

    def interrupted(run):
        run.publish("half-way")
        raise InterruptedError("interrupted mid-run")

    manager = RunManager(interrupted, slots=1, keep=0, watcher_timeout=0.5)
    try:
        first = manager.request("a", "alice")
        eventually(lambda: first.state == FAILED)
        second = manager.request("b", "bob")
        eventually(lambda: second.state == FAILED)  # it ran: the slot was free again
        assert manager.running() == 0
    finally:
        manager.close()


def test_two_slots_run_two_settings_at_once(work):
    manager = RunManager(work, slots=2, keep=0, watcher_timeout=0.5)
    try:
        runs = [manager.request(key, "alice") for key in ("a", "b", "c")]
        eventually(lambda: runs[0].state == runs[1].state == RUNNING)
        assert runs[2].state == QUEUED and manager.running() == 2
        for run in runs:
            work.gate(run.key).set()
        for run in runs:
            eventually(lambda run=run: run.state == DONE)
    finally:
        manager.close()


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="slots"):
        RunManager(lambda run: None, slots=0)


def test_a_watcher_waits_for_the_next_snapshot_without_looking_again(manager, work):
    run = manager.request("a", "alice")
    assert run.wait_for(1, timeout=WAIT_S) and run.snapshot == ("started", "a")
    began = time.monotonic()
    assert not run.wait_for(2, timeout=0.05)  # nothing new: the wait ends at its timeout
    assert time.monotonic() - began >= 0.05
    threading.Timer(0.05, work.gate("a").set).start()
    assert run.wait_for(2, timeout=WAIT_S) and run.snapshot == ("done", "a")  # woken by the publication
    eventually(lambda: run.state == DONE)
    assert run.wait_for(99, timeout=WAIT_S)  # an ended run never makes anyone wait

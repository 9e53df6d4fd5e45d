"""A clean end of the process: no thread is left inside torch when the interpreter finalises (one there aborts the
process with "terminate called without an active exception", exit status 134, or -6 for a server).

The job service and the exit handler with fake work; a process that imports the app, renders pages with AppTest and
exits; and the server stopped with Ctrl+C (SIGINT) or SIGTERM while a live run computes, seen from a real browser.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from support.browser import ROOT, chromium, new_session, require_chromium, start_slow_run, streamlit_process

from uap_app.jobs import CLOSING, RUNNING, STOPPED, JobService
from uap_app.shutdown import ExitTasks

ABORT = "terminate called"  # what the C++ runtime prints as it aborts
SERVER_EXIT_S = 5.0  # a server told to stop exits within this


def eventually(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def threads_named(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


def long_work(job) -> None:
    """Work that would go on for a minute, checking in every 10 ms as the real work's inner steps do."""
    job.publish("started")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not job.checkpoint():
        time.sleep(0.01)


def test_close_stops_a_running_job_and_ends_every_thread_within_its_bound():
    service = JobService(slots=1, places=2, watcher_timeout=60, name="uap-test-close")
    jobs = [service.request(key, "alice", long_work, 60) for key in ("a", "b", "c")]  # two in flight, one queued
    eventually(lambda: sum(job.state == RUNNING for job in jobs) == 2)
    assert len(threads_named("uap-test-close")) == 3  # two workers and the reaper
    started = time.monotonic()
    assert service.close(timeout=2.0)
    assert time.monotonic() - started < 1.0  # the work's checkpoint answers within 10 ms, or wakes from its wait
    assert threads_named("uap-test-close") == []
    assert [job.state for job in jobs] == [STOPPED] * 3 and {job.reason for job in jobs} == {CLOSING}


def test_close_gives_up_after_its_timeout_when_the_work_never_checks_in():
    started, release = threading.Event(), threading.Event()
    service = JobService(places=1, watcher_timeout=60, name="uap-test-stuck")
    service.request("a", "alice", lambda job: (started.set(), release.wait(30)), 60)
    assert started.wait(5.0)  # inside its work, which never checks in
    started = time.monotonic()
    assert not service.close(timeout=0.3)
    assert 0.25 < time.monotonic() - started < 1.0  # one bound for all its threads, not one per thread
    release.set()
    assert service.join(timeout=2.0) and threads_named("uap-test-stuck") == []


def test_exit_tasks_are_all_stopped_before_any_is_waited_for():
    events: list[str] = []
    tasks = ExitTasks()
    for name in ("runs", "warm-up"):
        tasks.add(
            join=lambda seconds, name=name: events.append(f"join {name} within {seconds:.0f} s"),
            stop=lambda name=name: events.append(f"stop {name}"),
        )
    tasks.finish(timeout=3.0)
    assert events == ["stop runs", "stop warm-up", "join runs within 3 s", "join warm-up within 3 s"]
    tasks.finish(timeout=3.0)  # each task is finished once
    assert len(events) == 4


def test_exit_tasks_wait_for_a_thread_that_only_finishes():
    done = threading.Event()
    thread = threading.Thread(target=lambda: (time.sleep(0.3), done.set()), name="uap-test-warm-up", daemon=True)
    thread.start()
    tasks = ExitTasks()
    tasks.add(thread.join)
    tasks.finish(timeout=3.0)
    assert done.is_set() and not thread.is_alive()


# What a lecturer's laptop, a test runner or a notebook does: import the app, render pages, exit (here with a live
# run in flight and the live page's warm-up computing, both inside torch).
RENDER_AND_EXIT = textwrap.dedent(
    """
    import uap_app.server
    from streamlit.testing.v1 import AppTest

    home = AppTest.from_file("app.py", default_timeout=120).run()
    assert home.title and not home.exception, home.exception
    live = AppTest.from_file("app.py", default_timeout=120)
    live.switch_page("app_pages/attack.py")
    live.query_params.update({"n_train": "8000", "max_passes": "10"})
    live.run()
    live.button(key="run").click().run()
    assert live.title and not live.exception, live.exception
    assert uap_app.server.jobs().in_flight() == 1, "no live run in flight"
    print("rendered", flush=True)
    """
)


@pytest.mark.app
def test_a_process_that_renders_pages_and_exits_exits_0():
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # the app's packages first
    result = subprocess.run(
        [sys.executable, "-c", RENDER_AND_EXIT], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": path},
    )  # fmt: skip
    assert "rendered" in result.stdout, result.stderr[-3000:]
    assert ABORT not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, f"exit status {result.returncode}: {result.stderr[-3000:]}"


@pytest.mark.browser
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_server_exits_0_within_5_s_when_stopped_while_a_run_computes(stop_signal):
    require_chromium()
    with streamlit_process() as server, chromium() as browser:
        page = new_session(browser)
        start_slow_run(page, server.url, seed=21)  # Run pressed, its first progress report drawn
        server.process.send_signal(stop_signal)
        sent = time.monotonic()
        try:
            status = server.process.wait(timeout=SERVER_EXIT_S + 5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server still runs {SERVER_EXIT_S + 5:.0f} s after {stop_signal.name}")
        took = time.monotonic() - sent
        output = server.output()
        print(f"exit status {status} {took:.1f} s after {stop_signal.name}")
    assert ABORT not in output, output[-3000:]
    assert status == 0, f"exit status {status} after {stop_signal.name}: {output[-3000:]}"
    assert took < SERVER_EXIT_S, f"the server took {took:.1f} s to exit after {stop_signal.name}"

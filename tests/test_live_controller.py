"""The live page's controller (uap_app.live_controller), the defence page's two runs (uap_app.comparison) and the jobs
a session's pages watch (uap_app.watching), without Streamlit: a dict as the session state, the real job service,
plain functions as the work."""

import math
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from uap_app.comparison import Comparison
from uap_app.current import LATEST_KEY, current_perturbation
from uap_app.jobs import BUDGET, LEFT, QUEUED, RUNNING, STOPPED, JobService
from uap_app.live_controller import LiveController, xi_key
from uap_app.live_run import CROWD_REFRESH_S, REFRESH_S
from uap_app.settings import LiveSettings
from uap_app.watching import WATCHED, Watch, leave_other_pages

WAIT_S = 5.0


def eventually(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def view(settings: LiveSettings, fraction: float, finished: bool = False) -> SimpleNamespace:
    """What the page reads of a live snapshot: its settings, its result (a perturbation of ξ = 0.2), its fraction."""
    result = SimpleNamespace(perturbation=torch.full((1, 28, 28), 0.2), p=math.inf, xi=settings.xi, finished=finished)
    return SimpleNamespace(settings=settings, result=result, fraction=fraction)


class Work:
    """A live run's stand-in: publishes two views with a result, then waits for the test's word or its stop (the
    budget, Stop); with ``fail`` it raises."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.fail = False

    def __call__(self, job) -> None:
        job.publish(view(job.key, 0.0), 0.0)  # its start, then its first progress reports
        job.publish(view(job.key, 0.1), 0.1)
        job.publish(view(job.key, 0.5), 0.5)
        while not self.release.wait(0.01):
            if job.checkpoint():
                return
        if self.fail:
            raise RuntimeError("out of memory")
        job.publish(view(job.key, 1.0, finished=True), 1.0)


@pytest.fixture
def service():
    service = JobService(places=1, keep=4, watcher_timeout=60.0)
    yield service
    service.close()


@pytest.fixture
def work():
    return Work()


def controller(service, work, state=None, watcher="alice", budget_s=60.0) -> LiveController:
    live = LiveController({} if state is None else state, service, watcher, work, budget_s)
    live.follow_address({})
    return live


def look_until(live: LiveController, condition, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while not condition(look := live.look()):
        assert time.monotonic() < deadline, "no such look in time"
    return look


# ---------------------------------------------------------------- settings and the address


def test_an_address_sets_the_controls_with_a_notice_per_bad_value_and_is_written_back_in_full():
    live = LiveController({}, None, "alice", None, 60.0)
    live.follow_address({"norm": "2", "xi": "3", "seed": "-3"})
    assert live.state["norm"] == "2" and live.state[xi_key("2")] == 3.0 and live.state["seed"] == 0
    assert live.state[xi_key("inf")] == 0.2  # the other norm keeps its own default
    assert len(live.notices) == 1 and "`seed=-3`" in live.notices[0] and "using the default" in live.notices[0]
    assert live.settings() == LiveSettings(norm="2", xi=3.0)
    address = live.address_to_write({"norm": "2", "xi": "3", "seed": "-3"})
    assert address == LiveSettings(norm="2", xi=3.0).to_query() and address["n_train"] == "500"
    assert live.address_to_write(address) is None  # the browser has it: nothing to write


def test_an_address_without_settings_keeps_the_controls_and_an_old_one_of_this_session_is_not_followed():
    live = LiveController({}, None, "alice", None, 60.0)
    live.follow_address({})
    before = live.address_to_write({})  # the defaults, written
    live.state["n_train"] = 50  # a control moved
    first = live.address_to_write(before)
    assert first["n_train"] == "50"
    live.state["max_passes"] = 1  # a second one, while the browser still reports the address before the first
    live.follow_address(before)
    assert live.state["n_train"] == 50 and not live.notices  # not undone: that address was this session's own
    assert live.address_to_write(before) == {**first, "max_passes": "1"}
    live.follow_address({"seed": "7"})  # a new link is followed
    assert live.state["seed"] == 7 and live.state["n_train"] == 500


# ---------------------------------------------------------------- the run


def test_run_looks_and_the_result_goes_to_the_other_pages(service, work):
    live = controller(service, work)
    assert live.job is None and live.refresh_s is None and live.outcome is None
    live.start()
    job = live.job
    assert job.key == live.settings() and job.budget_s == 60.0 and live.refresh_s == REFRESH_S and live.runs == 1
    look = look_until(live, lambda look: look.view is not None and look.view.fraction == 0.5)
    assert look.watchers == 1 and look.in_flight == 1 and not look.ended
    work.release.set()
    look = look_until(live, lambda look: look.ended)
    assert live.job is None and live.outcome.finished and live.outcome.view.result.finished
    latest = current_perturbation(live.state)
    assert latest["p"] == math.inf and latest["model"] == "convnet" and "your last run" in latest["origin"]
    assert "ξ = 0.200 = 51/255" in latest["description"] and "stopped" not in latest["description"]
    assert live.look().view is live.outcome.view  # after the run, the panel keeps drawing its last snapshot


def test_a_run_waiting_for_a_place_says_where_it_stands(service, work):
    alice, bob = controller(service, work), controller(service, work, watcher="bob")
    alice.start()
    bob.state["seed"] = 1
    bob.start()
    assert bob.job.state == QUEUED
    look = look_until(bob, lambda look: look.estimate_s is not None)  # once alice's run has reported progress
    assert look.queued and look.position == 1 and look.estimate_s >= 0
    alice.stop()
    eventually(lambda: bob.job.state == RUNNING)


def test_stop_keeps_the_best_so_far_and_frees_the_run(service, work):
    live = controller(service, work)
    live.start()
    job = live.job
    look_until(live, lambda look: look.view is not None)
    live.stop()
    assert live.job is None and not live.outcome.finished and not live.outcome.budget_spent
    assert "stopped early" in live.state[LATEST_KEY]["description"]
    eventually(lambda: job.state == STOPPED)
    assert job.reason == LEFT


def test_a_run_that_spends_its_budget_says_so(service, work):
    live = controller(service, work, budget_s=0.2)
    live.start()
    look_until(live, lambda look: look.ended)
    assert live.outcome.budget_spent and live.outcome.budget_s == 0.2 and live.outcome.view.result is not None
    assert "stopped at the compute budget" in live.state[LATEST_KEY]["description"]


def test_a_failed_run_gives_its_error(service, work):
    work.fail = True
    live = controller(service, work)
    live.start()
    work.release.set()
    look_until(live, lambda look: look.ended)
    assert live.outcome.failed and live.outcome.error == "RuntimeError: out of memory" and live.outcome.view is None


def test_another_page_leaves_the_run_and_coming_back_shows_what_it_reached(service, work):
    live = controller(service, work)
    live.start()
    job = live.job
    look_until(live, lambda look: look.view is not None)
    leave_other_pages(live.state, service, "alice", "transfer")
    assert live.job is None and live.state[WATCHED] == {}
    eventually(lambda: job.state == STOPPED)
    live.come_back()
    assert live.outcome.ending == "stopped" and live.outcome.view.result is not None
    live.come_back()  # once
    assert live.outcome.ending == "stopped"


def test_a_page_joining_a_crowd_looks_less_often_and_a_lapsed_watch_is_renewed(service, work):
    pages = [controller(service, work, watcher=f"visitor-{i}") for i in range(4)]
    for page in pages:
        page.start()
    assert len({id(page.job) for page in pages}) == 1  # one run, four watchers
    assert pages[-1].refresh_s == CROWD_REFRESH_S
    job = pages[0].job
    for i in range(len(pages)):
        service.leave(job, f"visitor-{i}")  # as if every heartbeat had lapsed
    eventually(lambda: job.state == STOPPED)
    assert pages[0].look() is not None and pages[0].job is not job  # asked for again
    assert pages[0].job.state in (QUEUED, RUNNING)


def test_a_watch_per_page_and_leaving_the_others(service, work):
    state = {}
    live, finding = Watch(state, service, "alice", "attack"), Watch(state, service, "alice", "transfer")
    first = live.start(LiveSettings(seed=1), work, 60.0)
    second = finding.start(LiveSettings(seed=2), work, 60.0)
    assert live.job is first and finding.job is second
    leave_other_pages(state, service, "alice", "transfer")
    assert live.job is None and finding.job is second and live.take_left() is first and live.take_left() is None
    assert first.reason == LEFT or first.state == STOPPED
    finding.stop()
    assert finding.job is None


def test_budget_reason_is_kept_for_the_findings_pages_too(service, work):
    watch = Watch({}, service, "alice", "transfer")
    job = watch.start(LiveSettings(seed=42), work, 0.2)
    eventually(lambda: not job.active)
    assert job.reason == BUDGET and job.kept and watch.look() is job  # a kept job is not asked for again


# ---------------------------------------------------------------- the defence page: two runs side by side


def test_the_defence_page_runs_both_models_with_the_same_settings_and_keeps_both_results(service, work):
    state = {}
    both = Comparison(state, service, "alice", work, 60.0)
    assert not both.watching and both.refresh_s is None and both.outcomes() == {"convnet": None, "convnet_uat": None}
    state[both.SEED], state[both.N_TRAIN] = 3, 1000
    both.start()
    keys = {model: run.job.key for model, run in both.runs.items()}
    assert {model: key.model for model, key in keys.items()} == {"convnet": "convnet", "convnet_uat": "convnet_uat"}
    assert keys["convnet"] == LiveSettings(seed=3, n_train=1000) == replace(keys["convnet_uat"], model="convnet")
    looks = both.look()  # one place on this service: the defended model's run waits for it
    assert looks["convnet_uat"].queued and looks["convnet_uat"].position == 1 and both.refresh_s == REFRESH_S
    work.release.set()
    deadline = time.monotonic() + WAIT_S
    while both.watching:
        assert time.monotonic() < deadline, "the two runs did not end in time"
        both.look()
    outcomes = both.outcomes()
    assert all(outcome.finished and outcome.has_result for outcome in outcomes.values())
    assert outcomes["convnet_uat"].view.settings.model == "convnet_uat"
    assert LATEST_KEY not in state  # the photo page keeps taking the live page's perturbation


def test_the_defence_page_keeps_its_runs_while_it_is_open_and_leaves_both_for_another_page(service, work):
    state = {}
    both = Comparison(state, service, "alice", work, 60.0)
    both.start()
    jobs = [run.job for run in both.runs.values()]
    leave_other_pages(state, service, "alice", "defence")  # its own page: both still watched
    assert [run.job for run in both.runs.values()] == jobs
    leave_other_pages(state, service, "alice", "attack")
    assert not both.watching
    both.come_back()
    assert all(outcome is not None and not outcome.finished for outcome in both.outcomes().values())
    both.start()
    both.stop()
    assert not both.watching and all(outcome.ending == "stopped" for outcome in both.outcomes().values())

"""The web app under Streamlit's AppTest: every page renders, a small run yields the metric cards,
the live page's settings come from the URL (bad values fall back with a notice), and a missing data set
or a bad setting gives a friendly message instead of a traceback."""

import time

import pytest
from streamlit.testing.v1 import AppTest
from support.apptest import HOME, TIMEOUT, open_page

FINDINGS = ("sample_size", "random_noise", "dominant_labels", "diversity", "transfer", "geometry", "finetune")
PAGES = (HOME, "app_pages/attack.py", *(f"app_pages/{name}.py" for name in FINDINGS), "app_pages/defence.py")


def wait_for_result(app: AppTest) -> AppTest:
    """Rerun the page (as its live panel does at every look) until the server's run has given a result."""
    deadline = time.monotonic() + TIMEOUT
    while not app.metric:
        assert not app.exception and not app.error, (app.exception, app.error)
        assert time.monotonic() < deadline, "no result in time"
        time.sleep(0.3)
        app.run()
    return app


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page):
    app = open_page(page)
    assert not app.exception
    assert app.title, f"{page} shows no title"
    assert not app.error


@pytest.mark.parametrize("name", FINDINGS)
def test_findings_page_opens_on_the_shipped_result(name):
    from uap_core.experiments import load_result

    app = open_page(f"app_pages/{name}.py")
    assert not app.exception
    captions = " ".join(caption.value for caption in app.caption)
    assert load_result(name).caption() in captions and "shipped, computed by `python -m uap_core experiment" in captions
    assert any(markdown.value.startswith("**What this model shows:**") for markdown in app.markdown)


def rerun_until(app: AppTest, condition, what: str) -> AppTest:
    """Rerun the page (as its panels do every second or two) until ``condition(app)``."""
    deadline = time.monotonic() + TIMEOUT
    while not condition(app):
        assert not app.exception, app.exception
        assert time.monotonic() < deadline, f"{what}: not in time"
        time.sleep(0.3)
        app.run()
    return app


def captions(app: AppTest) -> str:
    return " ".join(caption.value for caption in app.caption)


def test_findings_page_recomputes_live_as_a_job():
    app = open_page("app_pages/transfer.py")
    app.button(key="finding_transfer_run").click().run()
    assert not app.exception
    job = app.session_state["watched_jobs"]["transfer"]  # the server's job service runs it, not the page's script
    assert job.key.experiment == "transfer" and job.budget_s == 60
    rerun_until(app, lambda app: "computed live in this session" in captions(app), "the recomputed result")
    assert not app.warning and "200 training images per UAP" in captions(app)
    assert job.state == "done" and "transfer" not in app.session_state["watched_jobs"]
    app.button(key="finding_transfer_reset").click().run()
    assert "shipped, computed by" in captions(app)


def test_a_stopped_recompute_keeps_the_shipped_result_and_says_so():
    app = open_page("app_pages/geometry.py")
    app.button(key="finding_geometry_run").click().run()
    job = app.session_state["watched_jobs"]["geometry"]
    rerun_until(app, lambda app: app.get("progress"), "the recompute's progress bar")
    app.button(key="finding_geometry_stop").click().run()
    assert not app.exception
    assert any("stopped before it finished" in warning.value for warning in app.warning)
    assert "shipped, computed by" in captions(app)
    deadline = time.monotonic() + 30
    while job.active:  # it stops at its next progress report
        assert time.monotonic() < deadline, "the recompute did not stop"
        time.sleep(0.1)
    assert job.reason == "left"


def test_opening_another_page_leaves_the_recompute_and_coming_back_says_it_stopped():
    app = open_page("app_pages/sample_size.py")
    app.button(key="finding_sample_size_run").click().run()
    job = app.session_state["watched_jobs"]["sample_size"]
    app.switch_page("app_pages/home.py").run()
    assert job.reason == "left"  # at once, not once its heartbeats lapse
    app.switch_page("app_pages/sample_size.py").run()
    assert not app.exception and any("stopped before it finished" in warning.value for warning in app.warning)


def test_home_shows_the_shipped_perturbation():
    app = open_page("app_pages/home.py")
    fooling = app.metric[0].value
    assert fooling.endswith("%") and 30 < float(fooling.rstrip("%")) <= 100


def test_small_run_gives_metric_cards():
    app = open_page("app_pages/attack.py")
    app.select_slider(key="n_train").set_value(50)
    app.slider(key="max_passes").set_value(1)
    app.button(key="run").click().run()
    wait_for_result(app)
    assert not app.exception
    cards = {metric.label: metric.value for metric in app.metric}
    assert len(cards) == 5
    fooling = float(cards["Fooling rate (test images)"].rstrip("%")) / 100
    assert 0 <= fooling <= 1
    assert cards["‖v‖∞ = 51/255"] == "0.200"  # ξ = 0.2, the default, is used in full
    latest = app.session_state["uap_latest"]  # for the other pages (contract 5)
    assert latest["perturbation"].shape == (1, 28, 28) and latest["p"] == float("inf") and latest["model"] == "convnet"
    assert abs(latest["perturbation"].abs().max().item() - 0.2) < 1e-6 and "50 training images" in latest["description"]
    # Rescaling the found pattern re-evaluates it without a new search.
    rescale = next(slider for slider in app.slider if slider.label.startswith("Rescale the found pattern"))
    rescale.set_value(0.1).run()
    assert not app.exception
    rescaled = {metric.label: metric.value for metric in app.metric}
    assert next(value for label, value in rescaled.items() if label.startswith("‖v‖∞")) == "0.100"
    rescale.set_value(0.2).run()
    # A new run gets a fresh rescale slider (keyed by a run counter), not the old one's value.
    rescale.set_value(0.1).run()
    app.button(key="run").click().run()
    wait_for_result(app)
    rescale = next(slider for slider in app.slider if slider.label.startswith("Rescale the found pattern"))
    assert rescale.value == 0.2
    assert {metric.label: metric.value for metric in app.metric} == cards  # the same settings: the same run
    # The results come from the session state: they are still there after a visit to another page.
    app.switch_page("app_pages/home.py").run()
    app.switch_page("app_pages/attack.py").run()
    assert not app.exception
    assert {metric.label: metric.value for metric in app.metric} == cards


def test_missing_data_gives_a_friendly_message(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be, so no download is even tried")
    monkeypatch.setenv("UAP_DATA_DIR", str(blocker / "x"))
    for page in PAGES:
        app = open_page(page)
        assert not app.exception, page
        assert app.error and "UAP_DATA_DIR" in app.error[0].value, page
        if page == PAGES[0]:  # home's top is the shipped run's numbers and picture, read from files
            assert len(app.metric) == 3 and not app.subheader, page
        else:
            assert not app.metric, page


def test_settings_come_from_the_url():
    app = open_page("app_pages/attack.py", {"norm": "2", "xi": "3", "seed": "7", "algorithm": "paper"})
    assert not app.exception and not app.warning
    assert app.radio(key="norm").value == "2" and app.slider(key="xi_2").value == 3.0
    assert app.number_input(key="seed").value == 7 and app.radio(key="algorithm").value == "paper"
    assert app.query_params["xi"] == "3" and app.query_params["n_train"] == "500"  # the rest written back
    app.number_input(key="seed").set_value(8).run()
    assert app.query_params["seed"] == "8"  # the address follows the controls, so it can be bookmarked


def test_a_control_moved_before_the_browser_caught_up_with_the_address_is_kept():
    app = open_page("app_pages/attack.py")
    before = dict(app.query_params)  # the defaults, written back
    app.select_slider(key="n_train").set_value(50).run()
    assert app.query_params["n_train"] == "50"
    # A second control moved at once: the browser asks for the rerun with the address it had before the first
    # change reached it. That address is an old one of this session's, not a new link: both changes stay.
    app.query_params.clear()
    app.query_params.update(before)
    app.slider(key="max_passes").set_value(1).run()
    assert not app.warning
    assert app.select_slider(key="n_train").value == 50 and app.slider(key="max_passes").value == 1
    assert app.query_params["n_train"] == "50" and app.query_params["max_passes"] == "1"


def test_a_malformed_url_value_falls_back_to_the_default_with_a_notice():
    """The page shows the parser's notice (every bad value: tests/test_live.py) and writes the default back."""
    app = open_page("app_pages/attack.py", {"norm": "2", "xi": "0.2"})  # in range for ℓ∞, not for ℓ2
    assert not app.exception
    notices = [warning.value for warning in app.warning]
    assert len(notices) == 1 and "`xi=0.2`" in notices[0] and "using the default, xi = 4" in notices[0]
    assert app.query_params["xi"] == "4" and app.query_params["norm"] == "2"


@pytest.mark.parametrize("variable", ["UAP_TORCH_THREADS", "UAP_JOB_BUDGET_S", "UAP_JOB_PLACES"])
@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_a_bad_setting_is_named_and_the_app_keeps_working(variable, value, monkeypatch):
    monkeypatch.setenv(variable, value)
    app = open_page("app_pages/home.py")
    assert not app.exception
    message = " ".join(warning.value for warning in app.warning)
    assert variable in message and repr(value) in message and "whole number" in message
    assert len(app.metric) == 3  # the page itself is unaffected


def test_a_targeted_run_shows_its_success_rate_from_the_url_and_the_control():
    import torch

    from uap_core import load_fashion_mnist, load_model, predict

    app = open_page("app_pages/attack.py", {"target": "bag", "n_train": "50", "max_passes": "1"})
    assert not app.exception and not app.warning
    assert app.selectbox(key="target").value == "Bag" and app.query_params["target"] == "Bag"
    app.button(key="run").click().run()
    wait_for_result(app)
    assert not app.exception
    cards = {metric.label: metric.value for metric in app.metric}
    shown = float(cards["Sent to Bag (test images)"].rstrip("%")) / 100
    # The card against a plain count: of the test images not predicted Bag, the share predicted Bag under v.
    latest = app.session_state["uap_latest"]
    assert "sends images to Bag" in latest["description"]
    model, test = load_model("convnet"), load_fashion_mnist("test")
    clean = predict(model, test.images)
    perturbed = predict(model, (test.images + latest["perturbation"]).clamp(0, 1))
    bag = 8
    expected = ((perturbed == bag) & (clean != bag)).sum().item() / (clean != bag).sum().item()
    assert abs(shown - expected) < 0.0006 and shown > 0
    assert torch.equal(latest["perturbation"], latest["perturbation"].clamp(-0.2, 0.2))
    # Back to untargeted: the target leaves the address and the card disappears after the next run.
    app.selectbox(key="target").set_value("none").run()
    assert "target" not in app.query_params


def test_a_range_of_shares_reads_as_one_share_when_its_ends_round_alike():
    from uap_app.findings import share_range

    assert share_range([0.1255, 0.1251, 0.1262]) == "13%"
    assert share_range([0.49, 0.5465, 0.51]) == "49%–55%"


def test_opening_another_page_leaves_the_live_run_and_keeps_its_best_so_far():
    app = open_page("app_pages/attack.py", {"algorithm": "paper", "n_train": "1000", "max_passes": "10", "seed": "21"})
    app.button(key="run").click().run()
    run = app.session_state["watched_jobs"]["attack"]
    deadline = time.monotonic() + TIMEOUT
    while run.snapshot is None or run.snapshot.result is None:  # until its first progress report
        assert time.monotonic() < deadline, "no progress report in time"
        time.sleep(0.2)
    app.switch_page("app_pages/home.py").run()
    # Nobody else watches it: told to stop as the other page opened, not once its heartbeats lapse (8 s later).
    assert run.reason == "left"
    app.switch_page("app_pages/attack.py").run()
    assert not app.exception
    assert len(app.metric) == 5  # back on the live page: the best perturbation so far, judged, as after Stop
    assert "stopped early" in app.session_state["uap_latest"]["description"]


def test_the_defence_page_opens_on_the_shipped_numbers_without_computing():
    from uap_core.experiments import load_result

    shipped = load_result("defence").summary()
    app = open_page("app_pages/defence.py")
    assert not app.exception and not app.error
    assert not app.session_state.get("watched_jobs")  # nothing started
    cards = {metric.label: metric.value for metric in app.metric}
    assert len(cards) == 6
    assert cards["Clean accuracy"] == f"{shipped['clean_accuracy']['convnet_uat']:.1%}"
    attacks = shipped["attacks"]
    assert cards["Unaware attacker"] == f"{attacks['fast']['built_on_undefended_judged_on_defended']:.0%}"
    for name in ("fast", "paper"):
        assert cards[f"Aware attacker, {name}"] == f"{attacks[name]['built_on_defended_judged_on_defended']:.0%}"
    assert cards["Fine-tuning instead"] == f"{shipped['finetune']['fooling_rate']:.0%}"
    assert cards["Per-image ‖r‖₂"] == f"{shipped['deepfool_median_l2']['convnet_uat']:.2f}"
    assert "shipped" in captions(app) and app.button(key="defence_stop").disabled

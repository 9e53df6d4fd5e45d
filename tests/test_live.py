"""What a live run computes in its worker thread (uap_app.live), with the real model and data, and the live
page's settings from a URL (uap_app.settings)."""

import base64
import re
import time
from xml.etree import ElementTree

import pytest

from uap_app import chart, resources
from uap_app.chart import chart_html
from uap_app.jobs import BUDGET, DONE, LEFT, STOPPED, JobService
from uap_app.live import STRIP_IMAGES, live_test, run_live, strip_html
from uap_app.settings import LiveSettings, from_query
from uap_core import data_dir, fooling_rate


def test_the_chart_puts_each_point_where_its_values_say():
    curve = ((0.0, 0.0, 0.0, 0.9), (0.5, 0.3, 0.25, 0.7), (1.0, 0.6, 0.5, 0.4), (2.0, 0.8, 0.7, 0.2))
    html = chart_html(curve, max_passes=4, target=0.75, rate="sent to Bag")
    source = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', html)
    svg = ElementTree.fromstring(base64.b64decode(source[1]))  # well-formed, or this fails
    lines = svg.findall("{*}polyline")
    assert len(lines) == 3  # train rate, test rate, test accuracy
    left, right = chart.LEFT, chart.WIDTH - chart.RIGHT
    top, bottom = chart.TOP, chart.HEIGHT - chart.BOTTOM
    for column, line in enumerate(lines, start=1):
        points = [tuple(map(float, pair.split(","))) for pair in line.get("points").split()]
        assert len(points) == len(curve)
        for (x, y), point in zip(points, curve, strict=True):
            assert x == pytest.approx(left + point[0] / 4 * (right - left), abs=0.06)
            assert y == pytest.approx(bottom - point[column] * (bottom - top), abs=0.06)
    dashed = [line for line in svg.findall("{*}line") if line.get("stroke-dasharray")]
    assert len(dashed) == 1 and float(dashed[0].get("y1")) == pytest.approx(bottom - 0.75 * (bottom - top), abs=0.06)
    texts = [text.text for text in svg.findall("{*}text")]
    assert "target 1 − δ = 75%" in texts and [str(k) for k in range(5)] == [t for t in texts if t.isdigit()]
    assert "sent to Bag, training images" in html and "sent to Bag 80% on the training images" in source[2]


def test_the_chart_leaves_out_training_rates_that_were_not_measured():
    curve = ((0.0, 0.0, 0.0, 0.9), (0.25, 0.3, 0.2, 0.8), (0.5, None, 0.3, 0.7), (0.75, None, 0.4, 0.6))
    html = chart_html(curve, max_passes=1, target=0.8)
    source = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', html)
    svg = ElementTree.fromstring(base64.b64decode(source[1]))
    train, test, _ = (line.get("points").split() for line in svg.findall("{*}polyline"))
    assert len(train) == 2 and len(test) == 4  # fast measures the training rate once per pass
    assert "fooling rate 30% on the training images and 40% on the test images" in source[2]  # the latest measured


def wait(job, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while job.active:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_live_run_publishes_the_chart_and_the_strip_until_its_result():
    service = JobService(places=1, keep=1, watcher_timeout=1e6)
    try:
        job = service.request(LiveSettings(n_train=50, max_passes=1, seed=3), "alice", run_live, 600)
        wait(job)
        assert job.state == DONE, job.error
        view = job.snapshot
        assert view.result.finished and view.fraction == pytest.approx(1.0) and job.fraction == pytest.approx(1.0)
        assert len(view.curve) == job.version  # one curve point per published snapshot, the start included
        assert len(view.strip) == STRIP_IMAGES and all(
            image.clean_png.startswith("data:image/png") for image in view.strip
        )
        fooled_shown = sum(image.fooled for image in view.strip)
        assert f"<b>{fooled_shown} of {STRIP_IMAGES}</b>" in strip_html(view.strip)
        # The views are drawn by a second thread: still one per report, in order, each from its own v.
        train_rates = [point[1] for point in view.curve]
        assert train_rates == [0.0] + [record.fooling_rate for record in view.result.history]
        live = live_test(view.settings.model, str(data_dir()))
        net = resources.model(view.settings.model)
        assert view.curve[-1][2] == fooling_rate(net, live.images.images, view.result.current, live.clean)
        # The chart published is the chart of that curve: one point per report on each of its three lines.
        source = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', view.chart_html)
        lines = ElementTree.fromstring(base64.b64decode(source[1])).findall("{*}polyline")
        assert [len(line.get("points").split()) for line in lines][1:] == [len(view.curve)] * 2  # test rate, accuracy
        assert f"{view.curve[-1][2]:.0%} on the test images" in source[2]
    finally:
        service.close()


def test_a_stopped_live_run_ends_before_its_end_and_keeps_its_best_so_far():
    service = JobService(places=1, keep=1, watcher_timeout=1e6)
    try:
        job = service.request(LiveSettings(n_train=2000, max_passes=10, seed=4), "alice", run_live, 600)
        while job.version < 2:  # the start, then the first progress report
            time.sleep(0.02)
        service.leave(job, "alice")
        wait(job, timeout=30)
        assert job.state == STOPPED and job.reason == LEFT
        assert not job.snapshot.result.finished and job.snapshot.result.perturbation.abs().max() > 0
    finally:
        service.close()


def test_a_live_run_that_spends_its_budget_ends_with_its_best_so_far_and_is_kept():
    service = JobService(places=1, keep=1, watcher_timeout=1e6)
    try:
        settings = LiveSettings(n_train=2000, max_passes=10, delta=0.05, seed=5)  # about 16 s, reports every 0.4 s
        job = service.request(settings, "alice", run_live, budget_s=2.0)
        wait(job, timeout=30)
        assert job.state == STOPPED and job.reason == BUDGET and job.kept
        assert 2.0 <= job.compute_s < 3.0  # the budget, and the one inner step in progress when it ran out
        result = job.snapshot.result
        assert result is not None and not result.finished and result.perturbation.abs().max() > 0
        assert service.request(settings, "bob", run_live, budget_s=2.0) is job  # served as it is
    finally:
        service.close()


@pytest.mark.parametrize(
    ("query", "name", "default"),
    [
        ({"xi": "abc"}, "xi", "0.2"),
        ({"norm": "2", "xi": "0.2"}, "xi", "4"),  # in range for ℓ∞, not for ℓ2
        ({"seed": "-3"}, "seed", "0"),
        ({"seed": "1.5"}, "seed", "0"),
        ({"n_train": "123"}, "n_train", "500"),
        ({"max_passes": "1e9"}, "max_passes", "5"),
        ({"delta": "nan"}, "delta", "0.2"),
        ({"model": "resnet"}, "model", "convnet"),
        ({"algorithm": ""}, "algorithm", "fast"),
        ({"norm": "7"}, "norm", "inf"),
        ({"target": "Banana"}, "target", "none"),
    ],
)
def test_a_malformed_url_value_falls_back_to_its_default_with_a_notice_naming_it(query, name, default):
    settings, notices = from_query(query)
    assert len(notices) == 1 and f"`{name}={query[name]}`" in notices[0] and f"{name} must be" in notices[0]
    assert notices[0].endswith(f"using the default, {name} = {default}.")
    assert settings.to_query().get(name, "none") == default  # what the page writes back (untargeted: left out)


def test_settings_from_a_url_and_back():
    settings, notices = from_query({"norm": "2", "xi": "3", "seed": "7", "unknown": "x"})
    assert not notices and settings == LiveSettings(norm="2", xi=3.0, seed=7)
    assert from_query(settings.to_query()) == (settings, [])
    assert settings.algorithm_options() == {
        "algorithm": "fast",
        "norm": "2",
        "xi": 3.0,
        "delta": 0.2,
        "max_passes": 5,
        "seed": 7,
        "target": None,
    }
    targeted, notices = from_query({"target": "sneaker"})
    assert not notices and targeted.target_name == "Sneaker" and targeted.algorithm_options()["target"] == "Sneaker"
    assert targeted.to_query()["target"] == "Sneaker" and "target" not in settings.to_query()

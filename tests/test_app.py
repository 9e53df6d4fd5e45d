"""The web app under Streamlit's AppTest: every page renders, a small run yields the metric cards,
and a missing data set gives the friendly message instead of a traceback."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120  # seconds per script run: loading torch and the data on a busy 2-core machine is slow
FINDINGS = ("sample_size", "random_noise", "dominant_labels", "diversity", "transfer", "geometry", "finetune")
PAGES = ("app_pages/home.py", "app_pages/attack.py", *(f"app_pages/{name}.py" for name in FINDINGS))


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if page != PAGES[0]:
        app.switch_page(page).run()
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


def test_findings_page_recomputes_live():
    app = open_page("app_pages/transfer.py")
    app.button(key="finding_transfer_run").click().run()
    assert not app.exception and not app.warning
    captions = " ".join(caption.value for caption in app.caption)
    assert "computed live in this session" in captions and "200 training images per UAP" in captions
    app.button(key="finding_transfer_reset").click().run()
    assert "shipped, computed by" in " ".join(caption.value for caption in app.caption)


def test_home_shows_the_shipped_perturbation():
    app = open_page("app_pages/home.py")
    fooling = app.metric[0].value
    assert fooling.endswith("%") and 30 < float(fooling.rstrip("%")) <= 100


def test_small_run_gives_metric_cards():
    app = open_page("app_pages/attack.py")
    app.select_slider(key="n_train").set_value(50)
    app.slider(key="max_passes").set_value(1)
    app.button(key="run").click().run()
    assert not app.exception
    cards = {metric.label: metric.value for metric in app.metric}
    assert len(cards) == 5
    fooling = float(cards["Fooling rate (test images)"].rstrip("%")) / 100
    assert 0 <= fooling <= 1
    assert cards["‖v‖∞ = 51/255"] == "0.200"  # ξ = 0.2, the default, is used in full
    # Rescaling the found pattern re-evaluates it without a new search.
    rescale = next(slider for slider in app.slider if slider.label.startswith("Rescale the found pattern"))
    rescale.set_value(0.1).run()
    assert not app.exception
    rescaled = {metric.label: metric.value for metric in app.metric}
    assert next(value for label, value in rescaled.items() if label.startswith("‖v‖∞")) == "0.100"
    rescale.set_value(0.2).run()
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
        assert not app.metric, page


def test_busy_server_asks_to_wait():
    import ui

    slots = ui._run_slots()
    taken = [slots.acquire(blocking=False) for _ in range(ui.MAX_HEAVY_RUNS)]
    try:
        app = open_page("app_pages/attack.py")
        app.button(key="run").click().run()
        assert not app.exception
        assert any(ui.BUSY_MESSAGE in warning.value for warning in app.warning)
        assert not app.metric
    finally:
        for ok in taken:
            if ok:
                slots.release()
    assert all(taken)

"""The job service seen from real browsers: runs take turns, so a default run finishes while the heaviest run the live
page offers is in flight, a run that spends its compute budget ends with its best perturbation and says why, and the
defence page attacks both models side by side.

One server with a small budget (``UAP_JOB_BUDGET_S``) so that the heaviest run reaches it within the test.
"""

import time

import pytest
from playwright.sync_api import expect
from support.browser import (
    OUTPUT,
    RUN_TIMEOUT_MS,
    chromium,
    new_session,
    open_live,
    require_chromium,
    screenshot,
    streamlit_server,
    wait_for_app,
)

BUDGET_S = 20  # long enough for a default run to finish beside the heavy one, short enough to wait for
HEAVIEST = "algorithm=paper&n_train=8000&max_passes=10&delta=0.05"  # the page's maxima and its smallest δ
METRICS = '[data-testid="stMetric"]'
PROGRESS = '[data-testid="stProgress"]'
LEAD_S = 3.0  # the heavy run's head start, as in the lecture hall's heavy scenario


@pytest.fixture(scope="module")
def app_url():
    require_chromium()
    with streamlit_server(env={"UAP_JOB_BUDGET_S": str(BUDGET_S)}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def start(page, url: str, query: str) -> float:
    open_live(page, url, query)
    page.locator(".st-key-run button").click()
    return time.monotonic()


def test_a_default_run_finishes_while_the_heaviest_run_is_in_flight(app_url, browser):
    student, lecturer = new_session(browser, 1280, 720), new_session(browser, 1280, 720)
    open_live(lecturer, app_url, "seed=42")
    heavy_clicked = start(student, app_url, f"{HEAVIEST}&seed=41")
    expect(student.locator(PROGRESS)).to_contain_text("watching this run", timeout=30_000)
    time.sleep(max(heavy_clicked + LEAD_S - time.monotonic(), 0))
    lecturer.locator(".st-key-run button").click()
    clicked = time.monotonic()
    # Taking turns: both pages say so while both runs compute.
    expect(lecturer.locator(PROGRESS)).to_contain_text("taking turns with 1 other run", timeout=30_000)
    OUTPUT.mkdir(exist_ok=True)
    lecturer.screenshot(path=str(OUTPUT / "turns_1280x720.png"))
    expect(lecturer.locator(METRICS)).to_have_count(5, timeout=RUN_TIMEOUT_MS)
    waited = time.monotonic() - clicked
    print(f"the default run's result came {waited:.1f} s after Run, beside the heaviest run")
    # The heavy run is still in flight: without turns it would have computed its whole budget first.
    assert student.locator(METRICS).count() == 0
    expect(student.locator(PROGRESS)).to_be_visible()
    assert student.get_by_text("compute budget").count() == 0
    expect(lecturer.get_by_text("Used all 5 passes").or_(lecturer.get_by_text("Target reached"))).to_be_visible()
    for page in (student, lecturer):
        page.context.close()


def test_a_run_that_spends_its_budget_shows_its_best_and_says_why(app_url, browser):
    page = new_session(browser, 1280, 720)
    start(page, app_url, f"{HEAVIEST}&seed=43")
    message = f"Stopped at the compute budget of {BUDGET_S} s: this is the best perturbation measured so far."
    expect(page.get_by_text(message)).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.locator(METRICS)).to_have_count(5, timeout=RUN_TIMEOUT_MS)
    wait_for_app(page)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "budget_1280x720.png"))
    page.context.close()


def test_the_defence_page_attacks_both_models_side_by_side_through_the_job_service(app_url, browser):
    page = new_session(browser, 1280, 720)
    page.goto(f"{app_url}/defence")
    wait_for_app(page)
    # It opens on the shipped numbers: six cards on the first screen, nothing computing.
    expect(page.locator(METRICS)).to_have_count(6)
    assert all(card.is_visible() for card in page.locator(METRICS).all())
    assert page.locator(METRICS).first.bounding_box()["y"] < 720
    assert page.locator(PROGRESS).count() == 0
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "defence_1280x720.png"))
    page.locator(".st-key-defence_run button").click()
    # Both runs report progress side by side, each with its own fooling-rate chart and strip.
    expect(page.locator(PROGRESS)).to_have_count(2, timeout=60_000)
    expect(page.locator(".uap-chart img")).to_have_count(2)
    expect(page.locator(".uap-strip")).to_have_count(2)
    page.locator(".uap-strip").first.scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / "defence_live_1280x720.png"))
    # Both results, judged on all test images, and the undefended model's perturbation on the defended one.
    expect(page.get_by_text("The attacker who does not know: the perturbation built against")).to_be_visible(
        timeout=RUN_TIMEOUT_MS
    )
    expect(page.locator(METRICS)).to_have_count(6 + 2 * 3)
    assert page.locator(PROGRESS).count() == 0
    screenshot(page, "defence_result_1280x720")
    page.context.close()

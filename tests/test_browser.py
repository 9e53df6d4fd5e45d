"""The web app in a real browser: Debian's Chromium driven by Playwright against `streamlit run app.py`.

Screenshots go to test-output/ (one per page; :func:`screenshot` is meant to be reused for new pages), and
the live page at a projector's 1280 x 720 and at 1920 x 1080 as the screen shows it during a run.
Several sessions are separate browser contexts (separate cookies and Streamlit sessions), as students are.
"""

import time

import pytest
from playwright.sync_api import Page, expect
from support.browser import (
    OUTPUT,
    RUN_TIMEOUT_MS,
    chromium,
    new_session,
    open_live,
    screenshot,
    start_slow_run,
    streamlit_server,
    wait_for_app,
)


@pytest.fixture(scope="module")
def app_url():
    """One server shared by the tests of this module, with one job in flight at a time, so that a second run queues
    (the queue's tests; turn-taking is tested in test_browser_jobs.py)."""
    with streamlit_server(env={"UAP_JOB_PLACES": "1"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """One Chromium shared by the tests of this module."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def page(browser):
    """A Chromium page sized like a large screen (1600 x 1000), shared by the page-by-page tests."""
    return new_session(browser)


def set_slider_to_minimum(page: Page, label: str) -> None:
    """Move the Streamlit slider whose label contains ``label`` to its smallest value with the keyboard."""
    slider = page.locator('[data-testid="stSlider"]', has_text=label).get_by_role("slider")
    slider.focus()
    slider.press("Home")


def test_home_page(app_url, page):
    page.goto(app_url)
    wait_for_app(page)
    expect(page.locator("h1")).to_contain_text("fools a classifier")
    # the shipped pattern, then eight test images before and after
    expect(page.locator('[data-testid="stImage"]')).to_have_count(17, timeout=RUN_TIMEOUT_MS)
    screenshot(page, "home")


def test_attack_page_run(app_url, page):
    page.goto(f"{app_url}/attack")
    wait_for_app(page)
    set_slider_to_minimum(page, "Training images")
    set_slider_to_minimum(page, "Passes at most")
    # The page writes its settings to the address once its script has seen them: Run only after both arrived
    # (a slider moved while the first rerun was still starting was once not yet in the run's settings).
    page.wait_for_function("() => location.search.includes('n_train=50') && location.search.includes('max_passes=1')")
    wait_for_app(page)
    page.locator(".st-key-run button").click()
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(5, timeout=RUN_TIMEOUT_MS)
    wait_for_app(page)
    expect(page.locator(".uap-chart img")).to_have_count(1)  # the live chart, once (no stale copy left)
    expect(page.locator(".uap-chart img")).to_be_visible()
    expect(page.locator(".js-plotly-plot")).to_have_count(2)  # perturbation, class flow
    expect(page.locator('[data-testid="stImage"]')).to_have_count(24, timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text("Used all 1 pass")).to_be_visible()
    screenshot(page, "attack")


@pytest.mark.parametrize(
    "name", ["sample_size", "random_noise", "dominant_labels", "diversity", "transfer", "geometry", "finetune"]
)
def test_findings_page(app_url, page, name):
    page.goto(f"{app_url}/{name}")
    wait_for_app(page)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(page.get_by_text("What this model shows")).to_be_visible()
    expect(page.get_by_text("Recompute it live")).to_be_visible()
    screenshot(page, name)


def test_deep_link_on_a_fresh_server_goes_through_the_router(page):
    """The first visitor of a just-started server opens the attack page's link directly: the router's
    menu and wide layout must still be there (a folder named pages/ would make Streamlit bypass app.py)."""
    with streamlit_server() as url:
        page.goto(f"{url}/attack")
        wait_for_app(page)
        expect(page.locator("h1")).to_contain_text("Build a universal perturbation")
        navigation = page.locator('[data-testid="stTopNav"]')
        expect(navigation).to_contain_text("Demo")
        expect(navigation).to_contain_text("Findings of the paper")
        expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)
        width = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()["width"]
        assert width > 1000, f"main column is {width} px wide: the page did not get the wide layout"


# ---------------------------------------------------------------- the live page in a lecture hall


def inside_viewport(page: Page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    viewport = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"] + 1


# Algorithm 1 on 1,000 images: minutes, with its progress reports about 4 s apart, longer than a page's 2 s between
# looks: a page must draw a report that comes while it waits, not only one that was already there.
SLOW_PAPER = "algorithm=paper&n_train=1000&max_passes=10"


def test_live_chart_and_strip_on_one_projector_screen(app_url, browser):
    page = new_session(browser, 1280, 720)
    start_slow_run(page, app_url, seed=11)
    expect(page.locator(".uap-strip figure")).to_have_count(16)  # 8 test images, before and after
    OUTPUT.mkdir(exist_ok=True)
    for width, height in ((1280, 720), (1920, 1080)):  # a projector, then a large screen, during the same run
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(500)
        page.screenshot(path=str(OUTPUT / f"live_{width}x{height}.png"))  # what the screen shows, no scrolling
        for selector in (".uap-chart", ".uap-strip", ".st-key-run button", ".st-key-stop button"):
            assert inside_viewport(page, selector), f"{selector} is not on the first screen at {width}x{height}"
    # Stop keeps the best perturbation measured so far, and the results are drawn from it.
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("showing the best perturbation measured so far")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(5, timeout=RUN_TIMEOUT_MS)
    wait_for_app(page)
    screenshot(page, "attack_stopped")
    page.context.close()


def test_sessions_join_the_run_in_flight_and_each_sees_it_progress(app_url, browser):
    pages = [new_session(browser) for _ in range(3)]
    start_slow_run(pages[0], app_url, seed=12, query=SLOW_PAPER)
    for page in pages[1:]:
        open_live(page, app_url, f"{SLOW_PAPER}&seed=12")
        page.locator(".st-key-run button").click()
    for page in pages:  # one run, three watchers, the same chart
        expect(page.get_by_text("3 visitors watching")).to_be_visible(timeout=30_000)
    # The third joined a crowd, so it looks less often, but every look still draws what it waited for: its
    # progress line moves on from one report to the next.
    progress = pages[2].locator('[data-testid="stProgress"]')
    expect(progress).to_contain_text("pass", timeout=15_000)
    shown = progress.inner_text()
    expect(progress).not_to_have_text(shown, timeout=20_000)
    expect(progress).to_contain_text("pass")
    pages[0].get_by_role("button", name="Stop").click()
    for page in pages[1:]:
        expect(page.get_by_text("2 visitors watching")).to_be_visible(timeout=30_000)  # it goes on for the others
    for page in pages[1:]:
        page.get_by_role("button", name="Stop").click()
    for page in pages:
        page.context.close()


def queue_behind_a_slow_run(browser, url: str, seed: int) -> tuple[Page, Page]:
    """Two sessions: the first watches a slow run (``seed``), the second's run (``seed + 1``) waits behind it."""
    first, second = new_session(browser), new_session(browser)
    start_slow_run(first, url, seed=seed)
    # Long enough (a few seconds) that one of its page's looks, 2 s apart, falls while it computes.
    open_live(second, url, f"n_train=1000&max_passes=2&seed={seed + 1}")
    second.locator(".st-key-run button").click()
    expect(second.get_by_text("number 1 in the queue")).to_be_visible(timeout=30_000)
    return first, second


def test_the_queue_starts_a_waiting_run_by_itself_when_stop_frees_the_slot(app_url, browser):
    first, second = queue_behind_a_slow_run(browser, app_url, seed=13)
    first.get_by_role("button", name="Stop").click()
    stopped_at = time.monotonic()
    # Nobody presses anything on the second page: its run starts by itself and ends with the results.
    expect(second.locator('[data-testid="stProgress"]')).to_contain_text("watching this run", timeout=60_000)
    started = time.monotonic() - stopped_at
    expect(second.locator('[data-testid="stMetric"]')).to_have_count(5, timeout=RUN_TIMEOUT_MS)
    waited = time.monotonic() - stopped_at
    expect(second.get_by_text("Used all 2 passes")).to_be_visible()
    expect(first.get_by_text("showing the best perturbation measured so far")).to_be_visible()
    print(f"queued run started {started:.1f} s and finished {waited:.1f} s after Stop on the other page")
    for page in (first, second):
        page.context.close()


def test_closing_the_tab_frees_the_slot_for_the_queue_within_seconds(app_url, browser):
    first, second = queue_behind_a_slow_run(browser, app_url, seed=15)
    first.context.close()  # the lone watcher's tab goes: no Stop, no more looks
    closed_at = time.monotonic()
    expect(second.locator('[data-testid="stProgress"]')).to_contain_text("watching this run", timeout=60_000)
    started = time.monotonic() - closed_at
    print(f"queued run started {started:.1f} s after the other tab closed")
    # The server notices the closed session within a second; the rest is the second page's next look (every 2 s).
    # Without that, the run would go on until its watcher's heartbeats lapse (8 s).
    assert started < 6
    second.context.close()

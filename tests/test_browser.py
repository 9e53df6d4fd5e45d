"""The web app in a real browser: Debian's Chromium driven by Playwright against `streamlit run app.py`.

Screenshots go to test-output/ (one per page; :func:`screenshot` is meant to be reused for new pages).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
START_TIMEOUT_S = 120
RUN_TIMEOUT_MS = 240_000  # a small run plus evaluation on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode}: {server.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url} within {START_TIMEOUT_S} s")


@contextmanager
def streamlit_server() -> Iterator[str]:
    """`streamlit run app.py` on a free localhost port; yields its URL and stops it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
               str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def app_url():
    """One server shared by the tests of this module."""
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def page():
    """A Chromium page sized like a projector (1600 x 1000). Fails, not skips, without Debian's chromium."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's browser with `apt-get install -y chromium`"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def wait_for_app(page: Page) -> None:
    """Wait until Streamlit has finished running the page's script."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && document.querySelector('[data-testid=\"stMainBlockContainer\"] h1')",
        timeout=RUN_TIMEOUT_MS,
    )


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of the whole page as test-output/<name>.png and return its path.

    Streamlit scrolls inside its main container, not the document, so the window is made as tall
    as that content for the picture and then put back.
    """
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{name}.png"
    viewport = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], height)})
    page.wait_for_timeout(1000)  # let the charts redraw at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)
    return path


def set_slider_to_minimum(page: Page, label: str) -> None:
    """Move the Streamlit slider whose label contains ``label`` to its smallest value with the keyboard."""
    slider = page.locator('[data-testid="stSlider"]', has_text=label).get_by_role("slider")
    slider.focus()
    slider.press("Home")


def test_home_page(app_url, page):
    page.goto(app_url)
    wait_for_app(page)
    expect(page.locator("h1")).to_contain_text("fools a classifier")
    expect(page.locator('[data-testid="stImage"]')).to_have_count(16, timeout=RUN_TIMEOUT_MS)
    screenshot(page, "home")


def test_attack_page_run(app_url, page):
    page.goto(f"{app_url}/attack")
    wait_for_app(page)
    set_slider_to_minimum(page, "Training images")
    set_slider_to_minimum(page, "Maximum passes")
    wait_for_app(page)
    page.locator(".st-key-run button").click()
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(5, timeout=RUN_TIMEOUT_MS)
    wait_for_app(page)
    expect(page.locator(".js-plotly-plot")).to_have_count(3)  # live chart, perturbation, class flow
    expect(page.locator('[data-testid="stImage"]')).to_have_count(24, timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text("Used all 1 pass")).to_be_visible()
    screenshot(page, "attack")


def test_stop_keeps_the_best_perturbation_so_far(app_url, page):
    page.goto(f"{app_url}/attack")
    wait_for_app(page)
    page.get_by_text("paper (Algorithm 1").click()  # the slow algorithm, so there is time to stop it
    wait_for_app(page)
    page.locator(".st-key-run button").click()
    expect(page.locator('[data-testid="stProgress"]')).to_contain_text("pass 1 of 5", timeout=RUN_TIMEOUT_MS)
    page.get_by_role("button", name="Stop").first.click()
    expect(page.get_by_text("showing the best perturbation found so far")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(5, timeout=RUN_TIMEOUT_MS)
    wait_for_app(page)
    screenshot(page, "attack_stopped")
    page.get_by_text("fast (batched gradient steps)").click()  # back to the default for the other tests
    wait_for_app(page)


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
        navigation = page.locator('[data-testid="stSidebarNav"]')
        expect(navigation).to_contain_text("Build one, live")
        expect(navigation).to_contain_text("What is a universal perturbation?")
        width = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()["width"]
        assert width > 1000, f"main column is {width} px wide: the page did not get the wide layout"

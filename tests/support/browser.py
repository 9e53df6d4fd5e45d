"""The web app served by `streamlit run app.py` on a free localhost port, and Debian's Chromium driven by Playwright
to look at it: what the browser tests share."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_PACKAGE = "chromium"  # Debian's package, and the command it installs
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUTPUT = ROOT / "test-output"  # the browser tests' screenshots
START_TIMEOUT_S = 120
RUN_TIMEOUT_MS = 240_000  # a small run plus evaluation on a busy 2-core machine
SLOW = "n_train=8000&max_passes=10"  # about a minute on 2 cores: time to look at a run in flight
FIRST_REPORT = "pass 1 of 10"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running `streamlit run app.py`: its process, its URL, and the file its stdout and stderr go to (a file, not
    a pipe: a pipe nobody reads would stall a talkative server)."""

    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.process.returncode}: {server.output()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {server.url} within {START_TIMEOUT_S} s")


@contextmanager
def streamlit_process(python: str = sys.executable, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`streamlit run app.py` run by ``python`` on a free localhost port, serving once this yields; stopped (if it
    still runs) after. ``env``: environment variables to set for the server, beyond this process's own."""
    port = free_port()
    command = [python, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
               str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="uap-server-") as folder:
        log = Path(folder) / "server.log"
        with log.open("w") as sink:
            process = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=sink, stderr=subprocess.STDOUT
            )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        try:
            wait_until_serving(server)
            yield server
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def streamlit_server(env: dict[str, str] | None = None) -> Iterator[str]:
    """`streamlit run app.py` on a free localhost port (``env``: variables to set for it); yields its URL and stops it
    afterwards."""
    with streamlit_process(env=env) as server:
        yield server.url


def chromium_path() -> str | None:
    """Debian's Chromium, if it is installed."""
    return shutil.which(CHROMIUM_PACKAGE)


def require_chromium() -> None:
    """Skip the calling test without Debian's Chromium, except in CI (the environment variable CI set), where a
    browser test that cannot run fails."""
    if chromium_path() is None:
        message = f"Debian's Chromium is missing: install it with `apt-get install -y {CHROMIUM_PACKAGE}`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright. Fails, not skips, without it."""
    path = chromium_path()
    assert path, f"Debian's Chromium is missing: install it with `apt-get install -y {CHROMIUM_PACKAGE}`"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_session(browser: Browser, width: int = 1600, height: int = 1000) -> Page:
    """A page in a fresh browser context: a visitor of its own."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(60_000)
    return page


def wait_for_app(page: Page) -> None:
    """Wait until Streamlit has finished running the page's script."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && document.querySelector('[data-testid=\"stMainBlockContainer\"] h1')",
        timeout=RUN_TIMEOUT_MS,
    )


def open_live(page: Page, url: str, query: str) -> None:
    """The live page with the settings of ``query`` (its bookmarkable address)."""
    page.goto(f"{url}/attack?{query}")
    wait_for_app(page)


def start_slow_run(page: Page, url: str, seed: int, query: str = SLOW) -> None:
    """Press Run on a run long enough to look at, and wait for its first progress report."""
    open_live(page, url, f"{query}&seed={seed}")
    page.locator(".st-key-run button").click()
    expect(page.locator('[data-testid="stProgress"]')).to_contain_text(FIRST_REPORT, timeout=RUN_TIMEOUT_MS)


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

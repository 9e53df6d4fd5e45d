"""The web app under Streamlit's AppTest, in the test process: what the app-tier tests share."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 120  # seconds per script run: loading torch and the data on a busy 2-core machine is slow
HOME = "app_pages/home.py"


def open_page(page: str = HOME, query: dict[str, str] | None = None) -> AppTest:
    """A fresh session of the app showing ``page``, with ``query`` as its URL parameters, after its first run."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params.update(query or {})
    if page != HOME:
        app.switch_page(page)
    return app.run()

"""Environment variables the web app reads, each checked with a message naming the variable. No Streamlit and no
torch here: the router checks them before torch is loaded."""

from __future__ import annotations

import os

THREADS_ENV = "UAP_TORCH_THREADS"
SERVER_THREADS = 1  # torch threads per computation in the server: docs/design/threads.md


def env_int(variable: str, low: int = 1) -> int | None:
    """The whole number >= ``low`` in environment variable ``variable``; None when it is unset or empty."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise ValueError(f"environment variable {variable} must be a whole number >= {low}, got {text!r}")
    return value


def torch_threads() -> tuple[int, str | None]:
    """torch's threads per process (``UAP_TORCH_THREADS``; unset: :data:`SERVER_THREADS`), and the problem as a
    sentence when the setting is malformed."""
    try:
        return env_int(THREADS_ENV) or SERVER_THREADS, None
    except ValueError as error:
        return SERVER_THREADS, f"{error}; using {SERVER_THREADS} thread instead"

"""Environment variables the web app reads, each checked with a message naming the variable."""

from __future__ import annotations

import os


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

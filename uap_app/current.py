"""The perturbation the photo page tries: the visitor's last run on the live page, else the shipped one. No Streamlit
here: the session's state comes as a mapping.

Contract with the live page (:mod:`uap_app.live_controller`): after a run ends or is stopped, the session state holds
``state[LATEST_KEY] = {"perturbation": tensor (C, H, W), "p": float, "model": str, "description": str}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from uap_core.files import load_perturbation

from .shipped import SHIPPED_PERTURBATION

LATEST_KEY = "uap_latest"
SHIPPED = {
    "p": math.inf,
    "model": "convnet",
    "description": "ℓ∞ ξ = 0.2, fast algorithm, 500 training images",
    "origin": "the perturbation this project ships (the home page's)",
}


def current_perturbation(state: Mapping[str, Any]) -> dict:
    """``{"perturbation", "p", "model", "description", "origin"}`` from a session's ``state``; origin says where it
    comes from, for the page."""
    latest = state.get(LATEST_KEY)
    if latest is not None:
        return {**latest, "origin": "your last run on **Build one, live**"}
    return {**SHIPPED, "perturbation": load_perturbation(SHIPPED_PERTURBATION)}

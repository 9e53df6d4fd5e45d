"""The perturbation the photo page tries: the visitor's last run on the live page, else the shipped one.

Contract with the live page: after a run finishes or is stopped it stores ``st.session_state["uap_latest"]
= {"perturbation": tensor (C, H, W), "p": float, "model": str, "description": str}``.
"""

from __future__ import annotations

import math

import streamlit as st

from uap_core.files import load_perturbation

from .shipped import SHIPPED_PERTURBATION

LATEST_KEY = "uap_latest"
SHIPPED = {
    "p": math.inf,
    "model": "convnet",
    "description": "ℓ∞ ξ = 0.2, fast algorithm, 500 training images",
    "origin": "the perturbation this project ships (the home page's)",
}


def current_perturbation() -> dict:
    """``{"perturbation", "p", "model", "description", "origin"}``; origin says where it comes from, for the page."""
    latest = st.session_state.get(LATEST_KEY)
    if latest is not None:
        return {**latest, "origin": "your last run on **Build one, live**"}
    return {**SHIPPED, "perturbation": load_perturbation(SHIPPED_PERTURBATION)}

"""What a perturbation does to the test images, drawn the same way wherever a perturbation is judged:
the pattern beside the class flow, then test images before and after.

(The live page draws the same block in its own code today; it can call :func:`effects` too.)
"""

from __future__ import annotations

import streamlit as st
import torch

import ui
from uap_core import Evaluation
from uap_core.figures import class_flow_figure, perturbation_figure

GRID_IMAGES = 12


def effects(model_name: str, v: torch.Tensor, evaluation: Evaluation, title: str) -> None:
    """The perturbation ``v`` (C, H, W) titled ``title``, its class flow from ``evaluation``, and
    ``GRID_IMAGES`` test images of varied classes with and without it on the model ``model_name``."""
    left, right = st.columns([2, 3], gap="large")
    with left:
        ui.show_figure(
            perturbation_figure(v, title, height=460),
            "Red brightens a pixel, blue darkens it, white leaves it unchanged; the colour bar is in pixel units.",
        )
    with right:
        ui.show_figure(
            class_flow_figure(evaluation.flow, title="Where each class goes"),
            "Rows: class predicted on the clean test image; columns: on the perturbed one. Off the diagonal = fooled.",
        )
    st.subheader("Test images before and after")
    test = ui.dataset("test")
    ui.prediction_rows(ui.model(model_name), test.images[ui.diverse_indices(test.labels, GRID_IMAGES)], v)

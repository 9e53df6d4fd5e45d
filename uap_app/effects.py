"""What a perturbation does to the test images, drawn the same way wherever a perturbation is judged
(the live page, the perturbation-file page): the pattern beside the class flow, then test images before and after.
"""

from __future__ import annotations

import streamlit as st
import torch

from uap_core import Evaluation
from uap_core.figures import class_flow_figure, perturbation_figure

from .cache import dataset, model
from .live import diverse_indices
from .widgets import prediction_rows, show_figure

GRID_IMAGES = 12


def effects(model_name: str, v: torch.Tensor, evaluation: Evaluation, title: str) -> None:
    """The perturbation ``v`` (C, H, W) titled ``title``, its class flow from ``evaluation``, and
    ``GRID_IMAGES`` test images of varied classes with and without it on the model ``model_name``.
    A targeted evaluation's target column is framed in the class flow."""
    left, right = st.columns([2, 3], gap="large")
    with left:
        show_figure(
            perturbation_figure(v, title, height=460),
            "Red brightens a pixel, blue darkens it, white leaves it unchanged; the colour bar is in pixel units.",
        )
    with right:
        show_figure(
            class_flow_figure(evaluation.flow, title="Where each class goes", highlight=evaluation.target_class),
            "Rows: class predicted on the clean test image; columns: on the perturbed one. Off the diagonal = fooled.",
        )
    st.subheader("Test images before and after")
    test = dataset("test")
    prediction_rows(model(model_name), test.images[diverse_indices(test.labels, GRID_IMAGES)], v)

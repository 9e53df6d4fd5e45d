"""Figures, pictures, image rows, metric cards and downloads: what the pages draw, in one style.

Pictures are enlarged without blur so the pixels stay sharp on a projector; a fooled image gets a red
frame and ✗, one that kept its label a green frame and ✓.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image, ImageOps
from torch import nn

from uap_core import CLASS_NAMES, Evaluation
from uap_core.files import perturbation_png, perturbation_to_npy
from uap_core.metrics import logits

IMAGE_PX = 112  # 28 x 28 images are enlarged 4 times, nearest neighbour, so pixels stay sharp on a projector
FOOLED_COLOUR, KEPT_COLOUR, PLAIN_COLOUR = (200, 30, 45), (40, 140, 70), (225, 228, 232)
DOWNLOAD_STYLE = {"icon": ":material/download:", "width": "stretch"}


def show_figure(fig: go.Figure, caption: str | None = None, key: str | None = None) -> None:
    """A plotly figure across the page width, with an optional caption below it."""
    # theme=None keeps the figure's own large fonts (Streamlit's theme would shrink them for a projector).
    st.plotly_chart(fig, width="stretch", theme=None, key=key, config={"displaylogo": False})
    if caption:
        st.caption(caption)


def picture(image: torch.Tensor, border: tuple[int, int, int] = PLAIN_COLOUR, size: int = IMAGE_PX) -> np.ndarray:
    """A (1, H, W) image in [0, 1] as an RGB array enlarged to ``size`` px without blur, in a coloured frame."""
    grey = (image.detach().float().mean(0).clamp(0, 1) * 255).round().byte().cpu().numpy()
    enlarged = Image.fromarray(grey).convert("RGB").resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(ImageOps.expand(enlarged, border=max(3, size // 28), fill=border))


def image_row(title: str, pictures: Sequence[np.ndarray], captions: Sequence[str]) -> None:
    """A title, then a row of pictures with a caption (markdown) under each."""
    st.markdown(f"**{title}**")
    columns = st.columns(len(pictures), gap="small")
    for column, image, caption in zip(columns, pictures, captions, strict=True):
        column.image(image, width="stretch")
        column.markdown(caption)


def prediction_rows(net: nn.Module, images: torch.Tensor, v: torch.Tensor) -> None:
    """Two rows: the clean images and the same images plus ``v``, each with the predicted label and confidence.

    A perturbed image whose label changed (fooled) gets a red frame and ✗; one that kept its label a green ✓.
    """
    clean_probs = torch.softmax(logits(net, images), 1)
    perturbed_probs = torch.softmax(logits(net, images, v), 1)
    clean_conf, clean_pred = clean_probs.max(1)
    pert_conf, pert_pred = perturbed_probs.max(1)
    fooled = (clean_pred != pert_pred).tolist()
    perturbed = (images + v).clamp(0, 1)
    image_row(
        "Original",
        [picture(x) for x in images],
        [f"{CLASS_NAMES[k]}  \n{c:.0%}" for k, c in zip(clean_pred.tolist(), clean_conf.tolist(), strict=True)],
    )
    image_row(
        "With the perturbation",
        [picture(x, FOOLED_COLOUR if f else KEPT_COLOUR) for x, f in zip(perturbed, fooled, strict=True)],
        [
            f":red[**✗ {CLASS_NAMES[k]}**]  \n{c:.0%}" if f else f":green[✓ {CLASS_NAMES[k]}]  \n{c:.0%}"
            for k, c, f in zip(pert_pred.tolist(), pert_conf.tolist(), fooled, strict=True)
        ],
    )
    st.caption(f"{sum(fooled)} of {len(fooled)} shown images are fooled (red frame, ✗): their label changed.")


def metric_cards(result: Evaluation) -> None:
    """The headline numbers of a perturbation on the test images, as a row of metric cards
    (first, for a targeted perturbation, the share of test images it sends to its target)."""
    widths = [1, 1.5, 0.8, 1.2, 1.1]  # wider where the value is longer, so nothing is cut
    if result.target_class is not None:
        cards = st.columns([1, *widths])
        cards[0].metric(
            f"Sent to {CLASS_NAMES[result.target_class]} (test images)",
            f"{result.targeted_success_rate:.1%}",
            help="Targeted success rate: of the test images not already predicted as the target class, "
            "the share that the model predicts as the target once the perturbation is added.",
        )
        cards = cards[1:]
    else:
        cards = st.columns(widths)
    cards[0].metric(
        "Fooling rate (test images)",
        f"{result.fooling_rate:.1%}",
        help="Share of test images whose predicted label changes when the perturbation is added.",
    )
    cards[1].metric(
        "Accuracy before → after",
        f"{result.clean_accuracy:.1%} → {result.perturbed_accuracy:.1%}",
        delta=f"{(result.perturbed_accuracy - result.clean_accuracy) * 100:+.1f} points",
    )
    cards[2].metric("‖v‖₂", f"{result.l2:.2f}", help="Euclidean norm of the perturbation, in pixel units.")
    cards[3].metric(
        f"‖v‖∞ = {result.linf * 255:.0f}/255", f"{result.linf:.3f}", help="Largest change of any pixel (0 to 1 scale)."
    )
    cards[4].metric(
        "Random noise, same norm",
        f"{result.random_fooling_rate:.1%}",
        help="Fooling rate of random noise with the same norm: the paper's baseline.",
    )


def perturbation_downloads(v: torch.Tensor, metrics_json: str, stem: str = "uap") -> None:
    """Download buttons: the perturbation as .npy and .png, and the metrics as .json."""
    columns = st.columns(3)
    columns[0].download_button(
        "perturbation.npy", perturbation_to_npy(v), f"{stem}.npy", "application/octet-stream", **DOWNLOAD_STYLE
    )
    columns[1].download_button("perturbation.png", perturbation_png(v), f"{stem}.png", "image/png", **DOWNLOAD_STYLE)
    columns[2].download_button(
        "metrics.json", metrics_json, f"{stem}-metrics.json", "application/json", **DOWNLOAD_STYLE
    )

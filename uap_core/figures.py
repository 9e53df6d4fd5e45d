"""Plotly figures shared by the web app and the experiments (no Streamlit here, so scripts can use them too)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from .data import CLASS_NAMES
from .files import diverging_rgb

FONT_SIZE = 16  # readable on a projector
FONT_FAMILY = "Source Sans, Source Sans Pro, Helvetica, Arial, sans-serif"  # as the Streamlit pages
TRAIN_COLOUR, TEST_COLOUR, ACCURACY_COLOUR, TARGET_COLOUR = "#b2182b", "#2166ac", "#1b7837", "#555555"


def style(fig: go.Figure, title: str | None = None, height: int = 420) -> go.Figure:
    """Common look: large fonts, white background, title on the left, legend below the plot."""
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": FONT_SIZE + 4}} if title else None,
        font={"size": FONT_SIZE, "family": FONT_FAMILY, "color": "#111111"},
        template="plotly_white",
        height=height,
        margin={"l": 10, "r": 10, "t": 60 if title else 30, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0.0},  # below the plot, clear of the title
    )
    return fig


def class_flow_figure(
    flow: torch.Tensor, class_names: Sequence[str] = CLASS_NAMES, title: str | None = None, highlight: int | None = None
) -> go.Figure:
    """Heatmap of a (K, K) count matrix: row = class predicted on the clean image, column = on the perturbed one.

    Cells show the counts; the colour is the share of the row, so a small class that is
    entirely fooled stands out as much as a large one. ``highlight``: a column to frame (a targeted run's target).
    """
    counts = flow.detach().cpu().double().numpy()
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    names = list(class_names)
    fig = go.Figure(
        go.Heatmap(
            z=shares,
            x=names,
            y=names,
            text=counts.astype(int),
            texttemplate="%{text}",
            colorscale="Reds",
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": {"text": "share of row"}, "tickformat": ".0%"},
            hovertemplate="clean: %{y}<br>perturbed: %{x}<br>%{text} images (%{z:.0%} of the row)<extra></extra>",
        )
    )
    if highlight is not None:
        fig.add_shape(type="rect", x0=highlight - 0.5, x1=highlight + 0.5, y0=-0.5, y1=len(names) - 0.5,
                      line={"color": "#111111", "width": 3})  # fmt: skip
    fig.update_xaxes(title_text="predicted on the perturbed image", tickangle=-40, side="bottom")
    fig.update_yaxes(title_text="predicted on the clean image", autorange="reversed")
    return style(fig, title, height=560)


def perturbation_figure(v: torch.Tensor, title: str | None = None, height: int = 420) -> go.Figure:
    """The perturbation as a heatmap on a diverging scale centred on zero, with a colour bar in pixel units.

    The colours match :func:`uap_core.files.diverging_rgb` (blue < 0 < red, white at 0).
    """
    values = v.detach().float().mean(0).cpu().numpy()
    scale = float(np.abs(values).max()) or 1.0
    stops = diverging_rgb(torch.linspace(-scale, scale, 11).reshape(1, 1, 11), scale)[0]
    colorscale = [[i / 10, f"rgb({r},{g},{b})"] for i, (r, g, b) in enumerate(stops)]
    fig = go.Figure(
        go.Heatmap(
            z=values,
            zmin=-scale,
            zmax=scale,
            colorscale=colorscale,
            colorbar={"title": {"text": "pixel change"}},
            hovertemplate="row %{y}, column %{x}: %{z:+.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    return style(fig, title, height=height)

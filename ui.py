"""What the web app's pages share, in one import: ``import ui`` and then ``ui.<name>``.

The code lives in :mod:`uap_app`, split by job (caches and the data guard, the live run manager,
widgets, the findings pages); this module gathers the names the pages use and holds the page-wide
style and the check of the ``UAP_TORCH_THREADS`` setting.
"""

from __future__ import annotations

import streamlit as st

from uap_app.cache import (
    data_root,
    dataset,
    evaluate_on_test,
    evaluation,
    live_runs,
    model,
    require_data,
    subset,
)
from uap_app.findings import (
    BUSY_MESSAGE,
    MAX_HEAVY_RUNS,
    ProgressCallback,
    _run_slots,
    finding_page,
    heavy_run,
    run_task,
    share,
    shipped_result,
)
from uap_app.live import diverse_indices
from uap_app.resources import apply_torch_threads
from uap_app.widgets import (
    FOOLED_COLOUR,
    IMAGE_PX,
    KEPT_COLOUR,
    PLAIN_COLOUR,
    format_size,
    image_row,
    metric_cards,
    perturbation_downloads,
    picture,
    prediction_rows,
    show_figure,
)

__all__ = [
    "BUSY_MESSAGE",
    "FOOLED_COLOUR",
    "IMAGE_PX",
    "KEPT_COLOUR",
    "MAX_HEAVY_RUNS",
    "PLAIN_COLOUR",
    "ProgressCallback",
    "_run_slots",
    "apply_style",
    "data_root",
    "dataset",
    "diverse_indices",
    "evaluate_on_test",
    "evaluation",
    "finding_page",
    "format_size",
    "heavy_run",
    "image_row",
    "live_runs",
    "metric_cards",
    "model",
    "perturbation_downloads",
    "picture",
    "prediction_rows",
    "require_data",
    "run_task",
    "share",
    "shipped_result",
    "show_figure",
    "subset",
]

# Pictures stay sharp however the browser scales them, and the page starts near the top of the screen.
STYLE = """<style>
[data-testid="stImage"] img, .uap-strip img { image-rendering: pixelated; }
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
</style>"""


def apply_style() -> None:
    """Page-wide display tweaks and setting problems; app.py calls this once per run, before the page."""
    st.html(STYLE)
    # UAP_TORCH_THREADS caps torch's threads per process (unset: torch's default, every core). A malformed
    # value is not fatal: torch keeps its default and every page says what was wrong.
    if problem := apply_torch_threads():
        st.warning(problem, icon=":material/settings_alert:")

"""What the web app's pages share, in one import: ``import ui`` and then ``ui.<name>``.

The code lives in :mod:`uap_app`, split by job (caches and the data guard, the live run manager,
widgets, the findings pages); this module gathers the names the pages use. Importing it loads torch;
app.py itself does not, so the home page's top reaches the screen first (:mod:`uap_app.page`).
"""

from __future__ import annotations

from uap_app.cache import (
    data_root,
    dataset,
    evaluate_on_test,
    evaluation,
    live_runs,
    live_watcher,
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
    share_range,
    shipped_result,
)
from uap_app.live import diverse_indices
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
    "live_watcher",
    "metric_cards",
    "model",
    "perturbation_downloads",
    "picture",
    "prediction_rows",
    "require_data",
    "run_task",
    "share",
    "share_range",
    "shipped_result",
    "show_figure",
    "subset",
]

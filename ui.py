"""What the web app's pages use of :mod:`uap_app`, in one import: ``import ui``, then ``ui.<name>``.

Every page reaches the app's code this way and no other. Each name is loaded from its module the first time a page
uses it (a module ``__getattr__``, PEP 562): the home page's top reads ``ui.SHIPPED_PICTURE`` without loading torch,
so on a freshly started server its first picture reaches the screen while torch still loads (docs/architecture.md).
Only names some page uses are here (``tests/test_layers.py`` checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_SOURCES = {
    "uap_app.shipped": ("SHIPPED_METRICS", "SHIPPED_PERTURBATION", "SHIPPED_PICTURE"),
    "uap_app.settings": (
        "ALGORITHM_TEXT", "DELTA_RANGE", "MAX_PASSES_RANGE", "NORMS", "SEED_RANGE", "TRAIN_SIZES", "UNTARGETED",
        "XI_RANGES", "format_size",
    ),
    "uap_app.cache": ("evaluation", "model", "require_data", "subset"),
    "uap_app.current": ("current_perturbation",),
    "uap_app.effects": ("effects",),
    "uap_app.findings": ("finding_page", "share", "share_range", "shipped_result"),
    "uap_app.live": ("diverse_indices", "prepare"),
    "uap_app.live_controller": ("xi_key",),
    "uap_app.live_session": ("comparison", "live_controller"),
    "uap_app.page": ("queue_notice", "quiet_looks"),
    "uap_app.widgets": (
        "FOOLED_COLOUR", "KEPT_COLOUR", "image_row", "metric_cards", "perturbation_downloads", "picture",
        "prediction_rows", "show_figure",
    ),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}
__all__ = [
    "ALGORITHM_TEXT", "DELTA_RANGE", "FOOLED_COLOUR", "KEPT_COLOUR", "MAX_PASSES_RANGE", "NORMS", "SEED_RANGE",
    "SHIPPED_METRICS", "SHIPPED_PERTURBATION", "SHIPPED_PICTURE", "TRAIN_SIZES", "UNTARGETED", "XI_RANGES",
    "comparison", "current_perturbation", "diverse_indices", "effects", "evaluation", "finding_page", "format_size",
    "image_row", "live_controller", "metric_cards", "model", "perturbation_downloads", "picture", "prediction_rows",
    "prepare", "queue_notice", "quiet_looks", "require_data", "share", "share_range", "shipped_result",
    "show_figure", "subset", "xi_key",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'ui' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what a type checker and an editor see: the same names, imported as usual
    from uap_app.cache import evaluation, model, require_data, subset
    from uap_app.current import current_perturbation
    from uap_app.effects import effects
    from uap_app.findings import finding_page, share, share_range, shipped_result
    from uap_app.live import diverse_indices, prepare
    from uap_app.live_controller import xi_key
    from uap_app.live_session import comparison, live_controller
    from uap_app.page import queue_notice, quiet_looks
    from uap_app.settings import (
        ALGORITHM_TEXT,
        DELTA_RANGE,
        MAX_PASSES_RANGE,
        NORMS,
        SEED_RANGE,
        TRAIN_SIZES,
        UNTARGETED,
        XI_RANGES,
        format_size,
    )
    from uap_app.shipped import SHIPPED_METRICS, SHIPPED_PERTURBATION, SHIPPED_PICTURE
    from uap_app.widgets import (
        FOOLED_COLOUR,
        KEPT_COLOUR,
        image_row,
        metric_cards,
        perturbation_downloads,
        picture,
        prediction_rows,
        show_figure,
    )

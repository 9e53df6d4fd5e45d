"""What the driver (:mod:`uap_core.uap`) hands an algorithm, and what the algorithm hands back at each report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .objectives import Objective
from .settings import UAPSettings
from .stats import Stats


@dataclass(frozen=True)
class Problem:
    """One run's inputs, checked by the driver: an algorithm is a function ``Problem -> Iterator[Step]``."""

    model: nn.Module
    images: torch.Tensor  # (N, C, H, W) in [0, 1]
    clean: torch.Tensor  # (N,) the model's labels on the clean images
    settings: UAPSettings
    objective: Objective
    should_stop: Callable[[], bool]  # asked before every inner step; True ends the algorithm at once
    stats: Stats

    @property
    def report_every(self) -> int:
        """Images between two reports: a ``settings.reports_per_pass``-th of a pass, rounded up."""
        return -(-len(self.images) // self.settings.reports_per_pass)


class Step(NamedTuple):
    pass_index: int  # 1-based pass over the images
    images_seen: int  # images processed in this pass so far
    v: torch.Tensor  # (C, H, W) the perturbation the algorithm holds now, inside the ξ-ball
    measure: bool  # whether the driver measures v's rate on all the images at this report

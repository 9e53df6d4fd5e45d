"""Targeted universal perturbations: the target class and the targeted success rate.

A targeted perturbation v should send images to one class k of the caller's choice:
k̂(clip(x + v)) = k. Its measure is the targeted success rate: among the images that the model
does NOT already predict as k (clean), the share predicted k under clip(x + v). Images already
predicted k are left out, since a perturbation cannot take credit for them (they are neither
successes nor failures). The search algorithms live in :mod:`uap_core.targeted_uap`.
"""

from __future__ import annotations

import operator

import torch

from .data import CLASS_NAMES


def parse_target(target: object) -> int | None:
    """The target class as an index 0-9, from an index or a class name (case-insensitive); None stays None.

    Anything else (an unknown name, an index out of range, a bool, a float...) raises a ValueError
    that names ``target``, what is expected and what came.
    """
    if target is None:
        return None
    expected = f"a class index 0-{len(CLASS_NAMES) - 1} or one of the names {', '.join(CLASS_NAMES)}"
    if isinstance(target, str):
        lowered = [name.lower() for name in CLASS_NAMES]
        key = target.strip().lower()
        if key not in lowered:
            raise ValueError(f"target must be {expected} (any case), got {target!r}")
        return lowered.index(key)
    if isinstance(target, bool):  # True is an int to Python, but never meant as class 1
        raise ValueError(f"target must be {expected}, got the bool {target!r}")
    try:
        index = operator.index(target)  # int, numpy and 0-d torch integers; floats refuse
    except TypeError:
        raise ValueError(f"target must be {expected}, got {target!r} of type {type(target).__name__}") from None
    if not 0 <= index < len(CLASS_NAMES):
        raise ValueError(f"target must be {expected}, got the index {index} (out of range)")
    return index


def targeted_success_rate(clean_labels: torch.Tensor, perturbed_labels: torch.Tensor, target: int) -> float:
    """Share of the images not predicted ``target`` when clean that are predicted ``target`` under v.

    ``clean_labels`` and ``perturbed_labels``: (N,) predictions on x and on clip(x + v). When every
    image is already predicted ``target`` there is nothing to send there and the rate is 0.
    """
    candidates = clean_labels != target
    if not candidates.any():
        return 0.0
    return (perturbed_labels[candidates] == target).float().mean().item()

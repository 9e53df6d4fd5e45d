"""Input validation: bad arguments fail here with a plain ValueError, not deep inside torch."""

from __future__ import annotations

import math

import torch


def check_xi(xi: float) -> float:
    """ξ, the perturbation's size in [0, 1] pixel units: finite and > 0."""
    try:
        value = float(xi)
    except (TypeError, ValueError):
        raise ValueError(f"xi must be a number, got {xi!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"xi must be a finite number > 0, got {xi!r}")
    return value


def check_delta(delta: float) -> float:
    """δ, where 1 - δ is the target fooling rate: strictly between 0 and 1."""
    try:
        value = float(delta)
    except (TypeError, ValueError):
        raise ValueError(f"delta must be a number, got {delta!r}") from None
    if not 0 < value < 1:
        raise ValueError(f"delta must lie strictly between 0 and 1, got {delta!r}")
    return value


def check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def check_images(images: torch.Tensor) -> torch.Tensor:
    """A non-empty float batch (N, C, H, W) of finite values in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must be shaped (N, C, H, W), got shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError("images is empty (N = 0)")
    if not images.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1], got dtype {images.dtype}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    low, high = images.min().item(), images.max().item()
    if low < 0 or high > 1:
        raise ValueError(
            f"images must lie in [0, 1] (pixel space; normalisation belongs inside the model), "
            f"got values in [{low:.3g}, {high:.3g}]"
        )
    return images


def check_perturbation(v: torch.Tensor, image_shape: tuple[int, ...]) -> torch.Tensor:
    """One finite perturbation shaped like one image (C, H, W)."""
    if not isinstance(v, torch.Tensor):
        raise ValueError(f"the perturbation must be a torch.Tensor, got {type(v).__name__}")
    if tuple(v.shape) != tuple(image_shape):
        raise ValueError(f"the perturbation must be shaped {tuple(image_shape)} like one image, got {tuple(v.shape)}")
    if not v.is_floating_point() or not torch.isfinite(v).all():
        raise ValueError("the perturbation must hold finite floating-point values")
    return v

"""Checks of values and tensors: bad arguments fail here with a plain ValueError, not deep inside torch.

Every message names the argument, the form that was expected and what came instead, e.g.
``xi must be a finite number > 0, got True (bool)``. Public entry points call these checks before
any computation (generators included: they check when called, not at the first ``next()``).

Choices made here: images must already be float32 tensors (the shipped models' dtype): a float64,
integer or NumPy batch is refused with a message saying so, rather than converted silently, since a
converted copy would not be the tensor the caller holds. Booleans are never taken for numbers.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .shapes import check_fits_model, model_dtype_device

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes seeds up to here


def describe(value: object) -> str:
    """What came, in a few words: a tensor's dtype and shape, or a short repr with its type."""
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor shaped {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a NumPy array ({value.dtype}, shape {value.shape})"
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return text if isinstance(value, str) else f"{text} ({type(value).__name__})"


def check_number(
    value: object,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number (not a bool, not a string) in the given range; returned as a float."""
    if low is None and high is None:
        expected = "a finite number"
    elif high is None:
        expected = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif low is None:
        expected = f"a finite number {'<' if high_open else '<='} {high:g}"
    else:
        expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {expected}, got {describe(value)}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or too_low or too_high:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return number


def check_int(value: object, name: str, low: int = 1, high: int | None = None) -> int:
    """A whole number (not a bool, not a float such as 2.0) from ``low`` to ``high``; returned as an int."""
    expected = f"a whole number >= {low}" if high is None else f"a whole number from {low} to {high}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {expected}, got {describe(value)}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_positive_int(value: object, name: str) -> int:
    return check_int(value, name, low=1)


def check_seed(seed: object, name: str = "seed") -> int:
    """A random seed: a whole number from 0 to 2**63 - 1."""
    return check_int(seed, name, low=0, high=MAX_SEED)


def check_xi(xi: object, name: str = "xi") -> float:
    """ξ, the perturbation's size in [0, 1] pixel units: finite and > 0."""
    return check_number(xi, name, low=0, low_open=True)


def check_delta(delta: object, name: str = "delta") -> float:
    """δ, where 1 - δ is the target fooling rate: strictly between 0 and 1."""
    return check_number(delta, name, low=0, high=1, low_open=True, high_open=True)


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {describe(value)}")
    return value


def check_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {describe(value)}")
    return value


def check_callable(value: object, name: str) -> None:
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a function or None, got {describe(value)}")


def check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        hint = " (load one with uap_core.load_model(name))" if isinstance(model, str) else ""
        raise ValueError(f"model must be a torch.nn.Module{hint}, got {describe(model)}")
    return model


def _finite_range(values: torch.Tensor) -> tuple[float, float]:
    """(min, max) in one pass; NaN shows up as a NaN min, ±inf as an infinite end."""
    low, high = torch.aminmax(values.detach().reshape(-1))
    return low.item(), high.item()


def check_images(
    images: object, model: nn.Module | None = None, name: str = "images", batched_4d: bool = True
) -> torch.Tensor:
    """A non-empty batch of float32 images in [0, 1], finite, shaped (N, C, H, W) to fit ``model``.

    ``batched_4d=False`` accepts any (N, ...) batch (DeepFool also serves flat inputs); with a model,
    the per-image shape must be one the model runs on (see :func:`check_fits_model`).
    """
    dtype, device = model_dtype_device(model)
    dtype_name = str(dtype).removeprefix("torch.")
    form = "(N, C, H, W)" if batched_4d else "(N, ...)"
    expected = f"a non-empty {dtype_name} torch.Tensor shaped {form} with finite values in [0, 1]"
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be {expected}, got {describe(images)}")
    wrong_rank = images.dim() != 4 if batched_4d else images.dim() < 2
    if wrong_rank:
        raise ValueError(f"{name} must be {expected}, got {describe(images)}")
    if images.shape[0] == 0 or images.numel() == 0:
        raise ValueError(f"{name} must be {expected}, got an empty one: {describe(images)}")
    if images.dtype != dtype:
        fix = " (convert with images.float())" if images.is_floating_point() or images.dtype == torch.uint8 else ""
        raise ValueError(f"{name} must be {expected}, got {describe(images)}{fix}")
    if device is not None and images.device != device:
        raise ValueError(f"{name} must be on the model's device {device}, got {images.device}")
    low, high = _finite_range(images)
    if math.isnan(low) or math.isnan(high):
        raise ValueError(f"{name} must be {expected}, got NaN values")
    if low < 0 or high > 1:
        raise ValueError(
            f"{name} must lie in [0, 1] (pixel space; normalisation belongs inside the model), "
            f"got values in [{low:.3g}, {high:.3g}]"
        )
    if model is not None:
        check_fits_model(model, tuple(images.shape[1:]), name)
    return images


def check_perturbation(
    v: object,
    image_shape: tuple[int, ...] | None,
    name: str = "the perturbation",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """One finite floating-point perturbation shaped like one image ``image_shape`` (C, H, W; None: any shape),
    of ``dtype`` (the images') when given."""
    kind = str(dtype).removeprefix("torch.") if dtype is not None else "floating-point"
    shape = f" shaped {tuple(image_shape)} like one image" if image_shape is not None else ""
    expected = f"a {kind} torch.Tensor{shape}, with finite values"
    if not isinstance(v, torch.Tensor):
        raise ValueError(f"{name} must be {expected}, got {describe(v)}")
    if image_shape is not None and tuple(v.shape) != tuple(image_shape):
        raise ValueError(f"{name} must be{shape} (C, H, W), got shape {tuple(v.shape)}")
    if not v.is_floating_point() or (dtype is not None and v.dtype != dtype):
        raise ValueError(f"{name} must be {expected}, got {describe(v)}")
    if v.numel() and not all(math.isfinite(end) for end in _finite_range(v)):
        raise ValueError(f"{name} must be {expected}, got NaN or infinite values")
    return v


def check_labels(labels: object, n: int, name: str = "labels") -> torch.Tensor:
    """Class indices (N,) of an integer dtype, one per image, none negative."""
    expected = f"an integer torch.Tensor shaped ({n},), one class index >= 0 per image"
    if not isinstance(labels, torch.Tensor) or labels.shape != (n,) or labels.is_floating_point():
        raise ValueError(f"{name} must be {expected}, got {describe(labels)}")
    if labels.dtype == torch.bool or labels.is_complex() or (n and labels.min().item() < 0):
        raise ValueError(f"{name} must be {expected}, got {describe(labels)} with negative or non-index values")
    return labels


def check_distinct(values: object, name: str, what: str) -> list:
    """A non-empty list (or tuple) of ``what``, no value repeated; returned as a list."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty list of {what}, got {values!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a value, got {list(values)}")
    return list(values)


def check_int_list(values: Sequence[int], name: str, low: int = 0, high: int | None = None) -> list[int]:
    """A non-empty list of distinct whole numbers in [low, high], in the order given."""
    values = check_distinct(values, name, "whole numbers")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f">= {low}"
            raise ValueError(f"every value of {name} must be a whole number {limit}, got {value!r}")
    return values


def check_xi_list(values: Sequence[float], name: str) -> list[float]:
    """Distinct sizes > 0, ascending."""
    return sorted(check_xi(value) for value in check_distinct(values, name, "sizes > 0"))


def with_changes(cls: type, record: object, changes: dict[str, object], name: str) -> object:
    """The frozen dataclass ``record`` of type ``cls`` (None: ``cls()``, the defaults) with ``changes`` made, checked
    by ``cls`` itself; a name ``cls`` does not have is refused with the names it has."""
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in changes if key not in known]
    if unknown:
        raise ValueError(f"unknown {name} {', '.join(map(repr, unknown))}; the {name}s are {', '.join(known)}")
    if record is None:
        return cls(**changes)
    if not isinstance(record, cls):
        raise ValueError(f"{name}s must be a {cls.__name__}, got {describe(record)}")
    return dataclasses.replace(record, **changes)

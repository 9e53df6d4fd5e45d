"""Input validation, in one place: bad arguments fail here with a plain ValueError, not deep inside torch.

Every message names the argument, the form that was expected and what came instead, e.g.
``xi must be a finite number > 0, got True (bool)``. Public entry points call these checks before
any computation (generators included: they check when called, not at the first ``next()``).

Choices made here: images must already be float32 tensors (the shipped models' dtype): a float64,
integer or NumPy batch is refused with a message saying so, rather than converted silently, since a
converted copy would not be the tensor the caller holds. Booleans are never taken for numbers.
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
import tempfile
import threading
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

IMAGE_SHAPE: tuple[int, ...] = (1, 28, 28)  # one Fashion-MNIST image (C, H, W): what the shipped models take
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


def check_deepfool_options(num_candidates: object, overshoot: object, max_iter: object) -> None:
    """DeepFool's options: at least 2 candidate classes, overshoot >= 0, at least one step."""
    check_int(num_candidates, "num_candidates", low=2)
    check_number(overshoot, "overshoot", low=0)
    check_int(max_iter, "max_iter", low=1)


def _finite_range(values: torch.Tensor) -> tuple[float, float]:
    """(min, max) in one pass; NaN shows up as a NaN min, ±inf as an infinite end."""
    low, high = torch.aminmax(values.detach().reshape(-1))
    return low.item(), high.item()


def _model_dtype_device(model: nn.Module | None) -> tuple[torch.dtype, torch.device | None]:
    parameter = next((p for p in model.parameters() if p.is_floating_point()), None) if model is not None else None
    return (parameter.dtype, parameter.device) if parameter is not None else (torch.float32, None)


def check_images(
    images: object, model: nn.Module | None = None, name: str = "images", batched_4d: bool = True
) -> torch.Tensor:
    """A non-empty batch of float32 images in [0, 1], finite, shaped (N, C, H, W) to fit ``model``.

    ``batched_4d=False`` accepts any (N, ...) batch (DeepFool also serves flat inputs); with a model,
    the per-image shape must be one the model runs on (see :func:`check_fits_model`).
    """
    dtype, device = _model_dtype_device(model)
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


# Per model: the shape it expects (or None) and the per-image shapes it was seen to run on. Keyed weakly
# by the model object, so a model that is dropped leaves the table; at most _MAX_SHAPES shapes per model.
_FITS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...] | None, set[tuple[int, ...]]]] = (
    weakref.WeakKeyDictionary()
)
_FITS_LOCK = threading.Lock()
_MAX_SHAPES = 8


def _runs_on(model: nn.Module, shape: tuple[int, ...]) -> str | None:
    """None when the model runs on one zero image of ``shape`` and returns (1, K) scores, else why not."""
    dtype, device = _model_dtype_device(model)
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, *shape, dtype=dtype, device=device))
    except (RuntimeError, ValueError, IndexError, TypeError) as error:
        text = str(error).strip()
        return text.splitlines()[0] if text else type(error).__name__
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        return f"the model returned {describe(out)} instead of scores shaped (1, K)"
    return None


def expected_input_shape(model: nn.Module) -> tuple[int, ...] | None:
    """The shape (C, H, W) of one image the model takes, when it can be told; None otherwise.

    A model may state it as an ``input_shape`` attribute. Otherwise the project's Fashion-MNIST shape
    (1, 28, 28), with the channels of the first convolution, is tried on the model (the shipped
    models all take it). A model in training mode is not tried (a forward pass would update its
    batch-norm statistics).
    """
    stated = getattr(model, "input_shape", None)
    if stated is not None:
        return tuple(stated)
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    guess = (conv.in_channels, *IMAGE_SHAPE[1:]) if conv is not None else IMAGE_SHAPE
    return guess if not model.training and _runs_on(model, guess) is None else None


def _strict_shape(model: nn.Module) -> tuple[int, ...] | None:
    """The one shape a model takes, for models that tell it: stated, or a convolutional model that runs
    on Fashion-MNIST images (a convolution with pooling may run on larger images too, giving nonsense)."""
    if getattr(model, "input_shape", None) is None and not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return None
    return expected_input_shape(model)


def check_fits_model(model: nn.Module, shape: tuple[int, ...], name: str = "images") -> None:
    """Refuse a per-image ``shape`` the model cannot take, saying which shape it expects.

    A model that tells its shape (see :func:`_strict_shape`) takes exactly that one; any other model
    is tried once per shape on one zero image (then remembered). A model in training mode is not
    tried: a forward pass there would update its batch-norm statistics.
    """
    if model.training:
        return
    with _FITS_LOCK:
        entry = _FITS.get(model)
    if entry is None:
        entry = (_strict_shape(model), set())
        with _FITS_LOCK:
            entry = _FITS.setdefault(model, entry)
    strict, seen = entry
    if shape == strict or shape in seen:
        return
    why = f"this model takes only {strict}" if strict is not None else _runs_on(model, shape)
    if why is not None:
        expected = strict or expected_input_shape(model)
        form = f"shaped (N, {', '.join(map(str, expected))})" if expected is not None else "of a shape it accepts"
        raise ValueError(f"{name} must be {form} for this model, got (N, {', '.join(map(str, shape))}) ({why})")
    with _FITS_LOCK:
        if len(seen) >= _MAX_SHAPES:
            seen.clear()
        seen.add(shape)


def check_output_dir(path: object, name: str = "--out") -> Path:
    """A folder that exists or can be created, and can be written to; checked before any work is done.

    Nothing is left behind: the nearest existing ancestor must be a folder where a file can be written.
    """
    if not isinstance(path, (str, os.PathLike)) or str(path).strip() == "" or "\x00" in str(path):
        raise ValueError(f"{name} must be the path of a folder, got {describe(path)}")
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name} must be a folder (existing or new), got {str(folder)!r}, which is a file")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{name} must be a folder that can be created, got {str(folder)!r}: {existing} is a file")
    try:  # a real write, since permission bits do not tell for root or read-only file systems
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"{name} must be a folder you can write to, got {str(folder)!r}: {error}") from None
    return folder


def env_int(variable: str, low: int = 1) -> int | None:
    """The whole number >= ``low`` in environment variable ``variable``; None when it is unset or empty."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise ValueError(f"environment variable {variable} must be a whole number >= {low}, got {text!r}")
    return value


def option_type(kind: type, check: Callable[[object, str], object]) -> Callable[[str], object]:
    """An argparse ``type``: parse the text as ``kind``, then ``check`` it.

    A refusal becomes an ``argparse.ArgumentTypeError`` carrying the check's own message, which
    argparse prints after the option's name (``argument --batch-size: value must be a whole number
    >= 1, got 0``) before exiting with status 2.
    """

    def convert(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            value = text  # the check refuses a string, saying what was expected
        try:
            return check(value, "value")
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = kind.__name__
    return convert


POSITIVE_INT = option_type(int, check_positive_int)
SEED = option_type(int, check_seed)
XI = option_type(float, check_xi)
DELTA = option_type(float, check_delta)
FINITE = option_type(float, check_number)
POSITIVE = option_type(float, partial(check_number, low=0, low_open=True))
NONNEGATIVE = option_type(float, partial(check_number, low=0))

"""Which image shape a model takes: stated by the model, or found by running it once on a zero image.

A forward pass per check would cost as much as the work being checked, so a model's verdicts are remembered,
keyed weakly by the model object (a model that is dropped leaves the table).
"""

from __future__ import annotations

import threading
import weakref

import torch
from torch import nn

IMAGE_SHAPE: tuple[int, ...] = (1, 28, 28)  # one Fashion-MNIST image (C, H, W): what the shipped models take


def model_dtype_device(model: nn.Module | None) -> tuple[torch.dtype, torch.device | None]:
    """The dtype and device of the model's first floating-point parameter (float32 and None without one)."""
    parameter = next((p for p in model.parameters() if p.is_floating_point()), None) if model is not None else None
    return (parameter.dtype, parameter.device) if parameter is not None else (torch.float32, None)


# Per model: the shape it expects (or None) and the per-image shapes it was seen to run on. Keyed weakly
# by the model object, so a model that is dropped leaves the table; at most _MAX_SHAPES shapes per model.
_FITS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...] | None, set[tuple[int, ...]]]] = (
    weakref.WeakKeyDictionary()
)
_FITS_LOCK = threading.Lock()
_MAX_SHAPES = 8


def _runs_on(model: nn.Module, shape: tuple[int, ...]) -> str | None:
    """None when the model runs on one zero image of ``shape`` and returns (1, K) scores, else why not."""
    dtype, device = model_dtype_device(model)
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, *shape, dtype=dtype, device=device))
    except (RuntimeError, ValueError, IndexError, TypeError) as error:
        text = str(error).strip()
        return text.splitlines()[0] if text else type(error).__name__
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return f"the model returned {shape} instead of scores shaped (1, K)"
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

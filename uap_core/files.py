"""Perturbations as files and pictures: .npy in and out (validated), PNG renderings.

A perturbation file may come from anyone (an upload in the web app), so reading one checks
its size, type, shape and values before anything uses it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checks import check_perturbation

MAX_NPY_BYTES = 1 << 20  # 1 MiB: a 28x28 float32 perturbation is about 3 KiB


def perturbation_to_npy(v: torch.Tensor) -> bytes:
    """The perturbation (C, H, W) as the bytes of a float32 .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, v.detach().cpu().numpy().astype(np.float32), allow_pickle=False)
    return buffer.getvalue()


def perturbation_from_npy(data: bytes, image_shape: tuple[int, ...] = (1, 28, 28)) -> torch.Tensor:
    """Read a perturbation from .npy bytes, refusing anything that is not finite floats shaped ``image_shape``."""
    if len(data) > MAX_NPY_BYTES:
        raise ValueError(f"the perturbation file is {len(data):,} bytes; at most {MAX_NPY_BYTES:,} are accepted")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"not a valid .npy file: {error}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise ValueError("the .npy file must hold an array of floating-point numbers")
    return check_perturbation(torch.from_numpy(array.astype(np.float32)), image_shape)


def load_perturbation(path: str | Path, image_shape: tuple[int, ...] = (1, 28, 28)) -> torch.Tensor:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no perturbation file at {path}")
    if path.stat().st_size > MAX_NPY_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size:,} bytes; at most {MAX_NPY_BYTES:,} are accepted")
    return perturbation_from_npy(path.read_bytes(), image_shape)


def diverging_rgb(v: torch.Tensor, scale: float | None = None) -> np.ndarray:
    """A (C, H, W) perturbation as an (H, W, 3) uint8 picture: blue < 0 < red, white at 0.

    Channels are averaged; ``scale`` is the value drawn at full colour (default: the largest |v|).
    """
    values = v.detach().float().mean(0).cpu().numpy()
    scale = scale or float(np.abs(values).max()) or 1.0
    t = np.clip(values / scale, -1.0, 1.0)[..., None]
    white = np.array([1.0, 1.0, 1.0])
    red, blue = np.array([0.70, 0.09, 0.17]), np.array([0.13, 0.40, 0.67])
    rgb = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
    return (rgb * 255).round().astype(np.uint8)


def perturbation_png(v: torch.Tensor, upscale: int = 10, scale: float | None = None) -> bytes:
    """PNG bytes of :func:`diverging_rgb`, enlarged ``upscale`` times with nearest-neighbour (no blur)."""
    image = Image.fromarray(diverging_rgb(v, scale))
    image = image.resize((image.width * upscale, image.height * upscale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()

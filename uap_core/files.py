"""Perturbations as files and pictures: .npy in and out (validated), PNG renderings.

A perturbation file may come from anyone (an upload in the web app), so reading one checks
its size, type, shape and values before anything uses it.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checks import check_int, check_number, check_perturbation, describe
from .shapes import IMAGE_SHAPE

MAX_NPY_BYTES = 1 << 20  # 1 MiB: a 28x28 float32 perturbation is about 3 KiB
MAX_UPSCALE = 32  # a 28x28 picture enlarged 32 times is 896x896 pixels: pictures stay small


def perturbation_to_npy(v: torch.Tensor) -> bytes:
    """The perturbation (C, H, W) as the bytes of a float32 .npy file."""
    check_perturbation(v, None, "v")
    buffer = io.BytesIO()
    np.save(buffer, v.detach().cpu().numpy().astype(np.float32), allow_pickle=False)
    return buffer.getvalue()


def perturbation_from_npy(data: bytes, image_shape: tuple[int, ...] = IMAGE_SHAPE) -> torch.Tensor:
    """Read a perturbation from .npy bytes, refusing anything that is not finite floats shaped ``image_shape``.

    The header is read and checked first (version, dtype, shape, and that the data that follows has
    exactly the size the header claims), so a small file that claims a huge array is refused before
    anything is allocated; object arrays (pickles) are never loaded.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"the perturbation file must be given as bytes, got {describe(data)}")
    shape = tuple(check_int(side, "image_shape", low=1) for side in image_shape)
    if len(data) > MAX_NPY_BYTES:
        raise ValueError(f"the perturbation file is {len(data):,} bytes; at most {MAX_NPY_BYTES:,} are accepted")
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]} (1.0 and 2.0 are read)")
    except (ValueError, OSError, EOFError, SyntaxError) as error:
        raise ValueError(f"not a valid .npy file: {error}") from None
    found, fortran_order, dtype = header
    if dtype.hasobject:
        raise ValueError("the .npy file holds Python objects (a pickle), which is never loaded; save floats instead")
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        raise ValueError(f"the .npy file must hold floating-point numbers (float16/32/64), got dtype {dtype}")
    if tuple(found) != shape:
        raise ValueError(f"the perturbation must be shaped {shape} like one image (C, H, W), got {tuple(found)}")
    expected_bytes = math.prod(shape) * dtype.itemsize
    if len(data) - stream.tell() != expected_bytes:
        raise ValueError(
            f"the .npy file's data is {len(data) - stream.tell():,} bytes where its header announces {expected_bytes:,}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=stream.tell()).reshape(shape, order="F" if fortran_order else "C")
    return check_perturbation(torch.from_numpy(array.astype(np.float32)), shape)


def load_perturbation(path: str | Path, image_shape: tuple[int, ...] = IMAGE_SHAPE) -> torch.Tensor:
    """:func:`perturbation_from_npy` of a file, whose size is checked before it is read."""
    if not isinstance(path, (str, os.PathLike)) or "\x00" in str(path):
        raise ValueError(f"path must be a file path, got {describe(path)}")
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
    if check_perturbation(v, None, "v").dim() != 3:
        raise ValueError(f"v must be one perturbation shaped (C, H, W), got shape {tuple(v.shape)}")
    if scale is not None:
        check_number(scale, "scale", low=0, low_open=True)
    values = v.detach().float().mean(0).cpu().numpy()
    scale = scale or float(np.abs(values).max()) or 1.0
    t = np.clip(values / scale, -1.0, 1.0)[..., None]
    white = np.array([1.0, 1.0, 1.0])
    red, blue = np.array([0.70, 0.09, 0.17]), np.array([0.13, 0.40, 0.67])
    rgb = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
    return (rgb * 255).round().astype(np.uint8)


def perturbation_png(v: torch.Tensor, upscale: int = 10, scale: float | None = None) -> bytes:
    """PNG bytes of :func:`diverging_rgb`, enlarged ``upscale`` times with nearest-neighbour (no blur)."""
    check_int(upscale, "upscale", low=1, high=MAX_UPSCALE)
    image = Image.fromarray(diverging_rgb(v, scale))
    image = image.resize((image.width * upscale, image.height * upscale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()

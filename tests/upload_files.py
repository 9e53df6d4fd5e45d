"""Real files for the upload tests (core, AppTest and browser): photos made from test images, broken
and hostile images, good and bad perturbation files. Everything is made here, nothing is stored."""

from __future__ import annotations

import io
import pickle
import struct
import zlib

import numpy as np
import torch
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def photo_of(image: torch.Tensor, fmt: str = "PNG", canvas: tuple[int, int] = (500, 400), mode: str = "RGB") -> bytes:
    """A test image (1, 28, 28) as a "photo": dark garment on white, enlarged 10x, off-centre on a larger page."""
    grey = ((1 - image[0]).numpy() * 255).round().astype(np.uint8)
    garment = Image.fromarray(grey).resize((280, 280), Image.Resampling.BILINEAR)
    page = Image.new("L", canvas, 255)
    page.paste(garment, (40, 70))
    return encode(page.convert(mode), fmt)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int) -> bytes:
    """A complete, valid 1-bit black PNG of width x height: a few hundred KB that decode to width*height pixels.

    Written row by row through zlib, so making it never holds the image in memory.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit per pixel, grey
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then black pixels
    stream = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def pickled_npy() -> bytes:
    """A .npy of dtype object: loading it would run pickle (an object array holding a dict)."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"not": "a perturbation"}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def raw_pickle() -> bytes:
    """A plain pickle file, as someone might upload under a .npy name."""
    return pickle.dumps({"perturbation": [0.0] * 784})

"""A visitor's own photo as a Fashion-MNIST model input, each step kept so that a page can show it.

The file comes from anyone (an upload or a phone camera), so it is treated as hostile: its size in
bytes is checked first, then its format from the content (not the file name) and its pixel count
from the header, before a single pixel is decoded (a tiny PNG can claim 30,000 x 30,000 pixels and
would take gigabytes once decoded). Every refusal is a ``ValueError`` with a message for the visitor.

The steps after decoding copy how Fashion-MNIST was made (a garment, light on a black background,
its longest side filling the 28 x 28 frame): grey, cropped to a square around the object (or the
centre when no object stands out from the border), 28 x 28, inverted when the background is light
(decided from the brightness of the border), then the background level mapped to black.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from .data import CLASS_NAMES
from .metrics import logits

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # a phone photo is 2-8 MB as JPEG
MAX_PIXELS = 25_000_000  # checked from the header: a 6000 x 4000 photo passes; decoding 25 MP RGBA takes 100 MB
MIN_SIDE = 28  # smaller images are refused rather than upscaled: upscaling would invent the detail the model reads
SIDE = 28  # the model's input is (1, 28, 28)
WORK_PX = 256  # decoded images are shrunk to at most this many pixels per side before any float arithmetic
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")  # as Pillow detects them from the content
MULTI_PICTURE = "MPO"  # phone JPEGs with an embedded second picture; Pillow's JPEG reader returns this format
BORDER_SHARE = 0.05  # the border ring is this share of the shorter side (at least one pixel) wide
OBJECT_CONTRAST = 0.15  # a pixel belongs to the object when it differs from the border level by more than this
MIN_OBJECT_SHARE = 0.01  # fewer object pixels than this share of the image: no object found, crop the centre
# Pillow's decoders raise all of these on corrupt or truncated data (zlib.error for a broken PNG stream,
# SyntaxError for a broken chunk, struct.error for short headers).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error)


@dataclass(frozen=True)
class PhotoSteps:
    """Every stage from the uploaded file to the model input; pictures are for display, shapes as stated.

    ``preview`` (H, W, 3) uint8 RGB at the working size (transparency already flattened);
    ``grey`` (H, W) and ``cropped`` (S, S) floats in [0, 1] at the working size (at most ``WORK_PX``);
    ``small``, ``oriented`` and ``model_input`` (1, 28, 28) floats in [0, 1]: after resizing, after
    the inversion (if any) and after mapping the background to black; ``model_input`` goes to the model.
    """

    preview: np.ndarray
    grey: torch.Tensor
    cropped: torch.Tensor
    small: torch.Tensor
    oriented: torch.Tensor
    model_input: torch.Tensor
    format: str
    size: tuple[int, int]  # (width, height) of the file, in pixels
    border_level: float  # median brightness of the border ring of the grey image, 0 = black, 1 = white
    inverted: bool  # True when the border was light (> 0.5), so the picture was inverted
    object_found: bool  # False when nothing stood out from the border and the centre square was used
    notes: tuple[str, ...]  # what was done to the file on the way (transparency, 16-bit, CMYK...), for the visitor


@dataclass(frozen=True)
class Answer:
    """The model's answer on one image: the class, its name and its softmax probability."""

    label: int
    name: str
    confidence: float
    probabilities: torch.Tensor  # (K,)


def open_photo(
    data: bytes, max_bytes: int = MAX_PHOTO_BYTES, max_pixels: int = MAX_PIXELS
) -> tuple[Image.Image, str, tuple[int, int]]:
    """The uploaded bytes as a decoded, upright Pillow image, its format and its size in the file (width, height),
    after the checks that need no decoding.

    Raises ``ValueError`` for more than ``max_bytes`` bytes, a format other than PNG, JPEG or WebP
    (as detected from the content), more than ``max_pixels`` pixels or a side under ``MIN_SIDE``
    (both read from the header, before decoding), and a corrupt or truncated file. JPEGs are decoded
    at a reduced scale when that still gives at least ``WORK_PX`` pixels per side (less memory).
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"the photo must be the file's bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise ValueError(f"the file is {len(data):,} bytes; photos of at most {max_bytes:,} bytes are accepted")
    if not data:
        raise ValueError("the file is empty")
    with warnings.catch_warnings():
        # Pillow warns above its own limit (89 MP) and raises above twice that; both become a refusal here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError(
                f"the image claims far more than the {max_pixels:,} pixels accepted: a decompression bomb, "
                "refused before decoding"
            ) from None
        except DECODE_ERRORS:
            raise ValueError(
                "the file is not a PNG, JPEG or WebP image, or is damaged (the content was checked, not the file name)"
            ) from None
        file_format = image.format
        if file_format not in (*ALLOWED_FORMATS, MULTI_PICTURE):
            raise ValueError(f"the image format is {file_format}; PNG, JPEG or WebP are accepted")
        width, height = image.size
        if width * height > max_pixels:
            raise ValueError(
                f"the image claims {width:,} x {height:,} = {width * height:,} pixels; at most {max_pixels:,} "
                "are accepted (checked before decoding, so a small file cannot unpack into gigabytes)"
            )
        if min(width, height) < MIN_SIDE:
            raise ValueError(
                f"the image is {width} x {height} pixels; both sides must be at least {MIN_SIDE} pixels "
                "(small images are refused, not enlarged)"
            )
        image.draft(None, (WORK_PX, WORK_PX))  # JPEG only: decode at 1/2, 1/4 or 1/8 scale when that suffices
        try:
            image.load()
            image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
        except DECODE_ERRORS as error:
            raise ValueError(
                f"the {file_format} file is damaged or truncated and cannot be decoded ({error})"
            ) from None
    return image, file_format, (width, height)


def _shrink_and_flatten(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """The image at most ``WORK_PX`` per side as 8-bit RGB with transparency on white, or, for 16-bit
    grey, as 32-bit float ("F", still in 0..65535); and notes on what was converted, for the visitor.

    Shrinking comes first so that the conversions below work on a small picture (a 25 MP RGBA
    photo is 100 MB); palette, bilevel and CMYK images are converted before, as Pillow resizes
    those only by nearest neighbour or not at all.
    """
    notes = []
    if image.mode == "CMYK":
        notes.append("CMYK colours converted to RGB")
        image = image.convert("RGB")
    elif image.mode in ("P", "PA"):
        notes.append("palette colours expanded")
        image = image.convert("RGBA")
    elif image.mode == "1":
        image = image.convert("L")
    image.thumbnail((WORK_PX, WORK_PX), Image.Resampling.BOX)  # averaging, so shrinking does not alias
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        notes.append("16-bit grey levels scaled to 0–1")
        return image.convert("F"), notes
    if image.mode in ("RGBA", "LA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            notes.append("transparent areas put on white")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), notes
    return image.convert("RGB"), notes


def _border_ring(grey: torch.Tensor) -> torch.Tensor:
    """The pixels within ``BORDER_SHARE`` of the shorter side (at least 1 px) from the edge, flattened."""
    width = max(1, round(min(grey.shape) * BORDER_SHARE))
    inside = torch.zeros_like(grey, dtype=torch.bool)
    inside[width:-width, width:-width] = True
    return grey[~inside]


def _square_around_object(grey: torch.Tensor, level: float) -> tuple[tuple[int, int, int], bool]:
    """(top, left, side) of the square crop and whether an object was found.

    The object is every pixel that differs from the border level by more than ``OBJECT_CONTRAST``;
    the square has the longer side of its bounding box (1st to 99th percentile of the object's
    rows and columns, so a few stray pixels do not widen it), centred on that box, as Fashion-MNIST
    centres its garments. Without an object: the largest centred square.
    """
    height, width = grey.shape
    rows, cols = torch.nonzero((grey - level).abs() > OBJECT_CONTRAST, as_tuple=True)
    if rows.numel() < MIN_OBJECT_SHARE * grey.numel():
        side = min(height, width)
        return ((height - side) // 2, (width - side) // 2, side), False
    quantiles = torch.tensor([0.01, 0.99])
    top, bottom = torch.quantile(rows.float(), quantiles).tolist()
    left, right = torch.quantile(cols.float(), quantiles).tolist()
    side = max(bottom - top, right - left) + 1
    return (round((top + bottom + 1 - side) / 2), round((left + right + 1 - side) / 2), max(1, round(side))), True


def _crop(grey: torch.Tensor, top: int, left: int, side: int, fill: float) -> torch.Tensor:
    """The (side, side) square at (top, left); where it leaves the image it is filled with ``fill``."""
    padded = F.pad(grey[None], (side, side, side, side), value=fill)[0]  # the square never leaves this
    return padded[top + side : top + 2 * side, left + side : left + 2 * side]


def photo_to_input(data: bytes, max_bytes: int = MAX_PHOTO_BYTES, max_pixels: int = MAX_PIXELS) -> PhotoSteps:
    """Turn an uploaded photo's bytes into a (1, 28, 28) model input in [0, 1], keeping every step.

    Raises ``ValueError`` with a message for the visitor when the file is refused (see :func:`open_photo`).
    """
    image, file_format, size = open_photo(data, max_bytes, max_pixels)
    flat, notes = _shrink_and_flatten(image)
    if flat.mode == "F":
        grey = torch.from_numpy(np.asarray(flat, dtype=np.float32) / 65535.0)
        preview = np.repeat((np.asarray(flat) / 257.0).round().clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
    else:
        grey = torch.from_numpy(np.asarray(flat.convert("L"), dtype=np.float32) / 255.0)
        preview = np.asarray(flat)
    grey = grey.clamp(0.0, 1.0)

    level = _border_ring(grey).median().item()
    (top, left, side), found = _square_around_object(grey, level)
    cropped = _crop(grey, top, left, side, level)
    small = F.interpolate(cropped[None, None], size=(SIDE, SIDE), mode="bilinear", antialias=True)[0].clamp(0, 1)
    inverted = level > 0.5
    oriented = 1.0 - small if inverted else small
    background = 1.0 - level if inverted else level
    brightest = oriented.max().item()
    # Fashion-MNIST's backgrounds are exactly black: map the border level to 0 and the brightest pixel to 1.
    # A uniform picture (no contrast) is left as it is rather than blown up from noise.
    if brightest - background > OBJECT_CONTRAST:
        model_input = ((oriented - background) / (brightest - background)).clamp(0.0, 1.0)
    else:
        model_input = oriented
    return PhotoSteps(
        preview=np.ascontiguousarray(preview),
        grey=grey,
        cropped=cropped,
        small=small,
        oriented=oriented,
        model_input=model_input,
        format=file_format,
        size=size,
        border_level=level,
        inverted=inverted,
        object_found=found,
        notes=tuple(notes),
    )


def classify(model: nn.Module, image: torch.Tensor, v: torch.Tensor | None = None) -> Answer:
    """The model's answer on one image (C, H, W) in [0, 1], or on clip(image + v) when ``v`` is given."""
    probabilities = torch.softmax(logits(model, image[None], v), 1)[0]
    confidence, label = probabilities.max(0)
    return Answer(int(label), CLASS_NAMES[int(label)], confidence.item(), probabilities)

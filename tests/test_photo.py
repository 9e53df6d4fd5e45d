"""A visitor's photo becomes a model input (uap_core.photo), with real image files made here.

Good photos: test images printed as dark garments on a white page (as a phone would see them) must
come back close to the original 28 x 28 image and get the same answer from the model. Bad files
(too many bytes, a decompression bomb, a format other than PNG/JPEG/WebP, corrupt or truncated,
too small) must be refused with a ValueError that says why; odd but valid ones (transparency,
16-bit, CMYK, palette, large) must work.
"""

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from upload_files import bomb_png, encode, photo_of

from uap_core import predict
from uap_core.photo import MAX_PIXELS, MIN_SIDE, classify, photo_to_input

CLOSE = 0.2  # mean absolute difference from the original test image, in [0, 1] pixel units


@pytest.fixture(scope="module")
def samples(test_set):
    """One test image of each of three visually different classes: trouser, sneaker, bag."""
    return [test_set.images[(test_set.labels == k).nonzero()[0].item()] for k in (1, 7, 8)]


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding any pixel fails the test: refusals must come from the header alone."""

    def load(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def assert_same_answer(model, steps, original):
    assert steps.model_input.shape == (1, 28, 28)
    assert steps.model_input.min() >= 0 and steps.model_input.max() <= 1
    assert (steps.model_input - original).abs().mean() < CLOSE
    assert classify(model, steps.model_input).label == predict(model, original[None]).item()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_photo_of_a_test_image_gives_its_answer_back(model, samples, fmt):
    for original in samples:
        steps = photo_to_input(photo_of(original, fmt))
        assert steps.format == fmt
        assert steps.inverted and steps.border_level > 0.9  # white page: inverted to light on dark
        assert steps.object_found
        assert_same_answer(model, steps, original)


def test_dark_background_is_not_inverted(model, samples):
    original = samples[0]
    light_on_dark = Image.fromarray((original[0].numpy() * 255).astype(np.uint8)).resize((140, 140))
    steps = photo_to_input(encode(light_on_dark, "PNG"))
    assert not steps.inverted and steps.border_level < 0.1
    assert_same_answer(model, steps, original)


def test_crop_follows_the_object_not_the_centre(samples):
    """The garment sits in the top-left corner of a wide page: the crop must find it there."""
    steps = photo_to_input(photo_of(samples[0], canvas=(1200, 500)))
    assert steps.object_found
    assert steps.cropped.shape[0] == steps.cropped.shape[1]
    assert steps.cropped.shape[0] < min(steps.grey.shape)  # a square around the garment, not the whole page
    assert (steps.model_input - samples[0]).abs().mean() < CLOSE


@pytest.mark.parametrize(("mode", "colour"), [("RGBA", (20, 20, 60, 255)), ("LA", (30, 255))])
def test_transparent_background_is_put_on_white(model, samples, mode, colour):
    original = samples[1]
    alpha = Image.fromarray((original[0].numpy() * 255).astype(np.uint8)).resize((280, 280))
    garment = Image.new(mode, alpha.size, colour)
    garment.putalpha(alpha)  # a dark garment cut out on a transparent background
    steps = photo_to_input(encode(garment, "PNG"))
    assert "transparent areas put on white" in steps.notes
    assert steps.inverted
    assert_same_answer(model, steps, original)


def test_palette_image_with_transparency(samples):
    page = Image.open(io.BytesIO(photo_of(samples[2]))).convert("P", palette=Image.Palette.ADAPTIVE)
    # The white page's palette entry becomes transparent.
    steps = photo_to_input(encode(page, "PNG", transparency=page.getpixel((0, 0))))
    assert {"palette colours expanded", "transparent areas put on white"} <= set(steps.notes)
    assert steps.inverted and steps.object_found
    assert (steps.model_input - samples[2]).abs().mean() < CLOSE


def test_sixteen_bit_grey(model, samples):
    original = samples[0]
    sixteen = ((1 - original[0].numpy()) * 65535).round().astype(np.uint16)
    image = Image.fromarray(sixteen).resize((280, 280))
    assert image.mode == "I;16"
    steps = photo_to_input(encode(image, "PNG"))
    assert "16-bit grey levels scaled to 0–1" in steps.notes
    assert_same_answer(model, steps, original)


def test_cmyk_jpeg(model, samples):
    original = samples[2]
    steps = photo_to_input(photo_of(original, "JPEG", mode="CMYK"))
    assert "CMYK colours converted to RGB" in steps.notes
    assert_same_answer(model, steps, original)


def test_exif_rotation_of_phone_photos_is_applied(model, samples):
    """Phones store the picture sideways with an EXIF orientation tag (6: turn 90° clockwise to view)."""
    original = samples[0]  # a trouser: sideways it would not look like one
    upright = Image.open(io.BytesIO(photo_of(original)))
    orientation = Image.Exif()
    orientation[0x0112] = 6
    steps = photo_to_input(encode(upright.rotate(90, expand=True), "JPEG", exif=orientation.tobytes()))
    assert steps.size == (upright.height, upright.width)  # as stored in the file
    assert steps.grey.shape[1] > steps.grey.shape[0]  # turned back: wide like the upright page
    assert_same_answer(model, steps, original)


def test_large_photo_is_shrunk_before_working_on_it(model, samples):
    original = samples[1]
    garment = Image.fromarray(((1 - original[0].numpy()) * 255).astype(np.uint8)).resize((2800, 2800))
    steps = photo_to_input(encode(garment.convert("RGB"), "JPEG", quality=85))
    assert steps.size == (2800, 2800)
    assert max(steps.grey.shape) <= 256
    assert_same_answer(model, steps, original)


def test_blank_photo_uses_the_centre_and_stays_finite():
    steps = photo_to_input(encode(Image.new("RGB", (300, 200), (240, 240, 240)), "PNG"))
    assert not steps.object_found
    side = min(steps.grey.shape)
    assert steps.cropped.shape == (side, side)
    assert torch.isfinite(steps.model_input).all() and steps.model_input.max() <= 1


# ---------------------------------------------------------------- refusals


def refused(data: bytes, *words: str, **limits) -> str:
    with pytest.raises(ValueError) as error:
        photo_to_input(data, **limits)
    message = str(error.value)
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("size", [(8_000, 8_000), (10_000, 10_000), (30_000, 30_000)])
def test_decompression_bomb_is_refused_from_the_header(no_decoding, size):
    """A complete, valid PNG of a few KB that would decode to 64 to 900 million pixels: over this module's
    limit, over Pillow's warning limit (89 MP) and over Pillow's error limit (179 MP)."""
    data = bomb_png(*size)
    assert len(data) < 200_000
    refused(data, "pixels", f"{MAX_PIXELS:,}")


def test_too_many_bytes_is_refused(samples):
    data = photo_of(samples[0])
    refused(data, f"{len(data):,} bytes", max_bytes=len(data) - 1)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_refused_by_content(fmt):
    """Only the bytes are given (no file name), so the format is necessarily judged from the content."""
    refused(encode(Image.new("RGB", (100, 100), "white"), fmt), "PNG, JPEG or WebP", "content")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", ("empty",)),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), ("PNG, JPEG or WebP",)),
        (np.random.default_rng(0).bytes(5000), ("PNG, JPEG or WebP",)),
        ("a string", ("bytes", "str")),
    ],
)
def test_garbage_is_refused(data, words):
    refused(data, *words)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_file_is_refused(fmt):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8))
    data = encode(noise, fmt)
    refused(data[: len(data) // 2])


@pytest.mark.parametrize("size", [(20, 20), (27, 400), (400, 1)])
def test_tiny_image_is_refused_not_enlarged(size):
    refused(encode(Image.new("L", size, 255), "PNG"), f"at least {MIN_SIDE} pixels")


def test_perturbation_changes_the_answer_on_the_photo(model, samples):
    """classify(..., v) judges clip(x + v): a large constant v turns the image white, which changes the answer
    of at least one of three different garments (a reference computed with plain predict)."""
    inputs = torch.stack([photo_to_input(photo_of(x)).model_input for x in samples])
    v = torch.full((1, 28, 28), 0.9)
    with_v = [classify(model, x, v).label for x in inputs]
    assert with_v == predict(model, inputs, v).tolist()
    assert with_v != [classify(model, x).label for x in inputs]

"""Your own photo, or the camera: a picture from the room becomes a model input, step by step, and the
current universal perturbation (the visitor's last run, else the shipped one) is tried on it."""

import math

import numpy as np
import streamlit as st
import torch

import ui
from uap_core import MODEL_NAMES
from uap_core.files import perturbation_png
from uap_core.photo import MAX_PHOTO_BYTES, MAX_PIXELS, Answer, classify, photo_to_input

STEP_PX = 168  # the 28 x 28 steps enlarged 6 times


def grey_picture(image: torch.Tensor) -> np.ndarray:
    """An (H, W) working-size grey image as uint8 for st.image (not squared, not enlarged)."""
    return (image * 255).round().byte().numpy()


def answer_text(answer: Answer, changed: bool | None = None) -> str:
    """The class in bold and the confidence; with ``changed``, a red ✗ or a green ✓ in front."""
    marker = "" if changed is None else (":red[**✗ changed**] " if changed else ":green[✓ unchanged] ")
    return f"{marker}**{answer.name}**  \n{answer.confidence:.0%} confident"


ui.require_data()
st.title("Your own photo, or the camera")
st.markdown(
    "Photograph a garment (a shoe, a bag, a T-shirt…) on a plain background, or upload a photo. The page turns it "
    "into a 28×28 Fashion-MNIST-like picture, shows each step, asks the model what it is, and then adds the "
    "universal perturbation to it."
)

source = st.radio("Picture from", ("Upload a file", "The camera"), horizontal=True, key="photo_source")
if source == "Upload a file":
    upload = st.file_uploader(
        f"A PNG, JPEG or WebP photo, at most {MAX_PHOTO_BYTES // 2**20} MB and {MAX_PIXELS / 1e6:.0f} million pixels",
        type=["png", "jpg", "jpeg", "webp"],
        max_upload_size=MAX_PHOTO_BYTES // 2**20,
        key="photo_upload",
    )
else:
    upload = st.camera_input("Take a photo of a garment on a plain background", key="photo_camera")
if upload is None:
    st.info(
        "Tip: a dark garment on white paper, or a light one on a dark table, filling most of the frame, works best."
    )
    st.stop()

try:
    steps = photo_to_input(upload.getvalue())
except ValueError as error:
    st.error(f"**This picture cannot be used:** {str(error).rstrip('.')}.", icon=":material/block:")
    st.stop()

# ---------------------------------------------------------------- how the photo becomes a model input
st.subheader("From your photo to the model's input")
orientation = (
    f"the border is light (median brightness {steps.border_level:.0%}), so the picture is **inverted** to a light "
    "garment on a dark background, as in Fashion-MNIST"
    if steps.inverted
    else f"the border is dark (median brightness {steps.border_level:.0%}), so the picture is **not inverted**"
)
crop = (
    "a square around the object (what differs from the border)"
    if steps.object_found
    else "the centre square (nothing stood out from the border)"
)
ui.image_row(
    "Step by step",
    [
        steps.preview,
        grey_picture(steps.grey),
        grey_picture(steps.cropped),
        ui.picture(steps.small, size=STEP_PX),
        ui.picture(steps.oriented, size=STEP_PX),
        ui.picture(steps.model_input, size=STEP_PX),
    ],
    [
        f"1 · your {steps.format} file, {steps.size[0]}×{steps.size[1]} px",
        "2 · grey",
        f"3 · cropped: {crop}",
        "4 · 28×28",
        "5 · inverted" if steps.inverted else "5 · not inverted",
        "6 · background to black: **the model's input**",
    ],
)
st.caption(
    f"Step 5: {orientation}. Step 6 maps the border's grey level to black and the brightest pixel to white "
    "(when they differ enough)." + (f" Also done: {', '.join(steps.notes)}." if steps.notes else "")
)

# ---------------------------------------------------------------- the model's answer, then with the perturbation
current = ui.current_perturbation(st.session_state)
v = current["perturbation"]
models = list(MODEL_NAMES)
model_name = st.selectbox(
    "Model",
    models,
    index=models.index(current["model"]) if current["model"] in models else 0,
    key="photo_model",
    help="The perturbation was built for one model; it can be tried on the others too.",
)
net = ui.model(model_name)
clean, perturbed = classify(net, steps.model_input), classify(net, steps.model_input, v)
changed = clean.label != perturbed.label

st.subheader("What the model sees, without and with the universal perturbation")
columns = st.columns([1, 1, 1, 1.3], gap="medium")
columns[0].image(ui.picture(steps.model_input, size=STEP_PX), width="stretch")
columns[0].markdown(f"Your photo: {answer_text(clean)}")
columns[1].image(perturbation_png(v, upscale=STEP_PX // 28), width="stretch")
columns[1].markdown(
    f"**+ v**, the perturbation  \nred brightens a pixel, blue darkens it (±{v.abs().max().item():.2f})"
)
frame = ui.FOOLED_COLOUR if changed else ui.KEPT_COLOUR
columns[2].image(ui.picture((steps.model_input + v).clamp(0, 1), frame, size=STEP_PX), width="stretch")
columns[2].markdown(f"With v: {answer_text(perturbed, changed)}")
columns[3].markdown(
    f"**The perturbation:** {current['origin']}, built on `{current['model']}` ({current['description']}); "
    f"every pixel changes by at most {ui.format_size(v.abs().max().item(), math.inf)}."
)
if current["model"] != model_name:
    columns[3].caption(f"Tried here on `{model_name}`, a model it was not built for.")
st.caption(
    "The same pattern v, computed once from training images, is added to your photo as to any test image. "
    "A photo is not a Fashion-MNIST image, so the model may already be unsure of it; a low confidence makes "
    "the answer easier to change."
)

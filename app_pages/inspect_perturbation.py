"""Perturbation files into the app: upload a .npy perturbation (from this app's download or the command line)
and judge it on any shipped model, with the same cards, figures and strip as a live run."""

import math

import streamlit as st

import ui
from uap_core import MODEL_NAMES, model_card
from uap_core.files import MAX_NPY_BYTES, perturbation_from_npy
from uap_core.norms import norm_label

LARGE = 0.5  # above this ℓ∞ size the garments are visibly changed, not just perturbed
NORMS = {"inf": math.inf, "2": 2.0}

ui.require_data()
st.title("Judge a perturbation file")
st.markdown(
    "Upload a perturbation saved as `.npy`, as **Build one, live** downloads it or as "
    "`python -m uap_core run ... --out DIR` writes it (`DIR/perturbation.npy`): one float32 array shaped "
    "(1, 28, 28) in pixel units, added to images in [0, 1]. It is judged on all test images of the model you "
    "choose, which need not be the one it was built on."
)

upload = st.file_uploader(
    f"A .npy perturbation, at most {MAX_NPY_BYTES // 1024:,} KB",
    type=["npy"],
    max_upload_size=max(1, MAX_NPY_BYTES // 2**20),
    key="npy_upload",
)
row = st.columns(2, gap="large")
model_name = row[0].selectbox(
    "Model",
    MODEL_NAMES,
    key="npy_model",
    format_func=lambda name: f"{name} ({model_card(name)['test_accuracy']:.1%} test accuracy)",
)
norm = row[1].radio(
    "Norm of the random baseline",
    tuple(NORMS),
    horizontal=True,
    key="npy_norm",
    format_func=lambda n: norm_label(NORMS[n]),
    help="Random noise of the same size as v in this norm: random signs for ℓ∞, a random direction for ℓ2.",
)
if upload is None:
    st.info("No file yet? Download the perturbation this project ships and upload it here.")
    st.download_button(
        "perturbation.npy (shipped, ℓ∞ ξ = 0.2, convnet)",
        ui.SHIPPED_PERTURBATION.read_bytes(),
        "uap-shipped.npy",
        "application/octet-stream",
        icon=":material/download:",
    )
    st.stop()

try:
    v = perturbation_from_npy(upload.getvalue())
except ValueError as error:
    st.error(f"**This file cannot be used:** {str(error).rstrip('.')}.", icon=":material/block:")
    st.stop()

p = NORMS[norm]
evaluation = ui.evaluation(model_name, v, p)
if evaluation.linf > LARGE:
    st.warning(
        f"This perturbation changes pixels by up to {evaluation.linf:.2f} on a 0–1 scale: the images are visibly "
        "different garments, not just perturbed ones."
    )
ui.metric_cards(evaluation)
size = evaluation.linf if math.isinf(p) else evaluation.l2
st.caption(
    f"`{upload.name}` on `{model_name}`, all {evaluation.clean_labels.numel():,} test images. Random baseline: "
    f"noise with the same **{norm_label(p)}** norm as v ({norm_label(p)} = {ui.format_size(size, p)}), "
    "the paper's comparison; switch the norm above to compare with the other."
)

ui.effects(model_name, v, evaluation, "The uploaded perturbation v")

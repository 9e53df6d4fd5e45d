"""Home page: what a universal adversarial perturbation is, shown at once with a perturbation the project ships.

The top of the page (text, the shipped run's numbers and its pattern as a picture) reads only files and needs
no torch, so on a freshly started server it is on screen while torch loads (docs/architecture.md) for the eight
examples below it.
"""

import json
import math

import streamlit as st

import ui

SHOWN_IMAGES = 8

st.title("One small noise pattern that fools a classifier on most images")
text, numbers = st.columns([3, 2], gap="large")
with text:
    st.markdown(
        """
A classifier trained on **Fashion-MNIST** (28×28 grey pictures of clothes in 10 classes) gets about
9 in 10 test images right. A **universal adversarial perturbation** is *one* fixed noise pattern **v**:
add the same v to *any* image and the classifier changes its answer on most of them, although every
pixel changes by at most a small amount ξ, so a person still sees the same garment.

It is *universal* because it is computed once, from a few hundred training images, and then works on
images it has never seen. The pattern is not random: random noise of the same size fools very few images.
One caveat: the default model was trained on pictures with random noise added, so it has learnt to ignore
random noise, and that is part of why noise fools it so rarely; the page *Universal noise is not just noise*
shows the same network trained without added noise, which random noise fools far more easily.
The paper's algorithm visits images one by one and adds, whenever an image is not yet fooled, the smallest
extra step that fools it, keeping v inside a ball of radius ξ. The pattern below comes from this project's
faster variant, which nudges v with gradient steps on small batches of images; the app offers both.

From *Universal adversarial perturbations*, S.-M. Moosavi-Dezfooli, A. Fawzi, O. Fawzi, P. Frossard,
CVPR 2017 ([arXiv:1610.08401](https://arxiv.org/abs/1610.08401)).

**How to use this app:** open **Build one, live** in the menu, choose the size ξ of the perturbation and
the target fooling rate, press **Run** and watch the fooling rate climb; then look at the pattern, the
fooled images and where each class is sent.
"""
    )

shipped = json.loads(ui.SHIPPED_METRICS.read_text())  # its numbers on all test images, so the page needs no evaluation
with numbers:
    st.metric(
        f"Fooling rate of the pattern below, on {shipped['test_images']:,} test images",
        f"{shipped['test_fooling_rate']:.1%}",
    )
    st.metric(
        "Test accuracy: clean → with the pattern",
        f"{shipped['clean_accuracy']:.1%} → {shipped['perturbed_accuracy']:.1%}",
    )
    st.metric("Random noise of the same size fools", f"{shipped['random_fooling_rate']:.1%}")
    st.image(str(ui.SHIPPED_PICTURE))  # 280 px: the 28 x 28 pattern 10 times, at its own size so pixels stay sharp

# torch is imported only now, after the top of the page has been sent to the browser.
from uap_core import DEFAULT_MODEL  # noqa: E402
from uap_core.files import load_perturbation  # noqa: E402

numbers.caption(
    f"The pattern v: red brightens a pixel, blue darkens it, white is 0. Every pixel changes by at most "
    f"ξ = {ui.format_size(shipped['linf'], math.inf)} (ℓ∞ norm)."
)
ui.require_data("test")  # the training split is not needed here

st.subheader("The same pattern added to eight test images")
test = ui.subset("test", 1000)
chosen = ui.diverse_indices(test.labels, SHOWN_IMAGES)
ui.prediction_rows(ui.model(DEFAULT_MODEL), test.images[chosen], load_perturbation(ui.SHIPPED_PERTURBATION))

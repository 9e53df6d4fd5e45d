"""Finding 2: a universal perturbation is not just noise of the same size."""

import streamlit as st

import ui
from uap_core.experiments.random_noise import QUIET
from uap_core.norms import norm_label, parse_norm


def sweep_reading(r) -> str:
    """What the small-ξ sweep shows: up to which ξ random noise barely fools each model, and the UAP there."""
    parts = []
    for index, name in enumerate(r.sweep_models):
        quiet = r.quiet_size(index)
        if quiet is None:
            noise = r.sweep_random_fooling_rates[index][0]
            parts.append(f"on {name} random noise already fools {ui.share(noise)} at ξ = {r.sweep_xis[0]:g}")
            continue
        at = r.sweep_xis.index(quiet)
        parts.append(
            f"on {name} random noise fools fewer than {QUIET:.0%} of the answers up to ξ = {quiet:g} "
            f"({r.sweep_random_fooling_rates[index][at]:.1%} there), where a universal perturbation of the "
            f"same size fools {ui.share(r.sweep_fooling_rates[index][at])}"
        )
    return "; ".join(parts) + "." if parts else ""


def reading(r) -> str:
    parts = []
    for norm, xis, uap, noise in zip(r.norms, r.xis, r.fooling_rates, r.random_fooling_rates, strict=False):
        if xis:
            parts.append(
                f"at {norm_label(parse_norm(norm))} ξ = {xis[-1]:g} the universal perturbation fools "
                f"{ui.share(uap[-1])} of the test images, random noise of exactly its norm {ui.share(noise[-1])}"
            )
    sweep = sweep_reading(r)
    return "; ".join(parts) + "." + (f" Over small ℓ∞ sizes (right-hand panel), {sweep}" if sweep else "")


ui.finding_page(
    "random_noise",
    "for a range of sizes ξ, the fooling rate of a universal perturbation and that of random noise with exactly "
    "the same norm (random signs for ℓ∞, a random direction for ℓ2), on the test images. The right-hand panel "
    "repeats the comparison for small ℓ∞ sizes on the default convnet and on `convnet_plain`, the same network "
    "trained without noise.",
    reading,
)
st.info(
    "**Why two models.** The default model was trained on pictures with random noise added, so it has learnt to "
    "ignore exactly the kind of noise this baseline draws: on it, random noise fools few images partly because of "
    "that training, not only because random directions are harmless. `convnet_plain` is the same network trained "
    "without added noise: random noise fools it far more easily, and the right-hand panel shows how small the "
    "noise must be before it stops, and what a universal perturbation of that size still does.",
    icon=":material/info:",
)

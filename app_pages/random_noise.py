"""Finding 2: a universal perturbation is not just noise of the same size."""

import ui
from uap_core.norms import norm_label, parse_norm


def reading(r) -> str:
    parts = []
    for norm, xis, uap, noise in zip(r.norms, r.xis, r.fooling_rates, r.random_fooling_rates, strict=True):
        parts.append(
            f"at {norm_label(parse_norm(norm))} ξ = {xis[-1]:g} the universal perturbation fools "
            f"{ui.share(uap[-1])} of the test images, random noise of exactly its norm {ui.share(noise[-1])}"
        )
    return "; ".join(parts) + "."


ui.finding_page(
    "random_noise",
    "for a range of sizes ξ, the fooling rate of a universal perturbation and that of random noise with exactly "
    "the same norm (random signs for ℓ∞, a random direction for ℓ2), on the test images.",
    reading,
)

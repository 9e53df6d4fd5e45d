"""Finding 1: a few training images suffice to build a universal perturbation."""

import ui


def reading(r) -> str:
    if not r.sizes:
        return "the run was stopped before the first size was finished."
    best = max(range(len(r.sizes)), key=lambda i: r.mean[i])
    return (
        f"built from only {r.sizes[0]} training images, the perturbation already fools "
        f"{ui.share(r.mean[0])} of the {r.n_test:,} test images on average; from {r.sizes[best]} images, "
        f"{ui.share(r.mean[best])}. Random noise of exactly each perturbation's norm fools "
        f"{ui.share_range(r.random_mean)}. "
        "The spread between seeds shows how much the choice of images matters."
    )


ui.finding_page(
    "sample_size",
    "test fooling rate against the number of training images the perturbation is built from, "
    "several seeds (another subset, another order) for each size; every point is judged on test images "
    "the perturbation never saw.",
    reading,
)

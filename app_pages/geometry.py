"""Finding 6: why universal perturbations exist: the decision boundary's normals share a low-dimensional subspace."""

import ui


def reading(r) -> str:
    d = r.dims[-1] if r.dims else 0
    normal = r.normal_singular_values[d - 1] if d else float("nan")
    random = r.random_singular_values[d - 1] if d else float("nan")
    rates = ", ".join(
        f"d = {dim}: {ui.share(rate)}" for dim, rate in zip(r.dims, r.subspace_fooling_rates, strict=True)
    )
    return (
        f"the {d}th singular value of the normals is {normal:.2f} of the largest, against {random:.2f} for random "
        f"directions. Random vectors of ℓ2 norm {r.xi:g} drawn from the top-d subspace of the normals fool "
        f"{rates}; drawn from the whole space, {ui.share(r.whole_space_fooling_rate)}."
    )


ui.finding_page(
    "geometry",
    "DeepFool's directions (the normals to the decision boundary) at many training images, stacked into a "
    "matrix: its singular values against those of as many random directions, and the fooling rate of random "
    "vectors drawn from the subspace of the top d normals against random vectors from the whole space.",
    reading,
)

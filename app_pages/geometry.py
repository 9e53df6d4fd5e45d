"""Finding 6: why universal perturbations exist: the decision boundary's normals share a low-dimensional subspace."""

import ui


def reading(r) -> str:
    if not r.normal_singular_values:
        return "the run was stopped before the normals were computed."
    small, large = (r.dims[0], r.dims[-1]) if r.dims else (10, 100)
    plain, random, masked = (
        [r.energy(values, d) for d in (1, small, large)]
        for values in (r.normal_singular_values, r.random_singular_values, r.masked_singular_values)
    )
    rates = ", ".join(
        f"d = {dim}: {ui.share(rate)}" for dim, rate in zip(r.dims, r.subspace_fooling_rates, strict=True)
    )
    whole = ui.share(r.whole_space_fooling_rate) if r.whole_space_fooling_rate is not None else "not measured"
    text = (
        f"the single strongest direction holds {plain[0]:.1%} of the normals' energy (σ₁² after the scaling), "
        f"against {random[0]:.1%} for as many random unit vectors; the top {small} directions hold "
        f"{ui.share(plain[1])} against {ui.share(random[1])}, the top {large} {ui.share(plain[2])} against "
        f"{ui.share(random[2])}."
    )
    if masked[0]:
        text += f" The box-masked normals: {masked[0]:.1%} and {ui.share(masked[1])}"
        if masked[0] > plain[0]:
            text += (
                ", more alike than the plain ones: background pixels sit at 0 and the mask lets them move only "
                "upwards, which gives every masked normal the same sign pattern there"
            )
        text += "."
    if rates:
        text += (
            f" Random vectors of ℓ2 norm {r.xi:g} drawn from the top-d subspace of the plain normals fool {rates}; "
            f"drawn from the whole space, {whole}."
        )
    return text


ui.finding_page(
    "geometry",
    "DeepFool's directions r / ‖r‖ (the normals to the decision boundary) at many training images, from plain "
    "DeepFool without the [0, 1] box as in the paper, stacked into a matrix. Its singular values are compared with "
    "those of as many random unit vectors, each divided by √(number of vectors), so that for every matrix the "
    "squares add up to 1 and σ₁² is the share of all the vectors' energy along the strongest direction. The dashed "
    "line is the box-masked DeepFool this app's attack can use, for comparison. On the right, the fooling rate of "
    "random vectors drawn from the subspace of the top d normals against random vectors from the whole space.",
    reading,
)

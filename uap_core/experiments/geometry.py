"""Finding 6, why it works: the normals to the decision boundary lie close to a low-dimensional subspace.

DeepFool's perturbation r at a point x is (nearly) orthogonal to the nearest decision boundary, so
r / ‖r‖ is the boundary's normal there. Stacking the unit normals at many points into a matrix
(n_points, 784), the paper finds that its singular values decay much faster than those of a
matrix of random unit vectors of the same shape. Then random vectors drawn from the span of the
top-d singular directions fool far more often than random vectors of the same ℓ2 norm drawn from
the whole space: a universal perturbation exploits that shared subspace.

As in the paper, the normals come from plain, unconstrained DeepFool (``iterate="plain"``): no [0, 1]
box, no masked pixels. The box-aware DeepFool this project's ``paper`` algorithm can use masks the
directions of pixels pinned at 0, about half of every Fashion-MNIST image, which forces its
normals to share a sign pattern on the background; its spectrum is computed too, labelled, to show
how much that alone changes.

Singular values are reported divided by √m (m: the number of unit rows), never by each matrix's
own largest one: every matrix of unit rows then has Σ σᵢ² = 1, σᵢ² is the share of the rows'
total energy along the i-th direction, and a larger σ₁ shows as a larger σ₁.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..checks import check_int, check_int_list, check_positive_int, check_xi
from ..deepfool import DeepFoolOptions, deepfool
from ..models import DEFAULT_MODEL
from .common import (
    ExperimentResult,
    Judge,
    Progress,
    Run,
    check_count,
    dataset,
    tensor_list,
    train_images,
)

CHUNK = 50  # DeepFool images between two progress reports


@dataclass(frozen=True, kw_only=True)
class GeometryResult(ExperimentResult):
    NAME = "geometry"

    model: str
    n_points: int  # training images whose DeepFool normals were stacked
    num_candidates: int  # DeepFool's candidate classes
    xi: float  # ℓ2 norm of the random vectors, pixel units
    dims: list[int]  # subspace dimensions d; when stopped, the ones finished
    trials: int  # random vectors per subspace
    seed: int
    n_test: int
    n_normals: int  # rows of the normals' matrix: the points where plain DeepFool converged
    normal_singular_values: list[float]  # descending, of the unit normals (plain DeepFool), divided by √n_normals
    random_singular_values: list[float]  # same, for n_normals random unit vectors
    masked_singular_values: list[float]  # same, for the unit normals of box-aware DeepFool (iterate="box_aware")
    subspace_fooling_rates: list[float]  # [d] mean over the trials, on the test images
    whole_space_fooling_rate: float | None  # random directions in all 784 dimensions

    def energy(self, values: list[float], d: int) -> float:
        """Share of the rows' energy within the top ``d`` singular directions: σ₁² + … + σ_d² (the σ are scaled)."""
        return sum(value**2 for value in values[:d])

    def caption_parts(self) -> list[str]:
        return [
            self.model,
            f"plain DeepFool normals at {self.n_normals} of {self.n_points} training images "
            f"({self.num_candidates} candidate classes)",
            f"random vectors of ℓ2 norm ξ = {self.xi:g}, {self.trials} per subspace, seed {self.seed}",
            f"tested on {self.n_test} test images",
        ]


def normals(
    model: torch.nn.Module, images: torch.Tensor, num_candidates: int, clip: bool, report: Callable[[int], None]
) -> torch.Tensor:
    """Unit DeepFool directions r / ‖r‖ (m, C·H·W), float64, at the images whose DeepFool converged (m ≤ N).

    ``clip`` False: plain, unconstrained DeepFool (the paper's normals); True: the box-aware one.
    ``report(images_done)`` is called after every :data:`CHUNK` images."""
    options = DeepFoolOptions(num_candidates=num_candidates, iterate="box_aware" if clip else "plain")
    rows = []
    for done, batch in enumerate(images.split(CHUNK)):
        result = deepfool(model, batch, options=options)
        r = result.perturbation[result.converged].flatten(1)
        rows.append(r[r.norm(dim=1) > 0])
        report(min((done + 1) * CHUNK, len(images)))
    stack = torch.cat(rows).double()
    return stack / stack.norm(dim=1, keepdim=True)


def scaled_singular_values(rows: torch.Tensor) -> torch.Tensor:
    """Singular values (descending) of a matrix of unit rows (m, D), divided by √m: their squares add up to 1."""
    return torch.linalg.svdvals(rows) / rows.shape[0] ** 0.5


def random_unit_rows(m: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``m`` directions drawn uniformly on the unit sphere of R^size (m, size), float64."""
    noise = torch.randn(m, size, generator=generator, dtype=torch.float64)
    return noise / noise.norm(dim=1, keepdim=True)


def run_geometry(
    model: str = DEFAULT_MODEL,
    n_points: int = 500,
    num_candidates: int = 4,
    xi: float = 4.0,
    dims: Sequence[int] = (10, 50, 100),
    trials: int = 5,
    seed: int = 0,
    n_test: int | None = None,
    progress: Progress | None = None,
) -> GeometryResult:
    """Singular values of the plain DeepFool normals at ``n_points`` training images vs as many random unit
    vectors (and vs the box-masked DeepFool normals), and the test fooling rate of random ℓ2-norm-``xi`` vectors
    from each top-``d`` subspace of the plain normals vs the whole space.

    ``n_test`` None: the whole test split.
    """
    n_points = check_count(n_points, "n_points", "train")
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2 to form a matrix, got {n_points}")
    check_int(num_candidates, "num_candidates", low=2)
    xi = check_xi(xi)
    size = dataset("train").images[0].numel()
    dims = sorted(check_int_list(dims, "dims", low=1, high=min(size, n_points)))  # the normals' rank is at most that
    check_positive_int(trials, "trials")
    n_test = check_count(n_test, "n_test", "test")
    run = Run(progress)
    judge = Judge.load(model, n_test)
    net = judge.model
    generator = torch.Generator().manual_seed(seed)
    shape = judge.images.shape[1:]
    normal_values, random_values, masked_values, rates, finished, whole, m = [], [], [], [], [], None, 0
    shares = (0.4, 0.3)  # of the progress bar: plain normals, masked normals; the fooling rates take the rest
    points = train_images(n_points, seed)
    with run.stoppable():

        def report(start: float, share: float, label: str):
            return lambda done: run.report(start + share * done / n_points, f"{label}: {done}/{n_points}")

        stack = normals(net, points, num_candidates, False, report(0.0, shares[0], "plain DeepFool normals"))
        m = stack.shape[0]
        normal_values = tensor_list(scaled_singular_values(stack))
        random_values = tensor_list(scaled_singular_values(random_unit_rows(m, size, generator)))
        masked = normals(net, points, num_candidates, True, report(shares[0], shares[1], "box-masked normals"))
        masked_values = tensor_list(scaled_singular_values(masked))
        basis = torch.linalg.svd(stack, full_matrices=False).Vh  # rows: singular directions, strongest first
        start = sum(shares)

        def mean_rate(directions: torch.Tensor, label: str, step: int) -> float:
            """Mean fooling rate of ``trials`` random unit combinations of ``directions`` (k, 784), scaled to ξ."""
            total = 0.0
            for trial in range(trials):
                v = torch.randn(directions.shape[0], generator=generator, dtype=torch.float64) @ directions
                total += judge.fooling_rate((xi * v / v.norm()).float().view(shape))
                done = start + (1 - start) * (step + (trial + 1) / trials) / (len(dims) + 1)
                run.report(done, f"random vectors from {label}: {trial + 1}/{trials}")
            return total / trials

        whole = mean_rate(torch.eye(size, dtype=torch.float64), "the whole space", 0)
        for step, d in enumerate(dims, start=1):
            rates.append(mean_rate(basis[:d], f"the top-{d} subspace", step))
            finished.append(d)
    return GeometryResult(
        model=model, n_points=n_points, num_candidates=num_candidates, xi=xi, dims=finished, trials=trials,
        seed=seed, n_test=n_test, n_normals=m, normal_singular_values=normal_values,
        random_singular_values=random_values, masked_singular_values=masked_values, subspace_fooling_rates=rates,
        whole_space_fooling_rate=whole, seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

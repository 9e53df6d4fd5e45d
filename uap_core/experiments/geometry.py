"""Finding 6, why it works: the normals to the decision boundary lie close to a low-dimensional subspace.

DeepFool's perturbation r at a point x is (nearly) orthogonal to the nearest decision boundary, so
r / ‖r‖ is the boundary's normal there. Stacking the normals at many points into a matrix
(n_points, 784), the paper finds that its singular values decay much faster than those of a
matrix of random unit vectors of the same shape. Then random vectors drawn from the span of the
top-d singular directions fool far more often than random vectors of the same ℓ2 norm drawn from
the whole space: a universal perturbation exploits that shared subspace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..checks import check_positive_int, check_xi
from ..deepfool import deepfool
from ..models import DEFAULT_MODEL
from .common import (
    ExperimentResult,
    Judge,
    Progress,
    Run,
    check_count,
    check_int_list,
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
    normal_singular_values: list[float]  # descending, divided by the largest
    random_singular_values: list[float]  # same, for random unit vectors of the same shape
    subspace_fooling_rates: list[float]  # [d] mean over the trials, on the test images
    whole_space_fooling_rate: float | None  # random directions in all 784 dimensions

    def caption_parts(self) -> list[str]:
        return [
            self.model,
            f"DeepFool normals at {self.n_points} training images ({self.num_candidates} candidate classes)",
            f"random vectors of ℓ2 norm ξ = {self.xi:g}, {self.trials} per subspace, seed {self.seed}",
            f"tested on {self.n_test} test images",
        ]


def normals(
    model: torch.nn.Module, images: torch.Tensor, num_candidates: int, report: Callable[[int], None]
) -> torch.Tensor:
    """Unit DeepFool directions r / ‖r‖ (m, C·H·W) at the images whose DeepFool converged (m ≤ N).

    ``report(images_done)`` is called after every :data:`CHUNK` images."""
    rows = []
    for done, batch in enumerate(images.split(CHUNK)):
        result = deepfool(model, batch, num_candidates=num_candidates)
        r = result.perturbation[result.converged].flatten(1)
        rows.append(r[r.norm(dim=1) > 0])
        report(min((done + 1) * CHUNK, len(images)))
    stack = torch.cat(rows).double()
    return stack / stack.norm(dim=1, keepdim=True)


def normalised_singular_values(matrix: torch.Tensor) -> torch.Tensor:
    values = torch.linalg.svdvals(matrix)
    return values / values[0]


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
    """Singular values of the DeepFool normals at ``n_points`` training images vs random unit vectors,
    and the test fooling rate of random ℓ2-norm-``xi`` vectors from each top-``d`` subspace vs the whole space.

    ``n_test`` None: the whole test split.
    """
    n_points = check_count(n_points, "n_points", "train")
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2 to form a matrix, got {n_points}")
    if isinstance(num_candidates, bool) or not isinstance(num_candidates, int) or num_candidates < 2:
        raise ValueError(f"num_candidates must be a whole number >= 2, got {num_candidates!r}")
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
    normal_values, random_values, rates, finished, whole = [], [], [], [], None
    deepfool_share = 0.6  # of the progress bar; the fooling rates take the rest
    with run.stoppable():
        report = lambda done: run.report(deepfool_share * done / n_points, f"DeepFool normals: {done}/{n_points}")  # noqa: E731
        stack = normals(net, train_images(n_points, seed), num_candidates, report)
        normal_values = tensor_list(normalised_singular_values(stack))
        noise = torch.randn(stack.shape, generator=generator, dtype=torch.float64)
        random_values = tensor_list(normalised_singular_values(noise / noise.norm(dim=1, keepdim=True)))
        basis = torch.linalg.svd(stack, full_matrices=False).Vh  # rows: singular directions, strongest first

        def mean_rate(directions: torch.Tensor, label: str, step: int) -> float:
            """Mean fooling rate of ``trials`` random unit combinations of ``directions`` (k, 784), scaled to ξ."""
            total = 0.0
            for trial in range(trials):
                v = torch.randn(directions.shape[0], generator=generator, dtype=torch.float64) @ directions
                total += judge.fooling_rate((xi * v / v.norm()).float().view(shape))
                done = deepfool_share + (1 - deepfool_share) * (step + (trial + 1) / trials) / (len(dims) + 1)
                run.report(done, f"random vectors from {label}: {trial + 1}/{trials}")
            return total / trials

        whole = mean_rate(torch.eye(size, dtype=torch.float64), "the whole space", 0)
        for step, d in enumerate(dims, start=1):
            rates.append(mean_rate(basis[:d], f"the top-{d} subspace", step))
            finished.append(d)
    return GeometryResult(
        model=model, n_points=n_points, num_candidates=num_candidates, xi=xi, dims=finished, trials=trials,
        seed=seed, n_test=n_test, normal_singular_values=normal_values, random_singular_values=random_values,
        subspace_fooling_rates=rates, whole_space_fooling_rate=whole, seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

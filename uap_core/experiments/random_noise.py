"""Finding 2, universal noise is not just noise: UAP fooling rate vs random noise of exactly the same norm.

For each norm (ℓ∞ and ℓ2) and each size ξ, one universal perturbation is built from training
images; then random perturbations with exactly its ℓp norm (random signs for ℓ∞, a uniform
direction on the sphere for ℓ2) are judged on the same test images. The paper's claim: the
universal perturbation fools far more often than noise of the same size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import check_positive_int
from ..models import DEFAULT_MODEL
from ..norms import lp_norm, parse_norm
from .common import (
    AttackResult,
    Judge,
    Progress,
    Run,
    check_count,
    check_xi_list,
    make_attack,
    train_images,
)


@dataclass(frozen=True, kw_only=True)
class RandomNoiseResult(AttackResult):
    NAME = "random_noise"

    model: str
    norms: list[str]  # "inf", "2"
    xis: list[list[float]]  # [norm][size] ξ in pixel units, ascending; when stopped, the sizes finished
    n_train: int
    seed: int
    fooling_rates: list[list[float]]  # [norm][size], the UAP on the test images
    random_fooling_rates: list[list[float]]  # [norm][size], noise of the UAP's own ℓp norm, mean of the trials
    uap_norms: list[list[float]]  # [norm][size], the UAP's ℓp norm (≤ ξ)


def run_random_noise(
    model: str = DEFAULT_MODEL,
    xis_inf: Sequence[float] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
    xis_2: Sequence[float] = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
    algorithm: str = "fast",
    n_train: int = 500,
    max_passes: int = 5,
    delta: float = 0.2,
    seed: int = 0,
    n_test: int | None = None,
    random_trials: int = 5,
    progress: Progress | None = None,
) -> RandomNoiseResult:
    """Fooling rates of a UAP and of same-norm random noise for each ξ in ``xis_inf`` (ℓ∞) and ``xis_2`` (ℓ2).

    ``n_test`` None: the whole test split.
    """
    grids = {"inf": check_xi_list(xis_inf, "xis_inf"), "2": check_xi_list(xis_2, "xis_2")}
    attacks = {
        norm: [make_attack(norm, xi, algorithm, max_passes, delta) for xi in grid] for norm, grid in grids.items()
    }
    n_train = check_count(n_train, "n_train", "train")
    check_positive_int(random_trials, "random_trials")
    n_test = check_count(n_test, "n_test", "test")
    run = Run(progress)
    judge = Judge.load(model, n_test)
    net = judge.model
    images = train_images(n_train, seed)
    total, done = sum(len(grid) for grid in grids.values()), 0
    xis, rates, random_rates, sizes = ([[] for _ in grids] for _ in range(4))
    with run.stoppable():
        for row, norm in enumerate(grids):
            for attack in attacks[norm]:
                label = f"ξ = {attack.xi:g} ({norm})"
                uap = run.uap(attack, net, images, seed, (done / total, (done + 1) / total), label)
                size = lp_norm(uap.perturbation, parse_norm(norm)).item()
                rates[row].append(judge.fooling_rate(uap.perturbation))
                random_rates[row].append(judge.random_fooling_rate(size, attack.p, random_trials, seed))
                sizes[row].append(size)
                xis[row].append(attack.xi)
                done += 1
    return RandomNoiseResult(
        model=model, norms=list(grids), xis=xis, algorithm=algorithm, max_passes=max_passes, delta=delta,
        n_train=n_train, seed=seed, n_test=n_test, fooling_rates=rates, random_fooling_rates=random_rates,
        uap_norms=sizes, seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

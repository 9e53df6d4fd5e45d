"""Finding 4, diversity: runs with other seeds (another subset, another shuffle) give other perturbations that all fool.

Several universal perturbations are built with the same settings but different seeds; each seed
draws its own training subset and visiting order. The matrix of their normalised inner products
(cosine similarity) shows how different they are; each one's test fooling rate shows that they
all work. For reference, two random directions in 784 dimensions have |cos| ≈ 0.03.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..checks import check_int_list, check_positive_int
from ..models import DEFAULT_MODEL
from ..settings import UAPSettings
from .common import (
    AttackResult,
    Judge,
    Progress,
    Run,
    check_count,
    rounded,
    tensor_list,
    train_images,
)


@dataclass(frozen=True, kw_only=True)
class DiversityResult(AttackResult):
    NAME = "diversity"

    model: str
    norm: str
    xi: float
    n_train: int
    seeds: list[int]  # when stopped, the seeds finished
    perturbations: list  # (n, 1, 28, 28) pixel units, one per seed
    cosine: list[list[float]]  # (n, n) cosine similarity between the perturbations (diagonal 1)
    fooling_rates: list[float]  # [seed] on the test images
    random_fooling_rates: list[float]  # [seed] random noise of exactly that perturbation's ℓp norm, the baseline
    uap_norms: list[float]  # [seed] the perturbation's ℓp norm (≤ ξ)

    def perturbation(self, index: int) -> torch.Tensor:
        """The ``index``-th perturbation as a (1, 28, 28) tensor."""
        return torch.tensor(self.perturbations[index], dtype=torch.float32)

    @property
    def mean_off_diagonal(self) -> float | None:
        """Mean cosine similarity between two different perturbations (None with fewer than two)."""
        n = len(self.cosine)
        if n < 2:
            return None
        return (sum(map(sum, self.cosine)) - n) / (n * (n - 1))


def cosine_matrix(perturbations: torch.Tensor) -> torch.Tensor:
    """(n, n) cosine similarities of n perturbations (n, ...)."""
    flat = perturbations.flatten(1).double()
    unit = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def run_diversity(
    model: str = DEFAULT_MODEL,
    seeds: Sequence[int] = (0, 1, 2, 3),
    norm: str = "inf",
    xi: float | None = None,
    algorithm: str = "paper",
    n_train: int = 300,
    max_passes: int = 3,
    delta: float = 0.2,
    n_test: int | None = None,
    random_trials: int = 5,
    progress: Progress | None = None,
) -> DiversityResult:
    """One UAP per seed in ``seeds``, their cosine similarities and test fooling rates.

    ``xi`` None: 0.2 (ℓ∞) or 4.0 (ℓ2); ``n_test`` None: the whole test split.
    """
    attack = UAPSettings(norm=norm, xi=xi, algorithm=algorithm, max_passes=max_passes, delta=delta)
    seeds = check_int_list(seeds, "seeds")
    n_train = check_count(n_train, "n_train", "train")
    check_positive_int(random_trials, "random_trials")
    n_test = check_count(n_test, "n_test", "test")
    run = Run(progress)
    judge = Judge.load(model, n_test)
    net = judge.model
    finished, uaps, rates, random_rates, sizes = [], [], [], [], []
    with run.stoppable():
        for index, seed in enumerate(seeds):
            span = (index / len(seeds), (index + 1) / len(seeds))
            uap = run.uap(attack, net, train_images(n_train, seed), seed, span, f"seed {seed}")
            size, random_rate = judge.baseline(uap.perturbation, attack.p, random_trials)
            uaps.append(uap.perturbation)
            rates.append(judge.fooling_rate(uap.perturbation))
            random_rates.append(random_rate)
            sizes.append(size)
            finished.append(seed)
    stack = torch.stack(uaps) if uaps else torch.zeros(0, 1, 28, 28)
    return DiversityResult(
        model=model, norm=attack.norm, xi=attack.xi, algorithm=algorithm, max_passes=max_passes, delta=delta,
        n_train=n_train, seeds=finished, n_test=n_test, perturbations=rounded(tensor_list(stack)),
        cosine=tensor_list(cosine_matrix(stack)) if uaps else [], fooling_rates=rates,
        random_fooling_rates=random_rates, uap_norms=sizes, seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

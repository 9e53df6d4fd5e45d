"""Finding 1, a few images suffice: test fooling rate against the number of training images a UAP is built from.

The paper (Fig. 6) reaches a high fooling rate on ImageNet's validation set from a small share of
its training images. Here each size is repeated with several seeds (another subset, another
shuffle), and every perturbation is judged on test images it never saw.

Small sets are not starved of optimisation: each run makes at least ``min_visits`` image visits,
max(``max_passes``, ⌈``min_visits`` / n⌉) passes, and like every UAP run it stops once it fools
1 - δ of its own images.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import check_int_list, check_positive_int
from ..models import DEFAULT_MODEL
from ..settings import UAPSettings
from .common import (
    AttackResult,
    Judge,
    Progress,
    Run,
    check_count,
    dataset,
    train_images,
)


@dataclass(frozen=True, kw_only=True)
class SampleSizeResult(AttackResult):
    NAME = "sample_size"

    model: str
    norm: str
    xi: float
    min_visits: int
    sizes: list[int]  # training images per UAP, ascending; when stopped, the sizes finished for every seed
    seeds: list[int]
    fooling_rates: list[list[float]]  # [size][seed], on the test images
    train_fooling_rates: list[list[float]]  # [size][seed], on the images the UAP was built from
    random_fooling_rates: list[list[float]]  # [size][seed], noise of exactly that UAP's ℓp norm: the baseline
    uap_norms: list[list[float]]  # [size][seed], the UAP's ℓp norm (≤ ξ)

    @property
    def mean(self) -> list[float]:
        return [statistics.fmean(row) for row in self.fooling_rates]

    @property
    def std(self) -> list[float]:
        return [statistics.pstdev(row) for row in self.fooling_rates]

    @property
    def random_mean(self) -> list[float]:
        """[size] the baseline's mean over the seeds."""
        return [statistics.fmean(row) for row in self.random_fooling_rates]


def run_sample_size(
    model: str = DEFAULT_MODEL,
    sizes: Sequence[int] = (25, 50, 100, 250, 500, 1000, 2000),
    seeds: Sequence[int] = (0, 1, 2),
    norm: str = "inf",
    xi: float | None = None,
    algorithm: str = "fast",
    max_passes: int = 3,
    min_visits: int = 1500,
    delta: float = 0.2,
    n_test: int | None = None,
    random_trials: int = 5,
    progress: Progress | None = None,
) -> SampleSizeResult:
    """Test fooling rate of UAPs built from each number of training images in ``sizes``, once per seed.

    ``xi`` None: 0.2 (ℓ∞) or 4.0 (ℓ2); ``n_test`` None: the whole test split.
    """
    attack = UAPSettings(norm=norm, xi=xi, algorithm=algorithm, max_passes=max_passes, delta=delta)
    sizes = sorted(check_int_list(sizes, "sizes", low=1, high=len(dataset("train"))))
    seeds = check_int_list(seeds, "seeds")
    check_positive_int(min_visits, "min_visits")
    check_positive_int(random_trials, "random_trials")
    n_test = check_count(n_test, "n_test", "test")
    run = Run(progress)
    judge = Judge.load(model, n_test)
    net = judge.model
    passes_for = {n: max(attack.max_passes, math.ceil(min_visits / n)) for n in sizes}
    # Progress weights: a run costs about its image visits.
    total, done = sum(passes_for[n] * n for n in sizes) * len(seeds), 0
    finished, rates, train_rates, random_rates, norms = [], [], [], [], []
    with run.stoppable():
        for n in sizes:
            row, train_row, random_row, norm_row = [], [], [], []
            for seed in seeds:
                cost = passes_for[n] * n
                span = (done / total, (done + cost) / total)
                settings = UAPSettings.make(attack, max_passes=passes_for[n])
                uap = run.uap(settings, net, train_images(n, seed), seed, span, f"{n} images, seed {seed}")
                size, random_rate = judge.baseline(uap.perturbation, attack.p, random_trials)
                row.append(judge.fooling_rate(uap.perturbation))
                train_row.append(uap.fooling_rate)
                random_row.append(random_rate)
                norm_row.append(size)
                done += cost
            finished.append(n)
            rates.append(row)
            train_rates.append(train_row)
            random_rates.append(random_row)
            norms.append(norm_row)
    return SampleSizeResult(
        model=model, norm=attack.norm, xi=attack.xi, algorithm=attack.algorithm, max_passes=attack.max_passes,
        min_visits=min_visits, delta=attack.delta, sizes=finished, seeds=seeds, n_test=n_test,
        fooling_rates=rates, train_fooling_rates=train_rates, random_fooling_rates=random_rates,
        uap_norms=norms, seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

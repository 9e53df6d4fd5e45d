"""Finding 2, universal noise is not just noise: UAP fooling rate vs random noise of exactly the same norm.

For each norm (ℓ∞ and ℓ2) and each size ξ, one universal perturbation is built from training
images; then random perturbations with exactly its ℓp norm (random signs for ℓ∞, a uniform
direction on the sphere for ℓ2) are judged on the same test images. The paper's claim: the
universal perturbation fools far more often than noise of the same size.

The shipped models were trained with random-noise augmentation (random signs or Gaussian noise up
to ℓ∞ 0.25), the very kind of noise this baseline draws, so they have learnt to ignore it. A
second sweep over small ℓ∞ sizes puts each model of ``sweep_models`` side by side, by default the
default convnet and ``convnet_plain``, the same network trained without that augmentation: at which
ξ random noise stops fooling each of them, and what a universal perturbation of that size does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import check_positive_int, check_xi_list
from ..models import DEFAULT_MODEL
from ..settings import UAPSettings
from .common import (
    AttackResult,
    Judge,
    Progress,
    Run,
    check_count,
    check_models,
    train_images,
)

QUIET = 0.05  # random noise "no longer fools" a model when it changes fewer than 5% of the test answers


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
    sweep_models: list[str]  # models compared over small ℓ∞ sizes; when stopped, the ones finished
    sweep_xis: list[float]  # ℓ∞ ξ, ascending
    sweep_fooling_rates: list[list[float]]  # [model][size], a UAP built on that model, on the test images
    sweep_random_fooling_rates: list[list[float]]  # [model][size], noise of that UAP's own ℓ∞ norm
    sweep_uap_norms: list[list[float]]  # [model][size], the UAP's ℓ∞ norm (≤ ξ)

    def caption_parts(self) -> list[str]:
        parts = super().caption_parts()
        if self.sweep_models:
            parts.insert(
                2, f"small ℓ∞ ξ = {self.sweep_xis[0]:g} to {self.sweep_xis[-1]:g} on {', '.join(self.sweep_models)}"
            )
        return parts

    def quiet_size(self, index: int) -> float | None:
        """The largest swept ξ up to which random noise fools fewer than :data:`QUIET` of ``sweep_models[index]``'s
        test answers at every swept size (None: it fools more already at the smallest)."""
        quiet = None
        for xi, rate in zip(self.sweep_xis, self.sweep_random_fooling_rates[index], strict=False):
            if rate >= QUIET:
                break
            quiet = xi
        return quiet


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
    sweep_models: Sequence[str] = ("convnet", "convnet_plain"),
    sweep_xis: Sequence[float] = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2),
    progress: Progress | None = None,
) -> RandomNoiseResult:
    """Fooling rates of a UAP and of same-norm random noise for each ξ in ``xis_inf`` (ℓ∞) and ``xis_2`` (ℓ2)
    on ``model``; then the same over the small ℓ∞ sizes ``sweep_xis`` for each model of ``sweep_models``.

    ``n_test`` None: the whole test split.
    """
    grids = {"inf": check_xi_list(xis_inf, "xis_inf"), "2": check_xi_list(xis_2, "xis_2")}
    attacks = {
        norm: [UAPSettings(norm=norm, xi=xi, algorithm=algorithm, max_passes=max_passes, delta=delta) for xi in grid]
        for norm, grid in grids.items()
    }
    sweep = [
        UAPSettings(norm="inf", xi=xi, algorithm=algorithm, max_passes=max_passes, delta=delta)
        for xi in check_xi_list(sweep_xis, "sweep_xis")
    ]
    sweep_models = check_models(sweep_models, "sweep_models")
    n_train = check_count(n_train, "n_train", "train")
    check_positive_int(random_trials, "random_trials")
    n_test = check_count(n_test, "n_test", "test")
    run = Run(progress)
    judge = Judge.load(model, n_test)
    images = train_images(n_train, seed)
    total, done = sum(len(grid) for grid in grids.values()) + len(sweep) * len(sweep_models), 0
    xis, rates, random_rates, sizes = ([[] for _ in grids] for _ in range(4))
    finished, sweep_rates, sweep_random, sweep_sizes = [], [], [], []

    def point(attack, judge: Judge, label: str) -> tuple[float, float, float]:
        """(UAP fooling rate, baseline at its own norm, its norm) for one attack on one model, test images."""
        nonlocal done
        uap = run.uap(attack, judge.model, images, seed, (done / total, (done + 1) / total), label)
        size, random_rate = judge.baseline(uap.perturbation, attack.p, random_trials, seed)
        done += 1
        return judge.fooling_rate(uap.perturbation), random_rate, size

    with run.stoppable():
        for row, norm in enumerate(grids):
            for attack in attacks[norm]:
                rate, random_rate, size = point(attack, judge, f"ξ = {attack.xi:g} ({norm})")
                rates[row].append(rate)
                random_rates[row].append(random_rate)
                sizes[row].append(size)
                xis[row].append(attack.xi)
        for name in sweep_models:
            other = judge if name == model else Judge.load(name, n_test)
            points = [point(attack, other, f"{name}, ℓ∞ ξ = {attack.xi:g}") for attack in sweep]
            sweep_rates.append([rate for rate, _, _ in points])
            sweep_random.append([random_rate for _, random_rate, _ in points])
            sweep_sizes.append([size for _, _, size in points])
            finished.append(name)
    return RandomNoiseResult(
        model=model, norms=list(grids), xis=xis, algorithm=algorithm, max_passes=max_passes, delta=delta,
        n_train=n_train, seed=seed, n_test=n_test, fooling_rates=rates, random_fooling_rates=random_rates,
        uap_norms=sizes, sweep_models=finished, sweep_xis=[attack.xi for attack in sweep],
        sweep_fooling_rates=sweep_rates, sweep_random_fooling_rates=sweep_random, sweep_uap_norms=sweep_sizes,
        seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

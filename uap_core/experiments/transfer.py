"""Finding 5, doubly universal: a perturbation computed on one architecture fools the others too.

One universal perturbation is built on each model from the same training images; each is then
judged on every model's test predictions. Rows: the model it was computed on; columns: the model
it is evaluated on; the diagonal is each perturbation's fooling rate on its own model. The
baseline of each cell is random noise of exactly that row's perturbation's norm, on that column's model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import check_positive_int
from ..models import MODEL_NAMES, MODELS, load_model
from ..settings import UAPSettings
from .common import (
    AttackResult,
    Judge,
    Progress,
    Run,
    check_count,
    check_models,
    test_data,
    train_images,
)


@dataclass(frozen=True, kw_only=True)
class TransferResult(AttackResult):
    NAME = "transfer"

    models: list[str]  # evaluated on (columns); rows: the models finished when stopped
    norm: str
    xi: float
    n_train: int
    seed: int
    fooling_rates: list[list[float]]  # [computed on][evaluated on] on the test images
    random_fooling_rates: list[list[float]]  # [computed on][evaluated on] noise of that row's UAP's ℓp norm
    uap_norms: list[float]  # [computed on] the perturbation's ℓp norm (≤ ξ)


# The naturally trained models: the paper's question is transfer between ordinary networks.
NATURAL_MODELS = tuple(name for name in MODEL_NAMES if MODELS[name].uat is None)


def run_transfer(
    models: Sequence[str] = NATURAL_MODELS,
    norm: str = "inf",
    xi: float | None = None,
    algorithm: str = "fast",
    n_train: int = 500,
    max_passes: int = 5,
    delta: float = 0.2,
    seed: int = 0,
    n_test: int | None = None,
    random_trials: int = 5,
    progress: Progress | None = None,
) -> TransferResult:
    """A UAP computed on each model of ``models``, evaluated on every one of them.

    ``xi`` None: 0.2 (ℓ∞) or 4.0 (ℓ2); ``n_test`` None: the whole test split.
    """
    models = check_models(models)
    attack = UAPSettings(norm=norm, xi=xi, algorithm=algorithm, max_passes=max_passes, delta=delta)
    n_train = check_count(n_train, "n_train", "train")
    check_positive_int(random_trials, "random_trials")
    n_test = check_count(n_test, "n_test", "test")
    run = Run(progress)
    test = test_data(n_test).images
    images = train_images(n_train, seed)
    judges = [Judge.on(load_model(name), test) for name in models]
    matrix, random_rates, sizes = [], [], []
    with run.stoppable():
        for row, judge in enumerate(judges):
            span = (row / len(models), (row + 1) / len(models))
            uap = run.uap(attack, judge.model, images, seed, span, f"UAP on {models[row]}")
            baselines = [other.baseline(uap.perturbation, attack.p, random_trials, seed) for other in judges]
            matrix.append([other.fooling_rate(uap.perturbation) for other in judges])
            random_rates.append([rate for _, rate in baselines])
            sizes.append(baselines[0][0])
    return TransferResult(
        models=models, norm=attack.norm, xi=attack.xi, algorithm=algorithm, max_passes=max_passes, delta=delta,
        n_train=n_train, seed=seed, n_test=n_test, fooling_rates=matrix, random_fooling_rates=random_rates,
        uap_norms=sizes, seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

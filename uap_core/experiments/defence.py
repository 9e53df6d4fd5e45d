"""Beyond the paper: can a network be defended? Universal adversarial training beside the undefended convnet.

Two shipped models with the same architecture and training recipe: ``convnet`` (undefended) and ``convnet_uat``
(trained with universal adversarial training, :mod:`uap_core.uat`). On the test images:

- the clean accuracy of each;
- for each algorithm and seed, a universal perturbation built against each model from the same training images,
  judged on both models: built against the undefended model and judged on the defended one is the attacker who
  does not know about the defence; built against the defended model itself is the attacker who does;
- the paper's own defence beside it: fine-tuning on perturbed images, read from the shipped ``finetune`` result;
- the limit: DeepFool's per-image perturbations on both models (median ℓ2 and ℓ∞ sizes).

The target: a fresh universal perturbation against the defended model fools at most half as many test images as
one built the same way against the undefended model fools that model.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checks import check_choice, check_distinct, check_int_list, check_positive_int
from ..deepfool import deepfool
from ..metrics import accuracy
from ..models import DEFAULT_MODEL, DEFENDED_MODEL, load_model, model_card
from ..norms import norm_label, parse_norm
from ..settings import ALGORITHMS, UAPSettings
from .common import ExperimentResult, Judge, Progress, Run, check_count, check_models, rounded, test_data, train_images
from .finetune import FinetuneResult

FINETUNE_RESULT = Path(__file__).resolve().parents[1] / "results" / "finetune" / "result.json"
TARGET_RATIO = 0.5  # the defended model's fresh-UAP fooling rate over the undefended model's, at most
CHUNK = 50  # DeepFool images between two progress reports
# Rough cost of one image visit, for the progress bar only: a paper pass runs DeepFool on each image it does not
# fool yet, a fast pass one gradient step per batch; a DeepFool image is about a paper visit.
VISIT_COST = {"fast": 1.0, "paper": 6.0}


@dataclass(frozen=True, kw_only=True)
class DefenceResult(ExperimentResult):
    NAME = "defence"

    models: list[str]  # [undefended, defended]
    norm: str
    xi: float
    n_train: int  # training images each universal perturbation is built from
    algorithms: list[str]
    max_passes: list[int]  # [algorithm]
    delta: float  # each run stops once it fools 1 - delta of its own images
    seeds: list[int]
    n_test: int  # test images the perturbations and accuracies are judged on
    random_trials: int
    n_deepfool: int  # test images DeepFool runs on, per model
    clean_accuracy: list[float]  # [model] on the test images
    random_fooling_rates: list[float]  # [model] random noise of ℓp norm exactly ξ, mean over random_trials
    # [algorithm][seed][built against model][judged on model]; when stopped, the seeds finished.
    fooling_rates: list[list[list[list[float]]]]
    deepfool_median_l2: list[float]  # [model] median ‖r‖₂ (pixel units) over the images DeepFool carried across
    deepfool_median_linf: list[float]  # [model] median ‖r‖∞ (pixel units), same images
    deepfool_fooled: list[float]  # [model] share of the images DeepFool carried across within its steps
    training_seconds: list[float | None]  # [model] from the model cards (2 CPU cores)
    finetune_clean_accuracy: list[float]  # the shipped finetune result: [stage], stage 0 the undefended model
    finetune_fooling_rates: list[float]  # same: [stage] fooling rate of a fresh UAP against that stage's model
    finetune_max_passes: int  # the passes of that result's UAPs (fast)

    def mean(self, algorithm: int, built: int, judged: int) -> float | None:
        """Mean over the finished seeds of one cell of :attr:`fooling_rates` (None: no seed finished)."""
        blocks = self.fooling_rates[algorithm] if algorithm < len(self.fooling_rates) else []
        values = [block[built][judged] for block in blocks]
        return statistics.fmean(values) if values else None

    def ratio(self, algorithm: int) -> float | None:
        """A fresh UAP's fooling rate on the defended model over one built the same way on the undefended model."""
        own, fresh = self.mean(algorithm, 0, 0), self.mean(algorithm, 1, 1)
        return fresh / own if own and fresh is not None else None

    def summary(self) -> dict[str, Any]:
        """The page's headline numbers: means over the seeds, each attack's target check, the two defences' costs."""
        undefended, defended = self.models
        attacks = {}
        for a, algorithm in enumerate(self.algorithms[: len(self.fooling_rates)]):
            ratio = self.ratio(a)
            attacks[algorithm] = {
                "built_on_undefended_judged_on_undefended": self.mean(a, 0, 0),
                "built_on_undefended_judged_on_defended": self.mean(a, 0, 1),
                "built_on_defended_judged_on_defended": self.mean(a, 1, 1),
                "ratio": ratio,
                "target_met": None if ratio is None else ratio <= TARGET_RATIO,
            }
        fast = self.algorithms.index("fast") if "fast" in self.algorithms else 0
        return {
            "clean_accuracy": dict(zip(self.models, self.clean_accuracy, strict=False)),
            "target": f"fresh UAP on {defended} fools at most {TARGET_RATIO:g} x the rate of one on {undefended}",
            "attacks": attacks,
            "finetune": {
                "fooling_rate": self.finetune_fooling_rates[-1],
                "clean_accuracy_cost": self.finetune_clean_accuracy[0] - self.finetune_clean_accuracy[-1],
                "rounds": len(self.finetune_clean_accuracy) - 1,
            },
            "uat": {
                "fooling_rate": self.mean(fast, 1, 1),
                "clean_accuracy_cost": self.clean_accuracy[0] - self.clean_accuracy[1],
                "training_seconds": self.training_seconds[1],
                "undefended_training_seconds": self.training_seconds[0],
            },
            "deepfool_median_l2": dict(zip(self.models, self.deepfool_median_l2, strict=False)),
        }

    def to_dict(self) -> dict[str, Any]:
        """The fields, and :meth:`summary` for a reader of result.json (ignored when loading)."""
        return {**super().to_dict(), "summary": rounded(self.summary())}

    def caption_parts(self) -> list[str]:
        passes = ", ".join(f"{a} ≤ {p} passes" for a, p in zip(self.algorithms, self.max_passes, strict=True))
        return [
            " vs ".join(self.models),
            f"{norm_label(parse_norm(self.norm))} ξ = {self.xi:g}",
            f"{passes}, target {1 - self.delta:.0%}",
            f"{self.n_train} training images per UAP",
            f"seeds {', '.join(map(str, self.seeds))}" if len(self.seeds) > 1 else f"seed {self.seeds[0]}",
            f"tested on {self.n_test} test images",
            f"DeepFool on {self.n_deepfool}",
        ]


def shipped_finetune() -> FinetuneResult:
    """The shipped result of the paper's fine-tuning defence (finding 7), the comparison this experiment draws."""
    if not FINETUNE_RESULT.is_file():
        how = "run `python -m uap_core experiment finetune --out uap_core/results/finetune`"
        raise FileNotFoundError(f"no finetune result at {FINETUNE_RESULT}; {how}")
    return FinetuneResult.from_dict(json.loads(FINETUNE_RESULT.read_text()))


def deepfool_sizes(model: nn.Module, images: torch.Tensor, run: Run, span: tuple[float, float], label: str):
    """DeepFool on ``images`` (N, C, H, W), CHUNK at a time: (median ‖r‖₂, median ‖r‖∞, share carried across),
    the medians over the images it carried across (NaN when none)."""
    start, end = span
    l2, linf, converged = [], [], []
    for done, batch in enumerate(images.split(CHUNK)):
        run.report(start + (end - start) * done * CHUNK / len(images), f"{label}: DeepFool")
        result = deepfool(model, batch)
        r = result.perturbation.flatten(1)
        l2.append(torch.linalg.vector_norm(r, dim=1))
        linf.append(r.abs().amax(1))
        converged.append(result.converged)
    across = torch.cat(converged)
    if not across.any():
        return math.nan, math.nan, 0.0
    return (torch.cat(l2)[across].median().item(), torch.cat(linf)[across].median().item(),
            across.float().mean().item())  # fmt: skip


def run_defence(
    models: Sequence[str] = (DEFAULT_MODEL, DEFENDED_MODEL),
    norm: str = "inf",
    xi: float | None = None,
    algorithms: Sequence[str] = ("fast", "paper"),
    max_passes: Sequence[int] = (10, 5),
    n_train: int = 500,
    delta: float = 0.2,
    seeds: Sequence[int] = (0, 1, 2),
    n_test: int | None = None,
    random_trials: int = 5,
    n_deepfool: int = 500,
    progress: Progress | None = None,
) -> DefenceResult:
    """Clean accuracy, universal perturbations built against each of ``models`` (undefended, defended) and judged
    on both, for each algorithm (with its ``max_passes``) and seed, and DeepFool's per-image sizes on both.

    ``xi`` None: 0.2 (ℓ∞) or 4.0 (ℓ2); ``n_test`` None: the whole test split.
    """
    models = check_models(models)
    if len(models) != 2:
        raise ValueError(f"models must name two models, the undefended one and the defended one, got {models}")
    algorithms = [check_choice(a, "algorithms", ALGORITHMS) for a in check_distinct(algorithms, "algorithms", "names")]
    max_passes = [check_positive_int(p, "max_passes") for p in _same_length(max_passes, algorithms)]
    attacks = [UAPSettings(norm=norm, xi=xi, algorithm=a, max_passes=p, delta=delta)
               for a, p in zip(algorithms, max_passes, strict=True)]  # fmt: skip
    n_train = check_count(n_train, "n_train", "train")
    seeds = check_int_list(seeds, "seeds")
    n_test = check_count(n_test, "n_test", "test")
    check_positive_int(random_trials, "random_trials")
    n_deepfool = check_count(n_deepfool, "n_deepfool", "test")
    finetune = shipped_finetune()
    run = Run(progress)
    test = test_data(n_test)
    judges = [Judge.on(load_model(name), test.images) for name in models]
    accuracies = [accuracy(judge.model, test.images, test.labels) for judge in judges]
    random_rates = [judge.random_fooling_rate(attacks[0].xi, attacks[0].p, random_trials) for judge in judges]
    # Progress: every UAP and the DeepFool runs weighted by their rough cost in image visits.
    uap_costs = [VISIT_COST[s.algorithm] * s.max_passes * n_train for s in attacks]
    deepfool_cost = VISIT_COST["paper"] * n_deepfool
    total = len(models) * (len(seeds) * sum(uap_costs) + deepfool_cost)
    done = 0.0
    rates: list[list[list[list[float]]]] = []
    sizes: list[tuple[float, float, float]] = []
    with run.stoppable():
        for settings, cost in zip(attacks, uap_costs, strict=True):
            rates.append([])
            for seed in seeds:
                images = train_images(n_train, seed)
                block = []
                for name, source in zip(models, judges, strict=True):
                    span = (done / total, (done + cost) / total)
                    label = f"{settings.algorithm} UAP on {name}, seed {seed}"
                    uap = run.uap(settings, source.model, images, seed, span, label).perturbation
                    block.append([judge.fooling_rate(uap) for judge in judges])
                    done += cost
                rates[-1].append(block)
        deepfool_images = test_data(n_deepfool).images
        for name, judge in zip(models, judges, strict=True):
            span = (done / total, (done + deepfool_cost) / total)
            sizes.append(deepfool_sizes(judge.model, deepfool_images, run, span, name))
            done += deepfool_cost
    return DefenceResult(
        models=models, norm=attacks[0].norm, xi=attacks[0].xi, n_train=n_train, algorithms=algorithms,
        max_passes=max_passes, delta=attacks[0].delta, seeds=seeds, n_test=n_test, random_trials=random_trials,
        n_deepfool=n_deepfool, clean_accuracy=accuracies, random_fooling_rates=random_rates, fooling_rates=rates,
        deepfool_median_l2=[s[0] for s in sizes], deepfool_median_linf=[s[1] for s in sizes],
        deepfool_fooled=[s[2] for s in sizes], training_seconds=[model_card(name).get("seconds") for name in models],
        finetune_clean_accuracy=finetune.clean_accuracy, finetune_fooling_rates=finetune.fooling_rates,
        finetune_max_passes=finetune.max_passes, seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip


def _same_length(values: Sequence[int], algorithms: list[str]) -> list:
    """``values`` as a list, one per algorithm."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != len(algorithms):
        raise ValueError(f"max_passes must give one number of passes per algorithm ({len(algorithms)}), got {values!r}")
    return list(values)

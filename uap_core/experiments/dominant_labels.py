"""Finding 3, dominant labels: images fooled by a universal perturbation land mostly in a few classes.

For each norm, one universal perturbation is built from training images and applied to the test
images; the class-flow matrix counts, for each clean predicted class i, how many images are
predicted j once perturbed. The share of fooled images that land in the top one or two classes
measures how dominant those labels are (1/9 each would be no preference at all).

The default algorithm is the paper's: the ``fast`` one pulls images towards one class by design,
which would make this finding an artefact of the attack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..data import CLASS_NAMES
from ..metrics import class_flow, dominant_labels, predict
from ..models import DEFAULT_MODEL
from ..settings import DEFAULT_XI, UAPSettings
from .common import (
    AttackResult,
    Judge,
    Progress,
    Run,
    check_count,
    check_norms,
    train_images,
)


@dataclass(frozen=True, kw_only=True)
class DominantLabelsResult(AttackResult):
    NAME = "dominant_labels"

    model: str
    norms: list[str]  # when stopped, the norms finished
    xis: list[float]  # [norm] ξ in pixel units
    n_train: int
    seed: int
    flows: list[list[list[int]]]  # [norm] (K, K) counts: clean predicted class (row) -> perturbed predicted class
    fooling_rates: list[float]  # [norm] on the test images
    top_classes: list[list[int]]  # [norm] the two classes receiving most fooled images, most first
    top1_share: list[float]  # [norm] share of the fooled images landing in the top class
    top2_share: list[float]  # [norm] ... in the top two classes

    def top_class_names(self, row: int) -> list[str]:
        return [CLASS_NAMES[k] for k in self.top_classes[row]]


def run_dominant_labels(
    model: str = DEFAULT_MODEL,
    norms: Sequence[str] = ("inf", "2"),
    xi_inf: float = DEFAULT_XI["inf"],
    xi_2: float = DEFAULT_XI["2"],
    algorithm: str = "paper",
    n_train: int = 500,
    max_passes: int = 5,
    delta: float = 0.2,
    seed: int = 0,
    n_test: int | None = None,
    progress: Progress | None = None,
) -> DominantLabelsResult:
    """Class flow of the test images under one UAP per norm in ``norms`` (ξ: ``xi_inf`` or ``xi_2``).

    ``n_test`` None: the whole test split.
    """
    norms = check_norms(norms)
    attacks = [
        UAPSettings(
            norm=norm, xi={"inf": xi_inf, "2": xi_2}[norm], algorithm=algorithm, max_passes=max_passes, delta=delta
        )
        for norm in norms
    ]
    n_train = check_count(n_train, "n_train", "train")
    n_test = check_count(n_test, "n_test", "test")
    run = Run(progress)
    judge = Judge.load(model, n_test)
    net, test, clean = judge.model, judge.images, judge.clean
    images = train_images(n_train, seed)
    finished, flows, rates, tops, top1, top2 = [], [], [], [], [], []
    with run.stoppable():
        for row, attack in enumerate(attacks):
            span = (row / len(attacks), (row + 1) / len(attacks))
            uap = run.uap(attack, net, images, seed, span, f"{attack.norm} UAP")
            perturbed = predict(net, test, uap.perturbation)
            flow = class_flow(clean, perturbed)
            shares = dominant_labels(flow)
            order = shares.argsort(descending=True)
            finished.append(attack.norm)
            flows.append(flow.tolist())
            rates.append((perturbed != clean).float().mean().item())
            tops.append(order[:2].tolist())
            top1.append(shares[order[0]].item())
            top2.append(shares[order[:2]].sum().item())
    return DominantLabelsResult(
        model=model, norms=finished, xis=[a.xi for a in attacks[: len(finished)]], algorithm=algorithm,
        max_passes=max_passes, delta=delta, n_train=n_train, seed=seed, n_test=n_test, flows=flows,
        fooling_rates=rates, top_classes=tops, top1_share=top1, top2_share=top2,
        seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

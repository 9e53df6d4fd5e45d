"""One run's numbers as plain data: what ``metrics.json`` holds, and what the web app offers for download."""

from __future__ import annotations

from dataclasses import asdict

from .checks import describe
from .data import CLASS_NAMES
from .metrics import Evaluation, dominant_labels
from .norms import norm_name
from .uap import UAPResult


def metrics_dict(result: UAPResult, evaluation: Evaluation, **settings: object) -> dict:
    """Train and test figures of a run, its history and settings, ready for ``json.dumps``.

    ``evaluation`` is the perturbation judged on the test split, which it never saw;
    ``settings`` (model name, number of training images, seed...) are copied in as they are.
    """
    if not isinstance(result, UAPResult):
        raise ValueError(f"result must be a UAPResult (from universal_perturbation), got {describe(result)}")
    if not isinstance(evaluation, Evaluation):
        raise ValueError(f"evaluation must be an Evaluation (from evaluate), got {describe(evaluation)}")
    shares = dominant_labels(evaluation.flow)
    top = shares.argsort(descending=True)[:2].tolist()
    return {
        **settings,
        "algorithm": result.algorithm,
        "norm": norm_name(result.p),
        "xi": result.xi,
        "delta": result.delta,
        "train_fooling_rate": result.fooling_rate,
        "test_fooling_rate": evaluation.fooling_rate,
        "random_fooling_rate": evaluation.random_fooling_rate,
        "clean_accuracy": evaluation.clean_accuracy,
        "perturbed_accuracy": evaluation.perturbed_accuracy,
        "linf": evaluation.linf,
        "l2": evaluation.l2,
        "passes": result.passes,
        "seconds": result.seconds,
        "finished": result.finished,
        "target_reached": result.target_reached,
        "test_images": int(evaluation.clean_labels.numel()),
        "class_flow": evaluation.flow.tolist(),
        "dominant_labels": [{"class": CLASS_NAMES[i], "share_of_fooled": shares[i].item()} for i in top],
        "history": [asdict(record) for record in result.history],
    }

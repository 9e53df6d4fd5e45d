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
    A targeted run adds ``target`` (class name), ``target_index`` and the train and test targeted success
    rates (``evaluation`` should then be made with the same ``target``); an untargeted run's keys are unchanged.
    """
    if not isinstance(result, UAPResult):
        raise ValueError(f"result must be a UAPResult (from universal_perturbation), got {describe(result)}")
    if not isinstance(evaluation, Evaluation):
        raise ValueError(f"evaluation must be an Evaluation (from evaluate), got {describe(evaluation)}")
    shares = dominant_labels(evaluation.flow)
    top = shares.argsort(descending=True)[:2].tolist()
    targeted = {}
    if result.target_class is not None:
        targeted = {
            "target": CLASS_NAMES[result.target_class],
            "target_index": result.target_class,
            "train_targeted_success_rate": result.targeted_success_rate,
            "test_targeted_success_rate": evaluation.targeted_success_rate,
        }
    return {
        **settings,
        **targeted,
        "algorithm": result.settings.algorithm,
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
        "history": [{k: x for k, x in asdict(record).items() if x is not None} for record in result.history],
    }

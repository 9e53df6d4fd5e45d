"""uap_core: universal adversarial perturbations on Fashion-MNIST, as a library and a command line.

Conventions: images are float tensors in [0, 1] shaped (N, C, H, W); ξ is measured in that pixel
space; perturbed images are clip(x + v, 0, 1); normalisation lives inside the model.

>>> from uap_core import load_model, load_fashion_mnist, universal_perturbation
>>> model = load_model("convnet")
>>> images = load_fashion_mnist("train").subset(500).images
>>> result = universal_perturbation(model, images, xi=0.2, norm="inf", delta=0.2, max_passes=5, seed=0)
>>> bag = universal_perturbation(model, images, algorithm="fast", target="Bag")
"""

from .data import CLASS_NAMES, Dataset, DataUnavailableError, data_dir, load_fashion_mnist
from .deepfool import ITERATES, DeepFool, DeepFoolOptions, DeepFoolResult, deepfool
from .metrics import (
    Evaluation,
    accuracy,
    class_flow,
    dominant_labels,
    evaluate,
    fooling_rate,
    perturb,
    predict,
    random_fooling_rate,
)
from .models import DEFAULT_MODEL, DEFENDED_MODEL, MODEL_NAMES, build_model, load_model, model_card
from .norms import parse_norm, project, random_perturbation, rescale
from .objectives import Targeted, Untargeted, parse_target, targeted_success_rate
from .settings import ALGORITHMS, DEFAULT_XI, UAPSettings
from .stats import Stats
from .uap import HistoryRecord, UAPResult, iter_universal_perturbation, universal_perturbation

__all__ = [
    "ALGORITHMS",
    "CLASS_NAMES",
    "DEFAULT_MODEL",
    "DEFAULT_XI",
    "DEFENDED_MODEL",
    "ITERATES",
    "MODEL_NAMES",
    "DataUnavailableError",
    "Dataset",
    "DeepFool",
    "DeepFoolOptions",
    "DeepFoolResult",
    "Evaluation",
    "HistoryRecord",
    "Stats",
    "Targeted",
    "UAPResult",
    "UAPSettings",
    "Untargeted",
    "accuracy",
    "build_model",
    "class_flow",
    "data_dir",
    "deepfool",
    "dominant_labels",
    "evaluate",
    "fooling_rate",
    "iter_universal_perturbation",
    "load_fashion_mnist",
    "load_model",
    "model_card",
    "parse_norm",
    "parse_target",
    "perturb",
    "predict",
    "project",
    "random_fooling_rate",
    "random_perturbation",
    "rescale",
    "targeted_success_rate",
    "universal_perturbation",
]

"""The paper's findings as experiments: a run function, a result, a figure and a shipped result each.

>>> from uap_core.experiments import EXPERIMENTS, load_result
>>> result = load_result("random_noise")            # the shipped result, computed by the command line
>>> fig = EXPERIMENTS["random_noise"].figure(result)  # plotly; result.caption() says what produced it
>>> quick = EXPERIMENTS["random_noise"].quick     # settings for a live recompute in about 20 s
>>> fresh = EXPERIMENTS["random_noise"].run(**quick, progress=lambda fraction, message: print(fraction, message))
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from .common import ExperimentResult, Progress
from .defence import DefenceResult, run_defence
from .diversity import DiversityResult, run_diversity
from .dominant_labels import DominantLabelsResult, run_dominant_labels
from .figures import figure
from .finetune import FinetuneResult, run_finetune
from .geometry import GeometryResult, run_geometry
from .random_noise import RandomNoiseResult, run_random_noise
from .sample_size import SampleSizeResult, run_sample_size
from .transfer import TransferResult, run_transfer

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    claim: str  # the paper's claim, one sentence
    run: Callable[..., ExperimentResult]  # run(**settings, progress=None)
    result_class: type[ExperimentResult]
    quick: dict[str, Any] = field(default_factory=dict)  # settings for a live recompute in about 20 s on 2 cores

    def figure(self, result: ExperimentResult) -> go.Figure:
        return figure(result)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("sample_size", "A few images suffice",
                   "A universal perturbation built from a small set of training images fools most unseen images.",
                   run_sample_size, SampleSizeResult,
                   {"sizes": (25, 100, 500), "seeds": (0, 1), "max_passes": 2, "min_visits": 500, "n_test": 1000}),
        Experiment("random_noise", "Universal noise is not just noise",
                   "A universal perturbation fools far more images than random noise of the same norm.",
                   run_random_noise, RandomNoiseResult,
                   {"xis_inf": (0.1, 0.2, 0.3), "xis_2": (2.0, 4.0, 6.0), "n_train": 200, "max_passes": 3,
                    "n_test": 1000, "random_trials": 3, "sweep_xis": (0.02, 0.05, 0.1)}),
        Experiment("dominant_labels", "Dominant labels",
                   "Fooled images land mostly in a few dominant classes.",
                   run_dominant_labels, DominantLabelsResult, {"n_train": 100, "max_passes": 2, "n_test": 1000}),
        Experiment("diversity", "Diversity",
                   "Different runs give different perturbations (low cosine similarity) that all fool the model.",
                   run_diversity, DiversityResult,
                   {"seeds": (0, 1, 2), "n_train": 100, "max_passes": 2, "n_test": 1000}),
        Experiment("transfer", "Doubly universal: transfer between architectures",
                   "A perturbation computed on one architecture also fools the others.",
                   run_transfer, TransferResult, {"n_train": 200, "max_passes": 3, "n_test": 1000}),
        Experiment("geometry", "Why it works: geometry",
                   "The normals to the decision boundary lie close to a low-dimensional subspace; random vectors "
                   "from it fool far more often than random vectors from the whole space.",
                   run_geometry, GeometryResult, {"n_points": 200, "dims": (10, 50), "trials": 3, "n_test": 1000}),
        Experiment("finetune", "Fine-tuning does not make the model robust",
                   "Fine-tuning on universally perturbed images lowers the fooling rate of a fresh universal "
                   "perturbation, but it stays high.",
                   run_finetune, FinetuneResult,
                   {"rounds": 1, "uaps_per_round": 1, "n_finetune": 1000, "n_train": 200, "max_passes": 3,
                    "n_test": 1000}),
        Experiment("defence", "Can it be defended? Universal adversarial training",
                   "Beyond the paper: a network trained against a universal perturbation as it learns (universal "
                   "adversarial training) resists fresh universal perturbations far better than the paper's "
                   "fine-tuning, while per-image attacks still fool it.",
                   run_defence, DefenceResult,
                   {"n_train": 200, "seeds": (0,), "max_passes": (3, 1), "n_test": 1000, "n_deepfool": 100,
                    "random_trials": 3}),
    )
}  # fmt: skip


def experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def result_path(name: str) -> Path:
    """Where the shipped result of experiment ``name`` lives."""
    return RESULTS_DIR / experiment(name).name / "result.json"


def load_result(name: str, path: str | Path | None = None) -> ExperimentResult:
    """The result of experiment ``name`` from ``path`` (default: the shipped one, :func:`result_path`)."""
    path = Path(path) if path is not None else result_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no {name} result at {path}; run `python -m uap_core experiment {name}`")
    return experiment(name).result_class.from_dict(json.loads(path.read_text()))


__all__ = ["EXPERIMENTS", "RESULTS_DIR", "Experiment", "ExperimentResult", "Progress", "experiment", "figure",
           "load_result", "result_path"]  # fmt: skip

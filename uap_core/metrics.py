"""How well a perturbation works: predictions, fooling rate, accuracy, random baseline, class flow.

The fooling rate follows the paper: the share of images whose predicted label changes when the
perturbation is added, k̂(clip(x + v)) != k̂(x), whatever the true label.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .norms import lp_norm, random_perturbation
from .targeted import parse_target, targeted_success_rate

# Evaluation batch: on CPU, batches of a few hundred 28x28 images stay in cache and run about 1.7x
# faster per image than batches of 1,000 (measured on 2 cores); it also bounds memory.
EVAL_BATCH = 250


def perturb(images: torch.Tensor, v: torch.Tensor | None) -> torch.Tensor:
    """clip(x + v) to [0, 1]; ``v`` (C, H, W) broadcasts over the batch (N, C, H, W)."""
    return images if v is None else (images + v).clamp_(0.0, 1.0)


@torch.inference_mode()
def logits(model: nn.Module, images: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (N, K) of the model on clip(x + v), computed in batches to bound memory."""
    return torch.cat([model(perturb(batch, v)) for batch in images.split(EVAL_BATCH)])


def predict(model: nn.Module, images: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
    """Predicted labels (N,) on clip(x + v)."""
    return logits(model, images, v).argmax(1)


def fooling_rate(
    model: nn.Module, images: torch.Tensor, v: torch.Tensor, clean_labels: torch.Tensor | None = None
) -> float:
    """Share of images whose prediction changes under ``v``. Pass ``clean_labels`` to skip recomputing them."""
    if clean_labels is None:
        clean_labels = predict(model, images)
    return (predict(model, images, v) != clean_labels).float().mean().item()


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, v: torch.Tensor | None = None) -> float:
    """Share of correct predictions on clip(x + v) (on the clean images when ``v`` is None)."""
    return (predict(model, images, v) == labels).float().mean().item()


def random_fooling_rate(
    model: nn.Module,
    images: torch.Tensor,
    size: float,
    p: float,
    trials: int = 5,
    seed: int = 0,
    clean_labels: torch.Tensor | None = None,
) -> float:
    """Mean fooling rate of ``trials`` random perturbations whose ℓp norm is exactly ``size``."""
    if clean_labels is None:
        clean_labels = predict(model, images)
    generator = torch.Generator().manual_seed(seed)
    rates = [
        fooling_rate(model, images, random_perturbation(images.shape[1:], size, p, generator).to(images), clean_labels)
        for _ in range(trials)
    ]
    return sum(rates) / len(rates)


def class_flow(clean_labels: torch.Tensor, perturbed_labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Counts (K, K): entry [i, j] is how many images predicted i when clean are predicted j when perturbed."""
    index = clean_labels.long() * num_classes + perturbed_labels.long()
    return torch.bincount(index.cpu(), minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def dominant_labels(flow: torch.Tensor) -> torch.Tensor:
    """Share of the fooled images (off-diagonal of ``flow``) that land in each perturbed class (K,)."""
    fooled = flow.clone()
    fooled.fill_diagonal_(0)
    into = fooled.sum(0).double()
    total = into.sum()
    return into / total if total > 0 else into


@dataclass(frozen=True)
class Evaluation:
    """A perturbation judged on a labelled set of images the perturbation (usually) never saw."""

    fooling_rate: float
    clean_accuracy: float
    perturbed_accuracy: float
    random_fooling_rate: float
    linf: float
    l2: float
    flow: torch.Tensor  # (K, K) clean predicted class -> perturbed predicted class
    clean_labels: torch.Tensor  # (N,) predictions on the clean images
    perturbed_labels: torch.Tensor  # (N,) predictions on clip(x + v)
    target_class: int | None = None  # when judged as a targeted perturbation: the class index it aims at
    targeted_success_rate: float | None = None  # then: share of the images not predicted target_class sent there


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    v: torch.Tensor,
    p: float,
    random_trials: int = 5,
    seed: int = 0,
    target: int | str | None = None,
) -> Evaluation:
    """Fooling rate, accuracies, random baseline of the same ℓp norm as ``v``, and the class flow.

    ``target`` (a class index or name): also the targeted success rate towards that class.
    """
    target_class = parse_target(target)
    clean = predict(model, images)
    perturbed = predict(model, images, v)
    size = lp_norm(v, p).item()
    return Evaluation(
        fooling_rate=(perturbed != clean).float().mean().item(),
        clean_accuracy=(clean == labels).float().mean().item(),
        perturbed_accuracy=(perturbed == labels).float().mean().item(),
        random_fooling_rate=random_fooling_rate(model, images, size, p, random_trials, seed, clean),
        linf=v.abs().max().item(),
        l2=torch.linalg.vector_norm(v).item(),
        flow=class_flow(clean, perturbed),
        clean_labels=clean,
        perturbed_labels=perturbed,
        target_class=target_class,
        targeted_success_rate=None if target_class is None else targeted_success_rate(clean, perturbed, target_class),
    )

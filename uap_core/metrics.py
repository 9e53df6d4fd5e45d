"""How well a perturbation works: predictions, fooling rate, accuracy, random baseline, class flow.

The fooling rate follows the paper: the share of images whose predicted label changes when the
perturbation is added, k̂(clip(x + v)) != k̂(x), whatever the true label.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import nn

from .checks import (
    check_images,
    check_int,
    check_labels,
    check_model,
    check_number,
    check_perturbation,
    check_seed,
    describe,
)
from .norms import lp_norm, parse_norm, random_perturbation
from .objectives import parse_target, targeted_success_rate

# Evaluation batch: on CPU, 100 images run as fast per image as 250 and faster than 500 or 1,000, with a fifth of
# the activations held at once; a server evaluates in several threads at a time (docs/design/allocator.md).
EVAL_BATCH = 100


def _check(model: nn.Module | None, images: object, v: object, v_required: bool = False) -> None:
    """A model, a batch of images for it and a perturbation ``v`` shaped like one image (or None)."""
    if model is not None:
        check_model(model)
    check_images(images, model)
    if v is not None or v_required:
        check_perturbation(v, tuple(images.shape[1:]), "v", images.dtype)


def perturb(images: torch.Tensor, v: torch.Tensor | None) -> torch.Tensor:
    """clip(x + v) to [0, 1]; ``v`` (C, H, W) broadcasts over the batch (N, C, H, W)."""
    _check(None, images, v)
    return images if v is None else (images + v).clamp_(0.0, 1.0)


@torch.inference_mode()
def logits(model: nn.Module, images: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (N, K) of the model on clip(x + v), computed in batches to bound memory."""
    _check(model, images, v)
    return torch.cat(
        [model(batch if v is None else (batch + v).clamp_(0.0, 1.0)) for batch in images.split(EVAL_BATCH)]
    )


def predict(model: nn.Module, images: torch.Tensor, v: torch.Tensor | None = None, workers: int = 1) -> torch.Tensor:
    """Predicted labels (N,) on clip(x + v).

    ``workers``: threads the images are split between, for a caller that runs torch on one thread per computation
    (the web server); the labels are the same whatever the number.
    """
    workers = check_int(workers, "workers", low=1, high=64)
    if workers == 1:
        return logits(model, images, v).argmax(1)
    _check(model, images, v)  # here, not in the threads: one refusal, not one per thread
    # Each thread takes a contiguous share; torch releases the interpreter lock inside its operations.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="uap-predict") as pool:
        shares = pool.map(lambda share: logits(model, share, v), images.tensor_split(workers))
        return torch.cat(list(shares)).argmax(1)


def fooling_rate(
    model: nn.Module, images: torch.Tensor, v: torch.Tensor, clean_labels: torch.Tensor | None = None
) -> float:
    """Share of images whose prediction changes under ``v``. Pass ``clean_labels`` to skip recomputing them."""
    _check(model, images, v, v_required=True)
    if clean_labels is None:
        clean_labels = predict(model, images)
    check_labels(clean_labels, images.shape[0], "clean_labels")
    return (predict(model, images, v) != clean_labels).float().mean().item()


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, v: torch.Tensor | None = None) -> float:
    """Share of correct predictions on clip(x + v) (on the clean images when ``v`` is None)."""
    _check(model, images, v)
    check_labels(labels, images.shape[0])
    return (predict(model, images, v) == labels).float().mean().item()


def random_fooling_rate(
    model: nn.Module,
    images: torch.Tensor,
    size: float,
    p: float | str,
    trials: int = 5,
    seed: int = 0,
    clean_labels: torch.Tensor | None = None,
) -> float:
    """Mean fooling rate of ``trials`` random perturbations whose ℓp norm is exactly ``size``."""
    _check(model, images, None)
    size, p = check_number(size, "size", low=0), parse_norm(p, "p")
    trials, seed = check_int(trials, "trials"), check_seed(seed)
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
    num_classes = check_int(num_classes, "num_classes", low=1)
    check_labels(clean_labels, clean_labels.shape[0] if isinstance(clean_labels, torch.Tensor) else 0, "clean_labels")
    check_labels(perturbed_labels, clean_labels.shape[0], "perturbed_labels")
    if clean_labels.numel() and max(clean_labels.max().item(), perturbed_labels.max().item()) >= num_classes:
        raise ValueError(f"labels must be class indices below num_classes = {num_classes}")
    index = clean_labels.long() * num_classes + perturbed_labels.long()
    return torch.bincount(index.cpu(), minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def dominant_labels(flow: torch.Tensor) -> torch.Tensor:
    """Share of the fooled images (off-diagonal of ``flow``) that land in each perturbed class (K,)."""
    if not isinstance(flow, torch.Tensor) or flow.dim() != 2 or flow.shape[0] != flow.shape[1] or flow.numel() == 0:
        raise ValueError(f"flow must be a square (K, K) tensor of counts, from class_flow, got {describe(flow)}")
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
    p: float | str,
    random_trials: int = 5,
    seed: int = 0,
    target: int | str | None = None,
    clean_labels: torch.Tensor | None = None,
    workers: int = 1,
) -> Evaluation:
    """Fooling rate, accuracies, random baseline of the same ℓp norm as ``v``, and the class flow.

    ``images`` (N, C, H, W) float32 in [0, 1], ``labels`` (N,) the true classes, ``v`` (C, H, W) finite,
    ``p``: the norm ``v`` is measured in (2 or "inf", any spelling :func:`~uap_core.norms.parse_norm` takes).
    ``random_trials``: random perturbations drawn (seeded by ``seed``) for the baseline; 0 draws none and
    leaves ``random_fooling_rate`` NaN, for a caller that keeps baselines of its own.
    ``target`` (a class index or name): also the targeted success rate towards that class.
    ``clean_labels`` (N,): the model's predictions on the clean ``images``, when the caller has them already.
    ``workers``: threads the perturbed images are split between, for a caller that runs torch on one thread
    per computation (the web server); the labels are the same whatever the number.
    """
    _check(model, images, v, v_required=True)
    check_labels(labels, images.shape[0])
    p, seed = parse_norm(p, "p"), check_seed(seed)
    random_trials = check_int(random_trials, "random_trials", low=0)
    target_class = parse_target(target)
    if clean_labels is not None:
        check_labels(clean_labels, images.shape[0], "clean_labels")
    clean = predict(model, images) if clean_labels is None else clean_labels
    perturbed = predict(model, images, v, workers)
    size = lp_norm(v, p).item()
    return Evaluation(
        fooling_rate=(perturbed != clean).float().mean().item(),
        clean_accuracy=(clean == labels).float().mean().item(),
        perturbed_accuracy=(perturbed == labels).float().mean().item(),
        random_fooling_rate=random_fooling_rate(model, images, size, p, random_trials, seed, clean)
        if random_trials
        else math.nan,
        linf=v.abs().max().item(),
        l2=torch.linalg.vector_norm(v).item(),
        flow=class_flow(clean, perturbed),
        clean_labels=clean,
        perturbed_labels=perturbed,
        target_class=target_class,
        targeted_success_rate=None if target_class is None else targeted_success_rate(clean, perturbed, target_class),
    )

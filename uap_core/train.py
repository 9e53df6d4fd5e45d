"""Training the classifiers whose weights the package ships (``python -m uap_core train``).

This is the one place where parameters receive gradients: it trains a fresh model object it
built itself, never a model loaded for attacks.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_positive_int
from .data import Dataset
from .metrics import accuracy
from .models import WEIGHTS_DIR, build_model, count_parameters, freeze, model_spec, weights_path
from .uat import METHOD as UAT_METHOD
from .uat import UATOptions
from .uat import uat_step as universal_adversarial_step  # the name uat_step is train()'s option


@dataclass(frozen=True)
class TrainReport:
    model: str
    parameters: int
    train_images: int
    test_images: int
    test_accuracy: float
    epochs: int
    noise: float
    seed: int
    seconds: float
    torch_version: str
    description: str = ""  # what the model is, from the model registry
    method: str = "natural training"  # or universal adversarial training (uap_core.uat)
    uat_xi: float | None = None  # ℓ∞ radius of the universal perturbation trained against (pixel units)
    uat_step: float | None = None  # that perturbation's sign step per mini-batch (pixel units)
    uat_start: str | None = None  # the shipped model whose weights the training started from (None: fresh weights)


def augment(images: torch.Tensor, generator: torch.Generator, noise: float = 0.0) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 pixels: clothes stay clothes either way.

    With ``noise`` > 0, half of the images also get random noise: random signs or a Gaussian, each
    scaled to a random ℓ∞ size up to ``noise``. The model then ignores random noise, as the paper's
    ImageNet networks do, and what fools it has to be a structured direction.
    """
    n = images.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip.view(n, 1, 1, 1), images.flip(-1), images)
    shifts = torch.randint(-2, 3, (n, 2), generator=generator).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shifts * (2.0 / images.shape[-1])
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    if noise <= 0:
        return images
    signs = torch.randint(0, 2, images.shape, generator=generator).float() * 2 - 1
    gaussian = torch.randn(images.shape, generator=generator)
    gaussian = gaussian / gaussian.flatten(1).abs().amax(1).view(n, 1, 1, 1)
    kind = (torch.rand(n, generator=generator) < 0.5).view(n, 1, 1, 1)
    size = noise * torch.rand(n, generator=generator) * (torch.rand(n, generator=generator) < 0.5)
    return (images + size.view(n, 1, 1, 1) * torch.where(kind, signs, gaussian)).clamp(0.0, 1.0)


def _check_number(value: float, name: str, low: float, high: float, low_open: bool) -> float:
    """A finite real number in (low, high] (``low_open``) or [low, high]; never a bool."""
    number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not number or value > high or (value <= low if low_open else value < low):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def check_training_options(
    epochs: int, batch_size: int, lr: float, seed: int, noise: float | None
) -> tuple[int, int, float, int, float | None]:
    """The training options, validated: a ValueError names the first bad one, what it expects and what came."""
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    lr = _check_number(lr, "lr", 0.0, 1.0, low_open=True)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if noise is not None:
        noise = _check_number(noise, "noise", 0.0, 1.0, low_open=False)
    return epochs, batch_size, lr, seed, noise


def train(
    name: str,
    train_set: Dataset,
    test_set: Dataset,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    noise: float | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    uat_step: float | None = None,
) -> tuple[nn.Module, TrainReport]:
    """Train a fresh ``name`` model with AdamW and a one-cycle schedule; report its test accuracy.

    ``noise``: the largest ℓ∞ size of the random-noise augmentation (see :func:`augment`; 0 turns it off);
    None takes the model's own (:data:`uap_core.models.MODELS`: 0.25, and 0 for ``convnet_plain``).
    A model whose spec names a universal adversary (``convnet_uat``) is trained with universal adversarial
    training (:func:`uap_core.uat.uat_step`) on top of the same recipe; ``uat_step`` (pixel units) replaces its
    perturbation's step, and is refused for any other model.
    ``on_epoch(epoch, mean_loss)`` is called after each epoch (for a progress bar).
    Bad options raise a ValueError naming the option before anything is computed.
    """
    spec = model_spec(name)
    epochs, batch_size, lr, seed, noise = check_training_options(epochs, batch_size, lr, seed, noise)
    noise = spec.noise if noise is None else noise
    adversary = _adversary(name, spec.uat, uat_step)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, without reseeding the caller's generator
        torch.manual_seed(seed)
        model = build_model(name)
    if adversary is not None and adversary.start is not None:  # universal adversarial fine-tuning of a trained model
        model.load_state_dict(torch.load(weights_path(adversary.start), map_location="cpu", weights_only=True))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    steps_per_epoch = -(-len(train_set) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    # The universal perturbation of adversarial training: training state, kept across batches and epochs.
    delta = torch.zeros(train_set.images.shape[1:]) if adversary is not None else None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train_set), generator=generator)
        total = 0.0
        for batch in order.split(batch_size):
            images, labels = augment(train_set.images[batch], generator, noise), train_set.labels[batch]
            if adversary is None:
                loss = F.cross_entropy(model(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            else:
                step = adversary.delta_step
                delta, loss = universal_adversarial_step(model, optimizer, images, labels, delta, adversary.xi, step)
            schedule.step()
            total += loss.item() * len(batch)
        if on_epoch is not None:
            on_epoch(epoch, total / len(train_set))
    seconds = time.perf_counter() - start
    freeze(model)
    report = TrainReport(
        model=name,
        parameters=count_parameters(model),
        train_images=len(train_set),
        test_images=len(test_set),
        test_accuracy=accuracy(model, test_set.images, test_set.labels),
        epochs=epochs,
        noise=noise,
        seed=seed,
        seconds=round(seconds, 1),
        torch_version=torch.__version__,
        description=spec.description,
    )
    if adversary is not None:
        report = replace(report, method=UAT_METHOD, uat_xi=adversary.xi, uat_step=adversary.delta_step,
                         uat_start=adversary.start)  # fmt: skip
    return model, report


def _adversary(name: str, uat: UATOptions | None, step: float | None) -> UATOptions | None:
    """The model's universal adversary with ``step`` in place of its own (None: keep it); a ValueError for a step
    given to a model trained without one."""
    if step is None:
        return uat
    if uat is None:
        raise ValueError(f"uat_step applies to a model trained with universal adversarial training, not {name!r}")
    return UATOptions(uat.xi, step, uat.start)


def save_weights(model: nn.Module, report: TrainReport, directory: Path = WEIGHTS_DIR, command: str = "") -> Path:
    """Write ``<model>.pt`` (state dict) and ``<model>.json`` (the report, with ``command`` when given)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.model}.pt"
    torch.save(model.state_dict(), path)
    card = asdict(report) | ({"command": command} if command else {})
    (directory / f"{report.model}.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return path

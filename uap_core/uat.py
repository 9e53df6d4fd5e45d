"""Universal adversarial training (Shafahi, Najibi, Xu, Dickerson, Davis, Goldstein, AAAI 2020).

Training is a game between the weights θ and one universal perturbation δ shared by every image:

    min_θ  max_{‖δ‖∞ ≤ ξ}  E_(x, y) [ cross_entropy(f_θ(clip(x + δ, 0, 1)), y) ]

played by alternating updates on each mini-batch (:func:`uat_step`): one sign-gradient ascent step of δ on the
batch's loss, projected back onto the ℓ∞ ball of radius ξ, then one descent step of the weights on the loss over
the same batch perturbed by the new δ. δ is training state: it carries over from batch to batch and from epoch to
epoch, so it keeps chasing the weakness of the current weights while the weights learn to ignore it. Each batch
costs two forward and backward passes, about twice natural training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_number, check_xi

METHOD = "universal adversarial training (FTB)"


@dataclass(frozen=True)
class UATOptions:
    """The adversary of universal adversarial training, in [0, 1] pixel units.

    ``xi``: the ℓ∞ radius of the universal perturbation δ. ``step``: the length of δ's sign step per mini-batch;
    None takes ξ / 10 (:meth:`delta_step`), so that δ crosses its ball from one face to the other (2ξ) in 20
    batches, about a third of an epoch on the 8,226 training images: quick enough to follow the weights, which
    change little per batch, and small enough that one noisy batch gradient moves it by a tenth of ξ only.
    ``start``: the shipped model (same architecture) whose trained weights the training starts from; None starts
    from fresh weights. Starting from the naturally trained network keeps more of its clean accuracy than training
    from scratch, for more robustness (docs/defence.md).
    """

    xi: float
    step: float | None = None
    start: str | None = None

    def __post_init__(self) -> None:
        check_xi(self.xi, "uat xi")
        if self.step is not None:
            check_number(self.step, "uat_step", low=0, high=2 * self.xi, low_open=True)

    @property
    def delta_step(self) -> float:
        return self.xi / 10 if self.step is None else float(self.step)


def perturbed(images: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """clip(x + δ, 0, 1): images (N, C, H, W) plus one perturbation (C, H, W), kept inside the pixel box."""
    return (images + delta).clamp(0.0, 1.0)


@contextmanager
def batchnorm_statistics_kept(model: nn.Module) -> Iterator[None]:
    """Inside the block, batch norm layers in training mode still normalise with the batch's own statistics but
    leave their running statistics alone (momentum 0): δ's ascent pass must not count the batch twice."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        yield
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def uat_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    delta: torch.Tensor,
    xi: float,
    step: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One alternating update of universal adversarial training on one mini-batch.

    ``images``: (N, C, H, W) in [0, 1]; ``labels``: (N,) true classes; ``delta``: (C, H, W) the current universal
    perturbation, ‖δ‖∞ ≤ ``xi``; ``xi`` and ``step`` in pixel units.

    1. Ascent: δ ← clamp(δ + step · sign(∇_δ L(clip(x + δ))), -ξ, ξ), with L the batch's mean cross-entropy.
    2. Descent: one ``optimizer`` step of the weights on L(clip(x + δ)) with the new δ.

    Returns the new δ (C, H, W), detached, inside the ξ-ball, and the loss of step 2 (a 0-dim tensor, nats per
    image) before the weights moved. Only the weights receive ``.grad``; ``delta`` is not modified in place.
    """
    delta = delta.detach().requires_grad_(True)
    with batchnorm_statistics_kept(model):
        ascent_loss = F.cross_entropy(model(perturbed(images, delta)), labels)
    # Gradient for δ alone: no parameter gradient is built or left behind by the ascent pass.
    (gradient,) = torch.autograd.grad(ascent_loss, delta)
    delta = (delta.detach() + step * gradient.sign()).clamp(-xi, xi)
    loss = F.cross_entropy(model(perturbed(images, delta)), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return delta, loss.detach()

"""``fast``: batched projected gradient descent on v (this project's design), for any objective.

Each step takes one forward and one backward pass over a mini-batch of ``batch_size`` images at clip(x + v)
and moves v down the objective's loss by ξ·``step_size`` (in signs for ℓ∞, along the unit gradient for ℓ2),
then projects v back onto the ξ-ball. A pass costs about one forward and backward pass over the images, where
Algorithm 1 runs DeepFool for every image v does not do yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import partial

import torch
from torch import nn

from .metrics import perturb
from .norms import project
from .steps import Problem, Step


def fast_steps(problem: Problem) -> Iterator[Step]:
    """Mini-batch steps; yields a :class:`~uap_core.steps.Step` at every report.

    Measuring v on all the images costs a forward pass over them, as much as a quarter of a pass here: so ``fast``
    asks for it at its first report (a run stopped early still keeps a measured v) and at the end of each pass
    only (docs/algorithms.md). ``problem.should_stop()`` is asked before every mini-batch.
    """
    model, images, clean, settings = problem.model, problem.images, problem.clean, problem.settings
    n = images.shape[0]
    generator = torch.Generator().manual_seed(settings.seed)
    v = torch.zeros_like(images[0])
    length = settings.xi * settings.step_size
    processed, run_length = 0, n * settings.max_passes  # images stepped on, of all the run's
    for pass_index in range(1, settings.max_passes + 1):
        order = torch.randperm(n, generator=generator).to(images.device)
        seen = 0
        for segment in order.split(problem.report_every):
            for batch in segment.split(settings.batch_size):
                if problem.should_stop():
                    return
                with problem.stats.timing("fast_steps"):
                    loss = partial(problem.objective.loss, clean=clean[batch], progress=processed / run_length)
                    direction = unit_descent(model, images[batch], v, settings.p, loss)
                    v = project(v - length * direction, settings.xi, settings.p)
                processed += len(batch)
            seen += len(segment)
            yield Step(pass_index, seen, v, measure=seen == n or processed == len(segment))


def unit_descent(
    model: nn.Module, images: torch.Tensor, v: torch.Tensor, p: float, loss: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """The unit descent direction (C, H, W) of ``loss(logits)`` at clip(x + v) with respect to v: the gradient's
    signs for ℓ∞, the gradient over its ℓ2 norm for ℓ2 (zero where the gradient is zero)."""
    v = v.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(loss(model(perturb(images, v))), v)
    if math.isinf(p):
        return gradient.sign()
    return gradient / (gradient.norm() + 1e-12)

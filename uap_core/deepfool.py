"""DeepFool (Moosavi-Dezfooli, Fawzi, Frossard, CVPR 2016, arXiv 1511.04599), batched, ℓ2.

For each image, DeepFool linearises the classifier around the current point, steps to the
nearest linearised decision boundary among the top-k candidate classes, and repeats until the
predicted label changes. The result approximates the smallest ℓ2 perturbation that changes it.

All images of a batch are processed together; the ones already fooled drop out. Each step is one
traced forward pass and the k - 1 class gradients pulled back together (:mod:`uap_core.linearise`;
autograd for models it does not know), with respect to the input only, so the model's parameters
are never touched (and need no gradients at all).

By default the step is the paper's: the unconstrained linearisation, evaluated (with ``clip``)
on the images that exist, clip(x + r, 0, 1). ``box_aware=True`` is our variant: it also drops
the directions of pixels that the [0, 1] box pins, which changes the step (see the README).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_deepfool_options, check_flag, check_images, check_model, check_positive_int
from .linearise import Trace, tracer


@dataclass(frozen=True)
class DeepFoolResult:
    perturbation: torch.Tensor  # (N, *image) the perturbation r, overshoot included; fooled: clip(x + r)
    iterations: torch.Tensor  # (N,) linearisation steps taken per image
    converged: torch.Tensor  # (N,) bool: the label did change within max_iter
    labels: torch.Tensor  # (N,) the labels predicted on the unperturbed images


def deepfool(
    model: nn.Module,
    images: torch.Tensor,
    num_candidates: int = 10,
    overshoot: float = 0.02,
    max_iter: int = 50,
    clip: bool = True,
    batch_size: int = 32,
    box_aware: bool = False,
) -> DeepFoolResult:
    """Minimal ℓ2 perturbations that change the model's label, for a batch (N, ...) of images.

    ``num_candidates``: how many of the top-scoring classes (the original one included) are
    considered as targets. ``overshoot``: the final perturbation is (1 + overshoot) times the
    accumulated steps, which pushes points just across the boundary. ``clip``: evaluate the model
    on clip(x + r, 0, 1), the images that actually exist (``clip=False``: plain, unconstrained DeepFool).
    ``box_aware`` (only with ``clip``): leave out the directions of pixels pinned at 0 or 1, a
    deviation from the paper. Images are processed ``batch_size`` at a time.
    """
    check_images(images, check_model(model), batched_4d=False)
    check_deepfool_options(num_candidates, overshoot, max_iter)
    check_flag(clip, "clip")
    check_flag(box_aware, "box_aware")
    check_positive_int(batch_size, "batch_size")
    forward = tracer(model)  # the model is prepared once for all batches and steps
    parts = [
        _deepfool_batch(forward, batch, num_candidates, overshoot, max_iter, clip, box_aware)
        for batch in images.split(batch_size)
    ]
    return DeepFoolResult(*(torch.cat(field) for field in zip(*parts, strict=True)))


def drop_pinned(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The directions ``w`` without their components that would push pixels of ``x`` (broadcastable to ``w``)
    pinned at 0 below 0, or pinned at 1 above 1: the box-aware step goes to the nearest boundary the [0, 1]
    box allows instead of being clipped away."""
    return w.masked_fill(((x <= 0) & (w < 0)) | ((x >= 1) & (w > 0)), 0.0)


def _deepfool_batch(
    forward: Callable[[torch.Tensor], Trace], images: torch.Tensor, num_candidates: int, overshoot: float,
    max_iter: int, clip: bool, box_aware: bool,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """DeepFool on checked arguments, with the model prepared by :func:`uap_core.linearise.tracer`: the fields of
    a :class:`DeepFoolResult`. For callers that run it many times on one model (Algorithm 1: once per unfooled
    image), so that neither the checks nor the preparation are repeated."""
    n, device = images.shape[0], images.device
    total = torch.zeros_like(images)  # accumulated steps, before overshoot
    iterations = torch.zeros(n, dtype=torch.long, device=device)
    converged = torch.zeros(n, dtype=torch.bool, device=device)
    active = torch.arange(n, device=device)  # the images still moving, as rows of the batch
    x = images  # x + 0, clipped or not, is x itself
    traced = forward(x)
    z = traced.logits
    k = min(num_candidates, z.shape[1])
    candidates = z.topk(k, dim=1).indices  # column 0: the original label
    labels = candidates[:, 0]
    # f_j = z_j - z_label for the other candidates j; its gradient is that of the logits' combination e_j - e_label.
    one_hot = torch.eye(z.shape[1], dtype=z.dtype, device=device)
    cotangents = one_hot[candidates[:, 1:]] - one_hot[labels].unsqueeze(1)  # (n, k - 1, K)
    for step in range(max_iter + 1):
        if step > 0:
            x = images[active].add_(total[active], alpha=1 + overshoot)
            x = x.clamp_(0.0, 1.0) if clip else x
            traced = forward(x)
            z = traced.logits
        fooled = z.argmax(1) != labels[active]
        rows = None  # the rows of this trace that still move (None: all of them)
        if fooled.any():
            done = active[fooled]
            converged[done], iterations[done] = True, step
            rows = (~fooled).nonzero().flatten()
            active = active[rows]
            if len(active) == 0:
                break
            z, x = z[rows], x[rows]
        if step == max_iter:
            iterations[active] = step
            break
        # The linearised boundary with class j is f_j + w_j·r = 0, with f_j < 0 while the image is not fooled.
        f = z.gather(1, candidates[active, 1:]) - z.gather(1, labels[active, None])
        w = traced.gradients(cotangents[active], rows)  # (m, k - 1, *image)
        if clip and box_aware:
            w = drop_pinned(w, x.unsqueeze(1))
        w_norm = torch.linalg.vector_norm(w.flatten(2), dim=2) + 1e-8
        gap = f.abs()
        nearest = (gap / w_norm).argmin(1, keepdim=True)  # the closest linearised boundary per image
        size = (gap.gather(1, nearest) + 1e-4) / w_norm.gather(1, nearest).square()  # (m, 1)
        w_nearest = w[torch.arange(len(w), device=device), nearest.squeeze(1)]  # (m, *image)
        total.index_add_(0, active, size.view(-1, *[1] * (w_nearest.dim() - 1)) * w_nearest)
    return (1 + overshoot) * total, iterations, converged, labels

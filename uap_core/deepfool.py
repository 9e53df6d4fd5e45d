"""DeepFool (Moosavi-Dezfooli, Fawzi, Frossard, CVPR 2016, arXiv 1511.04599), batched, ℓ2.

For each image, DeepFool linearises the classifier around the current point, steps to the
nearest linearised decision boundary among the top-k candidate classes, and repeats until the
predicted label changes. The result approximates the smallest ℓ2 perturbation that changes it.

All images of a batch are processed together; the ones already fooled drop out. Gradients are
taken with ``torch.autograd.grad`` with respect to the input only, so the model's parameters
are never touched (and need no gradients at all).

By default the step is the paper's: the unconstrained linearisation, evaluated (with ``clip``)
on the images that exist, clip(x + r, 0, 1). ``box_aware=True`` is our variant: it also drops
the directions of pixels that the [0, 1] box pins, which changes the step (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_deepfool_options, check_flag, check_images, check_model, check_positive_int
from .linearise import trace


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
    parts = [
        _deepfool_batch(model, batch, num_candidates, overshoot, max_iter, clip, box_aware)
        for batch in images.split(batch_size)
    ]
    return DeepFoolResult(*(torch.cat(field) for field in zip(*parts, strict=True)))


def drop_pinned(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The directions ``w`` without their components that would push pixels of ``x`` (broadcastable to ``w``)
    pinned at 0 below 0, or pinned at 1 above 1: the box-aware step goes to the nearest boundary the [0, 1]
    box allows instead of being clipped away."""
    return w.masked_fill(((x <= 0) & (w < 0)) | ((x >= 1) & (w > 0)), 0.0)


def _deepfool_batch(
    model: nn.Module, images: torch.Tensor, num_candidates: int, overshoot: float, max_iter: int, clip: bool,
    box_aware: bool,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    n, device = images.shape[0], images.device
    total = torch.zeros_like(images)  # accumulated steps, before overshoot
    iterations = torch.zeros(n, dtype=torch.long, device=device)
    converged = torch.zeros(n, dtype=torch.bool, device=device)
    active = torch.arange(n, device=device)

    for step in range(max_iter + 1):
        x = images[active] + (1 + overshoot) * total[active]
        if clip:
            x = x.clamp(0.0, 1.0)
        # One forward pass; the gradients of all k - 1 differences z_j - z_label come after, in one batch.
        traced = trace(model, x)
        z = traced.logits
        if step == 0:
            k = min(num_candidates, z.shape[1])
            candidates = z.topk(k, dim=1).indices  # column 0: the original label
            labels = candidates[:, 0]
        fooled = z.argmax(1) != labels[active]
        converged[active[fooled]] = True
        keep = ~fooled
        if step == max_iter or not keep.any():
            break
        rows = None if bool(keep.all()) else keep.nonzero().flatten()
        cand = candidates[active[keep]]
        # f_j = z_j - z_label < 0 while unfooled; w_j its gradient: the linearised boundary is f_j + w_j·r = 0.
        f = z[keep].gather(1, cand[:, 1:]) - z[keep].gather(1, cand[:, :1])
        cotangents = F.one_hot(cand[:, 1:], z.shape[1]) - F.one_hot(cand[:, :1], z.shape[1])
        w = traced.gradients(cotangents.to(z.dtype), rows)
        m = w.shape[0]
        if clip and box_aware:
            w = drop_pinned(w, x[keep].unsqueeze(1))
        w_norm = w.flatten(2).norm(dim=2) + 1e-8
        nearest = (f.abs() / w_norm).argmin(1)  # the closest linearised boundary per image
        pick = torch.arange(m, device=device)
        w_l, f_l, norm_l = w[pick, nearest], f[pick, nearest], w_norm[pick, nearest]
        step_size = (f_l.abs() + 1e-4) / norm_l**2
        moving = active[keep]
        total[moving] += step_size.view(-1, *[1] * (w_l.dim() - 1)) * w_l
        iterations[moving] += 1
        active = moving
    return (1 + overshoot) * total, iterations, converged, labels

"""The two UAP algorithms aimed at one target class k: v should send images to k, k̂(clip(x + v)) = k.

``paper`` (targeted): Algorithm 1 with a targeted inner step. An image is done once clip(x + v) is
predicted k; for one that is not, :func:`targeted_deepfool` finds the smallest ℓ2 step that brings
it there (DeepFool's linearisation, aimed at the boundary between the current class and k instead
of the nearest boundary), and v <- project(v + r).

``fast`` (targeted): projected gradient steps on mini-batches, down the cross-entropy towards k for
the first half of the run, then down a smooth count of the images not sent to k for the second
(:func:`targeted_fast_steps`).

Both are step generators for :func:`uap_core.uap.iter_universal_perturbation`, which picks them
when it is given a ``target``: they yield (pass, images seen in the pass, v) every
``report_every`` images and return at once when ``should_stop()`` returns True.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .deepfool import DeepFoolResult, drop_pinned
from .metrics import perturb, predict
from .norms import project


def targeted_steps(
    model: nn.Module,
    images: torch.Tensor,
    target: int,
    xi: float,
    p: float,
    generator: torch.Generator,
    max_passes: int,
    report_every: int,
    algorithm: str,
    overshoot: float,
    max_iter: int,
    batch_size: int,
    step_size: float,
    should_stop: Callable[[], bool] | None = None,
    box_aware: bool = False,
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """The step generator of ``algorithm`` ("paper" or "fast") aimed at ``target``, with that algorithm's options."""
    if algorithm == "paper":
        return targeted_paper_steps(model, images, target, xi, p, generator, max_passes, report_every, overshoot,
                                    max_iter, should_stop, box_aware)  # fmt: skip
    return targeted_fast_steps(model, images, target, xi, p, generator, max_passes, report_every, batch_size,
                               step_size, should_stop)  # fmt: skip


def targeted_deepfool(
    model: nn.Module,
    images: torch.Tensor,
    target: int,
    overshoot: float = 0.02,
    max_iter: int = 50,
    box_aware: bool = False,
) -> DeepFoolResult:
    """Small ℓ2 perturbations r (N, ...) that make the model predict ``target`` on clip(x + r), for a batch.

    Each iteration linearises f = z_target - z_current around the current point (z: logits, current:
    the class predicted there) and steps to where that linearisation is zero, r += (|f| + 1e-4) w / ‖w‖²
    with w = ∇f, until the prediction is ``target`` or ``max_iter`` steps are taken. As in
    :func:`uap_core.deepfool.deepfool`, the model sees clip(x + (1 + overshoot) r); ``box_aware``:
    pixels pinned at 0 or 1 are not pushed further out (off by default, as in the untargeted
    ``paper``). ``labels`` in the result are the clean predictions; ``converged`` says the image
    reached ``target`` (an image already there gets r = 0, converged).
    """
    n = images.shape[0]
    total = torch.zeros_like(images)  # accumulated steps, before overshoot
    iterations = torch.zeros(n, dtype=torch.long, device=images.device)
    converged = torch.zeros(n, dtype=torch.bool, device=images.device)
    labels = predict(model, images)
    active = torch.arange(n, device=images.device)
    for step in range(max_iter + 1):
        x = (images[active] + (1 + overshoot) * total[active]).clamp(0.0, 1.0).requires_grad_(True)
        z = model(x)
        current = z.argmax(1)
        arrived = current == target
        converged[active[arrived]] = True
        keep = ~arrived
        if step == max_iter or not keep.any():
            break
        f = z[:, target] - z.gather(1, current[:, None]).squeeze(1)  # < 0 while not arrived
        (w,) = torch.autograd.grad(f[keep].sum(), x)
        w, f, x = w[keep], f.detach()[keep], x.detach()[keep]
        if box_aware:
            w = drop_pinned(w, x)
        squared = w.flatten(1).pow(2).sum(1) + 1e-8
        moving = active[keep]
        total[moving] += ((f.abs() + 1e-4) / squared).view(-1, *[1] * (w.dim() - 1)) * w
        iterations[moving] += 1
        active = moving
    return DeepFoolResult((1 + overshoot) * total, iterations, converged, labels)


def targeted_paper_steps(
    model: nn.Module,
    images: torch.Tensor,
    target: int,
    xi: float,
    p: float,
    generator: torch.Generator,
    max_passes: int,
    report_every: int,
    overshoot: float = 0.02,
    max_iter: int = 50,
    should_stop: Callable[[], bool] | None = None,
    box_aware: bool = False,
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Algorithm 1 with :func:`targeted_deepfool` as its inner step; yields (pass, images seen, v)."""
    n = images.shape[0]
    v = torch.zeros_like(images[0])
    for pass_index in range(1, max_passes + 1):
        order = torch.randperm(n, generator=generator).to(images.device)
        for start in range(0, n, report_every):
            segment = order[start : start + report_every]
            position, lookahead = 0, 8
            while position < len(segment):
                if should_stop is not None and should_stop():
                    return
                # The sequential loop only changes v at an image not yet sent to the target, so
                # the next few images are checked in one batch at the current v; the ones before
                # the first image still waiting are skipped exactly as one at a time would.
                batch = segment[position : position + lookahead]
                waiting = (predict(model, images[batch], v) != target).nonzero()
                if len(waiting) == 0:
                    position += len(batch)
                    lookahead = min(2 * lookahead, 256)
                    continue
                first = int(waiting[0])
                i = int(batch[first])
                step = targeted_deepfool(model, perturb(images[i : i + 1], v), target, overshoot, max_iter, box_aware)
                if step.converged[0]:
                    v = project(v + step.perturbation[0], xi, p)
                position += first + 1
                lookahead = max(4, 2 * (first + 1))
            yield pass_index, start + len(segment), v


def targeted_fast_steps(
    model: nn.Module,
    images: torch.Tensor,
    target: int,
    xi: float,
    p: float,
    generator: torch.Generator,
    max_passes: int,
    report_every: int,
    batch_size: int = 50,
    step_size: float = 0.25,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Mini-batch gradient steps towards ``target``; yields (pass, images seen, v) every ``report_every`` images.

    Each step moves v by ξ·``step_size`` (signs for ℓ∞, the unit gradient for ℓ2) down a loss of the
    batch at clip(x + v), then projects onto the ξ-ball. The loss changes halfway through the run
    (halfway through ``max_passes`` passes): first the cross-entropy towards ``target``, which pulls
    every image there; then :func:`_boundary_loss`, which refines v for the images near the target's
    boundary (see the README, "Targeted perturbations", for the measurements behind both choices).
    """
    n = images.shape[0]
    v = torch.zeros_like(images[0])
    processed = 0  # images stepped on since the start, to know when the second half begins
    for pass_index in range(1, max_passes + 1):
        order = torch.randperm(n, generator=generator).to(images.device)
        seen = 0
        for segment in order.split(report_every):
            for batch in segment.split(batch_size):
                if should_stop is not None and should_stop():
                    return
                loss = _cross_entropy if 2 * processed < n * max_passes else _boundary_loss
                v = project(v - xi * step_size * _descent(model, images[batch], target, v, p, loss), xi, p)
                processed += len(batch)
            seen += len(segment)
            yield pass_index, seen, v


def _cross_entropy(z: torch.Tensor, target: int) -> torch.Tensor:
    """Cross-entropy towards ``target`` of every image (N, K logits), summed."""
    return F.cross_entropy(z, torch.full((len(z),), target, device=z.device), reduction="sum")


def _boundary_loss(z: torch.Tensor, target: int, temperature: float = 2.0) -> torch.Tensor:
    """Minus a smooth count of the images predicted ``target``: -Σ σ((z_target - max_{j≠target} z_j) / T).

    Its gradient comes from the images whose margin is within a few T of zero: images the model
    firmly puts elsewhere (hopeless at this ξ) stop steering v, and so do images firmly in the target.
    """
    others = z.clone()
    others[:, target] = float("-inf")
    margin = z[:, target] - others.amax(1)
    return -torch.sigmoid(margin / temperature).sum()


def _descent(
    model: nn.Module,
    images: torch.Tensor,
    target: int,
    v: torch.Tensor,
    p: float,
    loss: Callable[[torch.Tensor, int], torch.Tensor],
) -> torch.Tensor:
    """Unit descent step of ``loss`` at clip(x + v): signs for ℓ∞, a unit vector for ℓ2."""
    v = v.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(loss(model(perturb(images, v)), target), v)
    if math.isinf(p):
        return gradient.sign()
    return gradient / (gradient.norm() + 1e-12)

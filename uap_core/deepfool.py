"""DeepFool (Moosavi-Dezfooli, Fawzi, Frossard, CVPR 2016, arXiv 1511.04599), batched, ℓ2, untargeted or targeted.

For each image, DeepFool linearises the classifier around the current point x' = x + r, steps to the
nearest linearised decision boundary, and repeats until the point is across:

- untargeted (``target=None``): the boundaries between the original label and the other top
  ``num_candidates`` classes; done once the label changes. The result approximates the smallest ℓ2
  perturbation that changes the label.
- targeted (``target=k``): the boundary between the class predicted at the current point and k
  (the cotangent e_k - e_current); done once the point is predicted k.

All images of a batch are processed together; the ones done drop out. Each step is one traced forward
pass and the needed logit gradients pulled back together (:mod:`uap_core.linearise`; autograd for models
it does not know), with respect to the input only: the model's parameters are never touched.

Where the iterate is evaluated (``iterate``):

- ``"plain"`` (default): at x + r as it is, possibly outside [0, 1], as in the paper and the authors'
  code. Fewest steps; the universal loop then judges v on clip(x + v) anyway.
- ``"clipped"``: at clip(x + r, 0, 1), the images that exist. Every step sees the clipped point, which
  takes about four times as many steps inside Algorithm 1 for no gain in its fooling rate
  (docs/algorithms.md).
- ``"box_aware"``: clipped, and the directions of pixels pinned at 0 or 1 are dropped from each step, so
  the step goes to the nearest boundary the [0, 1] box allows instead of being clipped away.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .checks import (
    check_choice,
    check_images,
    check_int,
    check_model,
    check_number,
    check_positive_int,
    describe,
    with_changes,
)
from .linearise import tracer
from .objectives import parse_target
from .stats import Stats

ITERATES = ("plain", "clipped", "box_aware")


@dataclass(frozen=True)
class DeepFoolOptions:
    """DeepFool's settings, checked when made.

    ``num_candidates``: how many top-scoring classes (the original one included) an untargeted step
    considers. ``overshoot``: the result is (1 + overshoot) times the accumulated steps, which pushes points
    just across the boundary. ``max_iter``: linearisation steps at most. ``iterate``: where each iterate is
    evaluated, one of :data:`ITERATES` (see the module's docstring).
    """

    num_candidates: int = 10
    overshoot: float = 0.02
    max_iter: int = 50
    iterate: str = "plain"

    def __post_init__(self) -> None:
        check_int(self.num_candidates, "num_candidates", low=2)
        check_number(self.overshoot, "overshoot", low=0)
        check_int(self.max_iter, "max_iter", low=1)
        check_choice(self.iterate, "iterate", ITERATES)

    @classmethod
    def make(cls, options: DeepFoolOptions | None = None, **changes: object) -> DeepFoolOptions:
        """``options`` (None: the defaults) with ``changes``; an unknown name is refused with the known ones."""
        return with_changes(cls, options, changes, "DeepFool option")


@dataclass(frozen=True)
class DeepFoolResult:
    perturbation: torch.Tensor  # (N, *image) r, overshoot included; the point across is x + r (clip(x + r) if clipped)
    iterations: torch.Tensor  # (N,) linearisation steps taken per image
    converged: torch.Tensor  # (N,) bool: the point got across within max_iter steps
    labels: torch.Tensor  # (N,) the labels predicted on the unperturbed images


class DeepFool:
    """DeepFool with fixed options on one model, prepared once (:func:`uap_core.linearise.tracer`), for callers
    that run it many times: Algorithm 1 runs it once per image it does not do yet.

    :meth:`run` takes images the caller has checked; :func:`deepfool` is the checked entry point.
    """

    def __init__(self, model: nn.Module, options: DeepFoolOptions, stats: Stats | None = None) -> None:
        self.options = options
        self.stats = stats if stats is not None else Stats()
        self._forward = tracer(model)

    def run(self, images: torch.Tensor, target: int | None = None) -> DeepFoolResult:
        """DeepFool on a batch (N, ...) of images in [0, 1], towards the nearest boundary or class ``target``."""
        with self.stats.timing("deepfool"):
            result = self._run(images, target)
        self.stats.count("deepfool_calls", len(images))
        self.stats.count("deepfool_steps", int(result.iterations.sum()))
        return result

    def _traced(self, x: torch.Tensor):
        with self.stats.timing("deepfool_forward"):
            return self._forward(x)

    def _run(self, images: torch.Tensor, target: int | None) -> DeepFoolResult:
        o = self.options
        clipped = o.iterate != "plain"
        n, device = images.shape[0], images.device
        total = torch.zeros_like(images)  # accumulated steps, before overshoot
        iterations = torch.zeros(n, dtype=torch.long, device=device)
        converged = torch.zeros(n, dtype=torch.bool, device=device)
        active = torch.arange(n, device=device)  # the images still moving, as rows of the batch
        x = images  # x + 0, clipped or not, is x itself
        traced = self._traced(x)
        z = traced.logits
        candidates = z.topk(min(o.num_candidates, z.shape[1]), dim=1).indices  # column 0: the original label
        labels = candidates[:, 0]
        one_hot = torch.eye(z.shape[1], dtype=z.dtype, device=device)
        # Untargeted: f_j = z_j - z_label for the other candidates j, whose gradients are those of the logits'
        # combinations e_j - e_label, the same at every step.
        fixed = one_hot[candidates[:, 1:]] - one_hot[labels].unsqueeze(1) if target is None else None
        for step in range(o.max_iter + 1):
            if step > 0:
                x = images[active].add_(total[active], alpha=1 + o.overshoot)
                x = x.clamp_(0.0, 1.0) if clipped else x
                traced = self._traced(x)
                z = traced.logits
            predicted = z.argmax(1)
            across = predicted != labels[active] if target is None else predicted == target
            rows = None  # the rows of this trace that still move (None: all of them)
            if across.any():
                done = active[across]
                converged[done], iterations[done] = True, step
                rows = (~across).nonzero().flatten()
                active = active[rows]
                if len(active) == 0:
                    break
                z, x, predicted = z[rows], x[rows], predicted[rows]
            if step == o.max_iter:
                iterations[active] = step
                break
            # The linearised boundary with class j is f_j + w_j·r = 0, with f_j < 0 while not across.
            if target is None:
                f = z.gather(1, candidates[active, 1:]) - z.gather(1, labels[active, None])
                cotangents = fixed[active]
            else:
                f = z[:, target, None] - z.gather(1, predicted[:, None])
                cotangents = (one_hot[target] - one_hot[predicted]).unsqueeze(1)
            with self.stats.timing("deepfool_gradients"):
                w = traced.gradients(cotangents, rows)  # (m, c, *image)
            if o.iterate == "box_aware":
                w = drop_pinned(w, x.unsqueeze(1))
            w_norm = torch.linalg.vector_norm(w.flatten(2), dim=2) + 1e-8
            gap = f.abs()
            nearest = (gap / w_norm).argmin(1, keepdim=True)  # the closest linearised boundary per image
            size = (gap.gather(1, nearest) + 1e-4) / w_norm.gather(1, nearest).square()  # (m, 1)
            w_nearest = w[torch.arange(len(w), device=device), nearest.squeeze(1)]  # (m, *image)
            total.index_add_(0, active, size.view(-1, *[1] * (w_nearest.dim() - 1)) * w_nearest)
        return DeepFoolResult((1 + o.overshoot) * total, iterations, converged, labels)


def deepfool(
    model: nn.Module,
    images: torch.Tensor,
    target: int | str | None = None,
    options: DeepFoolOptions | None = None,
    *,
    batch_size: int = 32,
    stats: Stats | None = None,
    **changes: object,
) -> DeepFoolResult:
    """Minimal ℓ2 perturbations that change the model's label (or send it to ``target``), for a batch (N, ...).

    ``target``: None (untargeted), or a class index or name. ``options`` (default: the paper's DeepFool) with any
    of its fields changed by keyword, e.g. ``deepfool(model, images, overshoot=0.0, iterate="clipped")``: see
    :class:`DeepFoolOptions`. Images are processed ``batch_size`` at a time; ``stats`` collects calls, steps and
    seconds (:class:`~uap_core.stats.Stats`).
    """
    check_images(images, check_model(model), batched_4d=False)
    target = parse_target(target)
    options = DeepFoolOptions.make(options, **changes)
    check_positive_int(batch_size, "batch_size")
    if stats is not None and not isinstance(stats, Stats):
        raise ValueError(f"stats must be a uap_core.Stats or None, got {describe(stats)}")
    solver = DeepFool(model, options, stats)
    parts = [solver.run(batch, target) for batch in images.split(batch_size)]
    return DeepFoolResult(*(torch.cat(field) for field in zip(*(vars(p).values() for p in parts), strict=True)))


def drop_pinned(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The directions ``w`` without their components that would push pixels of ``x`` (broadcastable to ``w``)
    pinned at 0 below 0, or pinned at 1 above 1."""
    return w.masked_fill(((x <= 0) & (w < 0)) | ((x >= 1) & (w > 0)), 0.0)

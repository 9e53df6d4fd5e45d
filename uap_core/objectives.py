"""What a universal perturbation aims at: an objective says when an image is done and which way to step.

The two UAP algorithms (:mod:`uap_core.paper`, :mod:`uap_core.fast`) are written once and take an
objective, as foolbox 3's attacks take a criterion:

- :class:`Untargeted` (the paper's): an image is done once its label changes, k̂(clip(x + v)) != k̂(x);
  a run is judged by the fooling rate.
- :class:`Targeted`: an image is done once it is sent to class k, k̂(clip(x + v)) = k; a run is judged
  by the targeted success rate: among the images NOT predicted k when clean, the share predicted k
  under v (images already predicted k are left out: a perturbation cannot take credit for them).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import CLASS_NAMES


def parse_target(target: object) -> int | None:
    """The target class as an index 0-9, from an index or a class name (case-insensitive); None stays None.

    Anything else (an unknown name, an index out of range, a bool, a float...) raises a ValueError
    that names ``target``, what is expected and what came.
    """
    if target is None:
        return None
    expected = f"a class index 0-{len(CLASS_NAMES) - 1} or one of the names {', '.join(CLASS_NAMES)}"
    if isinstance(target, str):
        lowered = [name.lower() for name in CLASS_NAMES]
        key = target.strip().lower()
        if key not in lowered:
            raise ValueError(f"target must be {expected} (any case), got {target!r}")
        return lowered.index(key)
    if isinstance(target, bool):  # True is an int to Python, but never meant as class 1
        raise ValueError(f"target must be {expected}, got the bool {target!r}")
    try:
        index = operator.index(target)  # int, numpy and 0-d torch integers; floats refuse
    except TypeError:
        raise ValueError(f"target must be {expected}, got {target!r} of type {type(target).__name__}") from None
    if not 0 <= index < len(CLASS_NAMES):
        raise ValueError(f"target must be {expected}, got the index {index} (out of range)")
    return index


def targeted_success_rate(clean_labels: torch.Tensor, perturbed_labels: torch.Tensor, target: int) -> float:
    """Share of the images not predicted ``target`` when clean that are predicted ``target`` under v.

    ``clean_labels`` and ``perturbed_labels``: (N,) predictions on x and on clip(x + v). When every
    image is already predicted ``target`` there is nothing to send there and the rate is 0.
    """
    candidates = clean_labels != target
    if not candidates.any():
        return 0.0
    return (perturbed_labels[candidates] == target).float().mean().item()


@dataclass(frozen=True)
class Untargeted:
    """Change the label, whatever the new one (the paper's universal perturbation)."""

    target = None  # DeepFool steps towards the nearest boundary

    def done(self, clean: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N,) bool: the images whose label ``labels`` under v differs from their ``clean`` label."""
        return labels != clean

    def score(self, clean: torch.Tensor, labels: torch.Tensor) -> float:
        """The fooling rate: share of the images done."""
        return self.done(clean, labels).float().mean().item()

    def loss(self, logits: torch.Tensor, clean: torch.Tensor, progress: float) -> torch.Tensor:
        """The loss ``fast`` descends on a batch (logits (B, K) at clip(x + v)): cross-entropy towards the class
        most images of the batch rank second, summed over the images not already of that class.

        Pulling every image to the class v already leans towards, rather than each to its own nearest class, lets
        the images' gradients agree, which is what a universal direction needs (and what the paper observes:
        universal perturbations send images to a few dominant labels). ``progress`` is not used.
        """
        runner_up = logits.scatter(1, clean[:, None], float("-inf")).argmax(1)
        pull = runner_up.mode().values
        pulled = clean != pull
        if not pulled.any():
            return logits.sum() * 0.0  # nothing to pull: a zero step
        return F.cross_entropy(logits[pulled], pull.expand(int(pulled.sum())), reduction="sum")


@dataclass(frozen=True)
class Targeted:
    """Send images to class ``target`` (an index 0-9)."""

    target: int
    temperature: float = 2.0  # of the boundary loss, in logit units

    def done(self, clean: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N,) bool: the images predicted ``target`` under v (the clean label does not matter)."""
        return labels == self.target

    def score(self, clean: torch.Tensor, labels: torch.Tensor) -> float:
        """The targeted success rate (see :func:`targeted_success_rate`)."""
        return targeted_success_rate(clean, labels, self.target)

    def loss(self, logits: torch.Tensor, clean: torch.Tensor, progress: float) -> torch.Tensor:
        """The loss ``fast`` descends: cross-entropy towards ``target`` for the first half of the run (``progress``
        < 0.5, the share of the run's images stepped on), which pulls every image there; then minus a smooth count
        of the images predicted ``target``, -Σ σ((z_target - max_{j≠target} z_j) / T), whose gradient comes from the
        images near the target's boundary: images the model firmly puts elsewhere (hopeless at this ξ) stop steering
        v, and so do images firmly in the target (docs/algorithms.md, targeted perturbations)."""
        if progress < 0.5:
            towards = torch.full((len(logits),), self.target, device=logits.device)
            return F.cross_entropy(logits, towards, reduction="sum")
        others = logits.clone()
        others[:, self.target] = float("-inf")
        margin = logits[:, self.target] - others.amax(1)
        return -torch.sigmoid(margin / self.temperature).sum()


Objective = Untargeted | Targeted


def objective_for(target: int | None) -> Objective:
    """The objective of a run aimed at class index ``target`` (None: untargeted)."""
    return Untargeted() if target is None else Targeted(target)

"""Universal adversarial perturbations (Moosavi-Dezfooli, Fawzi, Fawzi, Frossard, CVPR 2017, arXiv 1610.08401).

One perturbation v, inside the ℓp ball of radius ξ, that changes the model's label on most
images: k̂(clip(x + v)) != k̂(x). Two algorithms build it:

``paper``: Algorithm 1 of the paper. Images are visited one at a time in a shuffled order;
whenever x + v is not yet fooled, DeepFool finds the smallest extra step r that fools it, and
v <- project(v + r). Passes repeat until the fooling rate reaches 1 - δ or ``max_passes``.

``fast``: batched projected gradient descent (our design). Each step takes one forward and one
backward pass over a mini-batch of ``batch_size`` images at clip(x + v): it finds the class that
most of them rank second (the class v already leans towards) and moves v down the cross-entropy
gradient towards that class, by ξ·``step_size`` in signs (ℓ∞) or along the unit gradient (ℓ2), then
projects back onto the ball. A pass costs about one forward and backward pass over the images,
instead of Algorithm 1's DeepFool run per unfooled image; pulling all images to one class follows
the paper's own observation that universal perturbations send images to a few dominant labels.

Both are generators of progress (:func:`iter_universal_perturbation`) that report several times
per pass and always carry the best perturbation seen so far, so a caller can draw the progress
live and stop at any moment; :func:`universal_perturbation` runs one to the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import (
    check_callable,
    check_choice,
    check_deepfool_options,
    check_delta,
    check_flag,
    check_images,
    check_model,
    check_number,
    check_positive_int,
    check_seed,
    check_xi,
)
from .deepfool import DeepFoolResult, _deepfool_batch
from .linearise import tracer
from .metrics import _perturb, _predict
from .norms import lp_norm, parse_norm, project
from .targeted import parse_target, targeted_success_rate
from .targeted_uap import targeted_steps

ALGORITHMS = ("paper", "fast")


@dataclass(frozen=True)
class HistoryRecord:
    """One progress report."""

    pass_index: int  # 1-based pass over the images
    images_seen: int  # images processed in this pass so far
    # On the images the perturbation is built from, at the current v; None where it was not measured (``fast``
    # measures it at its first report and at the end of each pass, see iter_universal_perturbation).
    fooling_rate: float | None
    norm: float  # ℓp norm of the current v, pixel units
    seconds: float  # computation time since the start (time spent by the caller excluded)
    deepfool_calls: int = 0  # ``paper``: DeepFool runs since the start (one per unfooled image visited)
    deepfool_iterations: int = 0  # ``paper``: DeepFool's linearisation steps since the start
    targeted_success_rate: float | None = None  # targeted runs, where measured: of the current v (see targeted.py)

    @property
    def measured(self) -> bool:
        """Whether the current v's rate on the images was measured at this report."""
        return self.fooling_rate is not None


@dataclass(frozen=True)
class UAPResult:
    """The best perturbation measured so far, with the whole history: a snapshot while running, the answer at the
    end."""

    perturbation: torch.Tensor  # (C, H, W), the best seen, inside the ξ-ball
    fooling_rate: float  # of ``perturbation`` on the images it was built from
    history: tuple[HistoryRecord, ...]
    current: torch.Tensor  # (C, H, W), the perturbation the algorithm holds now
    xi: float
    p: float  # 2.0 or math.inf
    delta: float
    algorithm: str
    total_passes: int  # max_passes
    finished: bool = False  # the algorithm ended by itself (target reached or passes used up)
    target_reached: bool = False  # the fooling rate (targeted runs: the targeted success rate) reached 1 - δ
    target_class: int | None = None  # targeted runs: the class index v sends images to
    targeted_success_rate: float | None = None  # targeted runs: of ``perturbation``, on the images

    @property
    def passes(self) -> int:
        return self.history[-1].pass_index if self.history else 0

    @property
    def seconds(self) -> float:
        return self.history[-1].seconds if self.history else 0.0

    @property
    def target(self) -> float:
        return 1.0 - self.delta


def iter_universal_perturbation(
    model: nn.Module,
    images: torch.Tensor,
    xi: float = 0.2,
    norm: float | str = "inf",
    delta: float = 0.2,
    max_passes: int = 5,
    seed: int = 0,
    algorithm: str = "paper",
    reports_per_pass: int = 4,
    num_candidates: int = 10,
    overshoot: float = 0.02,
    max_iter: int = 50,
    batch_size: int = 50,
    step_size: float = 0.25,
    box_aware: bool = False,
    should_stop: Callable[[], bool] | None = None,
    target: int | str | None = None,
) -> Iterator[UAPResult]:
    """Build a universal perturbation, yielding a :class:`UAPResult` snapshot ``reports_per_pass`` times per pass.

    ``images``: (N, C, H, W) in [0, 1]; ``xi``: radius of the ℓp ball in pixel units; ``norm``: 2 or "inf";
    the loop ends once the fooling rate on ``images`` reaches 1 - ``delta``, or after ``max_passes``.
    That rate is measured at every report by ``paper``, and by ``fast`` at its first report and at the end of
    each pass (its other reports have ``fooling_rate=None``); the best v and the 1 - ``delta`` stop consider the
    measured v only.
    ``paper`` uses DeepFool's ``num_candidates``, ``overshoot`` and ``max_iter``; ``fast`` uses
    ``batch_size`` and ``step_size`` (each step's length as a fraction of ξ). ``box_aware``: give
    ``paper`` our box-aware DeepFool instead of the paper's. The last snapshot has ``finished=True``;
    stop iterating at any time and the latest snapshot still holds the best v. ``should_stop()`` is
    asked before every inner step (DeepFool call or fooled check, mini-batch); once it returns True
    the generator returns without yielding again.
    ``target`` (a class index or name): build a targeted perturbation instead (see :mod:`uap_core.targeted_uap`);
    the best v and the 1 - ``delta`` stop are then judged by the targeted success rate.
    """
    # Checked here, when called: a bad argument fails at once, not at the first next().
    xi, delta, p = check_xi(xi), check_delta(delta), parse_norm(norm)
    check_images(images, check_model(model))
    max_passes, seed = check_positive_int(max_passes, "max_passes"), check_seed(seed)
    check_choice(algorithm, "algorithm", ALGORITHMS)
    check_positive_int(reports_per_pass, "reports_per_pass")
    check_deepfool_options(num_candidates, overshoot, max_iter)
    check_positive_int(batch_size, "batch_size")
    check_number(step_size, "step_size (a fraction of xi)", low=0, high=1, low_open=True)
    check_flag(box_aware, "box_aware")
    check_callable(should_stop, "should_stop")
    target_class = parse_target(target)
    return _universal_perturbation_steps(model, images, xi, p, delta, max_passes, seed, algorithm, reports_per_pass,
                                         num_candidates, overshoot, max_iter, batch_size, step_size, box_aware,
                                         should_stop, target_class)  # fmt: skip


def _universal_perturbation_steps(
    model: nn.Module,
    images: torch.Tensor,
    xi: float,
    p: float,
    delta: float,
    max_passes: int,
    seed: int,
    algorithm: str,
    reports_per_pass: int,
    num_candidates: int,
    overshoot: float,
    max_iter: int,
    batch_size: int,
    step_size: float,
    box_aware: bool,
    should_stop: Callable[[], bool] | None,
    target_class: int | None,
) -> Iterator[UAPResult]:
    """The body of :func:`iter_universal_perturbation`, on validated arguments (``p``: 2.0 or math.inf)."""
    clock = _ComputeClock()
    generator = torch.Generator().manual_seed(seed)
    n = images.shape[0]
    clean = _predict(model, images)
    report_every = math.ceil(n / reports_per_pass)
    stop = should_stop or (lambda: False)
    count = _DeepFoolCount()
    if target_class is not None:
        steps = targeted_steps(model, images, target_class, xi, p, generator, max_passes, report_every, algorithm,
                               overshoot, max_iter, batch_size, step_size, stop, box_aware)  # fmt: skip
    elif algorithm == "paper":
        deepfool_options = {"num_candidates": num_candidates, "overshoot": overshoot, "max_iter": max_iter,
                            "clip": True, "box_aware": box_aware}  # fmt: skip
        steps = _paper_steps(model, images, clean, xi, p, generator, max_passes, report_every, deepfool_options,
                             count, stop)  # fmt: skip
    else:
        steps = _fast_steps(model, images, clean, xi, p, generator, max_passes, report_every, batch_size, step_size,
                            stop)  # fmt: skip

    best, best_rate = torch.zeros_like(images[0]), -1.0
    history: list[HistoryRecord] = []
    best_success, best_score = None, -1.0  # score: the fooling rate, or the targeted success rate if targeted
    for pass_index, images_seen, v in steps:
        rate = success = None
        # Measuring is one forward pass over all the images. `paper` measures at every report: next to its DeepFool
        # calls that costs little (4% of a pass). For `fast`, 4 measurements per pass took 62% of its time (README,
        # Benchmark): it measures at the end of each pass, and at its first report so that a run stopped early
        # still keeps a measured v; its other reports carry v unmeasured.
        if algorithm == "paper" or images_seen == n or not history:
            perturbed = _predict(model, images, v)
            rate = (perturbed != clean).float().mean().item()
            success = None if target_class is None else targeted_success_rate(clean, perturbed, target_class)
            score = rate if success is None else success
            if score > best_score:
                best, best_rate, best_success, best_score = v.clone(), rate, success, score
        history.append(HistoryRecord(pass_index, images_seen, rate, lp_norm(v, p).item(), clock.read(),
                                     count.calls, count.iterations, success))  # fmt: skip
        reached = best_score >= 1.0 - delta
        finished = reached or (pass_index == max_passes and images_seen == n)
        with clock.paused():
            yield UAPResult(best, best_rate, tuple(history), v, xi, p, delta, algorithm, max_passes, finished, reached,
                            target_class, best_success)  # fmt: skip
        if finished:
            return


def universal_perturbation(
    model: nn.Module,
    images: torch.Tensor,
    xi: float = 0.2,
    norm: float | str = "inf",
    delta: float = 0.2,
    max_passes: int = 5,
    seed: int = 0,
    algorithm: str = "paper",
    callback: Callable[[UAPResult], bool | None] | None = None,
    **options,
) -> UAPResult:
    """Run :func:`iter_universal_perturbation` to the end and return its last snapshot.

    ``callback(snapshot)`` is called at every report; returning True stops the run early
    (the result then holds the best perturbation measured so far, with ``finished=False``).
    """
    check_callable(callback, "callback")
    result = None
    for result in iter_universal_perturbation(model, images, xi, norm, delta, max_passes, seed, algorithm, **options):
        if callback is not None and callback(result):
            break
    return result


@dataclass
class _DeepFoolCount:
    """DeepFool runs and their linearisation steps so far, for the progress reports."""

    calls: int = 0
    iterations: int = 0


def _paper_steps(
    model: nn.Module,
    images: torch.Tensor,
    clean: torch.Tensor,
    xi: float,
    p: float,
    generator: torch.Generator,
    max_passes: int,
    report_every: int,
    deepfool_options: dict,
    count: _DeepFoolCount,
    should_stop: Callable[[], bool],
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Algorithm 1; yields (pass, images seen in the pass, v) every ``report_every`` images."""
    n = images.shape[0]
    v = torch.zeros_like(images[0])
    forward = tracer(model)
    lookahead = 8
    for pass_index in range(1, max_passes + 1):
        order = torch.randperm(n, generator=generator).to(images.device)
        position = 0
        while position < n:
            if should_stop():
                return
            # Algorithm 1 visits one image at a time, but v only changes at an image it does not
            # fool yet. So the next few images can be checked in one batch at the current v: every
            # image before the first unfooled one is skipped exactly as the sequential loop would.
            report_at = min(n, (position // report_every + 1) * report_every)
            batch = order[position : min(report_at, position + lookahead)]
            unfooled = (_predict(model, images[batch], v) == clean[batch]).nonzero()
            if len(unfooled) == 0:
                position += len(batch)
                lookahead = min(2 * lookahead, 256)
            else:
                if should_stop():
                    return
                first = int(unfooled[0])
                i = int(batch[first])
                step = DeepFoolResult(*_deepfool_batch(forward, _perturb(images[i : i + 1], v), **deepfool_options))
                count.calls += 1
                count.iterations += int(step.iterations[0])
                # Only a step that fooled the image is added (the authors' code has nearly the same
                # rule, iterations < max_iter - 1): an unconverged one points nowhere useful.
                if step.converged[0]:
                    v = project(v + step.perturbation[0], xi, p)
                position += first + 1
                lookahead = max(4, 2 * (first + 1))
            if position == report_at:
                yield pass_index, position, v


def _fast_steps(
    model: nn.Module,
    images: torch.Tensor,
    clean: torch.Tensor,
    xi: float,
    p: float,
    generator: torch.Generator,
    max_passes: int,
    report_every: int,
    batch_size: int,
    step_size: float,
    should_stop: Callable[[], bool],
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Mini-batch gradient steps; yields (pass, images seen in the pass, v) every ``report_every`` images."""
    n = images.shape[0]
    v = torch.zeros_like(images[0])
    step = xi * step_size
    for pass_index in range(1, max_passes + 1):
        order = torch.randperm(n, generator=generator).to(images.device)
        seen = 0
        for segment in order.split(report_every):
            for batch in segment.split(batch_size):
                if should_stop():
                    return
                v = project(v - step * _descent_direction(model, images[batch], clean[batch], v, p), xi, p)
            seen += len(segment)
            yield pass_index, seen, v


def _descent_direction(
    model: nn.Module, images: torch.Tensor, clean: torch.Tensor, v: torch.Tensor, p: float
) -> torch.Tensor:
    """Unit step (signs for ℓ∞, a unit vector for ℓ2) that pulls the batch towards its dominant wrong class.

    The target is the class that most images of the batch rank second at x + v: the class the
    perturbation already leans towards. Pulling every image there, rather than each image to its
    own nearest class, lets all the images' gradients agree, which is what a universal direction needs.
    """
    v = v.detach().requires_grad_(True)
    z = model(_perturb(images, v))
    runner_up = z.scatter(1, clean[:, None], float("-inf")).argmax(1)
    target = runner_up.mode().values
    pulled = clean != target
    if not pulled.any():
        return torch.zeros_like(v)
    loss = F.cross_entropy(z[pulled], target.expand(int(pulled.sum())), reduction="sum")
    (gradient,) = torch.autograd.grad(loss, v)
    if math.isinf(p):
        return gradient.sign()
    return gradient / (gradient.norm() + 1e-12)


class _ComputeClock:
    """Seconds of computation, leaving out the time a consumer spends between two reports."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._paused = 0.0

    def read(self) -> float:
        return time.perf_counter() - self._start - self._paused

    @contextmanager
    def paused(self) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - began

"""Universal adversarial perturbations (Moosavi-Dezfooli, Fawzi, Fawzi, Frossard, CVPR 2017, arXiv 1610.08401).

One perturbation v, inside the ℓp ball of radius ξ, that does most images: changes the model's label,
k̂(clip(x + v)) != k̂(x), or (targeted) sends them to one class k. Two algorithms build it, each written
once for both objectives (:mod:`uap_core.objectives`):

- ``paper``: Algorithm 1 of the paper (:mod:`uap_core.paper`), DeepFool on every image v does not do yet;
- ``fast``: batched projected gradient descent (:mod:`uap_core.fast`), this project's design.

This module is what they share: the settings, the run's measurements (v's rate on the images, at the
reports each algorithm asks for), the best v measured so far, the stop at 1 - δ, and the progress reports.
:func:`iter_universal_perturbation` yields a snapshot at every report, so a caller can draw the progress live
and stop at any moment; :func:`universal_perturbation` runs one to the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_callable, check_images, check_model, describe
from .fast import fast_steps
from .metrics import predict
from .norms import lp_norm
from .objectives import Targeted, objective_for
from .paper import paper_steps
from .settings import UAPSettings
from .stats import Stats
from .steps import Problem

STEPS = {"paper": paper_steps, "fast": fast_steps}


@dataclass(frozen=True)
class HistoryRecord:
    """One progress report."""

    pass_index: int  # 1-based pass over the images
    images_seen: int  # images processed in this pass so far
    # On the images the perturbation is built from, at the current v; None where the algorithm did not ask for a
    # measurement (``fast`` measures at its first report and at the end of each pass).
    fooling_rate: float | None
    norm: float  # ℓp norm of the current v, pixel units
    seconds: float  # computation time since the start (time spent by the caller excluded)
    targeted_success_rate: float | None = None  # targeted runs, where measured: of the current v

    @property
    def measured(self) -> bool:
        """Whether the current v's rate on the images was measured at this report."""
        return self.fooling_rate is not None


@dataclass(frozen=True)
class UAPResult:
    """The best perturbation measured so far, with the whole history: a snapshot while running, the answer at the
    end."""

    perturbation: torch.Tensor  # (C, H, W), the best measured, inside the ξ-ball
    fooling_rate: float  # of ``perturbation`` on the images it was built from
    history: tuple[HistoryRecord, ...]
    current: torch.Tensor  # (C, H, W), the perturbation the algorithm holds now
    settings: UAPSettings
    finished: bool = False  # the algorithm ended by itself (target reached or passes used up)
    target_reached: bool = False  # the fooling rate (targeted runs: the targeted success rate) reached 1 - δ
    targeted_success_rate: float | None = None  # targeted runs: of ``perturbation``, on the images

    @property
    def xi(self) -> float:
        return self.settings.xi

    @property
    def p(self) -> float:
        return self.settings.p

    @property
    def delta(self) -> float:
        return self.settings.delta

    @property
    def target_class(self) -> int | None:
        """Targeted runs: the class index v sends images to."""
        return self.settings.target

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
    settings: UAPSettings | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
    stats: Stats | None = None,
    **changes: object,
) -> Iterator[UAPResult]:
    """Build a universal perturbation from ``images`` (N, C, H, W) in [0, 1], yielding a :class:`UAPResult` at
    every report.

    ``settings`` (default: :class:`~uap_core.settings.UAPSettings`'s defaults) with any of its fields changed by
    keyword, e.g. ``iter_universal_perturbation(model, images, xi=0.1, algorithm="fast", target="Bag")``. The rate of
    v on ``images`` (the fooling rate, or for a targeted run the targeted success rate) is measured at the reports
    the algorithm asks for (``paper``: all; ``fast``: its first and the end of each pass); the best v and the stop at
    1 - δ consider the measured v only. The last snapshot has ``finished=True``; stop iterating at any time and the
    latest snapshot still holds the best v. ``should_stop()`` is asked before every inner step (DeepFool call,
    batched check, mini-batch); once it returns True the generator returns without yielding again. ``stats``
    collects where the work went (:class:`~uap_core.stats.Stats`).
    """
    # Checked here, when called: a bad argument fails at once, not at the first next().
    settings = UAPSettings.make(settings, **changes)
    check_images(images, check_model(model))
    check_callable(should_stop, "should_stop")
    if stats is not None and not isinstance(stats, Stats):
        raise ValueError(f"stats must be a uap_core.Stats or None, got {describe(stats)}")
    return _reports(model, images, settings, should_stop or _never, stats if stats is not None else Stats())


def universal_perturbation(
    model: nn.Module,
    images: torch.Tensor,
    settings: UAPSettings | None = None,
    *,
    callback: Callable[[UAPResult], bool | None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stats: Stats | None = None,
    **changes: object,
) -> UAPResult:
    """Run :func:`iter_universal_perturbation` to the end and return its last snapshot.

    ``callback(snapshot)`` is called at every report; returning True stops the run early (the result then holds
    the best perturbation measured so far, with ``finished=False``).
    """
    check_callable(callback, "callback")
    result = None
    for result in iter_universal_perturbation(model, images, settings, should_stop=should_stop, stats=stats,
                                              **changes):  # fmt: skip
        if callback is not None and callback(result):
            break
    return result


def _never() -> bool:
    return False


def _reports(
    model: nn.Module, images: torch.Tensor, settings: UAPSettings, should_stop: Callable[[], bool], stats: Stats
) -> Iterator[UAPResult]:
    """The shared policy: measure where the algorithm asks, keep the best v, stop at 1 - δ, report."""
    clock = _ComputeClock()
    objective = objective_for(settings.target)
    targeted = isinstance(objective, Targeted)
    clean = predict(model, images)
    steps = STEPS[settings.algorithm](Problem(model, images, clean, settings, objective, should_stop, stats))
    best, best_rate, best_success, best_score = torch.zeros_like(images[0]), -1.0, None, -1.0
    history: list[HistoryRecord] = []
    for step in steps:
        rate = success = None
        if step.measure:
            with stats.timing("measure"):
                labels = predict(model, images, step.v)
            rate = (labels != clean).float().mean().item()
            score = objective.score(clean, labels)
            success = score if targeted else None
            if score > best_score:
                best, best_rate, best_success, best_score = step.v.clone(), rate, success, score
        history.append(HistoryRecord(step.pass_index, step.images_seen, rate, lp_norm(step.v, settings.p).item(),
                                     clock.read(), success))  # fmt: skip
        reached = best_score >= 1.0 - settings.delta
        finished = reached or (step.pass_index == settings.max_passes and step.images_seen == len(images))
        with clock.paused():
            yield UAPResult(best, best_rate, tuple(history), step.v, settings, finished, reached, best_success)
        if finished:
            return


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

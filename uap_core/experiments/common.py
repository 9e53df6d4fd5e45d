"""What every experiment shares: progress and stop requests, input checks, data, results.

An experiment is a function ``run_<name>(..., progress=None) -> <Name>Result``. It calls
``progress(fraction_done, message)`` often; when ``progress`` returns True the experiment stops at
once and returns the points it had finished, in a result whose ``complete`` is False. Bad settings
raise a ValueError before any computation starts.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
from torch import nn

from ..checks import check_distinct
from ..data import Dataset, shared_fashion_mnist
from ..metrics import fooling_rate, predict, random_fooling_rate
from ..models import MODEL_NAMES, load_model
from ..norms import lp_norm, norm_label, norm_name, parse_norm
from ..settings import UAPSettings
from ..uap import UAPResult, universal_perturbation

Progress = Callable[[float, str], "bool | None"]

SIGNIFICANT_DIGITS = 4  # floats in result.json


class _Stop(Exception):
    """Raised inside an experiment when its progress callback asked to stop; never leaves the experiment."""


class Run:
    """One experiment run: its progress callback, its clock, and whether it was asked to stop.

    ``seconds`` counts computation only: time spent inside the callback (drawing a progress bar or
    a web page) is left out.
    """

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._start = time.perf_counter()
        self._outside = 0.0
        self.stopped = False

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._start - self._outside

    def report(self, fraction: float, message: str) -> None:
        """Tell the caller how far the run is (0 to 1); raises :class:`_Stop` when it answers True."""
        if self._progress is not None:
            began = time.perf_counter()
            answer = self._progress(min(max(float(fraction), 0.0), 1.0), message)
            self._outside += time.perf_counter() - began
            if answer is True:
                self.stopped = True
                raise _Stop

    @contextmanager
    def stoppable(self) -> Iterator[None]:
        """Wrap the work: a stop request ends the block quietly (``stopped`` then says so)."""
        try:
            yield
        except _Stop:
            self.stopped = True

    def uap(
        self,
        settings: UAPSettings,
        model: nn.Module,
        images: torch.Tensor,
        seed: int,
        span: tuple[float, float],
        label: str,
    ) -> UAPResult:
        """A universal perturbation with ``settings`` and ``seed``; its progress fills the fraction range ``span``."""
        start, end = span
        n, passes = images.shape[0], settings.max_passes

        def callback(snapshot: UAPResult) -> bool:
            record = snapshot.history[-1]
            done = ((record.pass_index - 1) * n + record.images_seen) / (passes * n)
            message = f"{label}: pass {record.pass_index}/{passes}, fooling rate {snapshot.fooling_rate:.2f}"
            try:
                self.report(start + (end - start) * done, message)
            except _Stop:
                return True
            return False

        result = universal_perturbation(model, images, settings, seed=seed, callback=callback)
        if self.stopped:
            raise _Stop
        return result


def check_norms(norms: Sequence[str | float]) -> list[str]:
    """Distinct norms, spelled "2" / "inf"."""
    names = [norm_name(parse_norm(norm)) for norm in check_distinct(norms, "norms", "norms (2, inf)")]
    return check_distinct(names, "norms", "norms (2, inf)")


def check_models(models: Sequence[str], name: str = "models") -> list[str]:
    """Distinct shipped model names, in the order given."""
    known = not isinstance(models, str) and isinstance(models, Sequence) and all(m in MODEL_NAMES for m in models)
    if not known or not models:
        raise ValueError(f"{name} must be names among {', '.join(MODEL_NAMES)}, got {models!r}")
    if len(set(models)) < len(models):
        raise ValueError(f"{name} must not repeat a name, got {list(models)}")
    return list(models)


def dataset(split: str) -> Dataset:
    """A whole split, read once per process and shared (read-only) with every experiment and the web app."""
    return shared_fashion_mnist(split)


def check_count(n: int | None, name: str, split: str) -> int:
    """A number of images of ``split``; None means all of them."""
    available = len(dataset(split))
    if n is None:
        return available
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= available:
        raise ValueError(f"{name} must be a whole number from 1 to {available} (the {split} images), got {n!r}")
    return n


def train_images(n: int, seed: int) -> torch.Tensor:
    """``n`` training images (n, 1, 28, 28) drawn by a seeded shuffle: another seed, another subset."""
    return dataset("train").subset(n, seed).images


def test_data(n_test: int) -> Dataset:
    """The test images an experiment evaluates on: all of them, or a fixed subset (seed 0)."""
    test = dataset("test")
    return test if n_test >= len(test) else test.subset(n_test, 0)


@dataclass(frozen=True)
class Judge:
    """Fooling rates on one model and one set of images, the clean predictions computed once."""

    model: nn.Module
    images: torch.Tensor  # (N, 1, 28, 28)
    clean: torch.Tensor  # (N,) predicted labels on the clean images

    @classmethod
    def on(cls, model: nn.Module, images: torch.Tensor) -> Judge:
        return cls(model, images, predict(model, images))

    @classmethod
    def load(cls, model: str, n_test: int) -> Judge:
        """The shipped ``model`` (frozen, shared) on the first ``n_test`` test images of :func:`test_data`."""
        return cls.on(load_model(model), test_data(n_test).images)

    def fooling_rate(self, v: torch.Tensor) -> float:
        return fooling_rate(self.model, self.images, v, self.clean)

    def random_fooling_rate(self, size: float, p: float, trials: int, seed: int = 0) -> float:
        """Mean fooling rate of ``trials`` random perturbations of ℓp norm exactly ``size``."""
        return random_fooling_rate(self.model, self.images, size, p, trials, seed, self.clean)

    def baseline(self, v: torch.Tensor, p: float, trials: int, seed: int = 0) -> tuple[float, float]:
        """The paper's baseline for ``v``: (its ℓp norm ‖v‖, the mean fooling rate of ``trials`` random
        perturbations of exactly that norm). Drawn at ‖v‖, not at ξ: the two differ when v does not fill its ball."""
        size = lp_norm(v, p).item()
        return size, self.random_fooling_rate(size, p, trials, seed)


# Results.


def rounded(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """Floats rounded to ``digits`` significant digits, everywhere inside lists and dicts (NaN -> None)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(item, digits) for item in value]
    return value


def tensor_list(v: torch.Tensor) -> list:
    """A tensor as nested lists of floats, for a result field."""
    return v.detach().cpu().double().tolist()


@dataclass(frozen=True, kw_only=True)
class ExperimentResult:
    """The numbers of one experiment, the settings that produced them, and how long it took.

    Fields are plain data (numbers, strings, nested lists), so a result goes to JSON and back.
    ``complete`` is False when the run was stopped: the lists then hold the points that were finished.
    ``command`` is the command line that produced a stored result ("" for one computed in a program).
    """

    NAME: ClassVar[str] = ""

    seconds: float = 0.0
    complete: bool = True
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``json.dumps``, floats rounded to 4 significant digits."""
        return {"experiment": self.NAME, **rounded(asdict(self))}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """The result back from :meth:`to_dict`'s output (unknown keys are ignored)."""
        if not isinstance(data, dict):
            raise ValueError(f"a {cls.NAME} result must be a JSON object, got {type(data).__name__}")
        if data.get("experiment", cls.NAME) != cls.NAME:
            raise ValueError(f"this is a {data.get('experiment')!r} result, not a {cls.NAME!r} one")
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data and name not in ("seconds", "complete", "command")]
        if missing:
            raise ValueError(f"the {cls.NAME} result lacks {', '.join(missing)}")
        return cls(**{name: data[name] for name in names if name in data})

    def caption(self) -> str:
        """One line beside a figure: model, norm and ξ, images, seeds, and how long it took."""
        parts = [*self.caption_parts(), f"{self.seconds:.0f} s"]
        if not self.complete:
            parts.append("stopped early: partial result")
        return " · ".join(parts)

    def caption_parts(self) -> list[str]:
        """The settings as a reader wants them; every field a result has is picked up."""
        get = lambda name: getattr(self, name, None)  # noqa: E731
        parts = [get("model") or ", ".join(get("models") or [])]
        if get("norm") is not None and get("xi") is not None:
            parts.append(f"{norm_label(parse_norm(self.norm))} ξ = {self.xi:g}")
        elif get("norms") is not None:  # one ξ per norm, or a range of them
            sizes = [f"{x:g}" if isinstance(x, float) else " to ".join(f"{v:g}" for v in dict.fromkeys((x[0], x[-1])))
                     for x in self.xis if x]  # fmt: skip
            parts.append(
                ", ".join(f"{norm_label(parse_norm(n))} ξ = {x}" for n, x in zip(self.norms, sizes, strict=False))
            )
        if get("algorithm") is not None:
            parts.append(f"{self.algorithm} UAP, ≤ {self.max_passes} passes, target {1 - self.delta:.0%}")
        if get("n_train") is not None:
            parts.append(f"{self.n_train} training images per UAP")
        elif get("sizes"):
            parts.append(f"{self.sizes[0]} to {self.sizes[-1]} training images per UAP")
        seeds = get("seeds") or ([self.seed] if get("seed") is not None else [])
        if seeds:
            parts.append(f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}")
        if get("n_test") is not None:
            parts.append(f"tested on {self.n_test} test images")
        return [part for part in parts if part]


@dataclass(frozen=True, kw_only=True)
class AttackResult(ExperimentResult):
    """A result built from universal perturbations: how they were computed and on how many test images judged."""

    algorithm: str  # "paper" or "fast"
    max_passes: int
    delta: float  # each run stops once it fools 1 - delta of its own images
    n_test: int  # test images the perturbations are judged on

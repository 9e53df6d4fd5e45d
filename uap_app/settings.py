"""The live page's settings: one frozen record that identifies a run, read from and written to the URL.

Query parameters are named like the command line's options (``model``, ``algorithm``, ``norm``, ``xi``,
``delta``, ``n_train``, ``max_passes``, ``seed``, ``target``), so a lecturer can prepare links such as
``/attack?norm=2&xi=3&seed=7`` or ``/attack?target=Bag``. A value that is malformed or outside what the
page offers falls back to the default, with a sentence saying so; nothing here raises on what a URL holds.
No Streamlit here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from uap_core import ALGORITHMS, CLASS_NAMES, DEFAULT_MODEL, DEFAULT_XI, MODEL_NAMES, UAPSettings

NORMS = ("inf", "2")
ALGORITHM_TEXT = {"fast": "fast (batched)", "paper": "paper (Alg. 1, slow)"}  # how the pages name the algorithms
TRAIN_SIZES = (50, 100, 200, 500, 1000, 2000, 4000, 8000)
XI_RANGES = {"inf": (0.02, 0.40, 0.01), "2": (0.5, 8.0, 0.1)}  # norm -> (min, max, step), pixel units
DELTA_RANGE = (0.05, 0.95, 0.05)
MAX_PASSES_RANGE = (1, 10)
SEED_RANGE = (0, 9999)
UNTARGETED = "none"  # the target setting of an untargeted run (the paper's)
_LIBRARY = UAPSettings()  # the defaults the page shares with the library


@dataclass(frozen=True)
class LiveSettings:
    """Everything that determines a live run's result; equal settings share one run (the run's key).

    A new setting (say a target class) is one more field here with its default; it then reaches the
    algorithm through :meth:`algorithm_options` and takes part in the key.
    """

    model: str = DEFAULT_MODEL
    algorithm: str = "fast"  # the page opens on the algorithm that answers within seconds
    norm: str = _LIBRARY.norm
    xi: float = _LIBRARY.xi
    delta: float = _LIBRARY.delta
    n_train: int = 500
    max_passes: int = _LIBRARY.max_passes
    seed: int = _LIBRARY.seed
    target: str = UNTARGETED  # a class name: build a targeted perturbation that sends images there

    @property
    def target_name(self) -> str | None:
        """The class a targeted run sends images to; None for an untargeted run."""
        return None if self.target == UNTARGETED else self.target

    def algorithm_options(self) -> dict:
        """The keyword arguments of ``iter_universal_perturbation`` (all but the model and the images)."""
        options = {name: value for name, value in dataclasses.asdict(self).items() if name not in ("model", "n_train")}
        return options | {"target": self.target_name}

    @property
    def p(self) -> float:
        return math.inf if self.norm == "inf" else 2.0

    def to_query(self) -> dict[str, str]:
        """The settings as URL query parameters (numbers written as short as they read; untargeted: no target)."""
        query = {name: _text(value) for name, value in dataclasses.asdict(self).items()}
        return query if self.target_name else {name: text for name, text in query.items() if name != "target"}


def format_size(value: float, p: float) -> str:
    """A perturbation size as text; for ℓ∞ also in /255 grey levels (0.2 -> "0.200 = 51/255")."""
    return f"{value:.3f} = {value * 255:.0f}/255" if math.isinf(p) else f"{value:.2f}"


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _choice(options: tuple) -> Callable[[str], object]:
    def parse(raw: str) -> object:
        for option in options:
            if raw.strip().lower() == str(option).lower():
                return option
        raise ValueError(f"one of {', '.join(map(str, options))}")

    return parse


def _target(raw: str) -> str:
    """A class name (any case), or "none" (also empty): untargeted."""
    return _choice((UNTARGETED, *CLASS_NAMES))(raw or UNTARGETED)


def _number(low: float, high: float, kind: type) -> Callable[[str], float | int]:
    def parse(raw: str) -> float | int:
        expected = f"{'a whole number' if kind is int else 'a number'} from {low:g} to {high:g}"
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ValueError(expected) from None
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(expected)
        return round(value, 6) if kind is float else value

    return parse


def from_query(query: Mapping[str, str]) -> tuple[LiveSettings, list[str]]:
    """Settings from URL query parameters, and one sentence per value that fell back to its default.

    Missing parameters take the defaults silently; unknown parameters are ignored. ``xi`` is checked
    against the range of the norm chosen (ℓ∞: 0.02 to 0.4; ℓ2: 0.5 to 8), and defaults to that norm's
    default.
    """
    parsers = {
        "model": _choice(MODEL_NAMES),
        "algorithm": _choice(ALGORITHMS),
        "norm": _choice(NORMS),
        "delta": _number(*DELTA_RANGE[:2], float),
        "n_train": _choice(TRAIN_SIZES),
        "max_passes": _number(*MAX_PASSES_RANGE, int),
        "seed": _number(*SEED_RANGE, int),
        "target": _target,
    }
    values, rejected = {}, []

    def read(name: str, parse: Callable[[str], object]) -> None:
        if name in query:
            try:
                values[name] = parse(str(query[name]))
            except ValueError as expected:
                rejected.append((name, query[name], expected))

    for name, parse in parsers.items():
        read(name, parse)
    norm = values.get("norm", LiveSettings.norm)
    read("xi", _number(*XI_RANGES[norm][:2], float))
    defaults = LiveSettings(norm=norm, xi=DEFAULT_XI[norm])
    notices = [
        f"`{name}={raw}` in the address is not valid ({name} must be {expected}); "
        f"using the default, {name} = {_text(getattr(defaults, name))}."
        for name, raw, expected in rejected
    ]
    return dataclasses.replace(defaults, **values), notices

"""The settings of a universal perturbation run: one frozen record, checked when made, the one source of defaults.

The library (:func:`uap_core.iter_universal_perturbation`), the command line, the experiments and the web app all
build a :class:`UAPSettings`; none of them writes a default or a range of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .checks import check_choice, check_delta, check_number, check_positive_int, check_seed, check_xi, with_changes
from .deepfool import DeepFoolOptions
from .norms import norm_name, parse_norm
from .objectives import parse_target

ALGORITHMS = ("paper", "fast")
# ξ by norm, in [0, 1] pixel units: ℓ∞ 0.2 is the live page's default; ℓ2 4.0 is about the ℓ2 size of a 0.14
# ℓ∞ sign pattern on 28x28 images.
DEFAULT_XI = {"inf": 0.2, "2": 4.0}


@dataclass(frozen=True)
class UAPSettings:
    """How a universal perturbation is built.

    ``xi``: radius of the ℓp ball in pixel units (None: :data:`DEFAULT_XI` for the norm); ``norm``: 2 or "inf"
    (any spelling :func:`~uap_core.norms.parse_norm` takes; stored as "2" or "inf"); the run ends once its rate
    on the images reaches 1 - ``delta``, or after ``max_passes`` passes. ``seed`` fixes the visiting order.
    ``target``: None (untargeted, the paper's), or a class index or name (stored as the index) to send images to.
    ``reports_per_pass``: progress reports per pass. ``paper`` runs DeepFool with ``deepfool``; ``fast`` steps
    on mini-batches of ``batch_size`` images, each step ξ·``step_size`` long.
    """

    algorithm: str = "paper"
    norm: str = "inf"
    xi: float | None = None
    delta: float = 0.2
    max_passes: int = 5
    seed: int = 0
    target: int | None = None
    reports_per_pass: int = 4
    deepfool: DeepFoolOptions = field(default_factory=DeepFoolOptions)
    batch_size: int = 50
    step_size: float = 0.25

    def __post_init__(self) -> None:
        norm = norm_name(parse_norm(self.norm))
        set_ = object.__setattr__  # frozen: the checked, normalised values replace what came
        set_(self, "algorithm", check_choice(self.algorithm, "algorithm", ALGORITHMS))
        set_(self, "norm", norm)
        set_(self, "xi", DEFAULT_XI[norm] if self.xi is None else check_xi(self.xi))
        set_(self, "delta", check_delta(self.delta))
        set_(self, "max_passes", check_positive_int(self.max_passes, "max_passes"))
        set_(self, "seed", check_seed(self.seed))
        set_(self, "target", parse_target(self.target))
        set_(self, "reports_per_pass", check_positive_int(self.reports_per_pass, "reports_per_pass"))
        if not isinstance(self.deepfool, DeepFoolOptions):
            raise ValueError(f"deepfool must be a DeepFoolOptions, got {type(self.deepfool).__name__}")
        set_(self, "batch_size", check_positive_int(self.batch_size, "batch_size"))
        set_(self, "step_size", check_number(self.step_size, "step_size (a fraction of xi)", 0, 1, low_open=True))

    @property
    def p(self) -> float:
        """The norm as a number: 2.0 or math.inf."""
        return math.inf if self.norm == "inf" else 2.0

    @classmethod
    def make(cls, settings: UAPSettings | None = None, **changes: object) -> UAPSettings:
        """``settings`` (None: the defaults) with ``changes``; an unknown name is refused with the known ones.

        A new ``norm`` without a new ``xi`` takes that norm's default ξ: a radius in one norm means little in another.
        """
        if "norm" in changes and "xi" not in changes:
            changes["xi"] = None
        return with_changes(cls, settings, changes, "setting")

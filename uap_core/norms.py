"""The two norms a perturbation is measured in (ℓ2 and ℓ∞), projection onto their balls, random noise."""

from __future__ import annotations

import math
import numbers

import torch

from .checks import check_int, check_number, check_perturbation, describe

NORM_CHOICES = ("2", "inf")


def parse_norm(norm: object, name: str = "norm") -> float:
    """The one reader of norms, used by every entry point: return 2.0 or math.inf.

    Accepts 2, 2.0, "2", "l2", "ℓ2" and "inf", float("inf"), "linf", "Linf", "ℓ∞", "infinity";
    anything else (1, "l3", None, True...) is refused with a ValueError naming the argument ``name``.
    """
    if isinstance(norm, (str, numbers.Real)) and not isinstance(norm, bool):
        text = str(norm).strip().lower().removeprefix("ℓ").removeprefix("l")
        if text in ("2", "2.0"):
            return 2.0
        if text in ("inf", "infinity", "∞"):
            return math.inf
    raise ValueError(f"{name} must be 2 (ℓ2) or 'inf' (ℓ∞); unknown norm {describe(norm)}")


def norm_label(p: float) -> str:
    """The norm as a reader writes it (ℓ2 or ℓ∞), for titles and tables."""
    return "ℓ∞" if math.isinf(p) else "ℓ2"


def norm_name(p: float) -> str:
    """The norm as the command line and file names spell it (2 or inf)."""
    return "inf" if math.isinf(p) else "2"


def lp_norm(v: torch.Tensor, p: float) -> torch.Tensor:
    """Norm of each perturbation in a batch (N, ...) -> (N,); of a single perturbation (C, H, W) -> ()."""
    flat = v.reshape(-1) if v.dim() <= 3 else v.flatten(1)
    return torch.linalg.vector_norm(flat, ord=p, dim=-1)


def project(v: torch.Tensor, xi: float, p: float | str) -> torch.Tensor:
    """Closest point of the ℓp ball of radius ``xi`` to ``v`` (one perturbation, any shape)."""
    xi, p = check_number(xi, "xi", low=0), parse_norm(p, "p")
    check_perturbation(v, None, "v")
    if math.isinf(p):
        return v.clamp(-xi, xi)
    norm = torch.linalg.vector_norm(v)
    return v * torch.clamp(xi / (norm + 1e-12), max=1.0)


def rescale(v: torch.Tensor, xi: float, p: float | str) -> torch.Tensor:
    """``v`` scaled so that its ℓp norm is exactly ``xi``: same direction, new size.

    An all-zero ``v`` has no direction to keep: it is returned as zeros (a new tensor), norm 0.
    """
    xi, p = check_number(xi, "xi", low=0), parse_norm(p, "p")
    check_perturbation(v, None, "v")
    norm = lp_norm(v, p)
    if norm == 0:
        return torch.zeros_like(v)
    return v * (xi / norm)


def random_perturbation(
    shape: tuple[int, ...], size: float, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random noise whose ℓp norm is exactly ``size``: the paper's baseline.

    ℓ2: a direction uniform on the sphere (normalised Gaussian). ℓ∞: independent random signs,
    the vertices of the cube, which have the largest ℓ2 norm the ℓ∞ ball allows.
    """
    shape = _check_shape(shape)
    size, p = check_number(size, "size", low=0), parse_norm(p, "p")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    if math.isinf(p):
        signs = torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
        return signs * size
    direction = torch.randn(shape, generator=generator)
    return direction * (size / torch.linalg.vector_norm(direction))


def _check_shape(shape: object) -> tuple[int, ...]:
    if isinstance(shape, torch.Size | tuple | list) and len(shape) > 0:
        try:
            return tuple(check_int(side, "shape", low=1) for side in shape)
        except ValueError:
            pass
    raise ValueError(f"shape must be a non-empty tuple of whole numbers >= 1, like (1, 28, 28), got {describe(shape)}")

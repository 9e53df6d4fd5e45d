"""The two norms a perturbation is measured in (ℓ2 and ℓ∞), projection onto their balls, random noise."""

from __future__ import annotations

import math

import torch

NORM_CHOICES = ("2", "inf")


def parse_norm(norm: object) -> float:
    """Accept 2, 2.0, "2", "l2", "inf", "linf" or float("inf"); return 2.0 or math.inf."""
    text = str(norm).strip().lower().removeprefix("ℓ").removeprefix("l")
    if text in ("2", "2.0"):
        return 2.0
    if text in ("inf", "infinity", "∞"):
        return math.inf
    raise ValueError(f"unknown norm {norm!r}; use 2 (ℓ2) or 'inf' (ℓ∞)")


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


def project(v: torch.Tensor, xi: float, p: float) -> torch.Tensor:
    """Closest point of the ℓp ball of radius ``xi`` to ``v`` (one perturbation, any shape)."""
    if math.isinf(p):
        return v.clamp(-xi, xi)
    norm = torch.linalg.vector_norm(v)
    return v * torch.clamp(xi / (norm + 1e-12), max=1.0)


def rescale(v: torch.Tensor, xi: float, p: float) -> torch.Tensor:
    """``v`` scaled so that its ℓp norm is exactly ``xi``: same direction, new size."""
    norm = lp_norm(v, p)
    if norm == 0:
        raise ValueError("cannot rescale a zero perturbation")
    return v * (xi / norm)


def random_perturbation(
    shape: tuple[int, ...], size: float, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random noise whose ℓp norm is exactly ``size``: the paper's baseline.

    ℓ2: a direction uniform on the sphere (normalised Gaussian). ℓ∞: independent random signs,
    the vertices of the cube, which have the largest ℓ2 norm the ℓ∞ ball allows.
    """
    if math.isinf(p):
        signs = torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
        return signs * size
    direction = torch.randn(shape, generator=generator)
    return direction * (size / torch.linalg.vector_norm(direction))

"""Projection onto the ℓ2 / ℓ∞ balls, norm parsing, random noise of an exact norm, clipping."""

import math

import pytest
import torch

from uap_core import parse_norm, perturb, project, random_perturbation, rescale
from uap_core.norms import lp_norm


@pytest.mark.parametrize("given", [2, 2.0, "2", "l2", "L2", "ℓ2"])
def test_parse_two(given):
    assert parse_norm(given) == 2.0


@pytest.mark.parametrize("given", ["inf", float("inf"), math.inf, "linf", "Inf", "ℓ∞"])
def test_parse_inf(given):
    assert math.isinf(parse_norm(given))


@pytest.mark.parametrize("given", [1, "1", "l1", "fro", None, "", 3])
def test_parse_rejects(given):
    with pytest.raises(ValueError, match="unknown norm"):
        parse_norm(given)


@pytest.mark.parametrize("p", [2.0, math.inf])
def test_projection_lands_in_ball_and_is_idempotent(p):
    v = torch.randn(1, 28, 28) * 3
    xi = 0.5
    projected = project(v, xi, p)
    assert lp_norm(projected, p) <= xi + 1e-6
    assert torch.allclose(project(projected, xi, p), projected)


@pytest.mark.parametrize("p", [2.0, math.inf])
def test_projection_leaves_points_inside_unchanged(p):
    v = torch.randn(1, 28, 28)
    xi = lp_norm(v, p).item() * 1.5
    assert torch.equal(project(v, xi, p), v)


def test_l2_projection_keeps_direction_and_linf_clamps_each_pixel():
    v = torch.randn(3, 5, 5) * 4
    l2 = project(v, 1.0, 2.0)
    assert torch.allclose(l2 / l2.norm(), v / v.norm(), atol=1e-6)
    assert l2.norm().item() == pytest.approx(1.0, rel=1e-5)
    linf = project(v, 0.3, math.inf)
    assert torch.equal(linf, v.clamp(-0.3, 0.3))


@pytest.mark.parametrize("p", [2.0, math.inf])
def test_random_perturbation_has_exact_norm(p):
    g = torch.Generator().manual_seed(0)
    v = random_perturbation((1, 28, 28), 0.7, p, g)
    assert lp_norm(v, p).item() == pytest.approx(0.7, rel=1e-5)


def test_random_perturbation_depends_on_seed_only():
    a = random_perturbation((1, 4, 4), 1.0, 2.0, torch.Generator().manual_seed(3))
    b = random_perturbation((1, 4, 4), 1.0, 2.0, torch.Generator().manual_seed(3))
    c = random_perturbation((1, 4, 4), 1.0, 2.0, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("p", [2.0, math.inf])
def test_rescale_sets_norm_keeps_direction(p):
    v = torch.randn(1, 6, 6)
    scaled = rescale(v, 0.25, p)
    assert lp_norm(scaled, p).item() == pytest.approx(0.25, rel=1e-5)
    assert torch.allclose(scaled / scaled.norm(), v / v.norm(), atol=1e-6)


@pytest.mark.parametrize("p", [2.0, math.inf, "inf", "l2"])
def test_rescaling_a_zero_perturbation_gives_zeros(p):
    # A zero perturbation has no direction to keep: rescaling it returns zeros (a new tensor), no error.
    zero = torch.zeros(1, 2, 2)
    scaled = rescale(zero, 0.1, p)
    assert torch.equal(scaled, torch.zeros(1, 2, 2)) and scaled is not zero


def test_perturbed_images_are_clipped_to_unit_range():
    images = torch.rand(8, 1, 5, 5)
    original = images.clone()
    v = torch.randn(1, 5, 5)
    out = perturb(images, v)
    assert out.min() >= 0 and out.max() <= 1
    inside = ((images + v) >= 0) & ((images + v) <= 1)
    assert torch.allclose(out[inside], (images + v)[inside])
    # The caller's images are never modified in place.
    assert torch.equal(images, original)

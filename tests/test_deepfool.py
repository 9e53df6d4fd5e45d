"""DeepFool against closed forms: for an affine classifier the minimal ℓ2 perturbation is known."""

import pytest
import torch
from torch import nn

from uap_core import deepfool


def affine(weight: torch.Tensor, bias: torch.Tensor) -> nn.Module:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    layer.weight.data, layer.bias.data = weight.clone(), bias.clone()
    return nn.Sequential(nn.Flatten(), layer)


def test_binary_linear_classifier_distance_is_closed_form():
    torch.manual_seed(0)
    w, b = torch.randn(1, 12), torch.randn(1)
    model = affine(torch.cat([w, -w]) / 2, torch.cat([b, -b]) / 2)  # z1 - z0 = w·x + b
    x = torch.rand(64, 1, 3, 4)
    result = deepfool(model, x, overshoot=0.0)
    expected = (x.flatten(1) @ w.T + b).abs().squeeze(1) / w.norm()
    found = result.perturbation.flatten(1).norm(dim=1)
    assert result.converged.all()
    assert torch.allclose(found, expected, atol=2e-4)
    # The step is along the normal ±w: an affine boundary is crossed in one linearisation.
    assert (result.iterations == 1).all()
    cosine = (result.perturbation.flatten(1) @ w.T).abs().squeeze(1) / (found * w.norm())
    assert torch.allclose(cosine, torch.ones(64), atol=1e-4)


def test_multiclass_linear_classifier_finds_nearest_hyperplane():
    torch.manual_seed(1)
    weight, bias = torch.randn(5, 20), torch.randn(5)
    model = affine(weight, bias)
    x = torch.rand(32, 20)
    result = deepfool(model, x, num_candidates=5, overshoot=0.0)
    scores = x @ weight.T + bias
    label = scores.argmax(1)
    gaps = (scores - scores.gather(1, label[:, None])).abs()
    normals = (weight[None] - weight[label][:, None]).norm(dim=2)
    distance = torch.where(gaps > 0, gaps / normals.clamp_min(1e-12), torch.inf).min(1).values
    assert torch.allclose(result.perturbation.norm(dim=1), distance, atol=2e-4)
    fooled = model(x + result.perturbation * 1.001).argmax(1)
    assert (fooled != label).all()


@pytest.mark.parametrize("seed", range(4))
def test_box_aware_step_is_the_minimal_step_inside_the_box(seed):
    # z1 - z0 = w·x + c with c set so that the image sits 0.05 below the boundary (label 0).
    # Pixels at 0 whose w_i < 0 cannot move along w_i: the smallest ℓ2 step inside [0, 1] that
    # reaches the boundary is λ·w' with w' = w without those pixels, λ = 0.05 / ‖w'‖².
    torch.manual_seed(seed)
    w = torch.randn(1, 30)
    x = 0.4 + 0.2 * torch.rand(1, 30)
    x[:, :12] = 0.0  # a dark background
    c = -0.05 - (x @ w.T).squeeze(1)
    model = affine(torch.cat([-w, w]) / 2, torch.cat([-c, c]) / 2)
    masked = torch.where((x == 0) & (w < 0), 0.0, w)
    minimal = (0.05 + 1e-4) / masked.norm() ** 2 * masked  # DeepFool adds 1e-4 to |f| to cross

    boxed = deepfool(model, x, overshoot=0.0, iterate="box_aware")
    assert boxed.converged.all() and (boxed.iterations == 1).all()
    assert torch.allclose(boxed.perturbation, minimal, atol=1e-6)
    assert ((x + boxed.perturbation) >= 0).all()  # inside the box: clipping takes nothing away

    # Evaluated on clipped iterates, DeepFool steps along w itself; clipping removes the part pointing below 0, so
    # it needs more linearisations and, inside the box, moves at least as far as the minimal step.
    plain = deepfool(model, x, overshoot=0.0, iterate="clipped")
    assert plain.converged.all() and (plain.iterations >= 2).all()
    moved = ((x + plain.perturbation).clamp(0, 1) - x).norm()
    assert moved >= 0.05 / masked.norm() - 1e-6  # the box-constrained distance to the boundary
    assert not torch.allclose(plain.perturbation, boxed.perturbation, atol=1e-3)


def test_a_classifier_that_cannot_be_fooled_never_converges():
    # Scores (s, -s) with s = 1 + ‖x‖² > 0: label 0 everywhere, whatever DeepFool does.
    class Unfoolable(nn.Module):
        def forward(self, x):
            s = 1 + x.flatten(1).pow(2).sum(1)
            return torch.stack([s, -s], 1)

    result = deepfool(Unfoolable(), torch.rand(5, 1, 3, 3), max_iter=4)
    assert not result.converged.any() and (result.iterations == 4).all()
    assert result.perturbation.abs().sum() > 0  # it did move, and failed


@pytest.mark.parametrize("iterate", ["plain", "clipped"])
def test_overshoot_crosses_the_boundary_and_labels_change(model, train_set, iterate):
    images = train_set.images[:40]
    result = deepfool(model, images, iterate=iterate)
    assert result.converged.float().mean() > 0.95
    point = images + result.perturbation  # the iterate as DeepFool evaluated it
    perturbed = model(point if iterate == "plain" else point.clamp(0, 1)).argmax(1)
    assert (perturbed[result.converged] != result.labels[result.converged]).all()


def test_targeted_first_step_is_the_closed_form_and_every_image_arrives():
    # An affine classifier: towards target k from the current class c, the linearised boundary is exact, so the
    # first step is r = (|f| + 1e-4) / ‖w_k - w_c‖² · (w_k - w_c) with f = z_k - z_c, for every image not at k yet.
    torch.manual_seed(3)
    weight, bias = torch.randn(6, 20), torch.randn(6)
    model = affine(weight, bias)
    x = torch.rand(48, 20)
    target = 2
    scores = x @ weight.T + bias
    current = scores.argmax(1)
    away = current != target
    assert away.any() and (~away).any()  # the batch has images at the target already, and images away from it
    normal = weight[target] - weight[current]  # (N, D)
    f = scores[:, target] - scores.gather(1, current[:, None]).squeeze(1)
    expected = ((f.abs() + 1e-4) / normal.pow(2).sum(1))[:, None] * normal

    one = deepfool(model, x, target, overshoot=0.0, max_iter=1)
    assert torch.allclose(one.perturbation[away], expected[away], atol=1e-5)
    assert (one.perturbation[~away] == 0).all() and one.converged[~away].all() and (one.iterations[~away] == 0).all()

    full = deepfool(model, x, "Pullover", overshoot=0.02)  # class 2 by name
    assert full.converged.all()
    assert (model(x + full.perturbation).argmax(1) == target).all()
    assert torch.equal(full.labels, current)


def test_binary_targeted_equals_untargeted():
    # With two classes, sending an image to the other class is changing its label: the same step.
    torch.manual_seed(4)
    w = torch.randn(1, 12)
    b = -0.5 * w.sum(1)  # the boundary passes through the middle of the box: both labels occur
    model = affine(torch.cat([w, -w]) / 2, torch.cat([b, -b]) / 2)
    x = torch.rand(16, 1, 3, 4)
    labels = model(x).argmax(1)
    assert 0 < labels.sum() < len(labels)
    for k in (0, 1):
        rows = labels != k
        targeted = deepfool(model, x[rows], k, overshoot=0.0)
        untargeted = deepfool(model, x[rows], overshoot=0.0)
        assert torch.allclose(targeted.perturbation, untargeted.perturbation, atol=1e-6)


def test_batched_matches_one_at_a_time(model, train_set):
    images = train_set.images[100:106]
    batched = deepfool(model, images, batch_size=4)
    single = torch.cat([deepfool(model, images[i : i + 1]).perturbation for i in range(6)])
    assert torch.allclose(batched.perturbation, single, atol=1e-5)


def test_parameters_untouched_and_no_parameter_gradients():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deepfool(model, torch.rand(10, 1, 4, 4))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_candidates": 1}, "num_candidates"),
        ({"max_iter": 0}, "max_iter"),
        ({"overshoot": -0.1}, "overshoot"),
        ({"iterate": "clip"}, "iterate must be one of 'plain', 'clipped', 'box_aware', got 'clip'"),
        ({"clip": True}, "unknown DeepFool option 'clip'"),
        ({"target": 10}, "target must be a class index 0-9"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments(kwargs, message):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with pytest.raises(ValueError, match=message):
        deepfool(model, torch.rand(2, 1, 2, 2), **kwargs)


def test_bad_images():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with pytest.raises(ValueError, match="non-empty"):
        deepfool(model, torch.rand(0, 1, 2, 2))
    with pytest.raises(ValueError, match="finite"):
        deepfool(model, torch.full((2, 1, 2, 2), float("nan")))

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
    result = deepfool(model, x, overshoot=0.0, clip=False)
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
    result = deepfool(model, x, num_candidates=5, overshoot=0.0, clip=False)
    scores = x @ weight.T + bias
    label = scores.argmax(1)
    gaps = (scores - scores.gather(1, label[:, None])).abs()
    normals = (weight[None] - weight[label][:, None]).norm(dim=2)
    distance = torch.where(gaps > 0, gaps / normals.clamp_min(1e-12), torch.inf).min(1).values
    assert torch.allclose(result.perturbation.norm(dim=1), distance, atol=2e-4)
    fooled = model(x + result.perturbation * 1.001).argmax(1)
    assert (fooled != label).all()


def test_overshoot_crosses_the_boundary_and_labels_change(model, train_set):
    images = train_set.images[:40]
    result = deepfool(model, images)
    assert result.converged.float().mean() > 0.95
    perturbed = model((images + result.perturbation).clamp(0, 1)).argmax(1)
    assert (perturbed[result.converged] != result.labels[result.converged]).all()


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

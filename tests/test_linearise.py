"""The traced gradients (one forward pass, all cotangents pulled back in one batch) against plain autograd."""

import pytest
import torch
from torch import nn

from uap_core import load_model
from uap_core.linearise import trace, tracer
from uap_core.models import Normalize


def autograd_gradients(model: nn.Module, images: torch.Tensor, cotangents: torch.Tensor) -> torch.Tensor:
    """One image and one combination at a time: the plain reference."""
    rows = []
    for image, combos in zip(images, cotangents, strict=True):
        grads = []
        for combo in combos:
            x = image[None].clone().requires_grad_(True)
            (grad,) = torch.autograd.grad((model(x)[0] * combo).sum(), x)
            grads.append(grad[0])
        rows.append(torch.stack(grads))
    return torch.stack(rows)


def unusual_model() -> nn.Sequential:
    """Layers the shipped models do not have: batch norm not folded, overlapping max-pooling, dropout, stride 2."""
    torch.manual_seed(0)
    model = nn.Sequential(
        Normalize(), nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Dropout(0.5), nn.Conv2d(4, 6, 3, dilation=2), nn.AvgPool2d(2, 1), nn.Flatten(), nn.Identity(),
        nn.Linear(6 * 1 * 1, 10),
    )  # fmt: skip
    with torch.no_grad():
        model[2].running_mean.uniform_(-0.5, 0.5)
        model[2].running_var.uniform_(0.5, 2.0)
    return model.eval()


def other_paths_model() -> nn.Sequential:
    """The other branches of the traced pullbacks: a first layer with one input channel, no padding and dilation 2
    (its adjoint as a depthwise convolution), a 1x1 convolution, and pools whose windows leave pixels out."""
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, dilation=2), nn.ReLU(), nn.Conv2d(3, 5, 1), nn.ReLU(),  # 28 -> 24
        nn.MaxPool2d(5), nn.AvgPool2d(3), nn.Flatten(), nn.Linear(5, 10),  # 24 -> 4 (pixels 20-23 unused) -> 1
    )  # fmt: skip
    with torch.no_grad():
        model[-1].weight.mul_(30)  # gradients large enough to compare meaningfully
    return model.eval()


def untraceable_model() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.Tanh(), nn.Linear(32, 10)).eval()


@pytest.mark.parametrize("name", ["convnet", "lenet", "mlp", "unusual", "other_paths", "untraceable"])
def test_traced_gradients_match_autograd(name, train_set):
    models = {"unusual": unusual_model, "other_paths": other_paths_model, "untraceable": untraceable_model}
    model = models.get(name, lambda: load_model(name))()
    images = train_set.images[:4]
    traced = trace(model, images)
    with torch.no_grad():
        assert torch.allclose(traced.logits, model(images), atol=1e-5)
    cotangents = torch.randn(4, 3, 10, generator=torch.Generator().manual_seed(2))
    expected = autograd_gradients(model, images, cotangents)
    assert expected.abs().max() > 0.1  # a real signal to compare, not zeros
    torch.testing.assert_close(traced.gradients(cotangents), expected, atol=1e-5, rtol=1e-4)
    rows = torch.tensor([3, 1])  # a subset, in another order
    torch.testing.assert_close(traced.gradients(cotangents[rows], rows), expected[rows], atol=1e-5, rtol=1e-4)


def test_one_tracer_serves_many_batches(model, train_set):
    """A prepared tracer keeps no state between calls: each batch gets the gradients of its own trace."""
    forward = tracer(model)
    cotangents = torch.randn(2, 3, 10, generator=torch.Generator().manual_seed(4))
    for images in (train_set.images[:2], train_set.images[10:12]):
        torch.testing.assert_close(forward(images).gradients(cotangents), trace(model, images).gradients(cotangents))
        torch.testing.assert_close(forward(images).gradients(cotangents), autograd_gradients(model, images, cotangents),
                                   atol=1e-5, rtol=1e-4)  # fmt: skip

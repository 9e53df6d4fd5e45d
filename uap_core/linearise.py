"""The logits of a model at a batch of images, and then gradients of several logit combinations per image.

DeepFool needs, at every step, the gradients of k - 1 logit differences z_j - z_label for each image.
Plain autograd gives one gradient per backward pass, so the simple way is k - 1 copies of each image in
one forward and one backward pass. That repeats the forward pass k - 1 times for nothing: the network's
piecewise-linear pieces (which ReLUs are on, which pixel each max-pool picked) are the same for every
copy. :func:`trace` runs the forward pass once, keeping those pieces, and :meth:`Trace.gradients` then
pulls all k - 1 cotangents back through the layers in one batch. On the default convnet, one DeepFool
step for one image drops from 9 forward + 9 backward image passes to 1 forward + 9 backward (see README,
Benchmark). The gradients are the ones autograd computes (tests/test_linearise.py compares them).

Only ``nn.Sequential`` models made of the layers in ``_LAYERS`` are traced this way; any other model
falls back to autograd (one backward pass per combination).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .models import Normalize

# A pullback takes the rows of the traced batch being asked about (None: all) and the cotangents
# (M, m, *output shape) of a layer's output for those rows, and returns those (M, m, *input shape) of its input.
Pullback = Callable[[torch.Tensor | None, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Trace:
    """One forward pass of a model: the logits, and how to pull cotangents of them back to the input."""

    logits: torch.Tensor  # (N, K)
    _pull: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]

    def gradients(self, cotangents: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Gradients (M, m, C, H, W) with respect to the input of Σ_k cotangents[i, j, k]·z_k, for m
        combinations ``cotangents`` (M, m, K) of the logits of the M images ``rows`` (indices into the
        traced batch; None: all N, in order)."""
        return self._pull(cotangents, rows)


def trace(model: nn.Module, images: torch.Tensor) -> Trace:
    """Run ``model`` on ``images`` (N, C, H, W), keeping what its input gradients need.

    ``nn.Sequential`` models in eval mode made of the layers in ``_LAYERS`` run without autograd and
    pull all cotangents back in one batch; any other model runs under autograd, one backward pass per
    combination. The model's parameters are never touched.
    """
    pullbacks = _traced_layers(model, images)
    if pullbacks is None:
        return _autograd_trace(model, images)
    logits, pullbacks = pullbacks

    def pull(cotangents: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        g = cotangents
        for pullback in reversed(pullbacks):
            g = pullback(rows, g)
        return g

    return Trace(logits, pull)


def _traced_layers(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, list[Pullback]] | None:
    """The output and the layers' pullbacks (first layer first), or None if a layer is not supported."""
    if not isinstance(model, nn.Sequential):
        return None
    pullbacks = []
    x = images
    with torch.no_grad():
        for layer in model:
            step = _LAYERS.get(type(layer))
            if step is None or layer.training:
                return None
            try:
                x, pullback = step(layer, x)
            except _Unsupported:
                return None
            pullbacks.append(pullback)
    return x, pullbacks


def _autograd_trace(model: nn.Module, images: torch.Tensor) -> Trace:
    x = images.detach().requires_grad_(True)
    with torch.enable_grad():
        z = model(x)

    def pull(cotangents: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        full = cotangents
        if rows is not None:
            full = cotangents.new_zeros(len(z), *cotangents.shape[1:])
            full[rows] = cotangents
        grads = [torch.autograd.grad(z, x, full[:, j], retain_graph=True)[0] for j in range(full.shape[1])]
        stacked = torch.stack(grads, 1)
        return stacked if rows is None else stacked[rows]

    return Trace(z.detach(), pull)


def _rows(saved: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    return saved if rows is None else saved[rows]


def _flat(g: torch.Tensor) -> torch.Tensor:
    """(N, m, ...) -> (N·m, ...): the cotangents of all images as one batch."""
    return g.flatten(0, 1)


def _conv2d(layer: nn.Conv2d, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise _Unsupported  # another padding would be another linear map of the input
    y = F.conv2d(x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
    shape = x.shape[1:]
    # A strided convolution maps several input sizes to one output size: say which one to go back to.
    extra = tuple(
        size - ((out - 1) * stride - 2 * pad + dilation * (kernel - 1) + 1)
        for size, out, stride, pad, dilation, kernel in zip(
            shape[1:], y.shape[2:], layer.stride, layer.padding, layer.dilation, layer.kernel_size, strict=True
        )
    )

    def pullback(rows: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
        # The adjoint of a convolution is the transposed convolution with the same weights (on CPU
        # about 25% faster than autograd's convolution_backward for these sizes).
        n, m = g.shape[:2]
        grad = F.conv_transpose2d(_flat(g), layer.weight, None, layer.stride, layer.padding, extra, layer.groups,
                                  layer.dilation)  # fmt: skip
        return grad.view(n, m, *shape)

    return y, pullback


def _linear(layer: nn.Linear, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    return F.linear(x, layer.weight, layer.bias), lambda rows, g: g @ layer.weight


def _flatten(layer: nn.Flatten, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    shape = x.shape[1:]
    return layer(x), lambda rows, g: g.reshape(*g.shape[:2], *shape)


def _normalize(layer: Normalize, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    return layer(x), lambda rows, g: g / layer.std


def _relu(layer: nn.ReLU, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    y = F.relu(x)
    on = (y > 0).to(y.dtype)  # autograd's rule too: the gradient passes where the output is positive
    return y, lambda rows, g: g * _rows(on, rows).unsqueeze(1)


def _max_pool2d(layer: nn.MaxPool2d, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    y, picked = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode,
                             return_indices=True)  # fmt: skip
    shape = x.shape[1:]

    def pullback(rows: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
        # Each output's cotangent goes to the input pixel it picked (summed where windows overlap).
        n, m, c = g.shape[:3]
        index = _rows(picked, rows).flatten(2).unsqueeze(1).expand(n, m, c, -1)
        grad = g.new_zeros(n, m, c, shape[1] * shape[2])
        return grad.scatter_add_(3, index, g.flatten(3)).view(n, m, *shape)

    return y, pullback


def _linear_map(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    """A layer that is a fixed linear map of its input plus a constant (average pooling, batch norm in eval
    mode): its pullback is autograd's on that layer alone, at any point."""
    shape = x.shape[1:]

    def pullback(rows: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
        n, m = g.shape[:2]
        with torch.enable_grad():
            point = g.new_zeros(n * m, *shape, requires_grad=True)
            (grad,) = torch.autograd.grad(layer(point), point, _flat(g))
        return grad.view(n, m, *shape)

    return layer(x), pullback


def _identity(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    return x, lambda rows, g: g


def _batch_norm(layer: nn.BatchNorm2d, x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
    if not layer.track_running_stats or layer.running_var is None:
        raise _Unsupported  # it would use the batch's own statistics: not a fixed map
    return _linear_map(layer, x)


class _Unsupported(Exception):
    pass


_LAYERS: dict[type, Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, Pullback]]] = {
    nn.Conv2d: _conv2d,
    nn.Linear: _linear,
    nn.ReLU: _relu,
    nn.MaxPool2d: _max_pool2d,
    nn.AvgPool2d: _linear_map,
    nn.Flatten: _flatten,
    Normalize: _normalize,
    nn.BatchNorm2d: _batch_norm,
    nn.Dropout: _identity,
    nn.Identity: _identity,
}

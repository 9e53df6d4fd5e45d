"""The logits of a model at a batch of images, and then gradients of several logit combinations per image.

DeepFool needs, at every step, the gradients of k - 1 logit differences z_j - z_label for each image.
Plain autograd gives one gradient per backward pass, so the simple way is k - 1 copies of each image in
one forward and one backward pass. That repeats the forward pass k - 1 times for nothing: the network's
piecewise-linear pieces (which ReLUs are on, which pixel each max-pool picked) are the same for every
copy. A trace runs the forward pass once, keeping those pieces, and :meth:`Trace.gradients` then pulls
all k - 1 cotangents back through the layers in one batch. On the default convnet, one DeepFool step for
one image drops from 9 forward + 9 backward image passes to 1 forward + 9 backward (timings:
docs/benchmarks.md). The gradients are the ones autograd computes (tests/test_linearise.py compares them).

:func:`tracer` prepares a model once (each layer's kind, the weights its adjoint needs) and returns a
function that traces a batch; an attack that runs the model thousands of times on one image keeps that
function for all its steps. Only ``nn.Sequential`` models made of the layers in ``_LAYERS`` are traced
this way; any other model falls back to autograd (one backward pass per combination).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .models import Normalize

# A pullback takes the rows of the traced batch being asked about (None: all) and the cotangents
# (M, m, *output shape) of a layer's output for those rows, and returns those (M, m, *input shape) of its input.
Pullback = Callable[[torch.Tensor | None, torch.Tensor], torch.Tensor]
# One prepared layer: runs the layer on a batch and returns its output and its pullback at that batch.
Forward = Callable[[torch.Tensor], tuple[torch.Tensor, Pullback]]


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


def tracer(model: nn.Module) -> Callable[[torch.Tensor], Trace]:
    """A function that runs ``model`` on images (N, C, H, W), keeping what its input gradients need.

    ``nn.Sequential`` models in eval mode made of the layers in ``_LAYERS`` run without autograd and
    pull all cotangents back in one batch; any other model runs under autograd, one backward pass per
    combination. The model's parameters are never touched. The model is looked at once, here: change
    its layers or switch it to training mode and a new tracer is needed.
    """
    forwards = _prepared_layers(model)
    if forwards is None:
        return partial(_autograd_trace, model)

    def run(images: torch.Tensor) -> Trace:
        pullbacks = []
        x = images
        with torch.no_grad():
            for forward in forwards:
                x, pullback = forward(x)
                pullbacks.append(pullback)

        def pull(cotangents: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
            g = cotangents
            for pullback in reversed(pullbacks):
                g = pullback(rows, g)
            return g

        return Trace(x, pull)

    return run


def trace(model: nn.Module, images: torch.Tensor) -> Trace:
    """``tracer(model)(images)``: one traced forward pass."""
    return tracer(model)(images)


def _prepared_layers(model: nn.Module) -> list[Forward] | None:
    """Each layer's prepared forward (first layer first), or None if a layer is not supported."""
    if not isinstance(model, nn.Sequential):
        return None
    forwards = []
    for layer in model:
        prepare = _LAYERS.get(type(layer))
        if prepare is None or layer.training:
            return None
        try:
            forwards.append(prepare(layer))
        except _Unsupported:
            return None
    return forwards


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


def _batched(adjoint: Callable[[torch.Tensor], torch.Tensor]) -> Pullback:
    """The pullback of a fixed linear map whose ``adjoint`` takes a batch: the cotangents (M, m, ...) of all
    images go through it as one batch of M·m."""
    return lambda rows, g: adjoint(g.flatten(0, 1)).unflatten(0, g.shape[:2])


def _conv2d(layer: nn.Conv2d) -> Forward:
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise _Unsupported  # another padding would be another linear map of the input
    weight, bias, stride, padding, dilation, groups = (layer.weight, layer.bias, layer.stride, layer.padding,
                                                       layer.dilation, layer.groups)  # fmt: skip
    kernel, plain = layer.kernel_size, stride == (1, 1) and groups == 1
    full = tuple(d * (k - 1) - p for d, k, p in zip(dilation, kernel, padding, strict=True))
    if plain and kernel == (1, 1) and padding == (0, 0):
        # A 1x1 convolution is a matrix product over channels, and so is its adjoint: a few microseconds,
        # where oneDNN's transposed convolution takes 30-80 (measured on 2 cores at the convnet's sizes).
        matrix = weight.reshape(weight.shape[0], -1)
        pullback = _batched(lambda h: (h.permute(0, 2, 3, 1) @ matrix).permute(0, 3, 1, 2))
    elif plain and weight.shape[1] == 1 and min(full) >= 0:
        # One input channel (the first layer): the adjoint is the sum over channels of each channel's flipped
        # kernel, which oneDNN runs as a depthwise convolution 2.5-3x faster than a transposed convolution
        # with a single output channel.
        flipped = weight.flip(-2, -1)
        pullback = _batched(lambda h: F.conv2d(h, flipped, None, 1, full, dilation, h.shape[1]).sum(1, keepdim=True))
    else:
        pullback = None

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
        y = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
        if pullback is not None:
            return y, pullback
        # A strided convolution maps several input sizes to one output size: say which one to go back to.
        extra = tuple(
            size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)
            for size, out, s, p, d, k in zip(x.shape[2:], y.shape[2:], stride, padding, dilation, kernel, strict=True)
        )
        # The adjoint of a convolution is the transposed convolution with the same weights (on CPU about 25%
        # faster than autograd's convolution_backward for these sizes).
        return y, _batched(lambda h: F.conv_transpose2d(h, weight, None, stride, padding, extra, groups, dilation))

    return forward


def _linear(layer: nn.Linear) -> Forward:
    weight, bias = layer.weight, layer.bias
    return lambda x: (F.linear(x, weight, bias), lambda rows, g: g @ weight)


def _flatten(layer: nn.Flatten) -> Forward:
    return lambda x: (layer(x), lambda rows, g: g.reshape(*g.shape[:2], *x.shape[1:]))


def _normalize(layer: Normalize) -> Forward:
    return lambda x: (layer(x), lambda rows, g: g / layer.std)


def _relu(layer: nn.ReLU) -> Forward:
    def forward(x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
        y = F.relu(x)
        # Autograd's own rule and kernel: the gradient passes where the output is positive. The output is kept
        # rather than a mask, so a forward pass whose gradients are never asked for makes no mask.
        return y, lambda rows, g: torch.ops.aten.threshold_backward(g, _rows(y, rows).unsqueeze(1), 0)

    return forward


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _tiles(layer: nn.MaxPool2d | nn.AvgPool2d, shape: torch.Size) -> bool:
    """True when the pooling windows tile the input exactly: no overlap, no gap, no padding, no partial window."""
    kernel, stride = _pair(layer.kernel_size), _pair(layer.stride)
    dilation = _pair(getattr(layer, "dilation", 1))
    return (
        kernel == stride and dilation == (1, 1) and _pair(layer.padding) == (0, 0)
        and all(size % k == 0 for size, k in zip(shape[-2:], kernel, strict=True))
    )  # fmt: skip


def _max_pool2d(layer: nn.MaxPool2d) -> Forward:
    spread = _batched(lambda h: F.interpolate(h, scale_factor=_pair(layer.kernel_size), mode="nearest"))

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
        y, picked = F.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode,
                                 return_indices=True)  # fmt: skip
        shape = x.shape[1:]
        if _tiles(layer, shape):
            # Each output's cotangent goes to the input pixel it picked, and no pixel is picked twice: spread
            # every cotangent over its window (nearest-neighbour upsampling) and keep the picked pixels, which a
            # 0/1 mask per image marks. Half the time of the scatter below, or of max_unpool2d, at these sizes.
            def tiled(rows: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
                index = _rows(picked, rows)
                mask = x.new_zeros(len(index), shape[0], shape[1] * shape[2]).scatter_(2, index.flatten(2), 1.0)
                mask = mask.view(-1, *shape).contiguous(memory_format=_memory_format(x)).unsqueeze(1)
                return spread(rows, g) * mask

            return y, tiled

        def overlapping(rows: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
            # Each output's cotangent goes to the input pixel it picked, summed where windows overlap.
            n, m, c = g.shape[:3]
            index = _rows(picked, rows).flatten(2).unsqueeze(1).expand(n, m, c, -1)
            grad = g.new_zeros(n, m, c, shape[1] * shape[2])
            return grad.scatter_add_(3, index, g.flatten(3)).view(n, m, *shape)

        return y, overlapping

    return forward


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """The layout of a traced activation, which its cotangents are best kept in too."""
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def _avg_pool2d(layer: nn.AvgPool2d) -> Forward:
    kernel = _pair(layer.kernel_size)
    # Windows that tile the input: every input pixel gets its window's cotangent divided by the window's size
    # (autograd's rule), spread by nearest-neighbour upsampling instead of a backward pass through the layer.
    spread = _batched(lambda h: F.interpolate(h / (kernel[0] * kernel[1]), scale_factor=kernel, mode="nearest"))
    general = _linear_map(layer)

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
        if layer.divisor_override is not None or not _tiles(layer, x.shape):
            return general(x)
        return layer(x), spread

    return forward


def _linear_map(layer: nn.Module) -> Forward:
    """A layer that is a fixed linear map of its input plus a constant (average pooling, batch norm in eval
    mode): its pullback is autograd's on that layer alone, at any point."""

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, Pullback]:
        def pullback(rows: torch.Tensor | None, g: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                point = g.new_zeros(g.shape[0] * g.shape[1], *x.shape[1:], requires_grad=True)
                return _batched(lambda h: torch.autograd.grad(layer(point), point, h)[0])(rows, g)

        return layer(x), pullback

    return forward


def _identity(layer: nn.Module) -> Forward:
    return lambda x: (x, lambda rows, g: g)


def _batch_norm(layer: nn.BatchNorm2d) -> Forward:
    if not layer.track_running_stats or layer.running_var is None:
        raise _Unsupported  # it would use the batch's own statistics: not a fixed map
    return _linear_map(layer)


class _Unsupported(Exception):
    pass


_LAYERS: dict[type, Callable[[nn.Module], Forward]] = {
    nn.Conv2d: _conv2d,
    nn.Linear: _linear,
    nn.ReLU: _relu,
    nn.MaxPool2d: _max_pool2d,
    nn.AvgPool2d: _avg_pool2d,
    nn.Flatten: _flatten,
    Normalize: _normalize,
    nn.BatchNorm2d: _batch_norm,
    nn.Dropout: _identity,
    nn.Identity: _identity,
}

"""Fashion-MNIST classifiers and their shipped weights.

Every model takes images in [0, 1] shaped (N, 1, 28, 28) and returns logits (N, 10):
the normalisation is the model's first layer, so attacks work in pixel space.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .uat import UATOptions

WEIGHTS_DIR = Path(__file__).parent / "weights"

# Fashion-MNIST training-set pixel statistics.
MEAN, STD = 0.2860, 0.3530


class Normalize(nn.Module):
    """(x - mean) / std, as a layer, so that callers never see normalised images."""

    def __init__(self, mean: float = MEAN, std: float = STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv(c_in: int, c_out: int, kernel: int = 3, padding: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=padding), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def convnet() -> nn.Sequential:
    """The course's all-convolutional network (44,554 parameters)."""
    return nn.Sequential(
        Normalize(),
        *_conv(1, 16),
        *_conv(16, 16),
        *_conv(16, 16),
        nn.MaxPool2d(2),  # 28 -> 14
        *_conv(16, 32),
        *_conv(32, 32),
        *_conv(32, 32),
        nn.MaxPool2d(2),  # 14 -> 7
        *_conv(32, 48, padding=0),  # 7 -> 5
        *_conv(48, 32, kernel=1, padding=0),
        *_conv(32, 16, kernel=1, padding=0),
        nn.AvgPool2d(5),  # 5 -> 1
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def lenet() -> nn.Sequential:
    """A LeNet-5-style network: two 5x5 convolutions with max-pooling, three dense layers."""
    return nn.Sequential(
        Normalize(),
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),  # 28 -> 14
        nn.Conv2d(6, 16, 5),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),  # 10 -> 5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(inplace=True),
        nn.Linear(120, 84),
        nn.ReLU(inplace=True),
        nn.Linear(84, 10),
    )


def mlp() -> nn.Sequential:
    """A fully connected network with two hidden layers: no convolution at all."""
    return nn.Sequential(
        Normalize(),
        nn.Flatten(),
        nn.Linear(28 * 28, 256),
        nn.ReLU(inplace=True),
        nn.Linear(256, 128),
        nn.ReLU(inplace=True),
        nn.Linear(128, 10),
    )


@dataclass(frozen=True)
class ModelSpec:
    """One shipped model: its architecture and how it was trained."""

    architecture: Callable[[], nn.Sequential]
    noise: float  # largest ℓ∞ size of the random-noise augmentation it is trained with (0: none)
    description: str  # one line for a reader choosing a model
    uat: UATOptions | None = None  # universal adversarial training's adversary (None: natural training)


MODELS: dict[str, ModelSpec] = {
    "convnet": ModelSpec(convnet, 0.25, "the course's convnet, trained with random-noise augmentation"),
    "lenet": ModelSpec(lenet, 0.25, "LeNet-style, trained with random-noise augmentation"),
    "mlp": ModelSpec(mlp, 0.25, "no convolution, trained with random-noise augmentation"),
    "convnet_plain": ModelSpec(
        convnet, 0.0, "the same convnet trained WITHOUT random-noise augmentation: random noise fools it easily"
    ),
    # The trained convnet, fine-tuned with universal adversarial training at the live page's ξ, with the same
    # optimizer and noise augmentation (docs/defence.md).
    "convnet_uat": ModelSpec(
        convnet,
        0.25,
        "the same convnet defended by universal adversarial training (ℓ∞ ξ = 0.2)",
        UATOptions(0.2, start="convnet"),
    ),
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
DEFAULT_MODEL = "convnet"
DEFENDED_MODEL = "convnet_uat"  # the default convnet, defended: compared with it in the defence experiment and page


def _check_name(name: str) -> None:
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def model_spec(name: str) -> ModelSpec:
    """The architecture, training noise and description of the named model."""
    _check_name(name)
    return MODELS[name]


def build_model(name: str) -> nn.Sequential:
    """A freshly initialised (untrained) model of the named model's architecture."""
    return model_spec(name).architecture()


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.pt"


def model_card(name: str) -> dict:
    """What the training command recorded about the shipped weights (accuracy, images, epochs...)."""
    _check_name(name)
    path = WEIGHTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_model(name: str = DEFAULT_MODEL, device: str | torch.device = "cpu") -> nn.Sequential:
    """The named model with its shipped weights, ready for attacks: eval mode, batch norm folded
    into the convolutions (:func:`fold_batchnorm`), frozen parameters.

    Frozen parameters mean an attack's input gradients never build parameter gradients,
    and a model shared between users (a cached one in the web app) cannot be trained by accident.
    """
    _check_name(name)
    path = weights_path(name)
    if not path.exists():
        raise FileNotFoundError(
            f"no shipped weights for {name!r} at {path}; run `python -m uap_core train --model {name}`"
        )
    model = build_model(name)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model = fold_batchnorm(freeze(model))
    # channels-last convolutions are about 20% faster on CPU for these small images.
    return model.to(device=device, memory_format=torch.channels_last)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad=False`` on every parameter; returns the same model."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def fold_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """The same eval-mode function with every Conv2d -> BatchNorm2d pair merged into one Conv2d.

    In eval mode batch norm is a fixed affine map per channel, so it can live in the convolution's
    weights and bias: identical outputs (up to float rounding), and attacks, which run the model
    thousands of times on a few images, skip a third of the layers forward and backward.
    """
    layers: list[nn.Module] = []
    for layer in model:
        if isinstance(layer, nn.BatchNorm2d) and layers and isinstance(layers[-1], nn.Conv2d):
            conv = layers[-1]
            scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
            # skip_init: no random initial weights (they are overwritten at once), so folding draws nothing
            # from the process-wide random generator.
            merged = torch.nn.utils.skip_init(nn.Conv2d, conv.in_channels, conv.out_channels, conv.kernel_size,
                                              conv.stride, conv.padding, conv.dilation, conv.groups,
                                              padding_mode=conv.padding_mode)  # fmt: skip
            merged.weight.data = conv.weight * scale.view(-1, 1, 1, 1)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(layer.running_mean)
            merged.bias.data = (bias - layer.running_mean) * scale + layer.bias
            layers[-1] = merged
        else:
            layers.append(layer)
    return freeze(nn.Sequential(*layers))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

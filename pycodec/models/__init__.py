"""Reference networks of the Deep Compression experiments and a name registry."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from pycodec.models.lenet import LeNet5, LeNet300100
from pycodec.models.squeeze import Fire, LeNet5Squeezed
from pycodec.models.vgg import VGG, vgg19, vgg19_squeezed

__all__ = [
    "MODELS",
    "MODEL_INPUTS",
    "VGG",
    "Fire",
    "LeNet5",
    "LeNet5Squeezed",
    "LeNet300100",
    "get_model",
    "vgg19",
    "vgg19_squeezed",
]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet-300-100": LeNet300100,
    "lenet-5": LeNet5,
    "lenet-5-squeezed": LeNet5Squeezed,
    "vgg-19": vgg19,
    "vgg-19-squeezed": vgg19_squeezed,
}

# Input shape (C, H, W) each model is built for.
MODEL_INPUTS: dict[str, tuple[int, int, int]] = {
    "lenet-300-100": (1, 28, 28),
    "lenet-5": (1, 28, 28),
    "lenet-5-squeezed": (1, 28, 28),
    "vgg-19": (3, 32, 32),
    "vgg-19-squeezed": (3, 32, 32),
}


def get_model(name: str, num_classes: int = 10) -> nn.Module:
    """A freshly initialised model by registry name (see :data:`MODELS`)."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}; expected one of {', '.join(MODELS)}"
        ) from None
    return factory(num_classes=num_classes)

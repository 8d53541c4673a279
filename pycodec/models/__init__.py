"""Reference networks of the Deep Compression experiments and a name registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
    "model_for_file",
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


def get_model(name: str, num_classes: int = 10, **options: int) -> nn.Module:
    """A freshly initialised model by registry name (see :data:`MODELS`).

    ``options`` go to the model's constructor, e.g. ``in_channels=1`` for a VGG-19 on
    1-channel 32×32 inputs (LeNet-5 and the VGGs take ``in_channels``).

    Files written by ``dcz compress`` carry ``model`` and ``dataset`` metadata;
    :func:`model_for_file` builds the module such a file loads into.
    """
    try:
        factory = MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}; expected one of {', '.join(MODELS)}"
        ) from None
    return factory(num_classes=num_classes, **options)


def model_for_file(metadata: Mapping[str, str]) -> nn.Module:
    """The fresh module a ``.dcz`` file's weights load into, from its metadata.

    The convention of ``dcz compress``: ``model`` is a registry name, optional
    ``num_classes`` and ``in_channels`` are decimal integers. A ``MODULE:FACTORY`` model
    is not imported from a file's metadata (a file must never run code): build it yourself.
    """
    name = metadata.get("model")
    if name is None or name not in MODELS:
        raise KeyError(f"metadata model {name!r} is not a built-in model; expected one of {', '.join(MODELS)}")
    options = {key: int(metadata[key]) for key in ("in_channels",) if key in metadata}
    return get_model(name, int(metadata.get("num_classes", "10")), **options)

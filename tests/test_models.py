"""Reference networks: shapes, parameter counts, the registry, the Fire module."""

from __future__ import annotations

import pytest
import torch

from pycodec.models import MODEL_INPUTS, MODELS, Fire, get_model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape(name: str) -> None:
    torch.manual_seed(0)
    model = get_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *MODEL_INPUTS[name]))
    assert out.shape == (2, 10)


@pytest.mark.parametrize(
    ("name", "params"),
    [("lenet-300-100", 266_610), ("lenet-5", 431_080), ("lenet-5-squeezed", 159_562)],
)
def test_parameter_counts(name: str, params: int) -> None:
    assert sum(p.numel() for p in get_model(name).parameters()) == params


def test_squeezed_variants_are_smaller() -> None:
    count = lambda n: sum(p.numel() for p in get_model(n).parameters())
    assert count("lenet-5-squeezed") < count("lenet-5") / 2
    assert count("vgg-19-squeezed") < count("vgg-19") / 5


def test_lenet5_layers_follow_caffe() -> None:
    model = get_model("lenet-5")
    assert (model.conv1.out_channels, model.conv1.kernel_size) == (20, (5, 5))
    assert (model.conv2.out_channels, model.conv2.kernel_size) == (50, (5, 5))
    assert (model.fc1.in_features, model.fc1.out_features, model.fc2.out_features) == (
        800,
        500,
        10,
    )


def test_fire_concatenates_expands_and_keeps_size() -> None:
    fire = Fire(16, 4, 8, 12)
    out = fire(torch.randn(3, 16, 7, 7))
    assert out.shape == (3, 20, 7, 7) and fire.out_channels == 20
    assert fire.squeeze.kernel_size == (1, 1) and fire.expand3x3.kernel_size == (3, 3)


def test_unknown_model() -> None:
    with pytest.raises(KeyError, match="unknown model"):
        get_model("resnet-50")


def test_num_classes() -> None:
    assert get_model("lenet-300-100", num_classes=3)(
        torch.zeros(1, 1, 28, 28)
    ).shape == (1, 3)

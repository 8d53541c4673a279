"""VGG-19 for 32×32 inputs (CIFAR style, BatchNorm) and its Fire-module variant."""

from __future__ import annotations

import torch
from torch import nn

from pycodec.models.squeeze import Fire

__all__ = ["VGG", "VGG19_CONFIG", "vgg19", "vgg19_squeezed"]

# Output channels of each 3×3 convolution; "M" is a 2×2 max pool. 32 → 1 after 5 pools.
VGG19_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


def _conv_block(in_channels: int, out_channels: int, squeezed: bool) -> nn.Sequential:
    """3×3 conv (or a Fire module of the same width), BatchNorm, ReLU."""
    if squeezed:
        # Fire's squeeze ratio 1/8 as in SqueezeNet; linear inside, as BatchNorm and ReLU
        # follow (with ReLUs inside, the 16-block stack hardly trains: see Fire).
        body: nn.Module = Fire(
            in_channels, max(out_channels // 8, 8), out_channels // 2, out_channels // 2, inner_relu=False
        )
    else:
        body = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    return nn.Sequential(body, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class VGG(nn.Module):
    """VGG feature stack from a config, then one linear classifier on the 512-d vector."""

    def __init__(
        self,
        config: tuple[int | str, ...] = VGG19_CONFIG,
        num_classes: int = 10,
        in_channels: int = 3,
        squeezed: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for index, item in enumerate(config):
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            # The first layer stays a plain conv: a Fire module on 3 input channels saves nothing.
            layers.append(_conv_block(channels, int(item), squeezed and index > 0))
            channels = int(item)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def vgg19(num_classes: int = 10, in_channels: int = 3) -> VGG:
    """VGG-19 with BatchNorm for 32×32 inputs (about 20M parameters)."""
    return VGG(VGG19_CONFIG, num_classes, in_channels)


def vgg19_squeezed(num_classes: int = 10, in_channels: int = 3) -> VGG:
    """VGG-19 with every 3×3 conv but the first replaced by a Fire module of equal width."""
    return VGG(VGG19_CONFIG, num_classes, in_channels, squeezed=True)

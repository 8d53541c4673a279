"""SqueezeNet's Fire module and the Fire-based ("squeezed") LeNet-5."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Fire", "LeNet5Squeezed"]


class Fire(nn.Module):
    """1×1 squeeze, then 1×1 and 3×3 expand (padding 1) concatenated; ReLU after each.

    Output channels: ``expand1x1 + expand3x3``; spatial size unchanged. ``inner_relu=False``
    drops the three ReLUs (a linear bottleneck) for stacks that normalise and activate
    after each block: in a 15-block stack a ReLU on an 8-channel squeeze starves the
    gradient, and training barely moves for hundreds of steps.
    """

    def __init__(
        self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int, *, inner_relu: bool = True
    ) -> None:
        super().__init__()
        self.inner_relu = inner_relu
        self.squeeze = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)

    @property
    def out_channels(self) -> int:
        return self.expand1x1.out_channels + self.expand3x3.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = torch.relu if self.inner_relu else _identity
        s = act(self.squeeze(x))
        return torch.cat([act(self.expand1x1(s)), act(self.expand3x3(s))], dim=1)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class LeNet5Squeezed(nn.Module):
    """LeNet-5 with its second convolution replaced by two Fire modules.

    conv 20 5×5 → pool → Fire(20→10→25+25) → pool → Fire(50→16→32+32) → pool (3×3×64)
    → fc 256, ReLU → fc 10. About 160k parameters against LeNet-5's 431k: the Fire
    modules are cheap and the extra pooling shrinks the first fully connected layer.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, kernel_size=5)
        self.fire2 = Fire(20, 10, 25, 25)
        self.fire3 = Fire(50, 16, 32, 32)
        self.fc1 = nn.Linear(64 * 3 * 3, 256)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)  # 24 → 12
        x = nn.functional.max_pool2d(self.fire2(x), 2)  # 12 → 6
        x = nn.functional.max_pool2d(self.fire3(x), 2)  # 6 → 3
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)

"""LeNet-300-100 and LeNet-5 (the Caffe form used by the Deep Compression paper)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LeNet5", "LeNet300100"]


class LeNet300100(nn.Module):
    """Fully connected 784-300-100-10 with ReLU (266,610 parameters)."""

    def __init__(self, num_classes: int = 10, in_features: int = 784) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    """Caffe's LeNet: conv 20 5×5, pool, conv 50 5×5, pool, fc 500, ReLU, fc 10 (431,080 params).

    As in Caffe's ``lenet_train_test.prototxt`` there is no non-linearity after the
    convolutions; the only ReLU follows ``fc1`` (``ip1``).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, kernel_size=5)
        self.conv2 = nn.Conv2d(20, 50, kernel_size=5)
        self.fc1 = nn.Linear(50 * 4 * 4, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(self.conv1(x), 2)
        x = nn.functional.max_pool2d(self.conv2(x), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)

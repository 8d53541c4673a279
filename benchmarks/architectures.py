"""State dicts of common architectures nobody here tuned the writer on, for
``bench_dense.py --weights``: ResNet-18, MobileNetV2 (314 tensors, 260 of them
batch-norm vectors: what a save pays per tensor shows there), a transformer encoder and a
two-layer GRU, built in plain ``torch.nn`` (no torchvision).

They are not trained on data: a few SGD steps on random inputs move every weight and
batch-norm statistic off its initial value, no more. Their sizes say little about trained
weights' (the third-party models in ``bench_dense.py``'s table do); their shapes, tensor
counts and dtypes are those of the real architectures, which is what save and load times
depend on.

    python3 benchmarks/architectures.py DIR [NAME ...]
    python3 benchmarks/bench_dense.py OUT --no-train --weights mobilenet-v2=DIR/mobilenet-v2.pt ...
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


class _Basic(nn.Module):
    """ResNet's basic block: two 3x3 convolutions and a shortcut."""

    def __init__(self, channels_in: int, channels: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(channels)
        self.c2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(channels)
        same = stride == 1 and channels_in == channels
        self.shortcut = nn.Sequential() if same else nn.Sequential(
            nn.Conv2d(channels_in, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.shortcut(x))


def resnet18() -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    channels_in = 64
    for channels, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
        layers.append(_Basic(channels_in, channels, stride))
        channels_in = channels
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))


class _InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise, 1x1 projection."""

    def __init__(self, channels_in: int, channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = channels_in * expansion
        self.residual = stride == 1 and channels_in == channels
        expand = [nn.Conv2d(channels_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()] if expansion != 1 else []
        self.m = nn.Sequential(*expand,
                               nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                               nn.ReLU6(), nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.m(x) if self.residual else self.m(x)


def mobilenet_v2() -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
    channels_in = 32
    for expansion, channels, repeats, stride in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                                 (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(repeats):
            layers.append(_InvertedResidual(channels_in, channels, stride if i == 0 else 1, expansion))
            channels_in = channels
    return nn.Sequential(*layers, nn.Conv2d(channels_in, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000))


def transformer() -> nn.Module:
    layer = nn.TransformerEncoderLayer(256, 4, 1024, batch_first=True)
    return nn.Sequential(nn.Embedding(8000, 256), nn.TransformerEncoder(layer, 4, enable_nested_tensor=False),
                         nn.Linear(256, 8000))


class _Gru(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(1000, 128)
        self.rnn = nn.GRU(128, 256, 2, batch_first=True)
        self.out = nn.Linear(256, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(self.embedding(x))[0])


#: name -> (model, a random input batch of its kind)
ARCHITECTURES: dict[str, tuple[Callable[[], nn.Module], Callable[[], torch.Tensor]]] = {
    "resnet-18": (resnet18, lambda: torch.randn(4, 3, 64, 64)),
    "mobilenet-v2": (mobilenet_v2, lambda: torch.randn(4, 3, 64, 64)),
    "transformer": (transformer, lambda: torch.randint(0, 8000, (4, 32))),
    "gru": (_Gru, lambda: torch.randint(0, 1000, (4, 32))),
}


def state_dict(name: str, steps: int = 10, seed: int = 0) -> dict[str, torch.Tensor]:
    """`name`'s state dict after `steps` SGD steps on random inputs (the mean square of
    its output as the loss), batch-norm statistics updated along."""
    make, batch = ARCHITECTURES[name]
    torch.manual_seed(seed)
    model = make()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for _ in range(steps):
        loss = model(batch()).float().pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(ARCHITECTURES)} (default: all)")
    parser.add_argument("--steps", type=int, default=10)
    arguments = parser.parse_args()
    unknown = [name for name in arguments.names if name not in ARCHITECTURES]
    if unknown:
        parser.error(f"unknown architecture {unknown[0]!r}; choose from {', '.join(ARCHITECTURES)}")
    arguments.folder.mkdir(parents=True, exist_ok=True)
    for name in arguments.names or ARCHITECTURES:
        state = state_dict(name, arguments.steps)
        torch.save(state, arguments.folder / f"{name}.pt")
        print(f"{name}: {len(state)} tensors, {sum(t.numel() for t in state.values()):,} elements")


if __name__ == "__main__":
    main()

"""``dcz plot`` at scale: a VGG-19-sized model (20M parameters, 16 conv layers) as Deep
Compression leaves it (10% kept, 8-bit shared values), drawn to PNG with the default
top-12 layers and to PDF with every layer. Target: under about 10 s for 20M parameters.
Run: python -m pytest benchmarks/bench_plot.py --benchmark-columns=min,median
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import SMOKE

import pycodec

matplotlib = pytest.importorskip("matplotlib")
from pycodec.plot import plot_file  # noqa: E402

WIDTH = 1 if not SMOKE else 16  # channel divisor: 20M parameters, or about 80k in the smoke


def _compressed_vgg19(path: Path) -> int:
    """A VGG-19-shaped state dict, pruned to 10% and shared to 256 values per layer."""
    from pycodec.models.vgg import VGG19_CONFIG

    generator = torch.Generator().manual_seed(0)
    state, channels, parameters = {}, 3, 0
    for i, item in enumerate(c for c in VGG19_CONFIG if c != "M"):
        out = max(int(item) // WIDTH, 4)
        weight = torch.randn(out, channels, 3, 3, generator=generator) * 0.05
        weight[weight.abs() < weight.abs().flatten().quantile(0.9)] = 0.0
        levels = torch.linspace(float(weight.min()), float(weight.max()), 256)
        nearest = torch.bucketize(weight, levels).clamp_(max=255)  # next level up: fine here
        state[f"features.{i}.weight"] = torch.where(weight != 0, levels[nearest], weight)
        state[f"features.{i}.bias"] = torch.randn(out, generator=generator) * 0.01
        parameters += weight.numel() + out
        channels = out
    pycodec.save(state, path)
    return parameters


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "vgg19.dcz"
    return path, _compressed_vgg19(path)


@pytest.mark.parametrize("suffix,top", [(".png", 12), (".pdf", 64)])
def test_plot_vgg19(benchmark, tmp_path, model, suffix, top):
    model, parameters = model
    benchmark.group = "plot"
    benchmark.extra_info["parameters"] = parameters
    out = benchmark.pedantic(plot_file, args=(model, tmp_path / f"plot{suffix}"), kwargs={"top": top},
                             rounds=1 if SMOKE else 3, iterations=1)
    assert out.stat().st_size > 10_000

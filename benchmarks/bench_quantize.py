"""Weight sharing at VGG scale: 1-D k-means on the survivors of pruned VGG-16 layers.

The layers are the largest of VGG-16 as Deep Compression leaves them: fc6 (102.8 M
weights, 9% kept, 5 bits: about 9.2 M values) and conv5_1 (2.4 M weights, 35% kept,
8 bits). Reported: seconds per layer, one thread (torch.set_num_threads(1)).
Run: python -m pytest benchmarks/bench_quantize.py --benchmark-columns=min,median
"""

from __future__ import annotations

import pytest
import torch
from conftest import SMOKE

from pycodec.compress.quantize import kmeans_1d

LAYERS = {
    "fc6-5bit": (25088 * 4096, 0.09, 5),
    "conv5_1-8bit": (512 * 512 * 9, 0.35, 8),
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_kmeans_layer(benchmark, layer):
    weights, density, bits = LAYERS[layer]
    survivors = int(weights * density) // (1000 if SMOKE else 1)
    values = torch.randn(survivors, generator=torch.Generator().manual_seed(0))
    benchmark.group = "kmeans"
    benchmark.extra_info["values"] = survivors
    centroids, assignment = benchmark.pedantic(kmeans_1d, args=(values, 2**bits), rounds=3, iterations=1)
    # what was timed is a real clustering: sorted centroids, each value in its nearest
    # cluster, and a smaller error than the linear initialisation it started from
    assert centroids.numel() == 2**bits and assignment.shape == values.shape
    assert bool((centroids[1:] >= centroids[:-1]).all())
    error = (values - centroids[assignment]).abs()
    for side in (-1, 1):
        neighbour = centroids[(assignment + side).clamp(0, 2**bits - 1)]
        assert bool((error <= (values - neighbour).abs() + 1e-6).all()), layer
    initial, initial_assignment = kmeans_1d(values, 2**bits, max_iter=0)
    initial_error = float((values - initial[initial_assignment]).pow(2).mean())
    assert float(error.pow(2).mean()) < 0.99 * initial_error, layer

"""The symbol streams the codec benchmarks measure, made reproducibly from a seed."""

from __future__ import annotations

import numpy as np


def entropy_bits(symbols: np.ndarray) -> float:
    """Shannon entropy of the empirical symbol distribution, in bits per symbol."""
    counts = np.bincount(symbols.ravel().astype(np.int64))
    p = counts[counts > 0] / symbols.size
    return float(-(p * np.log2(p)).sum())


def kmeans_indices(n: int, seed: int = 0) -> np.ndarray:
    """Indices of 32 linear centroids (5 bits) of magnitude-pruned Gaussian weights.

    Pruning keeps the tails of a bell curve, so the nearest-centroid indices crowd next to
    the pruning threshold on both sides (Deep Compression, Fig. 5): about 3.4 bits of
    entropy over 32 symbols.
    """
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal(int(n * 1.25 / 0.08) + 1024, dtype=np.float32)
    kept = weights[np.abs(weights) > 1.75][:n]  # ~8% survive a 1.75-sigma threshold
    # linear codebook over the kept range, its extreme 0.5% clipped as outliers
    low, high = np.quantile(kept, [0.005, 0.995])
    centroids = np.linspace(low, high, 32, dtype=np.float32)
    boundaries = (centroids[1:] + centroids[:-1]) / 2
    return np.searchsorted(boundaries, kept).astype(np.uint8)


def gap_entries(n: int, density: float = 0.08, bits: int = 5, seed: int = 1) -> np.ndarray:
    """Relative-index entries (with fillers) of a random mask of the given density."""
    from pycodec import codec

    rng = np.random.default_rng(seed)
    numel = int(n / density * 1.02) + 1024
    positions = np.flatnonzero(rng.random(numel) < density)
    return codec.relative_index_encode(positions, bits)[:n]

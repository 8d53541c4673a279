"""The symbol streams the codec benchmarks measure, made reproducibly from a seed."""

from __future__ import annotations

import functools

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


# ----------------------------------------------------------------- the entropy x alphabet grid

GRID_ENTROPIES = (3, 4, 5, 6)
GRID_ALPHABETS = (32, 64, 128, 256)


def _laplace(alphabet: int, scale: float) -> np.ndarray:
    """A discrete Laplace (two-sided geometric) distribution centred in the alphabet."""
    k = np.arange(alphabet, dtype=np.float64)
    p = np.exp(-np.abs(k - alphabet // 2) / scale)
    return p / p.sum()


def _entropy_of(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def laplace_symbols(n: int, alphabet: int, entropy: float, seed: int = 2) -> np.ndarray:
    """n i.i.d. symbols of `alphabet` values with the given entropy (bits): a discrete
    Laplace whose scale is found by bisection, or the uniform distribution when the
    entropy is log2(alphabet)."""
    if entropy >= np.log2(alphabet) - 1e-9:
        p = np.full(alphabet, 1.0 / alphabet)
    else:
        low, high = 1e-3, 1e6
        for _ in range(200):
            mid = np.sqrt(low * high)
            low, high = (mid, high) if _entropy_of(_laplace(alphabet, mid)) < entropy else (low, mid)
        p = _laplace(alphabet, low)
    rng = np.random.default_rng(seed)
    return rng.choice(alphabet, size=n, p=p).astype(np.uint8)


def grid_cells() -> list[tuple[int, int]]:
    """(entropy, alphabet) pairs of the grid an alphabet can hold (6 bits needs 64 symbols)."""
    return [(h, a) for a in GRID_ALPHABETS for h in GRID_ENTROPIES if h <= np.log2(a)]


def trained_float_weights(seed: int = 0) -> np.ndarray:
    """The float32 weights of LeNet-300-100 after one epoch of SGD on the embedded MNIST
    subset (a few seconds of CPU): real trained weights, made here, no download."""
    import torch

    from pycodec.data import load_split
    from pycodec.models import get_model

    torch.manual_seed(seed)
    split = load_split("embedded", train=True)
    model = get_model("lenet-300-100")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sgd_epoch(model, optimizer, split)
    weights = [p.detach().reshape(-1) for p in model.parameters() if p.dim() > 1]
    return torch.cat(weights).numpy().astype(np.float32)


def sgd_epoch(model, optimizer, split, batch_size: int = 128) -> None:
    """One epoch over ``split`` (images, labels) in a random order: the benchmarks' training."""
    import torch

    order = torch.randperm(len(split))
    for start in range(0, len(split), batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(split.images[batch]), split.labels[batch]).backward()
        optimizer.step()


def float_plane(weights: np.ndarray, plane: int, n: int) -> np.ndarray:
    """Byte `plane` (0 = least significant) of the first n float32 weights; not tiled
    (repeats would hand zstd matches that real planes do not have)."""
    return np.ascontiguousarray(weights[:n].astype("<f4").view(np.uint8).reshape(-1, 4)[:, plane])


FLOAT_PLANES = {"f32-plane3": 3, "f32-plane2": 2}


def grid_names() -> list[str]:
    """The grid's stream names: every cell, the 5.5-bit one, and the float planes."""
    return [f"h{h}-a{a}" for h, a in grid_cells()] + ["h5.5-a256", *FLOAT_PLANES]


@functools.lru_cache(maxsize=1)
def _weights() -> np.ndarray:
    return trained_float_weights()


def grid_stream(name: str, n: int) -> np.ndarray:
    """One stream of the grid by name: ``h<entropy>-a<alphabet>`` (n i.i.d. symbols), or
    ``f32-plane<k>`` (byte plane k of LeNet-300-100's trained weights, at most n)."""
    if name in FLOAT_PLANES:
        return float_plane(_weights(), FLOAT_PLANES[name], n)
    entropy, alphabet = name[1:].split("-a")
    return laplace_symbols(n, int(alphabet), float(entropy))


def grid_streams(n: int) -> dict[str, np.ndarray]:
    """Every grid stream by name (see grid_names)."""
    return {name: grid_stream(name, n) for name in grid_names()}

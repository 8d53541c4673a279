"""Regenerate ``pycodec/_embedded/mnist-subset`` from the full MNIST IDX files.

A stratified, deterministic subset: the first ``train_per_class`` train images and the
first ``test_per_class`` test images of every digit, in original file order.

    python3 experiments/make_embedded_mnist.py "$PYCODEC_DATA/mnist"   # e.g. PYCODEC_DATA=../shared/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pycodec.data import embedded_dir, load_idx_pair, write_idx


def stratified_first(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` examples of every class, in file order."""
    picks = [np.flatnonzero(labels == c)[:per_class] for c in range(10)]
    return np.sort(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", type=Path)
    parser.add_argument("--out", type=Path, default=embedded_dir())
    parser.add_argument("--train-per-class", type=int, default=200)
    parser.add_argument("--test-per-class", type=int, default=50)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for train, prefix, per_class in (
        (True, "train", args.train_per_class),
        (False, "t10k", args.test_per_class),
    ):
        images, labels = load_idx_pair(args.mnist_dir, train)
        keep = stratified_first(labels, per_class)
        write_idx(args.out / f"{prefix}-images-idx3-ubyte.gz", images[keep])
        write_idx(args.out / f"{prefix}-labels-idx1-ubyte.gz", labels[keep])
        print(f"{prefix}: {keep.size} examples")


if __name__ == "__main__":
    main()

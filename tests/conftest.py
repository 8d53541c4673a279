"""Shared test helpers: where the full datasets live, and the varint of the stream format.

The full MNIST files are not in the repository. Tests that need them look in
``$PYCODEC_DATA/mnist`` when ``PYCODEC_DATA`` is set, else in ``<repo root>/../shared/data/mnist``
(the repository's sibling ``shared/`` folder). When that folder exists the tests must run:
missing or unreadable files are a failure, not a skip. Without the folder they skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def varint(value: int) -> bytes:
    """An unsigned LEB128 varint, minimal (spec/huffman-stream.md, Conventions)."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def data_root() -> Path:
    """``$PYCODEC_DATA`` if set, else ``<repo root>/../shared/data``."""
    configured = os.environ.get("PYCODEC_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


def mnist_dir() -> Path | None:
    """The full-MNIST folder if it exists (whatever it holds), else None."""
    folder = data_root() / "mnist"
    return folder if folder.is_dir() else None


def require_mnist() -> Path:
    """The full-MNIST folder: skip when it is absent, fail when it is incomplete."""
    return require_idx_dataset("mnist")


def require_idx_dataset(name: str) -> Path:
    """``mnist`` or ``fashion-mnist`` (same file names): skip if absent, fail if incomplete."""
    folder = data_root() / name
    if not folder.is_dir():
        pytest.skip(f"full {name} not present at {folder} (set PYCODEC_DATA)")
    missing = [
        stem
        for stem in MNIST_FILES
        if not any((folder / name).is_file() for name in (stem, stem + ".gz"))
    ]
    if missing:
        pytest.fail(f"{folder} exists but lacks {', '.join(missing)}[.gz]")
    return folder


@pytest.fixture
def mnist() -> Path:
    """Fixture form of :func:`require_mnist`."""
    return require_mnist()

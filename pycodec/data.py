"""Image-classification datasets read from local files: MNIST, Fashion-MNIST, CIFAR-10.

Nothing here downloads. Three sources:

* MNIST and Fashion-MNIST in their original IDX format (``.gz`` or plain) from a folder
  holding the four standard files (``train-images-idx3-ubyte[.gz]`` ...).
* CIFAR-10 in its *binary version* (``data_batch_1.bin`` .. ``data_batch_5.bin``,
  ``test_batch.bin``; records of 1 label byte + 3072 pixel bytes, channel-major).
* ``embedded``: a small stratified MNIST subset shipped inside the package
  (``pycodec/_embedded/mnist-subset``), so the quick start runs with no files at all.

Every header and size is checked before anything is allocated from it; bad files raise
:class:`DataError`.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pycodec.errors import DczError

__all__ = [
    "DATASETS",
    "DataError",
    "Split",
    "embedded_dir",
    "iterate_batches",
    "load_cifar10_arrays",
    "load_idx_pair",
    "load_split",
    "read_idx",
    "resolve_data_dir",
    "write_idx",
]

DATASETS = ("embedded", "mnist", "fashion-mnist", "cifar10")

# Normalisation constants (of pixel/255) used by the reference implementations.
_MNIST_STATS = ((0.1307,), (0.3081,))
_FASHION_STATS = ((0.2860,), (0.3530,))
_CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_MAX_IDX_BYTES = 1 << 31  # far above any real dataset; refuses absurd declared sizes

_CIFAR_RECORD = 1 + 3 * 32 * 32
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_CIFAR_TEST_FILES = ("test_batch.bin",)


class DataError(DczError, ValueError):
    """A dataset file is missing, malformed or inconsistent with its companion file."""


@dataclass(frozen=True)
class Split:
    """One split of a dataset, normalised and ready for a model.

    ``images`` is float32 ``[N, C, H, W]``, ``labels`` int64 ``[N]``.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, count: int) -> Split:
        """The first ``count`` examples (all of them when ``count`` is larger)."""
        return Split(self.images[:count], self.labels[:count])


# --------------------------------------------------------------------------- IDX files


def _read_maybe_gzip(path: Path) -> bytes:
    """Whole file contents, gunzipped when the file starts with the gzip magic."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip stream ({exc})") from exc
    return raw


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse an IDX byte string (magic ``00 00 type ndim``, big-endian u32 dims, data)."""
    if len(data) < 4:
        raise DataError(
            f"{name}: not an IDX file; need 4 header bytes, got {len(data)}"
        )
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{name}: bad IDX magic {data[:4].hex()}; expected 0000 then type and ndim"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX element type 0x{type_code:02x}")
    if ndim == 0:
        raise DataError(f"{name}: IDX file declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"{name}: truncated IDX header; need {header_size} bytes, got {len(data)}"
        )
    dims = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = math.prod(dims) * dtype.itemsize
    if expected > _MAX_IDX_BYTES:
        raise DataError(
            f"{name}: IDX dims {dims} declare {expected} bytes, above the limit"
        )
    if len(data) - header_size != expected:
        raise DataError(
            f"{name}: IDX dims {dims} need {expected} data bytes, file has {len(data) - header_size}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or plain) into a native-endian numpy array."""
    path = Path(path)
    return parse_idx(_read_maybe_gzip(path), str(path))


def write_idx(
    path: str | Path, array: np.ndarray, *, compress: bool | None = None
) -> None:
    """Write ``array`` (uint8) as an IDX file; gzipped when ``compress`` or the name ends ``.gz``."""
    path = Path(path)
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise DataError(f"write_idx supports uint8 arrays, got {array.dtype}")
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        d.to_bytes(4, "big") for d in array.shape
    )
    payload = header + array.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    path.write_bytes(payload)


def _find_file(root: Path, stem: str) -> Path:
    """``root/stem.gz`` or ``root/stem``; also accepts the ``idx3.ubyte`` spelling."""
    candidates = [stem, stem.replace("-idx", ".idx")]
    for candidate in candidates:
        for name in (candidate + ".gz", candidate):
            if (root / name).is_file():
                return root / name
    raise DataError(f"missing dataset file {stem}[.gz] in {root}")


def load_idx_pair(root: str | Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` uint8 of an MNIST-style folder."""
    root = Path(root)
    prefix = "train" if train else "t10k"
    images = read_idx(_find_file(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_file(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{root}: image file must be 3-D uint8, got {images.ndim}-D {images.dtype}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            f"{root}: label file must be 1-D uint8, got {labels.ndim}-D {labels.dtype}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{root}: {images.shape[0]} images but {labels.shape[0]} labels"
        )
    if labels.size and int(labels.max()) > 9:
        raise DataError(f"{root}: label {int(labels.max())} out of range 0..9")
    return images, labels


# --------------------------------------------------------------------------- CIFAR-10


def _cifar_dir(root: Path) -> Path:
    """The folder holding the ``.bin`` batches: ``root`` or ``root/cifar-10-batches-bin``."""
    nested = root / "cifar-10-batches-bin"
    return nested if nested.is_dir() else root


def load_cifar10_arrays(root: str | Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` uint8 and labels ``[N]`` uint8 from CIFAR-10 binary batches."""
    folder = _cifar_dir(Path(root))
    images, labels = [], []
    for name in _CIFAR_TRAIN_FILES if train else _CIFAR_TEST_FILES:
        path = folder / name
        if not path.is_file():
            raise DataError(f"missing CIFAR-10 binary batch {name} in {folder}")
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % _CIFAR_RECORD:
            raise DataError(
                f"{path}: size {raw.size} is not a positive multiple of the {_CIFAR_RECORD}-byte record"
            )
        records = raw.reshape(-1, _CIFAR_RECORD)
        if int(records[:, 0].max()) > 9:
            raise DataError(
                f"{path}: label {int(records[:, 0].max())} out of range 0..9"
            )
        labels.append(records[:, 0].copy())
        images.append(records[:, 1:].reshape(-1, 3, 32, 32).copy())
    return np.concatenate(images), np.concatenate(labels)


# --------------------------------------------------------------------------- splits


def embedded_dir() -> Path:
    """Folder of the MNIST subset shipped with the package."""
    # Next to this module: works for wheels and editable installs alike (importlib.resources
    # may hand back a MultiplexedPath for the latter, which cannot be joined like this).
    return Path(__file__).resolve().parent / "_embedded" / "mnist-subset"


def resolve_data_dir(dataset: str, data_dir: str | Path | None = None) -> Path | None:
    """Where ``dataset``'s files are: ``data_dir`` if given, else ``$PYCODEC_DATA/<dataset>``,
    else ``./data/<dataset>`` (relative to the working folder); None for ``embedded``."""
    if dataset == "embedded":
        return None
    if data_dir is not None:
        return Path(data_dir)
    root = os.environ.get("PYCODEC_DATA")
    return Path(root if root else "data") / dataset


def _normalise(
    images: np.ndarray, stats: tuple[tuple[float, ...], tuple[float, ...]]
) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` → float32 ``(pixel/255 - mean) / std`` per channel."""
    x = torch.from_numpy(images).to(torch.float32).div_(255.0)
    mean = torch.tensor(stats[0]).view(1, -1, 1, 1)
    std = torch.tensor(stats[1]).view(1, -1, 1, 1)
    return (x - mean) / std


def load_split(name: str, train: bool, data_dir: str | Path | None = None) -> Split:
    """Load one split of dataset ``name`` (one of :data:`DATASETS`) from ``data_dir``."""
    if name not in DATASETS:
        raise DataError(
            f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}"
        )
    if name == "embedded":
        images, labels = load_idx_pair(embedded_dir(), train)
        return Split(
            _normalise(images[:, None], _MNIST_STATS), torch.from_numpy(labels).long()
        )
    if data_dir is None:
        raise DataError(f"dataset {name!r} needs a data directory (--data-dir or PYCODEC_DATA)")
    if name == "cifar10":
        images, labels = load_cifar10_arrays(data_dir, train)
        return Split(
            _normalise(images, _CIFAR10_STATS), torch.from_numpy(labels).long()
        )
    images, labels = load_idx_pair(data_dir, train)
    stats = _MNIST_STATS if name == "mnist" else _FASHION_STATS
    return Split(_normalise(images[:, None], stats), torch.from_numpy(labels).long())


# --------------------------------------------------------------------------- batches


def shard_indices(
    count: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:
    """This rank's example indices for one epoch (same split rule as DistributedSampler).

    The permutation depends only on ``seed`` and ``epoch`` so every rank draws the same
    one; it is padded by wrapping so each rank gets the same number of examples.
    """
    if shuffle:
        generator = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(count, generator=generator)
    else:
        order = torch.arange(count)
    per_rank = math.ceil(count / world_size)
    total = per_rank * world_size
    if total > count:
        order = torch.cat([order, order[: total - count]])
    return order[rank:total:world_size]


def iterate_batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels)`` batches by tensor indexing (no per-example collation)."""
    indices = shard_indices(
        len(split),
        shuffle=shuffle,
        seed=seed,
        epoch=epoch,
        rank=rank,
        world_size=world_size,
    )
    for start in range(0, len(indices), batch_size):
        batch = indices[start : start + batch_size]
        yield split.images[batch], split.labels[batch]

"""pycodec: Deep Compression made real — the ``.dcz`` compressed-model format for PyTorch.

>>> import pycodec
>>> pycodec.save(model, "model.dcz", metadata={"arch": "lenet5"})   # doctest: +SKIP
>>> state = pycodec.load("model.dcz")                                 # doctest: +SKIP
>>> pycodec.load_into(model, "model.dcz")                             # doctest: +SKIP
>>> with pycodec.open("model.dcz") as f:                              # doctest: +SKIP
...     w = f.tensor("fc1.weight")

``import pycodec`` needs numpy only; torch is imported when a tensor is made. The codec
functions live in :mod:`pycodec.codec`, the container in :mod:`pycodec.format`, and the
byte format is specified in ``spec/dcz.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pycodec.errors import (
    CodecError,
    CorruptStreamError,
    DczError,
    LimitExceededError,
    MalformedFileError,
    NotRegularFileError,
    UnsupportedTensorError,
)
from pycodec.format import limits as _limits
from pycodec.format.reader import DczFile, TensorInfo

if TYPE_CHECKING:
    import torch

__all__ = [
    "save",
    "load",
    "load_into",
    "open",
    "DczFile",
    "TensorInfo",
    "DczError",
    "CodecError",
    "CorruptStreamError",
    "LimitExceededError",
    "MalformedFileError",
    "NotRegularFileError",
    "UnsupportedTensorError",
]

__version__ = "0.1.0"

PathLike = str | os.PathLike[str]


def save(
    obj: Any,
    path: PathLike,
    *,
    metadata: Mapping[str, str] | None = None,
    compress: bool = True,
    compress_header: bool = True,
) -> None:
    """Save an ``nn.Module``'s state dict, or a mapping of names to tensors, as ``.dcz``.

    Each floating tensor with few distinct values (weight sharing) and/or many zeros
    (pruning) is stored in the smaller of the ``codebook`` and ``sparse`` encodings when
    that beats raw bytes; everything else is stored raw. Values round-trip bit for bit.
    Tensors sharing storage, offset, shape, strides and conjugate/negative bits are stored
    once (``alias``); conjugate and negative views are saved with their own values.
    `metadata` maps str to str. ``compress=False`` stores every tensor raw. The JSON header
    is stored zlib-compressed when that makes it smaller (``compress_header=False`` keeps
    it plain JSON; both forms are valid, ``spec/dcz.md`` 3.2). The output is deterministic.
    The file is replaced atomically: on error `path` is left as it was. A symlink is
    saved through (its target is replaced, the link stays).

    Raises :class:`UnsupportedTensorError` (a ``TypeError``) for nested, sparse,
    quantized or meta tensors and dtypes the format lacks, ``TypeError``/``ValueError``
    for other bad arguments, and :class:`NotRegularFileError` if `path` is a FIFO,
    device, socket or directory. A missing directory, a symlink loop, no permission or a
    full disk raise the built-in ``OSError`` the system reported.
    """
    from pycodec.format import writer

    writer.save(obj, path, metadata=metadata, compress=compress, compress_header=compress_header)


def open(path: PathLike, *, max_decoded_bytes: int = _limits.DEFAULT_MAX_DECODED_BYTES) -> DczFile:
    """Open a ``.dcz`` file lazily: the table is read and checked, tensors on demand.

    Errors as for :func:`load` (:class:`MalformedFileError`, :class:`LimitExceededError`,
    :class:`NotRegularFileError`, and the built-in ``OSError`` for a missing path, a
    symlink loop or no permission). Each tensor read checks that the file still has the
    length it had when opened.
    """
    return DczFile(path, max_decoded_bytes=max_decoded_bytes)


def load(
    path: PathLike,
    map_location: Any = "cpu",
    *,
    max_decoded_bytes: int = _limits.DEFAULT_MAX_DECODED_BYTES,
    threads: int = 2,
) -> dict[str, torch.Tensor]:
    """Read every tensor of a ``.dcz`` file, checking every byte, into a new dict.

    Tied tensors come back as views of one storage. Raises :class:`MalformedFileError`
    for anything that is not a valid file, before allocating beyond its declared sizes;
    :class:`LimitExceededError` when decoding would allocate more than
    `max_decoded_bytes` (default 4 GiB: outputs plus intermediates; raise it for larger
    models) or the machine refuses an allocation; :class:`NotRegularFileError` for a
    FIFO, device, socket or directory (refused without blocking). A missing path, a
    symlink loop or no permission raise the built-in ``OSError`` the system reported.
    """
    with DczFile(path, max_decoded_bytes=max_decoded_bytes) as file:
        return file.load_all(map_location, threads=threads)


def load_into(module: torch.nn.Module, path: PathLike, *, strict: bool = True) -> Any:
    """Load a ``.dcz`` file into `module` with ``load_state_dict``; returns its result."""
    state = load(path, map_location="cpu")
    return module.load_state_dict(state, strict=strict)

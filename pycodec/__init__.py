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
from typing import TYPE_CHECKING, Any, BinaryIO

from pycodec.errors import (
    ClosedFileError,
    CodecError,
    CorruptStreamError,
    DataChangedError,
    DczError,
    LimitExceededError,
    MalformedFileError,
    NotRegularFileError,
    UnsupportedTensorError,
)
from pycodec.format import limits as _limits
from pycodec.format.reader import DczReader, TensorInfo

if TYPE_CHECKING:
    import torch

    from pycodec.torch_adapter import DczFile

__all__ = [
    "save",
    "save_bytes",
    "load",
    "load_bytes",
    "load_into",
    "open",
    "DczFile",
    "DczReader",
    "TensorInfo",
    "DczError",
    "ClosedFileError",
    "CodecError",
    "CorruptStreamError",
    "DataChangedError",
    "LimitExceededError",
    "MalformedFileError",
    "NotRegularFileError",
    "UnsupportedTensorError",
]

__version__ = "0.1.0"

PathLike = str | os.PathLike[str]
Target = PathLike | BinaryIO

#: Attribute where :func:`pycodec.compress.compress_model` leaves a module's provenance
#: metadata (``pycodec.*`` keys) for :func:`save` to write.
MODULE_METADATA_ATTRIBUTE = "_pycodec_metadata"


def __getattr__(name: str) -> Any:
    # DczFile hands out torch tensors: import torch only when it is asked for.
    if name == "DczFile":
        from pycodec.torch_adapter import DczFile

        return DczFile
    raise AttributeError(f"module 'pycodec' has no attribute {name!r}")


def save(
    obj: Any,
    f: Target,
    *,
    metadata: Mapping[str, str] | None = None,
    compress: bool = True,
    compress_header: bool = True,
) -> None:
    """Save an ``nn.Module``'s state dict, or a mapping of names to tensors, as ``.dcz``.

    `f` is a path or a binary file object opened for writing. Each floating tensor with
    few distinct values (weight sharing) and/or many zeros (pruning) is stored in the
    smallest of the ``codebook``, ``sparse`` and ``sparse_raw`` encodings when that beats
    raw bytes, dense floats as Huffman-coded byte ``planes``; a mostly-zero tensor of any
    dtype may be stored ``sparse_raw``, a tensor made of repeats (or an integer tensor
    that compresses) ``zstd``; everything else is stored raw. Values round-trip bit for bit. Tensors sharing storage, offset,
    shape, strides and conjugate/negative bits are stored once (``alias``); conjugate and
    negative views are saved with their own values. `metadata` maps str to str.
    ``compress=False`` stores every tensor raw. The JSON header is stored zlib-compressed
    when that makes it smaller (``compress_header=False`` keeps it plain JSON; both forms
    are valid, ``spec/dcz.md`` 3.2). The output is deterministic. A module that
    :func:`pycodec.compress.compress_model` compressed also records its provenance (the
    ``pycodec.*`` keys, ``spec/dcz.md`` 4.2.1); a key given in `metadata` wins.

    A path is replaced atomically: on error it is left as it was, and a symlink is saved
    through (its target is replaced, the link stays). A file object is written from its
    current position, as the file is produced.

    Raises :class:`UnsupportedTensorError` (a ``TypeError``) for nested, sparse,
    quantized or meta tensors and dtypes the format lacks, ``TypeError``/``ValueError``
    for other bad arguments, and :class:`NotRegularFileError` if `f` is a FIFO,
    device, socket or directory. A missing directory, a symlink loop, no permission or a
    full disk raise the built-in ``OSError`` the system reported.
    """
    from pycodec import torch_adapter
    from pycodec.format import writer

    checked = writer.check_metadata(_with_module_metadata(obj, metadata))
    stored = torch_adapter.to_stored(obj)
    writer.save(stored, f, metadata=checked, compress=compress, compress_header=compress_header)


def _with_module_metadata(obj: Any, metadata: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """The provenance ``compress_model`` left on a module, under the caller's `metadata`."""
    recorded = None if isinstance(obj, Mapping) else getattr(obj, MODULE_METADATA_ATTRIBUTE, None)
    if not isinstance(recorded, dict) or not recorded:
        return metadata
    if metadata is not None and not isinstance(metadata, Mapping):
        return metadata  # check_metadata names the caller's mistake
    return {**recorded, **(metadata or {})}


def save_bytes(obj: Any, *, metadata: Mapping[str, str] | None = None, compress: bool = True) -> bytes:
    """The ``.dcz`` file :func:`save` would write, as bytes."""
    from pycodec import torch_adapter
    from pycodec.format import writer

    checked = writer.check_metadata(_with_module_metadata(obj, metadata))
    return writer.to_bytes(torch_adapter.to_stored(obj), metadata=checked, compress=compress)


def open(
    f: Target | bytes, *, max_decoded_bytes: int = _limits.DEFAULT_MAX_DECODED_BYTES, mmap: bool = False
) -> DczFile:
    """Open a ``.dcz`` file lazily: the table is read and checked, tensors on demand.

    `f` is a path, a binary file object (read to its end) or a bytes-like object. The
    reader answers ``keys()``, ``get_tensor(name)`` (also ``f[name]`` and the older
    ``tensor(name)``), ``metadata()``, ``iter(f)``, ``len(f)`` and ``name in f``; after
    ``close()`` every read raises :class:`ClosedFileError`. ``mmap=True`` maps a path
    instead of reading it (see :func:`load`). Errors as for :func:`load`
    (:class:`MalformedFileError`, :class:`LimitExceededError`, :class:`NotRegularFileError`,
    and the built-in ``OSError`` for a missing path, a symlink loop or no permission).
    Each tensor read checks that the file still has the length it had when opened.
    """
    from pycodec.torch_adapter import DczFile

    return DczFile(f, max_decoded_bytes=max_decoded_bytes, mmap=mmap)


def load(
    f: Target,
    map_location: Any = "cpu",
    *,
    max_decoded_bytes: int = _limits.DEFAULT_MAX_DECODED_BYTES,
    threads: int = 2,
    mmap: bool = False,
) -> dict[str, torch.Tensor]:
    """Read every tensor of a ``.dcz`` file, checking every byte, into a new dict.

    `f` is a path or a binary file object (read from its current position to its end).
    `map_location` takes what :func:`torch.load` takes (a str, a ``torch.device``, a dict
    mapping the saved location ``"cpu"`` to another, or a callable ``f(storage,
    location)``) and never changes a dtype: a dtype raises ``TypeError``.

    ``mmap=True`` (paths only) maps the file privately instead of reading it: raw tensors
    are views of the map, so loading copies nothing for them and pages are read when
    touched. They are writable copy-on-write: writing to a tensor changes the process's
    copy only, never the file. Entropy-coded tensors are decoded into fresh memory as
    usual. The file must not be modified while its tensors are alive.

    `threads` (1..64, default 2): native threads that read, check and decode the planes
    and raw sections at once (a small file uses fewer; see :meth:`DczReader.read_all`).

    Tied tensors come back as views of one storage. Raises :class:`MalformedFileError`
    for anything that is not a valid file, before allocating beyond its declared sizes;
    :class:`LimitExceededError` when decoding would allocate more than
    `max_decoded_bytes` (default 4 GiB: outputs plus intermediates; raise it for larger
    models) or the machine refuses an allocation; :class:`NotRegularFileError` for a
    FIFO, device, socket or directory (refused without blocking). A missing path, a
    symlink loop or no permission raise the built-in ``OSError`` the system reported.
    """
    from pycodec.torch_adapter import DczFile, check_map_location

    check_map_location(map_location)
    with DczFile(f, max_decoded_bytes=max_decoded_bytes, mmap=mmap) as file:
        return file.load_all(map_location, threads=threads)


def load_bytes(
    data: bytes | bytearray | memoryview,
    *,
    map_location: Any = "cpu",
    max_decoded_bytes: int = _limits.DEFAULT_MAX_DECODED_BYTES,
) -> dict[str, torch.Tensor]:
    """:func:`load` from the bytes of a ``.dcz`` file."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    return load(data, map_location, max_decoded_bytes=max_decoded_bytes)  # type: ignore[arg-type]


def load_into(module: torch.nn.Module, f: Target, *, strict: bool = True) -> Any:
    """Load a ``.dcz`` file into `module` with ``load_state_dict``; returns its result."""
    state = load(f, map_location="cpu")
    return module.load_state_dict(state, strict=strict)

"""Writing ``.dcz`` files: from a state dict to an atomically replaced file.

Steps: collect the tensors (:func:`collect_tensors`), find tied tensors
(:func:`find_aliases`), encode each stored tensor (:mod:`pycodec.format.encodings`), lay
the sections out in table order behind the smaller of the plain and the zlib header
(:func:`plan_layout`, spec 3.2–3.3), then write a temporary
file in the destination's directory, fsync it and rename it over the destination
(:func:`write_atomically`), so a failure never leaves a partial file in its place.
"""

from __future__ import annotations

import contextlib
import os
import stat
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from pycodec.errors import NotRegularFileError, UnsupportedTensorError
from pycodec.format import limits
from pycodec.format.dtypes import DType, from_torch, tensor_to_numpy
from pycodec.format.encodings import EncodedTensor, Payload, encode_tensor
from pycodec.format.reader import describe_file_type
from pycodec.format.syntax import (
    HEADER_ZLIB,
    SECTION_ROLES,
    ZLIB_PADDING_OVERHEAD,
    Header,
    Preamble,
    Section,
    TensorEntry,
    pack_header,
    pack_header_padded,
    serialize_header,
)

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike[str]


@dataclass
class PlannedFile:
    """Everything to write: the stored header, its flags and each section's offset and payload."""

    header: bytes  # as stored: plain JSON, or zlib when flags has HEADER_ZLIB
    flags: int
    sections: list[tuple[int, Payload]]  # (offset, payload), in file order
    file_length: int


# ----------------------------------------------------------------- inputs


def collect_tensors(obj: Any) -> dict[str, torch.Tensor]:
    """The named tensors of an ``nn.Module`` (its state dict) or a mapping of tensors."""
    import torch

    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected an nn.Module or a mapping of tensors, got {type(obj).__name__}")
    if len(obj) > limits.MAX_TENSORS:
        raise ValueError(f"{len(obj)} tensors exceed the format's limit of {limits.MAX_TENSORS}")
    tensors: dict[str, torch.Tensor] = {}
    for name, value in obj.items():
        _check_name(name)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name!r}: expected a tensor, got {type(value).__name__}")
        _check_tensor_kind(name, value)
        if value.dim() > limits.MAX_RANK:
            raise ValueError(f"{name!r}: rank {value.dim()} exceeds {limits.MAX_RANK}")
        if max(value.shape, default=0) > limits.MAX_DIM or limits.shape_volume(value.shape) > limits.MAX_NUMEL:
            raise ValueError(f"{name!r}: shape {tuple(value.shape)} exceeds the format's limits")
        tensors[name] = value
    return tensors


def _unsupported_kind(tensor: torch.Tensor) -> str | None:
    """Why `tensor` is not a plain dense tensor with data, or None if it is.

    Checked before anything reads its shape: a nested tensor's ``shape`` raises torch's
    internal error.
    """
    import torch

    if tensor.is_nested:
        return "nested"
    if tensor.layout != torch.strided:
        return f"{str(tensor.layout).removeprefix('torch.')} layout"
    if tensor.is_quantized:
        return "quantized"
    if tensor.device.type == "meta":
        return "meta (no data)"
    return None


def _check_tensor_kind(name: str, tensor: torch.Tensor) -> None:
    kind = _unsupported_kind(tensor)
    if kind is not None:
        raise UnsupportedTensorError(f"{name!r}: a {kind} tensor cannot be saved; only dense strided tensors with data")
    try:
        from_torch(tensor.dtype)
    except TypeError as exc:
        raise UnsupportedTensorError(f"{name!r}: {exc}") from None


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"tensor names must be strings, got {type(name).__name__}")
    size = len(name.encode("utf-8", errors="strict"))
    if not 1 <= size <= limits.MAX_NAME_BYTES:
        raise ValueError(f"tensor name {name[:40]!r}: {size} bytes, allowed 1..{limits.MAX_NAME_BYTES}")


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Metadata as a plain dict after checking types and the format's limits."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must map str to str, got {type(metadata).__name__}")
    if len(metadata) > limits.MAX_METADATA_ENTRIES:
        raise ValueError(f"{len(metadata)} metadata entries exceed {limits.MAX_METADATA_ENTRIES}")
    result = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {type(key).__name__}: {type(value).__name__}")
        if not 1 <= len(key.encode("utf-8")) <= limits.MAX_METADATA_KEY_BYTES:
            raise ValueError(f"metadata key {key[:40]!r} must be 1..{limits.MAX_METADATA_KEY_BYTES} bytes")
        if len(value.encode("utf-8")) > limits.MAX_METADATA_VALUE_BYTES:
            raise ValueError(f"metadata value of {key!r} exceeds {limits.MAX_METADATA_VALUE_BYTES} bytes")
        result[key] = value
    return result


def find_aliases(tensors: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """Map each tensor that is exactly an earlier one (same storage, offset, shape, strides,
    dtype and conjugate/negative bits) to that earlier tensor's name. Empty tensors are
    never aliased. A conj or neg view shares its base's memory but not its values."""
    first: dict[tuple[Any, ...], str] = {}
    aliases: dict[str, str] = {}
    for name, tensor in tensors.items():
        if tensor.numel() == 0:
            continue
        key = (
            tensor.device,
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tensor.stride(),
            tensor.dtype,
            tensor.is_conj(),
            tensor.is_neg(),
        )
        if key in first:
            aliases[name] = first[key]
        else:
            first[key] = name
    return aliases


# ----------------------------------------------------------------- layout


def _align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def _payload_bytes(payload: Payload) -> memoryview:
    if isinstance(payload, np.ndarray):
        return memoryview(np.ascontiguousarray(payload).reshape(-1).view(np.uint8))
    return memoryview(payload)


def _place_sections(
    entries: list[TensorEntry], payloads: dict[str, dict[str, Payload]], crcs: dict[tuple[str, str], int],
    header_length: int,
) -> tuple[list[tuple[int, Payload]], int]:
    """Set every entry's sections for a header of `header_length` stored bytes (spec 3.3);
    returns the (offset, payload) list in file order and the file's length."""
    end = limits.PREAMBLE_SIZE + header_length
    placed: list[tuple[int, Payload]] = []
    for entry in entries:
        alignment = limits.RAW_ALIGNMENT if entry.encoding == "raw" else 1
        for role in SECTION_ROLES[entry.encoding]:
            payload = payloads[entry.name][role]
            offset = _align_up(end, alignment)
            length = len(_payload_bytes(payload))
            entry.sections[role] = Section(offset, length, crcs[entry.name, role])
            placed.append((offset, payload))
            end = offset + length
    return placed, end


def _settle_layout(
    entries: list[TensorEntry], payloads: dict[str, dict[str, Payload]], crcs: dict[tuple[str, str], int],
    metadata: dict[str, str], flags: int,
) -> PlannedFile:
    """The layout whose stored header, under `flags`, has the length it was laid out for.

    Offsets depend on the header's length and the header holds the offsets, so iterate to
    the fixed point. Plain JSON only grows (offsets only grow), so it settles in a few
    rounds. A zlib header's length can oscillate (486, 487, 486, ...); then it is padded
    to a length chosen from above, which again only grows.
    """
    header_length = 0
    tried: set[int] = set()
    padded = False
    while True:
        placed, end = _place_sections(entries, payloads, crcs, header_length)
        text = serialize_header(Header(metadata=metadata, tensors=entries))
        if len(text) > limits.MAX_HEADER_LENGTH:
            raise ValueError(f"header of {len(text)} bytes exceeds the format's {limits.MAX_HEADER_LENGTH}")
        stored = pack_header_padded(text, header_length) if padded else pack_header(text, flags)
        if len(stored) == header_length:
            return PlannedFile(stored, flags, placed, end)
        tried.add(header_length)
        if len(stored) in tried and not padded:  # a cycle (zlib only): pad from above
            padded = True
            header_length = max(tried) + ZLIB_PADDING_OVERHEAD
        else:
            header_length = len(stored)


def plan_layout(
    entries: list[TensorEntry],
    payloads: dict[str, dict[str, Payload]],
    metadata: dict[str, str],
    *,
    compress_header: bool = True,
) -> PlannedFile:
    """Give every section its canonical offset (spec 3.3) and serialize the header.

    With `compress_header`, the header is stored zlib-compressed (flag ``HEADER_ZLIB``)
    when that is smaller than plain JSON, otherwise as plain JSON.
    """
    crcs = {(e.name, r): zlib.crc32(_payload_bytes(p)) for e in entries for r, p in payloads.get(e.name, {}).items()}
    plain = _settle_layout(entries, payloads, crcs, metadata, flags=0)
    if compress_header:
        zipped = _settle_layout(entries, payloads, crcs, metadata, flags=HEADER_ZLIB)
        if len(zipped.header) < len(plain.header):
            return zipped
    # The entries hold the sections of the last layout tried: lay out the plain one again.
    _place_sections(entries, payloads, crcs, len(plain.header))
    return plain


def encode_all(
    tensors: Mapping[str, torch.Tensor], *, compress: bool = True
) -> tuple[list[TensorEntry], dict[str, dict[str, Payload]]]:
    """The tensor table (sections still unplaced) and each stored tensor's payloads."""
    aliases = find_aliases(tensors)
    entries: list[TensorEntry] = []
    payloads: dict[str, dict[str, Payload]] = {}
    for name, tensor in tensors.items():
        dtype: DType = from_torch(tensor.dtype)
        shape = tuple(int(d) for d in tensor.shape)
        if name in aliases:
            entries.append(TensorEntry(name, dtype.name, shape, "alias", alias_of=aliases[name]))
            continue
        encoded: EncodedTensor = encode_tensor(tensor_to_numpy(tensor, dtype), dtype, compress=compress)
        entries.append(TensorEntry(name, dtype.name, shape, encoded.encoding, index_bits=encoded.index_bits))
        payloads[name] = encoded.payloads
    return entries, payloads


# ----------------------------------------------------------------- writing


def _write_all(file: BinaryIO, data: memoryview | bytes) -> None:
    """Write all of `data` (one place for tests to inject I/O errors)."""
    file.write(data)


def _chunks(plan: PlannedFile) -> Iterable[memoryview | bytes]:
    preamble = Preamble(
        header_length=len(plan.header),
        header_crc32=zlib.crc32(plan.header),
        file_length=plan.file_length,
        flags=plan.flags,
    )
    yield preamble.pack()
    yield plan.header
    end = limits.PREAMBLE_SIZE + len(plan.header)
    for offset, payload in plan.sections:
        if offset > end:
            yield bytes(offset - end)
        data = _payload_bytes(payload)
        yield data
        end = offset + len(data)


#: Temporary files are named ``.dcz-tmp-`` plus 16 hex digits: 25 bytes whatever the
#: destination's name, so any name the file system accepts can be saved to.
TEMPORARY_PREFIX = ".dcz-tmp-"
_TEMPORARY_ATTEMPTS = 100


def resolve_target(path: PathLike) -> tuple[str, os.stat_result | None]:
    """The file `path` designates (symlinks followed, so a save lands on the link's
    target) and its status, or None if it does not exist yet.

    Refuses anything but a regular file: renaming over a FIFO, device or socket would
    replace it (as root, ``/dev/null`` itself). A symlink loop or an unreadable directory
    raises the operating system's ``OSError``.
    """
    target = os.path.realpath(os.fspath(path))
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return target, None
    if not stat.S_ISREG(status.st_mode):
        raise NotRegularFileError(f"{os.fspath(path)!r} is {describe_file_type(status.st_mode)}, not a regular file")
    return target, status


def _new_file_mode(existing: os.stat_result | None) -> int:
    """Keep an existing regular file's permissions; otherwise what open() would give (umask)."""
    if existing is not None:
        return existing.st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _create_temporary(directory: str) -> tuple[int, str]:
    """A new, empty file of fixed-length name in `directory`, open for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMPORARY_ATTEMPTS):
        temporary = os.path.join(directory, TEMPORARY_PREFIX + os.urandom(8).hex())
        try:
            return os.open(temporary, flags, 0o600), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory!r} after {_TEMPORARY_ATTEMPTS} attempts")


def write_atomically(path: PathLike, chunks: Iterable[memoryview | bytes]) -> None:
    """Write `chunks` to a temporary file beside the target of `path`, fsync, and rename it
    over the target (a symlink's target, so the link stays a link).

    On any error the temporary file is removed and the target is untouched.
    """
    target, existing = resolve_target(path)
    directory = os.path.dirname(target)
    fd, temporary = _create_temporary(directory)
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in chunks:
                _write_all(file, chunk)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _new_file_mode(existing))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(
    obj: Any,
    path: PathLike,
    *,
    metadata: Mapping[str, str] | None = None,
    compress: bool = True,
    compress_header: bool = True,
) -> None:
    """Save a module's state dict or a mapping of tensors to `path` (see :func:`pycodec.save`)."""
    checked_metadata = check_metadata(metadata)
    tensors = collect_tensors(obj)
    resolve_target(path)  # refuse a FIFO or device before the work of encoding
    entries, payloads = encode_all(tensors, compress=compress)
    plan = plan_layout(entries, payloads, checked_metadata, compress_header=compress_header)
    write_atomically(path, _chunks(plan))

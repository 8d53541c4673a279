"""Reading ``.dcz`` files: :class:`DczFile`, a lazy, validating reader.

Opening a file reads and checks the preamble, the header (inflating it, bounded, when it
is stored compressed) and the whole tensor table (``spec/dcz.md`` sections 3, 4 and 6)
but no tensor data. Each tensor is then read and checksummed only when it is asked for;
:meth:`DczFile.verify` and :meth:`DczFile.load_all` check every byte of the file.
"""

from __future__ import annotations

import os
import stat
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from pycodec.errors import LimitExceededError, MalformedFileError, NotRegularFileError
from pycodec.format import encodings, limits
from pycodec.format.budget import DecodeBudget
from pycodec.format.dtypes import DTYPES, DType, numpy_to_tensor
from pycodec.format.syntax import (
    HEADER_ZLIB,
    SECTION_ROLES,
    Header,
    Preamble,
    Section,
    TensorEntry,
    parse_header,
    unpack_header,
    unpack_preamble,
)

if TYPE_CHECKING:
    import torch

PathLike = str | os.PathLike[str]

#: Tensors decoded at once by :meth:`DczFile.load_all`; the codec releases the GIL.
DEFAULT_THREADS = 2


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def section_alignment(entry: TensorEntry) -> int:
    """Spec 3.3: raw data sections start on 64-byte boundaries, all others anywhere."""
    return limits.RAW_ALIGNMENT if entry.encoding == "raw" else 1


@dataclass(frozen=True)
class TensorInfo:
    """What the table says about a tensor, plus the sizes of its streams."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    encoding: str
    numel: int
    stored_bytes: int  # sum of its sections (0 for an alias)
    alias_of: str | None
    codebook_size: int | None
    index_bits: int | None
    nnz: int | None  # known without decoding for sparse tensors only
    section_bytes: dict[str, int]  # role -> section length


class DczFile:
    """A ``.dcz`` file opened for reading. Use as a context manager.

    >>> with pycodec.open("model.dcz") as f:          # doctest: +SKIP
    ...     print(f.names())
    ...     w = f.tensor("fc1.weight")
    """

    def __init__(self, path: PathLike, *, max_decoded_bytes: int = limits.DEFAULT_MAX_DECODED_BYTES):
        self.path = os.fspath(path)
        self.max_decoded_bytes = max_decoded_bytes
        self._lock = threading.Lock()
        self._file: BinaryIO = open_regular_file(self.path)
        try:
            self.preamble, json_text = self._read_header()
            self.header_json_length = len(json_text)  # header_length is the stored size
            self.header = parse_header(json_text)
            self._entries = check_table(self.header, self.preamble, max_decoded_bytes)
        except BaseException:
            self._file.close()
            raise

    # -------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DczFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -------------------------------------------------------------- raw access

    def check_length(self) -> None:
        """The file must still have the length it had at open (spec 3.1): a file that
        grows or shrinks underneath a reader is not the file that was checked."""
        size = os.fstat(self._file.fileno()).st_size
        if size != self.preamble.file_length:
            raise MalformedFileError(
                f"file changed while open: now {size} bytes, its preamble declares {self.preamble.file_length}"
            )

    def _read_at(self, offset: int, length: int) -> np.ndarray:
        """`length` bytes at `offset` into a fresh writable uint8 array."""
        buffer = np.empty(length, dtype=np.uint8)
        with self._lock:
            self._file.seek(offset)
            got = self._file.readinto(memoryview(buffer)) if length else 0
        if got != length:
            raise MalformedFileError(f"file shrank while reading: {got} of {length} bytes at {offset}")
        return buffer

    @property
    def header_compressed(self) -> bool:
        """Whether the header is stored as a zlib stream (flag ``HEADER_ZLIB``)."""
        return bool(self.preamble.flags & HEADER_ZLIB)

    def _read_header(self) -> tuple[Preamble, bytes]:
        """The checked preamble and the header's JSON bytes (inflated if stored compressed)."""
        size = os.fstat(self._file.fileno()).st_size
        preamble = unpack_preamble(self._file.read(limits.PREAMBLE_SIZE))
        if preamble.file_length != size:
            raise MalformedFileError(
                f"file is {size} bytes but its preamble declares {preamble.file_length}"
                + (" (truncated)" if size < preamble.file_length else " (trailing bytes)")
            )
        end = limits.PREAMBLE_SIZE + preamble.header_length
        if end > size:
            raise MalformedFileError(f"header of {preamble.header_length} bytes runs past the end of the file")
        data = self._read_at(limits.PREAMBLE_SIZE, preamble.header_length).tobytes()
        if zlib.crc32(data) != preamble.header_crc32:
            raise MalformedFileError("header checksum mismatch: the header is corrupt")
        return preamble, unpack_header(data, preamble.flags)

    def read_section(self, entry: TensorEntry, role: str) -> np.ndarray:
        """A section's bytes after checking its CRC32."""
        section = entry.sections[role]
        self.check_length()
        data = self._read_at(section.offset, section.length)
        if zlib.crc32(data) != section.crc32:
            raise MalformedFileError(f"tensor {entry.name!r}: checksum mismatch in its {role} section")
        return data

    def check_padding(self) -> None:
        """Spec 3.3: every padding byte must be zero."""
        for start, stop in padding_ranges(self.header, self.preamble.header_length):
            if np.any(self._read_at(start, stop - start)):
                raise MalformedFileError(f"non-zero padding bytes at offsets {start}..{stop - 1}")

    # -------------------------------------------------------------- table

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.header.metadata)

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> TensorEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"no tensor named {name!r} in {self.path}") from None

    def info(self, name: str) -> TensorInfo:
        """Table facts about one tensor; reads only its small codebook/stream sections."""
        entry = self.entry(name)
        dtype = DTYPES[entry.dtype]
        book_size = nnz = None
        if entry.encoding in ("codebook", "sparse"):
            payloads = {role: self.read_section(entry, role) for role in SECTION_ROLES[entry.encoding]}
            book_size = encodings.decode_codebook(entry, dtype, payloads["codebook"]).size
            encodings.stream_info(entry, "indices", payloads["indices"], encodings.index_symbol_bits(book_size))
            if entry.encoding == "sparse":
                nnz, _ = encodings.sparse_counts(entry, book_size, payloads)
        return TensorInfo(
            name=entry.name,
            dtype=entry.dtype,
            shape=entry.shape,
            encoding=entry.encoding,
            numel=entry.numel,
            stored_bytes=sum(s.length for s in entry.sections.values()),
            alias_of=entry.alias_of,
            codebook_size=book_size,
            index_bits=entry.index_bits,
            nnz=nnz,
            section_bytes={role: s.length for role, s in entry.sections.items()},
        )

    # -------------------------------------------------------------- decoding

    def read_array(self, name: str, budget: DecodeBudget | None = None) -> np.ndarray:
        """Decode one tensor to a flat numpy array of its storage dtype (aliases resolved).

        Its output and intermediates count against `budget` (by default a fresh one of
        ``max_decoded_bytes``); running out of memory raises :class:`LimitExceededError`.
        """
        entry = self.entry(name)
        if entry.encoding == "alias":
            entry = self._entries[entry.alias_of or ""]
        dtype = DTYPES[entry.dtype]
        budget = budget if budget is not None else DecodeBudget(self.max_decoded_bytes)
        budget.reserve(entry.numel * dtype.itemsize, f"tensor {entry.name!r}")  # the output
        try:
            payloads = {role: self.read_section(entry, role) for role in SECTION_ROLES[entry.encoding]}
            return encodings.decode_tensor(entry, dtype, payloads, budget)
        except MemoryError as exc:
            raise LimitExceededError(
                f"tensor {entry.name!r}: out of memory while decoding {entry.numel * dtype.itemsize} bytes "
                "(the machine refused an allocation within max_decoded_bytes)"
            ) from exc

    def tensor(self, name: str, map_location: Any = "cpu") -> torch.Tensor:
        """Decode one tensor (reading only its own sections) as a torch tensor."""
        entry = self.entry(name)
        return _to_device(numpy_to_tensor(self.read_array(name), DTYPES[entry.dtype], entry.shape), map_location)

    def load_all(self, map_location: Any = "cpu", *, threads: int = DEFAULT_THREADS) -> dict[str, torch.Tensor]:
        """Decode every tensor, checking every byte; aliases share storage with their target."""
        self.check_padding()
        self.check_length()
        stored = [e for e in self._entries.values() if e.encoding != "alias"]
        # Largest first, so the pool does not end on one big tensor.
        order = sorted(stored, key=lambda e: -sum(s.length for s in e.sections.values()))
        budget = DecodeBudget(self.max_decoded_bytes)  # shared: every output stays alive
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            decoded = pool.map(lambda e: self.read_array(e.name, budget), order)
            arrays = dict(zip((e.name for e in order), decoded, strict=True))
        result: dict[str, torch.Tensor] = {}
        for entry in self._entries.values():
            if entry.encoding == "alias":
                target = result[entry.alias_of or ""]
                result[entry.name] = target.view(target.shape)
            else:
                tensor = numpy_to_tensor(arrays.pop(entry.name), DTYPES[entry.dtype], entry.shape)
                result[entry.name] = _to_device(tensor, map_location)
        return result

    def verify(self) -> None:
        """Check every checksum and padding byte and decode every tensor; raise on failure."""
        self.check_padding()
        for entry in self._entries.values():
            if entry.encoding != "alias":
                self.read_array(entry.name)
        self.check_length()


def open_regular_file(path: str) -> BinaryIO:
    """Open `path` for reading if it is a regular file, else :class:`NotRegularFileError`.

    The open does not block (a FIFO with no writer would block a plain open forever) and
    the check is made on the opened descriptor, so it holds for what is then read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{path!r} is {describe_file_type(mode)}, not a regular file")
        _set_blocking(fd)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _set_blocking(fd: int) -> None:
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)


def describe_file_type(mode: int) -> str:
    """What a non-regular file is, for error messages."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def _to_device(tensor: torch.Tensor, map_location: Any) -> torch.Tensor:
    if map_location is None or str(map_location) == "cpu":
        return tensor
    return tensor.to(map_location)


# ----------------------------------------------------------------- table checks


def check_table(header: Header, preamble: Preamble, max_decoded_bytes: int) -> dict[str, TensorEntry]:
    """Cross-member checks of the tensor table (spec 3.3, 4.3–4.5, 5.5, 6).

    Returns the entries by name. Runs before any tensor data is read or allocated.
    """
    entries: dict[str, TensorEntry] = {}
    decoded = 0
    for entry in header.tensors:
        if entry.name in entries:
            raise MalformedFileError(f"tensor name {entry.name!r} appears twice")
        _check_entry(entry, DTYPES[entry.dtype], entries)
        entries[entry.name] = entry
        if entry.encoding != "alias":
            decoded += entry.numel * DTYPES[entry.dtype].itemsize
            if decoded > max_decoded_bytes:
                raise LimitExceededError(
                    f"tensors decode to more than {max_decoded_bytes} bytes "
                    "(raise max_decoded_bytes to load this file)"
                )
    _check_layout(header, preamble)
    return entries


def _check_entry(entry: TensorEntry, dtype: DType, earlier: dict[str, TensorEntry]) -> None:
    if entry.encoding in ("codebook", "sparse") and not dtype.codebook_ok:
        raise MalformedFileError(f"tensor {entry.name!r}: encoding {entry.encoding} not allowed for {dtype.name}")
    if entry.encoding == "raw" and entry.sections["data"].length != entry.numel * dtype.itemsize:
        raise MalformedFileError(
            f"tensor {entry.name!r}: raw data of {entry.sections['data'].length} bytes, "
            f"expected {entry.numel * dtype.itemsize} for shape {list(entry.shape)}"
        )
    if entry.encoding == "alias":
        target = earlier.get(entry.alias_of or "")
        if target is None or target.encoding == "alias":
            raise MalformedFileError(
                f"tensor {entry.name!r}: alias_of {entry.alias_of!r} is not an earlier non-alias tensor"
            )
        if (target.dtype, target.shape) != (entry.dtype, entry.shape):
            raise MalformedFileError(f"tensor {entry.name!r}: dtype or shape differs from its alias target")


def _layout(header: Header) -> list[tuple[TensorEntry, str, Section]]:
    return [(e, role, e.sections[role]) for e in header.tensors for role in SECTION_ROLES[e.encoding]]


def _check_layout(header: Header, preamble: Preamble) -> None:
    """Spec 3.3: every section exactly where the canonical layout puts it."""
    end = limits.PREAMBLE_SIZE + preamble.header_length
    for entry, role, section in _layout(header):
        expected = align_up(end, section_alignment(entry))
        if section.offset != expected:
            raise MalformedFileError(
                f"tensor {entry.name!r}: {role} section at offset {section.offset}, "
                f"expected {expected} (sections must follow each other in table order)"
            )
        end = section.end
        if end > preamble.file_length:
            raise MalformedFileError(f"tensor {entry.name!r}: {role} section runs past the end of the file")
    if end != preamble.file_length:
        raise MalformedFileError(f"{preamble.file_length - end} bytes after the last section are not covered")


def padding_ranges(header: Header, header_length: int) -> list[tuple[int, int]]:
    """The (start, stop) byte ranges of alignment padding, from an already-checked layout."""
    ranges = []
    end = limits.PREAMBLE_SIZE + header_length
    for _, _, section in _layout(header):
        if section.offset > end:
            ranges.append((end, section.offset))
        end = section.end
    return ranges

"""Reading ``.dcz`` files: :class:`DczReader`, a lazy, validating reader (numpy only).

Opening a file reads and checks the preamble, the header (inflating it, bounded, when it
is stored compressed) and the whole tensor table (``spec/dcz.md`` sections 3, 4 and 6)
but no tensor data. Each tensor is then read and checksummed only when it is asked for;
:meth:`DczReader.verify` and :meth:`DczReader.read_all` check every byte of the file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pycodec import _core, codec
from pycodec.errors import ClosedFileError, LimitExceededError, MalformedFileError
from pycodec.format import encodings, limits
from pycodec.format.budget import DecodeBudget
from pycodec.format.dtypes import DTYPES, DType
from pycodec.format.layout import Layout, layout, section_alignment
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
from pycodec.format.source import BufferSource, FileSource, describe_file_type, map_file, open_regular_file

__all__ = ["DczReader", "TensorInfo", "Metadata", "describe_file_type", "open_regular_file"]

PathLike = str | os.PathLike[str]
Source = FileSource | BufferSource

#: Threads of :meth:`DczReader.read_all`'s native pass (the codec releases the GIL).
DEFAULT_THREADS = 2
#: A planes tensor of at least this many decoded bytes that holds more than its share of
#: read_all's sections (1/threads) decodes alone, on all the threads, before the others.
PARALLEL_FROM_BYTES = 8 << 20
#: Bytes of sections per thread of read_all's native pass: a smaller file uses fewer
#: threads, since starting one costs more than it saves.
BYTES_PER_THREAD = 1 << 20


class Scratch(threading.local):
    """A buffer reused for section bytes that decoding copies out, one per thread: a
    large file's planes sections are then read into memory already faulted in (on a VM,
    fresh pages cost about as much as decoding them)."""

    def __init__(self) -> None:
        self.buffer = np.empty(0, np.uint8)

    def take(self, length: int) -> np.ndarray:
        if self.buffer.size < length:
            self.buffer = codec.empty_bytes(length)
        return self.buffer[:length]


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


class Metadata(dict):
    """The file's metadata: a dict that can also be called, so ``f.metadata`` and
    ``f.metadata()`` (the safetensors spelling) both give it."""

    def __call__(self) -> dict[str, str]:
        return dict(self)


def open_source(target: Any, *, mmap: bool = False) -> Source:
    """A source for a path, a bytes-like object or a binary file object (read to its end
    from its current position)."""
    if mmap and not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"mmap=True needs a path, got {type(target).__name__}")
    if isinstance(target, (bytes, bytearray, memoryview)):
        return BufferSource(target, "<bytes>")
    if hasattr(target, "read") and not isinstance(target, (str, os.PathLike)):
        data = target.read()
        if not isinstance(data, bytes):
            raise TypeError(f"expected a binary file object, its read() gave {type(data).__name__}")
        name = getattr(target, "name", None)
        return BufferSource(data, name if isinstance(name, str) else "<file object>")
    path = os.fspath(target)
    return map_file(path) if mmap else FileSource(path)


class DczReader:
    """A ``.dcz`` file opened for reading, in numpy terms: flat arrays of each dtype's
    storage type. Use as a context manager. :class:`pycodec.DczFile` adds torch tensors.

    Opening reads and checks the preamble, the header and the whole table; each tensor is
    read and checksummed when it is asked for.
    """

    def __init__(self, target: Any, *, max_decoded_bytes: int = limits.DEFAULT_MAX_DECODED_BYTES,
                 mmap: bool = False):
        self.max_decoded_bytes = max_decoded_bytes
        self._source: Source = open_source(target, mmap=mmap)
        self.path = self._source.name
        try:
            self.preamble, json_text = self._read_header()
            self.header_json_length = len(json_text)  # header_length is the stored size
            self.header = parse_header(json_text)
            self._entries = check_table(self.header, self.preamble, max_decoded_bytes)
        except BaseException:
            self._source.close()
            raise

    # -------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._source.close()

    @property
    def closed(self) -> bool:
        return self._source.closed

    def __enter__(self) -> DczReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._entries)} tensors, {self.preamble.file_length} bytes"
        return f"<{type(self).__name__} {self.path!r}: {state}>"

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedFileError(f"{self.path!r} is closed")

    # -------------------------------------------------------------- raw access

    def check_length(self) -> None:
        """The file must still have the length it had at open (spec 3.1): a file that
        grows or shrinks underneath a reader is not the file that was checked."""
        self._check_open()
        size = self._source.size()
        if size != self.preamble.file_length:
            raise MalformedFileError(
                f"file changed while open: now {size} bytes, its preamble declares {self.preamble.file_length}"
            )

    @property
    def header_compressed(self) -> bool:
        """Whether the header is stored as a zlib stream (flag ``HEADER_ZLIB``)."""
        return bool(self.preamble.flags & HEADER_ZLIB)

    def _read_header(self) -> tuple[Preamble, bytes]:
        """The checked preamble and the header's JSON bytes (inflated if stored compressed)."""
        size = self._source.size()
        preamble = unpack_preamble(self._source.read_at(0, min(size, limits.PREAMBLE_SIZE)).tobytes())
        if preamble.file_length != size:
            raise MalformedFileError(
                f"file is {size} bytes but its preamble declares {preamble.file_length}"
                + (" (truncated)" if size < preamble.file_length else " (trailing bytes)")
            )
        end = limits.PREAMBLE_SIZE + preamble.header_length
        if end > size:
            raise MalformedFileError(f"header of {preamble.header_length} bytes runs past the end of the file")
        data = self._source.read_at(limits.PREAMBLE_SIZE, preamble.header_length).tobytes()
        if codec.crc32(data) != preamble.header_crc32:
            raise MalformedFileError("header checksum mismatch: the header is corrupt")
        return preamble, unpack_header(data, preamble.flags)

    def read_section(self, entry: TensorEntry, role: str, scratch: Scratch | None = None) -> np.ndarray:
        """A section's bytes after checking its CRC32 (read into `scratch` when given: for
        bytes that decoding copies out, so that a large file's reads reuse one buffer
        instead of faulting in fresh memory for every section)."""
        section = entry.sections[role]
        self.check_length()
        into = scratch.take(section.length) if scratch is not None else None
        data = self._source.read_at(section.offset, section.length, into)
        if codec.crc32(data) != section.crc32:
            raise MalformedFileError(f"tensor {entry.name!r}: checksum mismatch in its {role} section")
        return data

    def check_padding(self) -> None:
        """Spec 3.3: every padding byte must be zero."""
        self._check_open()
        for start, stop in padding_ranges(self.header, self.preamble.header_length):
            if np.any(self._source.read_at(start, stop - start)):
                raise MalformedFileError(f"non-zero padding bytes at offsets {start}..{stop - 1}")

    # -------------------------------------------------------------- table

    @property
    def metadata(self) -> Metadata:
        return Metadata(self.header.metadata)

    def keys(self) -> list[str]:
        return list(self._entries)

    names = keys

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

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
        facts = encodings.describe(entry, DTYPES[entry.dtype], self._payloads(entry))
        return TensorInfo(
            name=entry.name,
            dtype=entry.dtype,
            shape=entry.shape,
            encoding=entry.encoding,
            numel=entry.numel,
            stored_bytes=sum(s.length for s in entry.sections.values()),
            alias_of=entry.alias_of,
            codebook_size=facts.codebook_size,
            index_bits=entry.index_bits,
            nnz=facts.nnz,
            section_bytes={role: s.length for role, s in entry.sections.items()},
        )

    # -------------------------------------------------------------- decoding

    def _payloads(self, entry: TensorEntry, scratch: Scratch | None = None) -> dict[str, np.ndarray]:
        # Only a planes section is wholly copied out by its decoding (a raw tensor is a
        # view of its section, and the other encodings' sections are small beside it).
        if entry.encoding == "planes" and scratch is not None:
            return {"planes": self.read_section(entry, "planes", scratch)}
        return {role: self.read_section(entry, role) for role in SECTION_ROLES[entry.encoding]}

    def read_array(self, name: str, budget: DecodeBudget | None = None, *, threads: int = 1,
                   scratch: Scratch | None = None) -> np.ndarray:
        """Decode one tensor to a flat numpy array of its storage dtype (aliases resolved).

        Its output and intermediates count against `budget` (by default a fresh one of
        ``max_decoded_bytes``); running out of memory raises :class:`LimitExceededError`.
        A raw tensor of a memory-mapped file is a view of the map (copy-on-write); of a
        bytes object, a read-only view. A planes tensor decodes on up to `threads` threads,
        its section read into `scratch` when given.
        """
        entry = self.entry(name)
        if entry.encoding == "alias":
            entry = self._entries[entry.alias_of or ""]
        dtype = DTYPES[entry.dtype]
        budget = budget if budget is not None else DecodeBudget(self.max_decoded_bytes)
        budget.reserve(_output_bytes(entry), f"tensor {entry.name!r}")  # the output
        try:
            return encodings.decode_tensor(entry, dtype, self._payloads(entry, scratch), budget, threads)
        except MemoryError as exc:
            raise LimitExceededError(
                f"tensor {entry.name!r}: out of memory while decoding {_output_bytes(entry)} bytes "
                "(the machine refused an allocation within max_decoded_bytes)"
            ) from exc

    def read_all(self, *, threads: int = DEFAULT_THREADS) -> dict[str, np.ndarray]:
        """Every stored (non-alias) tensor as a flat array, checking every byte of the file.

        The planes sections, and the raw ones of a file on disk, are read, checked and
        decoded natively, on up to `threads` threads at once (:func:`codec.read_sections`);
        a large planes tensor that would keep the other threads idle decodes first, alone
        on them; the other encodings decode in Python, one at a time. `threads`: an int
        in 1..64 (``TypeError`` for another type, ``CodecError`` out of range).
        """
        threads = codec.check_threads(threads)
        self.check_padding()
        self.check_length()
        sizes = {e.name: _stored_bytes(e) for e in self._entries.values() if e.encoding != "alias"}
        order = [self._entries[name] for name in sorted(sizes, key=lambda name: -sizes[name])]  # largest first
        budget = DecodeBudget(self.max_decoded_bytes)  # shared: every output stays alive
        native = [e for e in order if e.encoding == "planes" or (e.encoding == "raw" and self._reads_files)]
        total = sum(sizes[e.name] for e in native)
        alone = [e for e in native if threads > 1 and e.encoding == "planes" and sizes[e.name] * threads > total
                 and _output_bytes(e) >= PARALLEL_FROM_BYTES]
        arrays = {e.name: self.read_array(e.name, budget, threads=threads, scratch=Scratch()) for e in alone}
        arrays.update(self._read_together([e for e in native if e.name not in arrays], budget, threads))
        # a tensor the native pass could not decode is read again here, to raise its error
        decoded = {e.name: arrays[e.name] if e.name in arrays else self.read_array(e.name, budget) for e in order}
        self.check_length()
        return decoded

    @property
    def _reads_files(self) -> bool:
        """Whether raw sections are copied out (from a file) rather than viewed (in memory)."""
        return isinstance(self._source, FileSource)

    def _read_together(self, entries: list[TensorEntry], budget: DecodeBudget, threads: int) -> dict[str, np.ndarray]:
        """The tensors of `entries` (planes or raw) read and decoded by
        :func:`codec.read_sections`, on fewer threads for fewer bytes; those that failed are
        left out (their outputs no longer counted), for the caller to read again."""
        if not entries:
            return {}
        for e in entries:
            budget.reserve(_output_bytes(e), f"tensor {e.name!r}")
        workers = max(1, min(threads, len(entries), sum(_stored_bytes(e) for e in entries) // BYTES_PER_THREAD))
        extra = sum(sorted((_plane_buffer_bytes(e) for e in entries), reverse=True)[:workers])
        jobs = [_section_job(e) for e in entries]
        with budget.held(extra, f"{len(entries)} tensors' decoded plane buffers"):
            # the core's own call: the table's values are checked already (checking them
            # again in codec.read_sections took a few percent of a small model's load)
            outputs, failures = _core.read_sections(self._source.native(), jobs, workers)
        arrays: dict[str, np.ndarray] = {}
        for entry, output, failure in zip(entries, outputs, failures, strict=True):
            if failure is None and output is not None:
                arrays[entry.name] = _typed(entry, output)
            else:
                budget.release(_output_bytes(entry))
        return arrays

    def verify(self) -> None:
        """Check every checksum and padding byte and decode every tensor; raise on failure."""
        self.check_padding()
        for entry in self._entries.values():
            if entry.encoding != "alias":
                self.read_array(entry.name)
        self.check_length()


def _stored_bytes(entry: TensorEntry) -> int:
    return sum(s.length for s in entry.sections.values())


def _output_bytes(entry: TensorEntry) -> int:
    return entry.numel * DTYPES[entry.dtype].itemsize


def _plane_buffer_bytes(entry: TensorEntry) -> int:
    """What decoding a planes tensor allocates besides its output: a buffer for each coded
    plane but the first (which decodes into the output itself)."""
    coded = sum(1 for n in entry.plane_streams or () if n)
    return entry.numel * max(0, coded - 1) if entry.encoding == "planes" else 0


def _section_job(entry: TensorEntry) -> codec.SectionJob:
    role = "planes" if entry.encoding == "planes" else "data"
    section = entry.sections[role]
    streams = tuple(entry.plane_streams or ()) if entry.encoding == "planes" else None
    return (section.offset, section.length, section.crc32, streams, entry.numel)


def _typed(entry: TensorEntry, output: np.ndarray) -> np.ndarray:
    """A section decoded by :func:`codec.read_sections` as the flat array of its dtype."""
    dtype = DTYPES[entry.dtype]
    if entry.encoding == "raw":
        return encodings.decode_raw(entry, dtype, output)  # checks bool elements
    return output.view(dtype.storage)


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
            decoded += _output_bytes(entry)
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
    if entry.encoding == "planes":
        encodings.check_planes_entry(entry, dtype)
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


def _section_list(header: Header) -> list[tuple[TensorEntry, str]]:
    return [(e, role) for e in header.tensors for role in SECTION_ROLES[e.encoding]]


def file_layout(header: Header, header_length: int) -> Layout:
    """Spec 3.3: the canonical layout of the table's sections behind the stored header."""
    sections = _section_list(header)
    return layout(header_length, ((section_alignment(e.encoding), e.sections[r].length) for e, r in sections))


def _check_layout(header: Header, preamble: Preamble) -> None:
    """Spec 3.3: the sections, laid out canonically, end exactly at the end of the file.
    Gives every section its offset."""
    placed = file_layout(header, preamble.header_length)
    if placed.file_length != preamble.file_length:
        raise MalformedFileError(
            f"the sections end at byte {placed.file_length}, the file has {preamble.file_length} "
            "(section lengths do not cover the file exactly)"
        )
    for (entry, role), offset in zip(_section_list(header), placed.offsets, strict=True):
        section = entry.sections[role]
        entry.sections[role] = Section(section.length, section.crc32, offset)


def padding_ranges(header: Header, header_length: int) -> list[tuple[int, int]]:
    """The (start, stop) byte ranges of alignment padding, from an already-checked layout."""
    lengths = [e.sections[r].length for e, r in _section_list(header)]
    return file_layout(header, header_length).padding(lengths, header_length)

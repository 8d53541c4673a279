"""Typed, validating wrappers over the native codec core (``pycodec._core``).

The families of functions:

* Huffman coding of ``uint8`` / ``uint16`` symbol arrays. :func:`huffman_encode` and
  :func:`huffman_decode` work on a self-describing stream (``spec/huffman-stream.md``);
  :func:`code_lengths`, :func:`serialize_code`, :func:`parse_code`, :func:`encode_with_code`
  and :func:`decode_with_code` are the lower-level pieces.
* Relative-index (gap) coding of the non-zero positions of a flattened tensor, with
  filler entries for long gaps (Deep Compression, section 2): :func:`relative_index_encode`,
  :func:`relative_index_decode`.
* Byte planes of floats (``spec/dcz.md`` 5.7): :func:`planes_encode` splits elements into
  byte planes and Huffman-codes those worth it (:func:`plane_worth_coding`), in one call;
  :func:`planes_decode` decodes a section's planes (on threads) and joins them;
  :func:`planes_join` joins planes decoded elsewhere.
* :func:`read_sections`: a file's sections read, checksummed and decoded together on
  native threads (what :meth:`pycodec.format.reader.DczReader.read_all` uses).
* :func:`crc32`: zlib's CRC-32 of the sections' checksums, folded with PCLMULQDQ.
* Scatter of codebook values back into a dense array: :func:`scatter` (positions known)
  and :func:`sparse_scatter` (straight from gap entries, no position array).

All functions take and return numpy arrays, copy only when the input is not already a
contiguous array of the right dtype, release the GIL while they work, and raise
:class:`pycodec.errors.CodecError` (bad arguments),
:class:`pycodec.errors.CorruptStreamError` (bad streams) or
:class:`pycodec.errors.LimitExceededError` (a result too large to allocate), never crash.
An argument of the wrong type (a float or a str for an integer, anything but a
:class:`HuffmanCode` for a code) raises a ``TypeError`` that names it.
"""

from __future__ import annotations

import functools
import operator
import zlib
from collections.abc import Callable
from typing import NamedTuple, ParamSpec, TypeVar, overload

import numpy as np
import numpy.typing as npt

from pycodec import _core
from pycodec.errors import CodecError, LimitExceededError

__all__ = [
    "DEFAULT_MAX_CODE_LENGTH",
    "DEFAULT_MAX_SYMBOLS",
    "MAX_CODE_LENGTH",
    "HuffmanCode",
    "StreamInfo",
    "build_code",
    "code_lengths",
    "serialize_code",
    "parse_code",
    "encode_with_code",
    "decode_with_code",
    "huffman_encode",
    "huffman_decode",
    "huffman_stream_info",
    "huffman_parse",
    "huffman_plan_size",
    "crc32",
    "histogram",
    "histogram_counts",
    "count_entropy",
    "plane_worth_coding",
    "planes_decode",
    "planes_encode",
    "planes_join",
    "read_sections",
    "ParsedStream",
    "nonzero_scan",
    "codebook_index",
    "relative_index_encode",
    "relative_index_decode",
    "scatter",
    "sparse_scatter",
]

#: Longest code the format allows; the decoder's tables are at most 2**16 entries.
MAX_CODE_LENGTH: int = _core.LIMITS["MAX_CODE_LENGTH"]
#: Default length limit: keeps the decoder's table at 2**11 entries (16 KiB, L1-resident).
DEFAULT_MAX_CODE_LENGTH: int = _core.LIMITS["DEFAULT_MAX_CODE_LENGTH"]
#: Default cap on the symbol count a stream may declare when its bytes cannot bound it
#: (a single-symbol stream is a few bytes whatever its length). Override per call.
DEFAULT_MAX_SYMBOLS: int = _core.LIMITS["DEFAULT_MAX_SYMBOLS"]
#: Codebook entries and index widths (spec/dcz.md section 6), from the same table.
_MAX_CODEBOOK_SIZE: int = _core.LIMITS["MAX_CODEBOOK_SIZE"]
_MIN_INDEX_BITS: int = _core.LIMITS["MIN_INDEX_BITS"]
_MAX_INDEX_BITS: int = _core.LIMITS["MAX_INDEX_BITS"]

_SYMBOL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
#: numpy kinds whose elements are plain bits (bool, int, uint, float, complex): the only
#: ones the core may copy or reinterpret byte by byte.
_PLAIN_KINDS = "biufc"
#: Element counts are int64 in numpy, torch and the format.
_MAX_COUNT = 2**63 - 1
_MAX_UINT64 = 2**64 - 1

_P = ParamSpec("_P")
_R = TypeVar("_R")


class HuffmanCode(NamedTuple):
    """A canonical Huffman code: the used symbols (ascending) and their code lengths."""

    symbol_bits: int  # 8 or 16: the width of the symbols it codes
    symbols: npt.NDArray[np.uint16]
    lengths: npt.NDArray[np.uint8]


# ----------------------------------------------------------------- argument checks


def _memory_limited(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Report a result too large to allocate as LimitExceededError, not MemoryError."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except MemoryError as exc:
            raise LimitExceededError(f"{func.__name__}: not enough memory for the result") from exc

    return wrapper


def _integer(value: object, name: str) -> int:
    """`value` as an int; a TypeError naming `name` for floats, strings, bools and the like."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None


def _integer_in(value: object, name: str, low: int, high: int) -> int:
    number = _integer(value, name)
    if not low <= number <= high:
        raise CodecError(f"{name} must be in {low}..{high}, got {number}")
    return number


def _count(value: object, name: str) -> int:
    """A non-negative element count that fits numpy's int64 sizes."""
    number = _integer(value, name)
    if not 0 <= number <= _MAX_COUNT:
        raise CodecError(f"{name} must be in 0..2**63-1, got {number}")
    return number


def _check_code_length(max_code_length: object) -> int:
    return _integer_in(max_code_length, "max_code_length", 1, MAX_CODE_LENGTH)


def _check_symbol_bits(symbol_bits: object, name: str = "symbol_bits") -> int:
    bits = _integer(symbol_bits, name)
    if bits not in (8, 16):
        raise CodecError(f"{name} must be 8 or 16, got {bits}")
    return bits


def _as_array(value: object, name: str) -> np.ndarray:
    """np.asarray, with numpy's complaints about ragged or odd input as CodecError."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"{name} must be an array of numbers: {exc}") from exc


def _symbols_array(symbols: npt.ArrayLike, name: str = "symbols") -> np.ndarray:
    """Return `symbols` as a contiguous 1-D uint8/uint16 array, refusing silent casts."""
    array = _as_array(symbols, name)
    if array.dtype not in _SYMBOL_DTYPES:
        raise CodecError(
            f"{name} must be a uint8 or uint16 array, got dtype {array.dtype}; "
            "cast explicitly after checking the range"
        )
    return np.ascontiguousarray(array).reshape(-1)


def _unsigned_array(
    values: npt.ArrayLike, name: str, dtype: type[np.unsignedinteger]
) -> np.ndarray:
    """`values` as a contiguous 1-D array of `dtype`, refusing values it cannot hold."""
    array = _as_array(values, name).reshape(-1)
    if array.dtype.kind not in "iu":
        raise CodecError(f"{name} must be an integer array, got dtype {array.dtype}")
    largest = np.iinfo(dtype).max
    if array.size and (array.min() < 0 or array.max() > largest):
        raise CodecError(f"{name} must hold values in 0..{largest}")
    return np.ascontiguousarray(array, dtype=dtype)


def _buffer(data: bytes | bytearray | memoryview | np.ndarray, name: str = "data") -> np.ndarray:
    """View a bytes-like object as a uint8 array, copying only a non-contiguous one."""
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in _PLAIN_KINDS or data.dtype.fields is not None:
            raise CodecError(
                f"{name} must be a bytes-like object or a numeric array, got dtype {data.dtype}"
            )
        data = np.ascontiguousarray(data)
    elif isinstance(data, memoryview) and not data.c_contiguous:
        data = data.tobytes()
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError) as exc:
        raise CodecError(f"{name} must be a bytes-like object, got {type(data).__name__}") from exc


# ----------------------------------------------------------------- Huffman: pieces


@_memory_limited
def code_lengths(
    counts: npt.ArrayLike, max_code_length: int = DEFAULT_MAX_CODE_LENGTH
) -> npt.NDArray[np.uint8]:
    """Optimal length-limited code lengths for symbol `counts` (package-merge).

    ``counts[s]`` is the number of occurrences of symbol ``s``; the result has the same
    length, with 0 for unused symbols. A single used symbol gets length 1. The limit is
    raised to ``ceil(log2(used))`` when it is too small to code every used symbol. Counts
    may be as large as ``2**64 - 1`` each, whatever their sum.
    """
    array = _as_array(counts, "counts")
    if array.ndim != 1 or array.size > 65536 or array.dtype.kind not in "iu":
        raise CodecError("counts must be a 1-D integer array of at most 65536 entries")
    if array.size and array.min() < 0:
        raise CodecError("counts must be non-negative")
    return _core.code_lengths(
        np.ascontiguousarray(array, dtype=np.uint64), _check_code_length(max_code_length)
    )


def _code_from_lengths(lengths: np.ndarray, symbol_bits: int) -> HuffmanCode:
    used = np.flatnonzero(lengths).astype(np.uint16)
    return HuffmanCode(symbol_bits, used, lengths[used].astype(np.uint8))


def _code_tables(code: HuffmanCode) -> tuple[int, np.ndarray, np.ndarray]:
    """`code`'s symbol width, symbols (uint16) and lengths (uint8), checked for type and range."""
    if not isinstance(code, tuple) or len(code) != 3:
        raise TypeError(f"code must be a HuffmanCode, got {type(code).__name__}")
    symbol_bits, symbols, lengths = code
    return (
        _check_symbol_bits(symbol_bits, "code.symbol_bits"),
        _unsigned_array(symbols, "code.symbols", np.uint16),
        _unsigned_array(lengths, "code.lengths", np.uint8),
    )


@_memory_limited
def build_code(
    symbols: npt.ArrayLike, max_code_length: int = DEFAULT_MAX_CODE_LENGTH
) -> HuffmanCode:
    """The canonical code for the symbol frequencies of `symbols`."""
    array = _symbols_array(symbols)
    counts = _core.histogram(array)
    return _code_from_lengths(code_lengths(counts, max_code_length), array.dtype.itemsize * 8)


@_memory_limited
def serialize_code(code: HuffmanCode) -> bytes:
    """The compact byte form of a canonical code (``spec/huffman-stream.md``, Code table)."""
    return _core.serialize_code(*_code_tables(code))


@_memory_limited
def parse_code(
    data: bytes | bytearray | memoryview | np.ndarray, symbol_bits: int
) -> tuple[HuffmanCode, int]:
    """Parse and validate a serialized code for `symbol_bits`-bit symbols.

    Returns the code and the number of bytes it occupied (the table does not store the
    symbol width: the stream's flags do).
    """
    bits = _check_symbol_bits(symbol_bits)
    symbols, lengths, consumed = _core.parse_code(_buffer(data), bits)
    return HuffmanCode(bits, symbols, lengths), consumed


@_memory_limited
def encode_with_code(symbols: npt.ArrayLike, code: HuffmanCode) -> bytes:
    """Bit-pack `symbols` with `code` (one stream, MSB-first, zero-padded to a byte)."""
    array = _symbols_array(symbols)
    symbol_bits, code_symbols, lengths = _code_tables(code)
    if array.dtype.itemsize * 8 != symbol_bits:
        raise CodecError(f"code is for {symbol_bits}-bit symbols, got {array.dtype}")
    return _core.encode_with_code(array, code_symbols, lengths)


@_memory_limited
def decode_with_code(
    data: bytes | bytearray | memoryview | np.ndarray, code: HuffmanCode, count: int
) -> np.ndarray:
    """Decode exactly `count` symbols from one bit-packed stream coded with `code`."""
    number = _count(count, "count")
    return _core.decode_with_code(_buffer(data), *_code_tables(code), number)


# ----------------------------------------------------------------- Huffman: streams


@_memory_limited
def huffman_encode(
    symbols: npt.ArrayLike, *, max_code_length: int = DEFAULT_MAX_CODE_LENGTH
) -> bytes:
    """Encode a uint8/uint16 array as a self-describing Huffman stream."""
    return _core.huffman_encode(_symbols_array(symbols), _check_code_length(max_code_length))


@_memory_limited
def huffman_decode(
    data: bytes | bytearray | memoryview | np.ndarray, *, max_symbols: int = DEFAULT_MAX_SYMBOLS
) -> np.ndarray:
    """Decode a stream made by :func:`huffman_encode` to an array of the same dtype.

    `max_symbols` caps the symbol count a stream may declare; a larger declaration raises
    :class:`~pycodec.errors.LimitExceededError` before anything is allocated. Any cap
    from ``2**64 - 1`` up lets every count through.
    """
    cap = _integer(max_symbols, "max_symbols")
    if cap < 0:
        raise CodecError(f"max_symbols must be non-negative, got {cap}")
    # a stream's count is a 64-bit varint: any cap from 2**64 - 1 up caps nothing more
    return _core.huffman_decode(_buffer(data), min(cap, _MAX_UINT64))


class StreamInfo(NamedTuple):
    """What a Huffman stream's header declares."""

    symbol_bits: int
    count: int
    distinct: int
    max_code_length: int
    streams: int
    header_bytes: int
    payload_bytes: int


#: A stream parsed and validated once (:func:`huffman_parse`); its ``decode()`` decodes
#: it without parsing again. Attributes as :class:`StreamInfo`, plus ``max_symbol`` (the
#: largest symbol its code table lists, -1 for an empty stream), ``single_symbol`` and
#: ``decode_table`` (the decoder's lookup table for a coded stream: its width in bits and
#: bytes per entry, chosen by the stream's code and length; None for other streams).
ParsedStream = _core.ParsedStream


@_memory_limited
def huffman_parse(
    data: bytes | bytearray | memoryview | np.ndarray, *, max_symbols: int = _MAX_UINT64
) -> ParsedStream:
    """Parse and validate a stream's header and layout (not its payload's codes)."""
    cap = _integer(max_symbols, "max_symbols")
    if cap < 0:
        raise CodecError(f"max_symbols must be non-negative, got {cap}")
    return _core.huffman_parse(_buffer(data), min(cap, _MAX_UINT64))


def huffman_stream_info(data: bytes | bytearray | memoryview | np.ndarray) -> StreamInfo:
    """Parse and validate a stream's header without decoding its payload."""
    p = huffman_parse(data)
    return StreamInfo(p.symbol_bits, p.count, p.distinct, p.max_code_length, p.streams, p.header_bytes,
                      p.payload_bytes)


@overload
def huffman_plan_size(counts: npt.ArrayLike, symbol_bits: int, *, max_code_length: int = ...) -> int: ...
@overload
def huffman_plan_size(counts: npt.ArrayLike, symbol_bits: int, *, max_code_length: int = ...,
                      at_most: int) -> int | None: ...
def huffman_plan_size(counts: npt.ArrayLike, symbol_bits: int, *,
                      max_code_length: int = DEFAULT_MAX_CODE_LENGTH, at_most: int | None = None) -> int | None:
    """The byte size of the stream :func:`huffman_encode` would write for symbols with
    these counts (index = symbol), from the encoder's own planner; exact up to one byte
    of padding per substream. With `at_most`, None instead where an unlimited Huffman
    code's total already puts the stream above `at_most` bytes (the length-limited code,
    package-merge over thousands of symbols, is then not sized); otherwise the size,
    which may still be above it."""
    array = _unsigned_array(counts, "counts", np.uint64)
    bound = None if at_most is None else _integer_in(at_most, "at_most", 0, (1 << 64) - 1)
    size = _core.huffman_plan_size(array, _check_symbol_bits(symbol_bits), _check_code_length(max_code_length), bound)
    return None if size is None else int(size)


def _plan_size_of_counts(counts: np.ndarray, symbol_bits: int, at_most: int | None = None) -> int | None:
    """:func:`huffman_plan_size` of the writer's own counts (a 1-D int64 or uint64 array,
    none negative), without checking them again: sizing the candidates of a batch-norm
    vector of a few hundred values took longer in the checks than in the planner."""
    size = _core.huffman_plan_size(counts.astype(np.uint64, copy=False), symbol_bits, DEFAULT_MAX_CODE_LENGTH, at_most)
    return None if size is None else int(size)


# ----------------------------------------------------------------- relative indices


def _check_index_bits(bits: object) -> int:
    return _integer_in(bits, "index bits", _MIN_INDEX_BITS, _MAX_INDEX_BITS)


def _positions_array(positions: npt.ArrayLike) -> np.ndarray:
    """`positions` as contiguous 1-D int64, refusing floats and uint64 values past int64."""
    array = _as_array(positions, "positions").reshape(-1)
    if array.dtype.kind not in "iu":
        raise CodecError(f"positions must be integers, got dtype {array.dtype}")
    if array.dtype == np.uint64 and array.size and array.max() > _MAX_COUNT:
        raise CodecError("positions must be below 2**63")
    return np.ascontiguousarray(array, dtype=np.int64)


#: Most threads :func:`planes_encode` takes (a plane is its unit of work: 8 at most help).
MAX_PLANE_THREADS = 64


def check_threads(threads: object) -> int:
    """A thread count as the core takes it: an int in 1..:data:`MAX_PLANE_THREADS`
    (``TypeError`` for a float, str or bool; :class:`CodecError` out of range)."""
    return _integer_in(threads, "threads", 1, MAX_PLANE_THREADS)


@_memory_limited
def planes_encode(
    elements: npt.ArrayLike,
    *,
    plane_mask: int,
    max_code_length: int = DEFAULT_MAX_CODE_LENGTH,
    threads: int = 1,
    counted: _core.PlaneCounts | None = None,
) -> tuple[bytes, tuple[int, ...]]:
    """The ``planes`` section (``spec/dcz.md`` 5.7) of unsigned elements of 1, 2, 4 or 8
    bytes, and each plane's stream length (0: stored raw).

    Plane k holds byte k (little-endian) of every element. A plane whose bit is set in
    `plane_mask` becomes a Huffman stream when that saves enough
    (:func:`plane_worth_coding`); the others are stored raw. Up to `threads` planes are
    worked on at once. `counted`: the writer's :func:`_count_planes` of these very
    elements, not counted again (the same bytes either way).
    """
    little, mask = _planes_arguments(elements, plane_mask)
    workers = check_threads(threads)
    return _core.planes_encode(little, mask, _check_code_length(max_code_length), workers, counted)


def _planes_arguments(elements: npt.ArrayLike, plane_mask: object) -> tuple[np.ndarray, int]:
    """:func:`planes_encode`'s elements as 1-D little-endian unsigned integers of 1, 2, 4 or
    8 bytes, and its plane mask, checked."""
    array = _as_array(elements, "elements")
    if array.dtype.kind != "u" or array.dtype.itemsize not in (1, 2, 4, 8):
        raise CodecError(f"elements must be an unsigned integer array of 1, 2, 4 or 8 bytes, got {array.dtype}")
    little = np.ascontiguousarray(array.reshape(-1), dtype=array.dtype.newbyteorder("<"))
    return little, _integer_in(plane_mask, "plane_mask", 0, (1 << array.dtype.itemsize) - 1)


class PlanesCoder:
    """:func:`planes_encode` on a native thread of its own: :meth:`submit` queues an array's
    planes and returns at once, :meth:`result` waits for them. The thread runs no Python,
    so it never waits for the GIL while the caller works (a Python thread must win the GIL
    back after each native call). One thread, started on the first job and kept, codes one
    planes section at a time, in the order submitted; any thread may submit and take
    results. :meth:`close` stops it (jobs not begun then fail); a coder made before a fork
    cannot be used in the child.

    A submitted array must not change until its result is taken (a change is reported as
    :class:`~pycodec.errors.DataChangedError` where the coded sizes differ).
    """

    def __init__(self) -> None:
        self._coder = _core.PlanesCoder()

    def submit(self, elements: np.ndarray, *, plane_mask: int, max_code_length: int = DEFAULT_MAX_CODE_LENGTH,
               counted: _core.PlaneCounts | None = None) -> int:
        """Queue the planes section of unsigned `elements` of 1, 2, 4 or 8 bytes (as
        :func:`planes_encode` takes them); the job's number for :meth:`result`."""
        little, mask = _planes_arguments(elements, plane_mask)
        return int(self._coder.submit(little, mask, _check_code_length(max_code_length), counted))

    @_memory_limited
    def result(self, job: int) -> tuple[np.ndarray, tuple[int, ...]]:
        """Job `job`'s section (a uint8 array) and plane stream lengths, as
        :func:`planes_encode` gives them, once coded; its error where coding failed. A
        result is taken once."""
        return self._coder.result(_integer(job, "job"))

    def drop(self, job: int) -> None:
        """Give up job `job` (its result will not be taken): not coded if not begun."""
        self._coder.drop(_integer(job, "job"))

    def close(self) -> None:
        """Stop the thread once its current job is done."""
        self._coder.close()

    def __enter__(self) -> PlanesCoder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _count_planes(elements: np.ndarray) -> _core.PlaneCounts:
    """What :func:`planes_encode` counts before coding a 1-D C-contiguous little-endian
    unsigned array, counted ahead for it (the writer's statistics): each plane's byte
    histogram per segment coded as one substream, ``.histograms`` (itemsize, segments,
    256). Valid for that array only, unchanged: the encoder checks the array, not its
    contents (as when another thread writes it while it is coded, a change is reported
    where the coded sizes differ)."""
    return _core.count_planes(elements)


#: Below this many bytes a bytes-like object's CRC is zlib's: the core's own is faster per
#: byte, but viewing the buffer as an array costs more than checking a short one (a
#: header entry's worth: 0.2 against 1.0 us, crossing over near 8 KiB).
_SHORT_CRC_BYTES = 8 << 10


def crc32(data: bytes | bytearray | memoryview | np.ndarray, value: int = 0) -> int:
    """``zlib.crc32(data, value)`` (of an array: its bytes in C order), about 2.5× faster
    where the CPU has PCLMULQDQ, and without the GIL for large buffers: the checksums of a
    file's sections."""
    start = _integer_in(value, "value", 0, 0xFFFFFFFF)
    if _short_plain_buffer(data):
        return zlib.crc32(data, start)
    return int(_core.crc32(_buffer(data), start))


def _short_plain_buffer(data: object) -> bool:
    """A bytes object, bytearray or C-contiguous memoryview of fewer than _SHORT_CRC_BYTES."""
    if isinstance(data, (bytes, bytearray)):
        return len(data) < _SHORT_CRC_BYTES
    return isinstance(data, memoryview) and data.c_contiguous and data.nbytes < _SHORT_CRC_BYTES


def histogram(symbols: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Occurrences of every value of a uint8 or uint16 array: 256 or 65,536 counts (what
    ``np.bincount`` gives, without its 8-byte copy of every element)."""
    return histogram_counts(symbols).astype(np.int64)


def histogram_counts(symbols: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """:func:`histogram` as the native uint64 counts, not copied to int64 (the writer's
    statistics take one per 1- or 2-byte tensor)."""
    return _core.histogram(_symbols_array(symbols))


def plane_histograms(elements: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The (itemsize, 256) byte histograms of the planes of a 1-D unsigned integer array
    (row k: byte k of every element, little-endian), read in place."""
    array = np.ascontiguousarray(_as_array(elements, "elements").reshape(-1))
    if array.dtype.kind != "u" or array.dtype.itemsize not in (1, 2, 4, 8):
        raise CodecError(f"elements must be an unsigned integer array of 1, 2, 4 or 8 bytes, got {array.dtype}")
    return _core.plane_histograms(array.astype(array.dtype.newbyteorder("<"), copy=False)).astype(np.int64)


def empty_bytes(n: int) -> npt.NDArray[np.uint8]:
    """An uninitialised, writable uint8 array of `n` bytes. From 4 MiB on it is allocated
    by the core with plain pages, like the arrays the core decodes into: numpy asks for
    huge pages there, whose first touch can stall on memory compaction."""
    return _core.empty_bytes(n)


def pattern_plane_histograms(patterns: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The (2, 256) byte histograms of the planes of 2-byte elements (row 0: the low byte)
    from the uint64 counts of their 65,536 bit patterns (:func:`histogram_counts`)."""
    return _core.pattern_plane_histograms(patterns)


class PatternStatistics(NamedTuple):
    """What one pass over 2-byte elements tells (:func:`pattern_statistics`)."""

    plane_histograms: npt.NDArray[np.uint64]  # (2, 256): the low byte's plane, then the high's
    zeros: int  # elements whose bits are all zero
    distinct: int  # distinct non-zero bit patterns
    nonzero: int  # elements that are not all zero bits
    entropy: float  # of the non-zero patterns, bits per occurrence (0 for fewer than two)


def pattern_statistics(bits: npt.ArrayLike) -> PatternStatistics:
    """The planes' histograms, zero count and non-zero patterns' statistics of a uint16
    array in one count and one walk over its 65,536 patterns (the count table is reused,
    never handed out: what :func:`histogram_counts`, :func:`pattern_plane_histograms` and
    :func:`count_entropy` give, about twice as fast)."""
    array = np.ascontiguousarray(_as_array(bits, "bits").reshape(-1))
    if array.dtype.kind != "u" or array.dtype.itemsize != 2:
        raise CodecError(f"bits must be a uint16 array, got {array.dtype}")
    planes, zeros, distinct, nonzero, entropy = _core.pattern_statistics(array)
    return PatternStatistics(planes, int(zeros), int(distinct), int(nonzero), float(entropy))


def plan_plane_sizes(histograms: npt.ArrayLike, numel: int, *, scale: float = 1.0,
                     max_code_length: int = DEFAULT_MAX_CODE_LENGTH) -> list[int]:
    """Each byte plane's Huffman stream size, as :func:`huffman_plan_size` gives it, for
    its row of (planes, 256) byte `histograms` scaled by `scale` (a sample's counts scaled to
    the whole tensor: rounded half to even, a byte seen once counted at least once). A
    plane not worth coding for `numel` elements (:func:`plane_worth_coding`) is reported at
    `numel`, its raw size; one that its entropy alone rules out is not even planned."""
    array = np.ascontiguousarray(_as_array(histograms, "histograms"), dtype=np.uint64)
    if array.ndim != 2 or array.shape[1] != 256:
        raise CodecError(f"histograms must have shape (planes, 256), got {array.shape}")
    if not (isinstance(scale, (int, float)) and 1.0 <= scale < float("inf")):
        raise CodecError(f"scale must be a finite number >= 1, got {scale!r}")
    return _core.plan_plane_sizes(array, float(scale), _count(numel, "numel"), _check_code_length(max_code_length))


def value_counts(values: npt.ArrayLike, *, skip_zero: bool = False,
                 limit: int | None = None) -> npt.NDArray[np.int64] | None:
    """How often each distinct value of a 1-D unsigned integer array occurs, in order of
    first appearance (zero left out when `skip_zero`): one hashing pass, where
    ``np.unique(..., return_counts=True)`` sorts. None as soon as more than `limit`
    distinct values are seen."""
    counts = _native_value_counts(values, skip_zero, limit)
    return None if counts is None else counts.astype(np.int64)


def value_entropy(values: npt.ArrayLike, *, skip_zero: bool = False,
                  limit: int | None = None) -> tuple[int, int, float] | None:
    """:func:`count_entropy` of :func:`value_counts`' counts (None likewise past `limit`
    distinct values), without handing the counts to Python and back: what a codebook's
    bound needs of a small tensor's values is a few microseconds of native work."""
    counts = _native_value_counts(values, skip_zero, limit)
    if counts is None:
        return None
    distinct, total, bits = _core.count_entropy(counts)
    return int(distinct), int(total), float(bits)


def _native_value_counts(values: npt.ArrayLike, skip_zero: bool, limit: int | None) -> npt.NDArray[np.uint64] | None:
    """The core's uint64 value counts, after checking the arguments."""
    array = np.ascontiguousarray(_as_array(values, "values").reshape(-1))
    if array.dtype.kind != "u":
        raise CodecError(f"values must be an unsigned integer array, got {array.dtype}")
    cap = 0 if limit is None else _integer_in(limit, "limit", 1, 1 << 32)
    return _core.value_counts(array, bool(skip_zero), cap)


def all_distinct(values: npt.ArrayLike, *, step: int = 1) -> bool:
    """Whether ``values[::step]`` of a 1-D unsigned integer array are all distinct: one
    hashing pass that stops at the first repeat, reading in place (no strided copy)."""
    array = np.ascontiguousarray(_as_array(values, "values").reshape(-1))
    if array.dtype.kind != "u":
        raise CodecError(f"values must be an unsigned integer array, got {array.dtype}")
    return bool(_core.all_distinct(array, _integer_in(step, "step", 1, 1 << 62)))


def count_entropy(counts: npt.ArrayLike) -> tuple[int, int, float]:
    """(distinct, total, entropy) of a 1-D table of occurrence counts: how many are
    non-zero, their sum, and the Shannon entropy of the distribution they give, in bits
    per occurrence (0 for fewer than two distinct)."""
    array = np.ascontiguousarray(_as_array(counts, "counts").reshape(-1))
    if array.size == 0:
        return 0, 0, 0.0
    if array.dtype.kind not in "ui":
        raise CodecError(f"counts must be an integer array, got dtype {array.dtype}")
    if array.dtype.kind == "i" and int(array.min()) < 0:
        raise CodecError(f"counts must be non-negative, got {int(array.min())}")
    distinct, total, bits = _core.count_entropy(array.astype(np.uint64, copy=False))
    return int(distinct), int(total), float(bits)


def plane_worth_coding(stream_bytes: int, count: int) -> bool:
    """Whether a plane of `count` bytes is worth coding as a stream of `stream_bytes`: it
    must save at least count/128 + 2 bytes (``spec/dcz.md`` W5), since a plane that barely
    shrinks still costs a Huffman decode on every load."""
    return bool(_core.plane_worth_coding(_count(stream_bytes, "stream_bytes"), _count(count, "count")))


@_memory_limited
def planes_decode(planes: list[ParsedStream | npt.ArrayLike], count: int, *, threads: int = 1) -> np.ndarray:
    """A planes section decoded and joined: `planes` holds, per plane (1, 2, 4 or 8 of
    them, plane k = byte k, little-endian), its parsed stream (:func:`huffman_parse`, of
    `count` 8-bit symbols) or its `count` raw bytes. Returns the elements' bytes (uint8,
    count × planes). The coded planes decode on up to `threads` threads."""
    if not isinstance(planes, (list, tuple)):
        raise TypeError(f"planes must be a list of parsed streams or uint8 arrays, got {type(planes).__name__}")
    items = [plane if isinstance(plane, ParsedStream) else _as_array(plane, "planes") for plane in planes]
    workers = check_threads(threads)
    return _core.planes_decode(items, _count(count, "count"), workers)


@_memory_limited
def planes_join(planes: list[npt.ArrayLike] | tuple[npt.ArrayLike, ...]) -> np.ndarray:
    """Decoded byte planes (1, 2, 4 or 8 equal-length uint8 arrays, plane k = byte k,
    little-endian) joined into the elements' bytes: a uint8 array of numel × planes."""
    if not isinstance(planes, (list, tuple)):
        raise TypeError(f"planes must be a list of uint8 arrays, got {type(planes).__name__}")
    if len(planes) not in (1, 2, 4, 8):
        raise CodecError("planes must hold 1, 2, 4 or 8 planes")
    arrays = [_as_array(plane, "planes") for plane in planes]
    if any(a.dtype != np.uint8 or a.ndim != 1 for a in arrays):
        raise CodecError("planes must be 1-D uint8 arrays")
    if any(a.size != arrays[0].size for a in arrays):
        raise CodecError("planes must be 1-D and of equal length")
    return _core.planes_decode([np.ascontiguousarray(a) for a in arrays], arrays[0].size, 1)  # all raw: a join


#: File descriptors are C ints.
_MAX_FD = 2**31 - 1


#: One job of :func:`read_sections`: (offset, length, crc32, plane_streams or None, count).
SectionJob = tuple[int, int, int, tuple[int, ...] | None, int]


@_memory_limited
def read_sections(source: int | npt.ArrayLike, jobs: list[SectionJob], *,
                  threads: int = 1) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Sections read at their offsets, checked against their CRC-32 and decoded, on up to
    `threads` native threads that take the jobs in order (give the largest first), none of
    them holding the GIL. `source`: an open file's descriptor (read with ``pread``) or a
    uint8 array of the file's bytes. Each job is ``(offset, length, crc32, plane_streams,
    count)``: with `plane_streams` (``spec/dcz.md`` 5.7, one entry per byte of the element,
    0 = raw) a planes section of `count` elements, decoded and joined; with None, a section
    copied as it is. Returns each job's output (uint8; None where it failed) and each
    failure's reason (None where it did not fail): a failure is not raised, so that the
    caller can report it in its own terms."""
    if isinstance(source, (bool, np.bool_)) or not isinstance(source, (int, np.integer)):
        source = _as_array(source, "source")
        if source.dtype != np.uint8 or source.ndim != 1 or not source.flags.c_contiguous:
            raise CodecError("source must be a file descriptor or a 1-D contiguous uint8 array")
    elif not 0 <= source <= _MAX_FD:
        raise CodecError(f"source must be an open file descriptor, got {source}")
    if not isinstance(jobs, (list, tuple)):
        raise TypeError(f"jobs must be a list of (offset, length, crc32, plane_streams, count), got {type(jobs).__name__}")
    checked = [_checked_job(job, f"jobs[{k}]") for k, job in enumerate(jobs)]
    return _core.read_sections(source, checked, check_threads(threads))


def _checked_job(job: SectionJob, name: str) -> SectionJob:
    if not isinstance(job, tuple) or len(job) != 5:
        raise CodecError(f"{name} must be a tuple (offset, length, crc32, plane_streams, count)")
    offset, length, crc, streams, count = job
    if streams is not None:
        if not isinstance(streams, (list, tuple)):
            raise TypeError(f"{name}: plane_streams must be a tuple of lengths or None, got {type(streams).__name__}")
        streams = tuple(_count(n, f"{name}: plane_streams") for n in streams)
        if len(streams) not in (1, 2, 4, 8):
            raise CodecError(f"{name}: plane_streams must have 1, 2, 4 or 8 entries, got {len(streams)}")
    return (_count(offset, f"{name}: offset"), _count(length, f"{name}: length"),
            _integer_in(crc, f"{name}: crc32", 0, 0xFFFFFFFF), streams, _count(count, f"{name}: count"))


@_memory_limited
def nonzero_scan(elements: npt.ArrayLike, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass over elements' bits (a 1-D uint8/16/32/64 array): the positions of the
    non-zero elements (int64), their values, the histogram of the gaps between them
    (``cap`` bins, uint64) and the gaps of ``cap`` or more (int64), in order."""
    array = _as_array(elements, "elements")
    if array.ndim != 1 or array.dtype.kind != "u":
        raise CodecError(f"elements must be a 1-D unsigned integer array, got {array.dtype} of {array.ndim} "
                         "dimensions")
    size = _integer_in(cap, "cap", 1, 1 << 24)
    return _core.nonzero_scan(np.ascontiguousarray(array), size)


def codebook_index(values: npt.ArrayLike, max_size: int = _MAX_CODEBOOK_SIZE) -> tuple[np.ndarray, np.ndarray] | None:
    """The sorted distinct elements of a 1-D unsigned integer array and each element's
    index among them (uint16), or None as soon as more than `max_size` (at most 65536)
    distinct values appear."""
    array = _as_array(values, "values")
    if array.ndim != 1 or array.dtype.kind != "u":
        raise CodecError(f"values must be a 1-D unsigned integer array, got {array.dtype} of {array.ndim} "
                         "dimensions")
    return _core.codebook_index(np.ascontiguousarray(array), _integer_in(max_size, "max_size", 1, _MAX_CODEBOOK_SIZE))


def relative_index_encode(positions: npt.ArrayLike, bits: int) -> np.ndarray:
    """Gap entries for strictly increasing non-negative `positions` (``spec/dcz.md``).

    Entry ``e < 2**bits - 1`` places a non-zero ``e`` positions after the previous one's
    successor; ``e == 2**bits - 1`` is a filler that skips that many positions and places
    nothing. Returns uint8 for ``bits <= 8``, else uint16.
    """
    return _core.relative_index_encode(_positions_array(positions), _check_index_bits(bits))


@_memory_limited
def relative_index_decode(entries: npt.ArrayLike, bits: int, numel: int) -> npt.NDArray[np.int64]:
    """Positions coded by gap `entries`; each must be below `numel`."""
    array = _symbols_array(entries, "entries")
    return _core.relative_index_decode(array, _check_index_bits(bits), _count(numel, "numel"))


# ----------------------------------------------------------------- scatter


def _codebook_array(codebook: npt.ArrayLike) -> np.ndarray:
    """`codebook` as contiguous 1-D plain values: the core copies elements as raw bits."""
    array = _as_array(codebook, "codebook")
    if array.dtype.kind not in _PLAIN_KINDS or array.dtype.fields is not None:
        raise CodecError(
            f"codebook must hold bool, integer, float or complex values, got dtype {array.dtype}"
        )
    if array.dtype.itemsize not in (1, 2, 4, 8):
        raise CodecError(f"codebook elements must be 1, 2, 4 or 8 bytes, got {array.dtype}")
    return np.ascontiguousarray(array).reshape(-1)


def _index_array(indices: npt.ArrayLike) -> np.ndarray:
    return _symbols_array(indices, "indices")


@_memory_limited
def scatter(
    codebook: npt.ArrayLike,
    indices: npt.ArrayLike,
    positions: npt.ArrayLike | None,
    numel: int,
) -> np.ndarray:
    """Dense array of `numel` elements: ``out[positions[i]] = codebook[indices[i]]``, else 0.

    Works on bit patterns (any 1/2/4/8-byte numeric or bool dtype; pass bfloat16 as
    uint16), so NaN payloads and -0.0 survive. With ``positions=None`` the indices cover
    every element.
    """
    book = _codebook_array(codebook)
    idx = _index_array(indices)
    size = _count(numel, "numel")
    if positions is None:
        return _core.gather(book, idx, size)
    return _core.scatter(book, idx, _positions_array(positions), size)


@_memory_limited
def sparse_scatter(
    codebook: npt.ArrayLike, indices: npt.ArrayLike, entries: npt.ArrayLike, bits: int, numel: int
) -> np.ndarray:
    """:func:`scatter` straight from relative-index `entries` (no position array)."""
    return _core.sparse_scatter(
        _codebook_array(codebook),
        _index_array(indices),
        _symbols_array(entries, "entries"),
        _check_index_bits(bits),
        _count(numel, "numel"),
    )

"""Typed, validating wrappers over the native codec core (``pycodec._core``).

Three families of functions:

* Huffman coding of ``uint8`` / ``uint16`` symbol arrays. :func:`huffman_encode` and
  :func:`huffman_decode` work on a self-describing stream (``spec/huffman-stream.md``);
  :func:`code_lengths`, :func:`serialize_code`, :func:`parse_code`, :func:`encode_with_code`
  and :func:`decode_with_code` are the lower-level pieces.
* Relative-index (gap) coding of the non-zero positions of a flattened tensor, with
  filler entries for long gaps (Deep Compression, section 2): :func:`relative_index_encode`,
  :func:`relative_index_decode`.
* Scatter of codebook values back into a dense array: :func:`scatter` (positions known)
  and :func:`sparse_scatter` (straight from gap entries, no position array).

All functions take and return numpy arrays, copy only when the input is not already a
contiguous array of the right dtype, release the GIL while they work, and raise
:class:`pycodec.errors.CodecError` (bad arguments) or
:class:`pycodec.errors.CorruptStreamError` (bad streams), never crash.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from pycodec import _core
from pycodec.errors import CodecError

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
    "relative_index_encode",
    "relative_index_decode",
    "scatter",
    "sparse_scatter",
]

#: Longest code the format allows; the decoder's tables are at most 2**16 entries.
MAX_CODE_LENGTH: int = _core.MAX_CODE_LENGTH
#: Default length limit: keeps the decoder's table at 2**11 entries (16 KiB, L1-resident).
DEFAULT_MAX_CODE_LENGTH: int = _core.DEFAULT_MAX_CODE_LENGTH
#: Default cap on the symbol count a stream may declare when its bytes cannot bound it
#: (a single-symbol stream is a few bytes whatever its length). Override per call.
DEFAULT_MAX_SYMBOLS: int = _core.DEFAULT_MAX_SYMBOLS

_SYMBOL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


class HuffmanCode(NamedTuple):
    """A canonical Huffman code: the used symbols (ascending) and their code lengths."""

    symbol_bits: int  # 8 or 16: the width of the symbols it codes
    symbols: npt.NDArray[np.uint16]
    lengths: npt.NDArray[np.uint8]


def _symbols_array(symbols: npt.ArrayLike) -> np.ndarray:
    """Return `symbols` as a contiguous 1-D uint8/uint16 array, refusing silent casts."""
    array = np.asarray(symbols)
    if array.dtype not in _SYMBOL_DTYPES:
        raise CodecError(
            f"symbols must be a uint8 or uint16 array, got dtype {array.dtype}; "
            "cast explicitly after checking the range"
        )
    return np.ascontiguousarray(array).reshape(-1)


def _buffer(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """View a bytes-like object as a uint8 array without copying."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"expected a bytes-like object, got {type(data).__name__}") from exc


def _check_code_length(max_code_length: int) -> int:
    if not 1 <= int(max_code_length) <= MAX_CODE_LENGTH:
        raise CodecError(f"max_code_length must be in 1..{MAX_CODE_LENGTH}, got {max_code_length}")
    return int(max_code_length)


# ----------------------------------------------------------------- Huffman: pieces


def code_lengths(
    counts: npt.ArrayLike, max_code_length: int = DEFAULT_MAX_CODE_LENGTH
) -> npt.NDArray[np.uint8]:
    """Optimal length-limited code lengths for symbol `counts` (package-merge).

    ``counts[s]`` is the number of occurrences of symbol ``s``; the result has the same
    length, with 0 for unused symbols. A single used symbol gets length 1. The limit is
    raised to ``ceil(log2(used))`` when it is too small to code every used symbol.
    """
    array = np.asarray(counts)
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


def build_code(
    symbols: npt.ArrayLike, max_code_length: int = DEFAULT_MAX_CODE_LENGTH
) -> HuffmanCode:
    """The canonical code for the symbol frequencies of `symbols`."""
    array = _symbols_array(symbols)
    counts = _core.histogram(array)
    return _code_from_lengths(code_lengths(counts, max_code_length), array.dtype.itemsize * 8)


def serialize_code(code: HuffmanCode) -> bytes:
    """The compact byte form of a canonical code (``spec/huffman-stream.md``, Code table)."""
    return _core.serialize_code(
        code.symbol_bits,
        np.ascontiguousarray(code.symbols, dtype=np.uint16),
        np.ascontiguousarray(code.lengths, dtype=np.uint8),
    )


def parse_code(
    data: bytes | bytearray | memoryview | np.ndarray, symbol_bits: int
) -> tuple[HuffmanCode, int]:
    """Parse and validate a serialized code for `symbol_bits`-bit symbols.

    Returns the code and the number of bytes it occupied (the table does not store the
    symbol width: the stream's flags do).
    """
    symbols, lengths, consumed = _core.parse_code(_buffer(data), int(symbol_bits))
    return HuffmanCode(int(symbol_bits), symbols, lengths), consumed


def encode_with_code(symbols: npt.ArrayLike, code: HuffmanCode) -> bytes:
    """Bit-pack `symbols` with `code` (one stream, MSB-first, zero-padded to a byte)."""
    array = _symbols_array(symbols)
    if array.dtype.itemsize * 8 != code.symbol_bits:
        raise CodecError(f"code is for {code.symbol_bits}-bit symbols, got {array.dtype}")
    return _core.encode_with_code(
        array,
        np.ascontiguousarray(code.symbols, dtype=np.uint16),
        np.ascontiguousarray(code.lengths, dtype=np.uint8),
    )


def decode_with_code(
    data: bytes | bytearray | memoryview | np.ndarray, code: HuffmanCode, count: int
) -> np.ndarray:
    """Decode exactly `count` symbols from one bit-packed stream coded with `code`."""
    if count < 0:
        raise CodecError(f"count must be non-negative, got {count}")
    return _core.decode_with_code(
        _buffer(data),
        code.symbol_bits,
        np.ascontiguousarray(code.symbols, dtype=np.uint16),
        np.ascontiguousarray(code.lengths, dtype=np.uint8),
        int(count),
    )


# ----------------------------------------------------------------- Huffman: streams


def huffman_encode(
    symbols: npt.ArrayLike, *, max_code_length: int = DEFAULT_MAX_CODE_LENGTH
) -> bytes:
    """Encode a uint8/uint16 array as a self-describing Huffman stream."""
    return _core.huffman_encode(_symbols_array(symbols), _check_code_length(max_code_length))


def huffman_decode(
    data: bytes | bytearray | memoryview | np.ndarray, *, max_symbols: int = DEFAULT_MAX_SYMBOLS
) -> np.ndarray:
    """Decode a stream made by :func:`huffman_encode` to an array of the same dtype.

    `max_symbols` caps the symbol count a stream may declare; a larger declaration raises
    :class:`~pycodec.errors.LimitExceededError` before anything is allocated.
    """
    if max_symbols < 0:
        raise CodecError(f"max_symbols must be non-negative, got {max_symbols}")
    return _core.huffman_decode(_buffer(data), int(max_symbols))


class StreamInfo(NamedTuple):
    """What a Huffman stream's header declares."""

    symbol_bits: int
    count: int
    distinct: int
    max_code_length: int
    streams: int
    header_bytes: int
    payload_bytes: int


def huffman_stream_info(data: bytes | bytearray | memoryview | np.ndarray) -> StreamInfo:
    """Parse and validate a stream's header without decoding its payload."""
    return StreamInfo(*_core.huffman_stream_info(_buffer(data)))


# ----------------------------------------------------------------- relative indices


def _check_index_bits(bits: int) -> int:
    if not 1 <= int(bits) <= 16:
        raise CodecError(f"index bits must be in 1..16, got {bits}")
    return int(bits)


def relative_index_encode(positions: npt.ArrayLike, bits: int) -> np.ndarray:
    """Gap entries for strictly increasing non-negative `positions` (``spec/dcz.md``).

    Entry ``e < 2**bits - 1`` places a non-zero ``e`` positions after the previous one's
    successor; ``e == 2**bits - 1`` is a filler that skips that many positions and places
    nothing. Returns uint8 for ``bits <= 8``, else uint16.
    """
    array = np.asarray(positions)
    if array.dtype.kind not in "iu":
        raise CodecError(f"positions must be integers, got dtype {array.dtype}")
    return _core.relative_index_encode(
        np.ascontiguousarray(array, dtype=np.int64).reshape(-1), _check_index_bits(bits)
    )


def relative_index_decode(entries: npt.ArrayLike, bits: int, numel: int) -> npt.NDArray[np.int64]:
    """Positions coded by gap `entries`; each must be below `numel`."""
    array = _symbols_array(entries)
    if numel < 0:
        raise CodecError(f"numel must be non-negative, got {numel}")
    return _core.relative_index_decode(array, _check_index_bits(bits), int(numel))


# ----------------------------------------------------------------- scatter


def _codebook_array(codebook: npt.ArrayLike) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(codebook)).reshape(-1)
    if array.dtype.itemsize not in (1, 2, 4, 8):
        raise CodecError(f"codebook elements must be 1, 2, 4 or 8 bytes, got {array.dtype}")
    return array


def _index_array(indices: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(indices)
    if array.dtype not in _SYMBOL_DTYPES:
        raise CodecError(f"indices must be uint8 or uint16, got dtype {array.dtype}")
    return np.ascontiguousarray(array).reshape(-1)


def scatter(
    codebook: npt.ArrayLike,
    indices: npt.ArrayLike,
    positions: npt.ArrayLike | None,
    numel: int,
) -> np.ndarray:
    """Dense array of `numel` elements: ``out[positions[i]] = codebook[indices[i]]``, else 0.

    Works on bit patterns (any 1/2/4/8-byte dtype; pass bfloat16 as uint16), so NaN
    payloads and -0.0 survive. With ``positions=None`` the indices cover every element.
    """
    book = _codebook_array(codebook)
    idx = _index_array(indices)
    if positions is None:
        return _core.gather(book, idx, int(numel))
    pos = np.ascontiguousarray(np.asarray(positions), dtype=np.int64).reshape(-1)
    return _core.scatter(book, idx, pos, int(numel))


def sparse_scatter(
    codebook: npt.ArrayLike, indices: npt.ArrayLike, entries: npt.ArrayLike, bits: int, numel: int
) -> np.ndarray:
    """:func:`scatter` straight from relative-index `entries` (no position array)."""
    return _core.sparse_scatter(
        _codebook_array(codebook),
        _index_array(indices),
        _symbols_array(entries),
        _check_index_bits(bits),
        int(numel),
    )

"""Per-tensor encodings of ``spec/dcz.md`` section 5: choosing, encoding, decoding.

Tensors travel as flat numpy arrays of their storage dtype (:mod:`pycodec.format.dtypes`).
Value comparisons use the unsigned-integer view of the bits, so ``-0.0`` is a non-zero
value distinct from ``+0.0`` and every NaN payload is its own value.

The writer's choice (:func:`encode_tensor`): a floating tensor with at most 65536
distinct bit patterns is a candidate for ``codebook`` and, if it has zeros, ``sparse``;
the sizes of both are estimated exactly from symbol histograms (no trial encoding), the
smaller one is encoded, and it is kept only if it beats ``raw``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pycodec import codec
from pycodec.errors import CodecError, MalformedFileError
from pycodec.format import limits
from pycodec.format.budget import DecodeBudget
from pycodec.format.dtypes import DType
from pycodec.format.syntax import TensorEntry

Payload = bytes | np.ndarray

#: Elements sampled to guess the codebook before the exact pass over all values.
_CODEBOOK_SAMPLE = 1 << 20
#: Values searched per chunk (bounds the int64 temporaries of searchsorted).
_CHUNK = 1 << 22
#: Gap widths the writer tries (spec 5.4 allows 1..16).
GAP_BITS_TRIED = range(1, 11)
#: Gaps at least this long are handled one by one when estimating gap-stream sizes.
_GAP_HISTOGRAM_CAP = 1 << 12


@dataclass
class EncodedTensor:
    """The encoding chosen for a tensor and its section payloads, in layout order."""

    encoding: str
    payloads: dict[str, Payload] = field(default_factory=dict)
    index_bits: int | None = None


# ----------------------------------------------------------------- size estimates


def huffman_stream_size(counts: np.ndarray) -> int:
    """The byte size of :func:`codec.huffman_encode` output for these symbol counts.

    Exact up to the substream padding (at most one byte per substream) and varint widths.
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    used = np.flatnonzero(counts)
    if used.size <= 1:
        return 2 + 10 + 2  # flags, count, the symbol
    lengths = codec.code_lengths(counts, codec.DEFAULT_MAX_CODE_LENGTH)
    payload_bits = int(np.dot(counts[used], lengths[used].astype(np.int64)))
    substreams = 4 if total >= 4096 else 1
    table = 4 + int(used.size) + (int(used.size) + 1) // 2  # varint deltas are mostly 1 byte
    return 1 + 10 + table + 1 + 4 * substreams + (payload_bits + 7) // 8 + substreams


def _gap_counts(histogram: np.ndarray, long_gaps: np.ndarray, bits: int) -> np.ndarray:
    """Entry counts (symbols 0..M, M = filler) of the gaps coded with `bits` bits."""
    filler = (1 << bits) - 1
    values = np.arange(histogram.size)
    counts = np.bincount(values % filler, weights=histogram, minlength=filler + 1)
    counts = np.rint(counts).astype(np.int64)
    fillers = int(np.dot(values // filler, histogram)) + int((long_gaps // filler).sum())
    if long_gaps.size:
        counts[: filler] += np.bincount(long_gaps % filler, minlength=filler)[:filler]
    counts[filler] += fillers
    return counts


def best_gap_bits(positions: np.ndarray) -> tuple[int, int]:
    """The gap width in :data:`GAP_BITS_TRIED` with the smallest coded ``gaps`` stream.

    Returns (bits, estimated bytes). Works on a histogram of the gaps, so each width costs
    O(histogram size), not O(non-zeros).
    """
    gaps = np.diff(positions, prepend=-1) - 1
    short = gaps < _GAP_HISTOGRAM_CAP
    histogram = np.bincount(gaps[short], minlength=_GAP_HISTOGRAM_CAP).astype(np.int64)
    long_gaps = gaps[~short]
    best = (0, math.inf)
    for bits in GAP_BITS_TRIED:
        size = huffman_stream_size(_gap_counts(histogram, long_gaps, bits))
        if size < best[1]:
            best = (bits, size)
    return best[0], int(best[1])


# ----------------------------------------------------------------- codebook discovery


def _index_into(book: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint16 indices of `values` in sorted `book`, and the distinct values not in it."""
    indices = np.empty(values.size, dtype=np.uint16)
    missing: list[np.ndarray] = []
    for start in range(0, values.size, _CHUNK):
        chunk = values[start : start + _CHUNK]
        found = np.minimum(np.searchsorted(book, chunk), book.size - 1)
        miss = book[found] != chunk
        if miss.any():
            missing.append(np.unique(chunk[miss]))
        indices[start : start + _CHUNK] = found
    absent = np.unique(np.concatenate(missing)) if missing else values[:0]
    return indices, absent


def find_codebook(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The sorted distinct `values` and each value's index, or None if over 65536 distinct.

    Guesses the codebook from a sample, then adds what an exact pass finds missing, so a
    tensor with few values costs O(n log k) rather than a full sort.
    """
    step = max(1, values.size // _CODEBOOK_SAMPLE)
    book = np.unique(values[::step])
    while book.size <= limits.MAX_CODEBOOK_SIZE:
        indices, absent = _index_into(book, values)
        if absent.size == 0:
            return book, indices
        book = np.union1d(book, absent)
    return None


# ----------------------------------------------------------------- encoding


def index_symbol_bits(book_size: int) -> int:
    """Symbol width of a codebook's index stream (spec 5.2): 8 bits up to 256 entries."""
    return 8 if book_size <= 256 else 16


def _index_symbols(indices: np.ndarray, book_size: int) -> np.ndarray:
    """Indices as the symbol dtype the spec requires for a codebook of `book_size`."""
    dtype = np.uint8 if index_symbol_bits(book_size) == 8 else np.uint16
    return indices.astype(dtype, copy=False)


def _codebook_payload(book: np.ndarray, dtype: DType) -> bytes:
    return book.astype(dtype.bits_dtype, copy=False).tobytes()


def encode_tensor(flat: np.ndarray, dtype: DType, *, compress: bool = True) -> EncodedTensor:
    """Choose the smallest encoding for a flat storage-dtype array and encode it."""
    raw = EncodedTensor("raw", {"data": flat})
    if not (compress and dtype.codebook_ok and flat.size > 0):
        return raw
    encoded = _encode_compressed(flat.view(dtype.bits_dtype), dtype, flat.nbytes)
    return encoded if encoded is not None else raw


def _encode_compressed(bits: np.ndarray, dtype: DType, raw_bytes: int) -> EncodedTensor | None:
    """The smaller of ``codebook`` and ``sparse`` if it beats `raw_bytes`, else None."""
    nonzero = bits != 0
    nnz = int(np.count_nonzero(nonzero))
    zeros = bits.size - nnz
    values = bits[nonzero] if zeros else bits
    found = find_codebook(values) if nnz else (values[:0], values[:0].astype(np.uint16))
    if found is None:
        return None
    book, indices = found
    counts = np.bincount(indices, minlength=book.size) if nnz else np.zeros(0, np.int64)

    options: list[tuple[int, str]] = []
    dense_size = book.size + (1 if zeros else 0)
    if dense_size <= limits.MAX_CODEBOOK_SIZE:
        dense_counts = np.concatenate([[zeros], counts]) if zeros else counts
        options.append((dense_size * dtype.itemsize + huffman_stream_size(dense_counts), "codebook"))
    positions = None
    if zeros and nnz:
        positions = np.flatnonzero(nonzero)
        gap_bits, gap_size = best_gap_bits(positions)
        size = book.size * dtype.itemsize + huffman_stream_size(counts) + gap_size
        options.append((size, "sparse"))
    if not options or min(options)[0] >= raw_bytes:
        return None
    if min(options)[1] == "sparse" and positions is not None:
        return _encode_sparse(book, indices, positions, gap_bits, dtype)
    return _encode_dense(book, indices, nonzero, zeros, dtype)


def _encode_dense(
    book: np.ndarray, indices: np.ndarray, nonzero: np.ndarray, zeros: int, dtype: DType
) -> EncodedTensor:
    if zeros:  # zero is the smallest bit pattern, so prepending keeps the book sorted
        book = np.concatenate([np.zeros(1, book.dtype), book])
        all_indices = np.zeros(nonzero.size, dtype=np.uint16)
        all_indices[nonzero] = indices + 1
        indices = all_indices
    symbols = _index_symbols(indices, book.size)
    return EncodedTensor(
        "codebook",
        {"codebook": _codebook_payload(book, dtype), "indices": codec.huffman_encode(symbols)},
    )


def _encode_sparse(
    book: np.ndarray, indices: np.ndarray, positions: np.ndarray, gap_bits: int, dtype: DType
) -> EncodedTensor:
    entries = codec.relative_index_encode(positions, gap_bits)
    return EncodedTensor(
        "sparse",
        {
            "codebook": _codebook_payload(book, dtype),
            "indices": codec.huffman_encode(_index_symbols(indices, book.size)),
            "gaps": codec.huffman_encode(entries),
        },
        index_bits=gap_bits,
    )


# ----------------------------------------------------------------- decoding


@dataclass(frozen=True)
class Facts:
    """What a tensor's small sections tell without decoding it."""

    codebook_size: int | None = None
    nnz: int | None = None


def describe(entry: TensorEntry, dtype: DType, payloads: dict[str, Payload]) -> Facts:
    """Check the stream headers of a tensor and report its codebook size and non-zeros."""
    if entry.encoding == "codebook":
        book = decode_codebook(entry, dtype, payloads["codebook"])
        stream_info(entry, "indices", payloads["indices"], index_symbol_bits(book.size))
        return Facts(codebook_size=book.size)
    if entry.encoding == "sparse":
        book = decode_codebook(entry, dtype, payloads["codebook"])
        info, _ = _sparse_streams(entry, book.size, payloads)
        return Facts(codebook_size=book.size, nnz=info.count)
    return Facts()


def _fail(entry: TensorEntry, what: str) -> MalformedFileError:
    return MalformedFileError(f"tensor {entry.name!r}: {what}")


def decode_codebook(entry: TensorEntry, dtype: DType, data: Payload) -> np.ndarray:
    """The codebook section as an array of the dtype's bit patterns (5.2)."""
    size = len(data)
    if size == 0 or size % dtype.itemsize:
        raise _fail(entry, f"codebook of {size} bytes is not a positive multiple of {dtype.itemsize}")
    if size // dtype.itemsize > limits.MAX_CODEBOOK_SIZE:
        raise _fail(entry, f"codebook of {size // dtype.itemsize} entries exceeds 65536")
    return np.frombuffer(data, dtype=dtype.bits_dtype)


def stream_info(entry: TensorEntry, role: str, data: Payload, symbol_bits: int) -> codec.StreamInfo:
    """Validate a Huffman stream's header and its symbol width against the spec."""
    try:
        info = codec.huffman_stream_info(data)
    except CodecError as exc:
        raise _fail(entry, f"{role} stream: {exc}") from exc
    if info.symbol_bits != symbol_bits:
        raise _fail(entry, f"{role} stream has {info.symbol_bits}-bit symbols, expected {symbol_bits}")
    return info


def _decode_stream(entry: TensorEntry, role: str, data: Payload, count: int) -> np.ndarray:
    try:
        return codec.huffman_decode(data, max_symbols=count)
    except CodecError as exc:
        raise _fail(entry, f"{role} stream: {exc}") from exc


def _single_symbol(info: codec.StreamInfo, data: Payload) -> int | None:
    """The repeated symbol of a single-symbol (mode 1) stream, else None.

    Such a stream's count is not bounded by its bytes, so it is never decoded to an
    array: callers fill their output from the symbol directly.
    """
    if info.distinct != 1:
        return None
    width = info.symbol_bits // 8
    return int.from_bytes(memoryview(data)[info.header_bytes - width : info.header_bytes], "little")


def _book_value(entry: TensorEntry, role: str, book: np.ndarray, symbol: int) -> np.ndarray:
    if symbol >= book.size:
        raise _fail(entry, f"{role} stream: symbol {symbol} out of range for a codebook of {book.size}")
    return book[symbol : symbol + 1]


def _symbol_bytes(info: codec.StreamInfo) -> int:
    """Bytes of the array a stream decodes to (what the budget must count)."""
    return info.count * info.symbol_bits // 8


def decode_dense(entry: TensorEntry, dtype: DType, payloads: dict[str, Payload], budget: DecodeBudget) -> np.ndarray:
    """Decode a ``codebook`` tensor (5.2) to a flat storage-dtype array."""
    book = decode_codebook(entry, dtype, payloads["codebook"])
    info = stream_info(entry, "indices", payloads["indices"], index_symbol_bits(book.size))
    if info.count != entry.numel:
        raise _fail(entry, f"indices stream holds {info.count} symbols for {entry.numel} elements")
    symbol = _single_symbol(info, payloads["indices"])
    if symbol is not None:
        value = _book_value(entry, "indices", book, symbol)
        return np.full(entry.numel, value[0], dtype=book.dtype).view(dtype.storage)
    with budget.held(_symbol_bytes(info), f"tensor {entry.name!r}: indices"):
        indices = _decode_stream(entry, "indices", payloads["indices"], entry.numel)
        try:
            out = codec.scatter(book, indices, None, entry.numel)
        except CodecError as exc:
            raise _fail(entry, str(exc)) from exc
    return out.view(dtype.storage)


def _index_bits(entry: TensorEntry) -> int:
    bits = entry.index_bits
    if bits is None or not limits.MIN_INDEX_BITS <= bits <= limits.MAX_INDEX_BITS:
        raise _fail(entry, f"index_bits {bits} outside 1..16")
    return bits


def _sparse_streams(
    entry: TensorEntry, book_size: int, payloads: dict[str, Payload]
) -> tuple[codec.StreamInfo, codec.StreamInfo]:
    """Validate the sparse streams' headers (5.3); return (indices info, gaps info)."""
    index_bits = _index_bits(entry)
    info = stream_info(entry, "indices", payloads["indices"], index_symbol_bits(book_size))
    nnz = info.count
    if nnz > entry.numel:
        raise _fail(entry, f"{nnz} non-zeros declared for {entry.numel} elements")
    filler = (1 << index_bits) - 1
    gaps = stream_info(entry, "gaps", payloads["gaps"], 8 if index_bits <= 8 else 16)
    bound = nnz + entry.numel // filler + 1
    if not nnz <= gaps.count <= bound:
        raise _fail(entry, f"gaps stream holds {gaps.count} entries, expected {nnz}..{bound}")
    return info, gaps


def sparse_counts(entry: TensorEntry, book_size: int, payloads: dict[str, Payload]) -> tuple[int, int]:
    """Validate the sparse streams' headers (5.3); return (nnz, gap entries)."""
    info, gaps = _sparse_streams(entry, book_size, payloads)
    return info.count, gaps.count


def decode_sparse(entry: TensorEntry, dtype: DType, payloads: dict[str, Payload], budget: DecodeBudget) -> np.ndarray:
    """Decode a ``sparse`` tensor (5.3, 5.4) to a flat storage-dtype array."""
    book = decode_codebook(entry, dtype, payloads["codebook"])
    info, gaps = _sparse_streams(entry, book.size, payloads)
    gap = _single_symbol(gaps, payloads["gaps"])
    if gap is not None:
        out = _place_evenly(entry, book, payloads["indices"], info, (gap, gaps.count), budget)
    else:
        with budget.held(_symbol_bytes(gaps), f"tensor {entry.name!r}: gaps"):
            entries = _decode_stream(entry, "gaps", payloads["gaps"], gaps.count)
            out = _scatter_entries(entry, book, payloads["indices"], info, entries, budget)
    return out.view(dtype.storage)


def _scatter_entries(
    entry: TensorEntry, book: np.ndarray, indices_data: Payload, info: codec.StreamInfo, entries: np.ndarray,
    budget: DecodeBudget,
) -> np.ndarray:
    """Scatter along decoded gap entries (their count bounds nnz by the file's bytes)."""
    index_bits = _index_bits(entry)
    if entries.size and int(entries[-1]) == (1 << index_bits) - 1:
        raise _fail(entry, "gaps stream ends with a filler")
    symbol = _single_symbol(info, indices_data)
    with budget.held(info.count * (info.symbol_bits // 8), f"tensor {entry.name!r}: indices"):
        if symbol is None:
            indices = _decode_stream(entry, "indices", indices_data, info.count)
        else:  # one value: a one-entry codebook and zero indices
            book = _book_value(entry, "indices", book, symbol)
            indices = np.zeros(info.count, dtype=np.uint8 if info.symbol_bits == 8 else np.uint16)
        try:
            return codec.sparse_scatter(book, indices, entries, index_bits, entry.numel)
        except CodecError as exc:
            raise _fail(entry, str(exc)) from exc


def _place_evenly(
    entry: TensorEntry, book: np.ndarray, indices_data: Payload, info: codec.StreamInfo,
    gaps: tuple[int, int], budget: DecodeBudget,
) -> np.ndarray:
    """Decode a sparse tensor whose gaps stream repeats one entry, `gaps` = (entry, count):
    every ``entry + 1``-th element from position `entry` on, without decoding the gaps (5.4)."""
    gap, count = gaps
    if gap == (1 << _index_bits(entry)) - 1:
        raise _fail(entry, "gaps stream ends with a filler")
    nnz, step = info.count, gap + 1
    if count != nnz:
        raise _fail(entry, f"gaps stream places {count} non-zeros, the indices stream holds {nnz}")
    if nnz * step > entry.numel:
        raise _fail(entry, f"relative index points past the tensor: {nnz} non-zeros every {step} "
                           f"in {entry.numel} elements")
    out = np.zeros(entry.numel, dtype=book.dtype)
    placed = out[gap : nnz * step : step]
    symbol = _single_symbol(info, indices_data)
    if symbol is not None:
        placed[...] = _book_value(entry, "indices", book, symbol)[0]
        return out
    with budget.held(_symbol_bytes(info), f"tensor {entry.name!r}: indices"):
        indices = _decode_stream(entry, "indices", indices_data, nnz)
        if indices.size and int(indices.max()) >= book.size:
            raise _fail(entry, f"indices stream: symbol {int(indices.max())} out of range for a codebook "
                               f"of {book.size}")
        np.take(book, indices, out=placed, mode="clip")
    return out


def decode_raw(entry: TensorEntry, dtype: DType, data: Payload) -> np.ndarray:
    """Check a ``raw`` section (5.1) and view it as a flat storage-dtype array."""
    expected = entry.numel * dtype.itemsize
    if len(data) != expected:
        raise _fail(entry, f"raw data of {len(data)} bytes, expected {expected}")
    # An ndarray payload is the reader's own writable buffer: view it, do not copy.
    array = data.view(dtype.storage) if isinstance(data, np.ndarray) else np.frombuffer(data, dtype.storage)
    if dtype.name == "bool" and array.size and int(array.view(np.uint8).max()) > 1:
        raise _fail(entry, "bool element is neither 0x00 nor 0x01")
    return array


def decode_tensor(
    entry: TensorEntry, dtype: DType, payloads: dict[str, Payload], budget: DecodeBudget
) -> np.ndarray:
    """Decode any non-alias tensor to a flat array of its storage dtype.

    The output is already counted by the caller; intermediates are held in `budget`
    while they live.
    """
    if entry.encoding == "raw":
        return decode_raw(entry, dtype, payloads["data"])
    if entry.encoding == "codebook":
        return decode_dense(entry, dtype, payloads, budget)
    return decode_sparse(entry, dtype, payloads, budget)

"""Per-tensor encodings of ``spec/dcz.md`` section 5: choosing, encoding, decoding.

Tensors travel as flat numpy arrays of their storage dtype (:mod:`pycodec.format.dtypes`).
Value comparisons use the unsigned-integer view of the bits, so ``-0.0`` is a non-zero
value distinct from ``+0.0`` and every NaN payload is its own value.

The writer's choice (:func:`encode_tensor`) comes from statistics, not trial encodings.
For a tensor of at least :data:`choice.EXACT_BELOW` elements, :mod:`pycodec.format.choice`
first rules out, from a sample and the non-zero count, the encodings that cannot beat
``planes`` or ``raw`` (for dense trained weights: all but those two). Where any other can
win, and for small tensors, every candidate is sized: the non-zero count, the gap
histogram (its entropy picks the gap width), and, for floating dtypes with at most 65536
distinct bit patterns, the codebook's symbol counts, each sized by the encoder's own
planner (:func:`codec.huffman_plan_size`). Only the smallest candidate is encoded, and it
is kept only if it beats ``raw``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pycodec import _core, codec
from pycodec.errors import CodecError, MalformedFileError
from pycodec.format import choice, limits, zstd_frames
from pycodec.format.budget import DecodeBudget
from pycodec.format.dtypes import DType
from pycodec.format.syntax import TensorEntry

Payload = bytes | np.ndarray

#: Gaps at least this long are handled one by one when estimating gap-stream sizes.
_GAP_HISTOGRAM_CAP = 1 << 12
#: Gap widths estimated within this fraction of the best are sized exactly.
_GAP_ESTIMATE_MARGIN = 0.01
#: Smaller tensors stay ``raw``: planes would save at most a few hundred bytes, while a raw
#: section loads without decoding (and can be memory-mapped).
PLANES_MIN_NUMEL = 1024
#: A tensor's planes are coded on several threads from this size; below it, starting threads costs more
#: than it saves: on a 2-core VM a 1 MiB float32 tensor took 0.5 ms on one thread and 1.6 ms
#: on two, a 16 MiB one about the same either way.
PLANES_PARALLEL_FROM_BYTES = 16 << 20
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def planes_header_bytes(itemsize: int) -> int:
    """What ``planes`` adds to the JSON header over ``raw``: the member
    ``,"plane_streams":[...]`` with up to 3 digits per entry (counted so that a tiny
    tensor does not grow its file by coding a few bytes away)."""
    return 19 + 4 * itemsize


@dataclass
class EncodedTensor:
    """The encoding chosen for a tensor and its section payloads, in layout order."""

    encoding: str
    payloads: dict[str, Payload] = field(default_factory=dict)
    index_bits: int | None = None
    plane_streams: tuple[int, ...] | None = None  # planes only (5.7)
    #: the CRC-32 of a section where the encoder already has it (the core's choice), by role
    checksums: dict[str, int] | None = None


# ----------------------------------------------------------------- statistics


def index_symbol_bits(book_size: int) -> int:
    """Symbol width of a codebook's index stream (spec 5.2): 8 bits up to 256 entries."""
    return 8 if book_size <= 256 else 16


def gap_symbol_bits(index_bits: int) -> int:
    """Symbol width of a gaps stream (spec 5.4): 8 bits up to index_bits 8."""
    return 8 if index_bits <= 8 else 16


@dataclass(frozen=True)
class GapPlan:
    index_bits: int
    size: int  # planned bytes of the gaps stream


def plan_gaps(histogram: np.ndarray, long_gaps: np.ndarray) -> GapPlan:
    """The gap width (1..16) whose stream is smallest, from the histogram of the gaps
    below :data:`_GAP_HISTOGRAM_CAP` and the list of the longer ones: every width ranked
    by its entries' entropy, and those within 1% of the best estimate (the real
    contenders: entropy hardly changes across them, Huffman's redundancy does) sized by the
    encoder's planner. Natively: counting every width's entries in numpy took a small
    tensor 50-150 us."""
    bits, size = _core.plan_gap_width(np.ascontiguousarray(histogram, np.uint64), np.ascontiguousarray(long_gaps, np.int64),
                                      _GAP_ESTIMATE_MARGIN, codec.DEFAULT_MAX_CODE_LENGTH)
    return GapPlan(int(bits), int(size))


@dataclass(frozen=True)
class Scan:
    """One pass over a tensor's bits: where its non-zeros are, their bits, and its gaps."""

    positions: np.ndarray  # int64
    values: np.ndarray  # the non-zeros' bits (element-width unsigned; V16 for 16 bytes)
    gap_histogram: np.ndarray
    long_gaps: np.ndarray


def scan(flat: np.ndarray, dtype: DType) -> Scan:
    if dtype.itemsize <= 8:  # a gap is shorter than the tensor: a small one's histogram is short too
        return Scan(*codec.nonzero_scan(flat.view(dtype.bits_dtype), min(_GAP_HISTOGRAM_CAP, flat.size + 1)))
    # 16-byte elements (complex128): no native integer that wide
    positions = np.flatnonzero(flat.view(np.uint64).reshape(-1, dtype.itemsize // 8).any(axis=1))
    gaps = np.diff(positions, prepend=-1) - 1
    short = gaps < _GAP_HISTOGRAM_CAP
    histogram = np.bincount(gaps[short], minlength=_GAP_HISTOGRAM_CAP)
    return Scan(positions, flat.view(dtype.bits_dtype)[positions], histogram, gaps[~short])


# ----------------------------------------------------------------- codebook discovery


def find_codebook(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The sorted distinct `values` and each value's uint16 index, or None if there are
    more than 65536 distinct (found in one hashing pass that stops there, so dense
    trained weights cost little)."""
    return codec.codebook_index(values, limits.MAX_CODEBOOK_SIZE)


# ----------------------------------------------------------------- encoding


def _index_symbols(indices: np.ndarray, book_size: int) -> np.ndarray:
    """Indices as the symbol dtype the spec requires for a codebook of `book_size`."""
    dtype = np.uint8 if index_symbol_bits(book_size) == 8 else np.uint16
    return indices.astype(dtype, copy=False)


def _value_bytes(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values).view(np.uint8).tobytes()


@dataclass(frozen=True)
class PlanesWork:
    """What coding a tensor's ``planes`` takes: its bit patterns (1-D, little-endian
    unsigned), which planes to code, and the statistics' counts of them (if counted)."""

    bits: np.ndarray
    plane_mask: int
    counted: _core.PlaneCounts | None = None


@dataclass
class _Candidate:
    size: int
    encoding: str
    make: Callable[[], EncodedTensor]
    planes: PlanesWork | None = None  # for ``planes``: its work, which the writer may hand to a PlanesCoder


#: What the zstd probe of a tensor found, asked for when needed: the writer may have
#: made it first, on another thread (:func:`pycodec.format.writer.encodes_ahead`).
ProbeSource = Callable[[], zstd_frames.Probe | None]


def encode_tensor(flat: np.ndarray, dtype: DType, *, compress: bool = True,
                  size_all: bool = False, probe: ProbeSource | None = None) -> EncodedTensor:
    """Choose the smallest encoding for a flat storage-dtype array and encode it.
    `size_all` sizes every candidate, skipping the statistics' gate (the reference the
    gate is tested against). `probe`: the zstd probe's result (default: probed here)."""
    return choose_encoding(flat, dtype, compress=compress, size_all=size_all, probe=probe).encode()


@dataclass(frozen=True)
class Chosen:
    """The encoding :func:`choose_encoding` picked for a tensor, sized but not yet made."""

    flat: np.ndarray
    dtype: DType
    best: _Candidate | None  # None: raw

    @property
    def planes(self) -> PlanesWork | None:
        """The ``planes`` work, where that is the choice, for coding elsewhere
        (:meth:`finish` takes its section)."""
        return self.best.planes if self.best is not None else None

    def encode(self) -> EncodedTensor:
        """The chosen encoding's payloads, or ``raw`` where they are not smaller."""
        return self.finish(self.best.make() if self.best is not None else None)

    def finish(self, encoded: EncodedTensor | None) -> EncodedTensor:
        """`encoded` (the choice, made), or ``raw`` where it is None or not smaller."""
        if encoded is not None:
            stored = sum(map(_payload_size, encoded.payloads.values()))
            if encoded.plane_streams is not None:
                stored += planes_header_bytes(self.dtype.itemsize)
            if stored < self.flat.nbytes:
                return encoded
        return EncodedTensor("raw", {"data": self.flat})


def choose_encoding(flat: np.ndarray, dtype: DType, *, compress: bool = True,
                    size_all: bool = False, probe: ProbeSource | None = None) -> Chosen:
    """:func:`encode_tensor`'s choice, before the chosen encoding is made."""
    if not compress or flat.size == 0:
        return Chosen(flat, dtype, None)
    gated = not size_all and dtype.itemsize <= 8  # 16-byte elements: no planes, no codebook
    if gated and _raw_at_a_glance(flat, dtype):
        return Chosen(flat, dtype, None)
    probed = probe if probe is not None else (lambda: probe_tensor(flat, dtype))
    candidates = (_gated_candidates(flat, dtype, probed) if gated
                  else _with_zstd(flat, _candidates(flat, dtype), probed()))
    best = min(candidates, key=lambda c: (c.size, c.encoding), default=None)
    return Chosen(flat, dtype, None if best is None or best.size >= flat.nbytes else best)


def choose_dense(items: list[tuple[np.ndarray, DType]], threads: int,
                 gate: _core.WorkerGate | None = None) -> list[EncodedTensor | None]:
    """:func:`encode_tensor` of tensors that no ``zstd`` frame can win (the probe's gate ruled
    it out), all in one native call on up to `threads` threads, without the GIL: where the
    statistics rule out every encoding but ``planes`` and ``raw`` (dense trained weights),
    the same choice and bytes as :func:`choose_encoding` then :meth:`Chosen.encode` give
    (``csrc/dense_choice.cpp`` mirrors their steps); None where another encoding might win,
    for :func:`choose_encoding` to decide. Elements of more than 8 bytes: None. With a
    `gate` (new for each call), the threads but the caller's join in once it is opened."""
    jobs = [(flat.view(dtype.bits_dtype), dtype.planes_ok, dtype.codebook_ok, planes_header_bytes(dtype.itemsize))
            for flat, dtype in items if dtype.itemsize <= 8]
    found = iter(_core.choose_dense(jobs, _dense_rules(), codec.check_threads(threads), PLANES_PARALLEL_FROM_BYTES, gate))
    return [_dense_encoded(flat, next(found)) if dtype.itemsize <= 8 else None for flat, dtype in items]


def _dense_rules() -> tuple[float, ...]:
    """The choice's thresholds, in the order of the core's ``DenseRules`` (read at each call:
    one source for both choices)."""
    return (PLANES_MIN_NUMEL, zstd_frames.MIN_BYTES, choice.SAMPLE, choice.DISTINCT_GATE,
            choice.TABLE_BYTES_PER_SYMBOL, choice._COUNT_FROM, choice.FIRST_LOOK, choice._SLACK,
            limits.MAX_CODEBOOK_SIZE, codec.DEFAULT_MAX_CODE_LENGTH, zstd_frames.REPEAT_SAMPLE, zstd_frames.REPEAT_GATE)


def _dense_encoded(flat: np.ndarray, found: tuple[str, np.ndarray | None, tuple[int, ...] | None, int] | None) -> EncodedTensor | None:
    """The :class:`EncodedTensor` of one of the core's ``choose_dense`` results, with its
    section's checksum."""
    if found is None:
        return None
    encoding, section, lengths, crc = found
    if encoding == "raw":
        return EncodedTensor("raw", {"data": flat}, checksums={"data": crc})
    assert section is not None and lengths is not None
    return dataclasses.replace(planes_encoded(section, lengths), checksums={"planes": crc})


def worth_probing_all(items: list[tuple[np.ndarray, DType]]) -> list[bool]:
    """:func:`worth_probing` of each tensor (false for an empty one), in one native call."""
    jobs = [(flat.view(np.uint8), dtype.planes_ok) for flat, dtype in items]
    return _core.worth_probing(jobs, _dense_rules())


def _payload_size(payload: Payload) -> int:
    if isinstance(payload, np.ndarray):
        return payload.nbytes
    return len(payload) if isinstance(payload, bytes) else len(memoryview(payload).cast("B"))


def _raw_at_a_glance(flat: np.ndarray, dtype: DType) -> bool:
    """Whether a tensor too small for ``planes`` and ``zstd`` is best raw, from one look
    at its bit patterns: no zero rules the sparse encodings out, and all of them distinct
    (or the codebook family's exact bound above raw) the codebook. A model's biases and
    norms, a third of its tensors or more, then skip the statistics' many small steps."""
    if flat.size >= PLANES_MIN_NUMEL or flat.nbytes >= zstd_frames.MIN_BYTES:
        return False
    bits = flat.view(dtype.bits_dtype)
    if np.count_nonzero(bits) < flat.size:
        return False
    if not dtype.codebook_ok or codec.all_distinct(bits):
        return True
    bound = choice.values_bound(bits, False, flat.size, dtype.itemsize)
    return not choice.needs_exact_sizing(choice.Statistics(flat.size, flat.size, None, bound), dtype, None)


def _best_size(flat: np.ndarray, candidates: list[_Candidate]) -> int:
    """The smallest of the candidates' sizes and raw."""
    return min([c.size for c in candidates] + [flat.nbytes])


def _zstd_candidate(flat: np.ndarray, probe: zstd_frames.Probe | None, best_other: float) -> _Candidate | None:
    """The ``zstd`` encoding (5.8), encoded, where the `probe` (:func:`zstd_frames.probe`)
    says it may beat `best_other` bytes; else None."""
    if not zstd_frames.worth_trying(probe, best_other):
        return None
    assert probe is not None
    frame = probe.frame if probe.frame is not None else zstd_frames.encode(memoryview(flat.view(np.uint8)))
    return _Candidate(len(frame), "zstd", lambda: EncodedTensor("zstd", {"frame": frame}))


def probe_tensor(flat: np.ndarray, dtype: DType, gated: bool = False) -> zstd_frames.Probe | None:
    """The zstd probe of a flat storage-dtype array (`gated`: already found worth probing)."""
    return zstd_frames.probe(flat.view(np.uint8), floats=dtype.planes_ok, gated=gated)


def probe_ahead(flat: np.ndarray, dtype: DType) -> zstd_frames.Probe | None:
    """:func:`probe_tensor` of a tensor found worth probing, made first where the writer
    encodes it ahead on its helper thread (:func:`pycodec.format.writer.encodes_ahead`).
    Beside a frame of a sampled tensor of a codebook dtype, it also counts every value for
    the codebook's exact bound, which the choice asks for whenever such a frame beats
    ``planes`` (a Fourier basis: 0.4 ms of counting)."""
    found = probe_tensor(flat, dtype, gated=True)
    if found is None or found.frame is None or not dtype.codebook_ok or not choice.is_sampled(flat.size, dtype):
        return found
    nnz = int(np.count_nonzero(flat.view(dtype.bits_dtype)))
    return dataclasses.replace(found, codebook_bound=choice.exact_codebook_bound(flat, dtype, nnz), bound_counted=True)


def worth_probing(flat: np.ndarray, dtype: DType) -> bool:
    return zstd_frames.worth_probing(flat.view(np.uint8), floats=dtype.planes_ok)


def _with_zstd(flat: np.ndarray, candidates: list[_Candidate], probe: zstd_frames.Probe | None,
               framed: _Candidate | None = None) -> list[_Candidate]:
    """`candidates` and, where it may beat them (and raw), the ``zstd`` one (`framed` when
    already made)."""
    if framed is None:
        framed = _zstd_candidate(flat, probe, _best_size(flat, candidates))
    return candidates + ([framed] if framed is not None else [])


def _gated_candidates(flat: np.ndarray, dtype: DType, probed: ProbeSource) -> list[_Candidate]:
    """``planes`` alone (or nothing: ``raw``) where the statistics rule the others out,
    else every candidate."""
    stats = choice.statistics(flat, dtype, planes_ok=dtype.planes_ok and flat.size >= PLANES_MIN_NUMEL)
    size = stats.planes_size(planes_header_bytes(dtype.itemsize))
    coded, counts = stats.planes, stats.plane_counts
    planes = [] if coded is None or size is None else [_planes_candidate(flat, dtype, size, coded, counts)]
    probe = probed()
    if not choice.needs_exact_sizing(stats, dtype, size):
        return _with_zstd(flat, planes, probe)
    if stats.sampled and dtype.codebook_ok and zstd_frames.worth_trying(probe, _best_size(flat, planes)):
        # A frame may win, and a sample's codebook bound can be far below the tensor's (a
        # Fourier basis: 77 KB, against 164 KB from every value and a 166 KB codebook):
        # counting every value costs far less than sizing every candidate.
        assert probe is not None  # worth_trying
        bound = probe.codebook_bound if probe.bound_counted else choice.exact_codebook_bound(flat, dtype, stats.nnz)
        stats = dataclasses.replace(stats, codebook_bound=bound)
        if not choice.needs_exact_sizing(stats, dtype, size):
            return _with_zstd(flat, planes, probe)
    # a frame below every bound makes exact sizing (the costly part) pointless
    floor = choice.lower_bound(stats, dtype, _best_size(flat, planes))
    framed = _zstd_candidate(flat, probe, floor)
    if framed is not None and framed.size < floor:
        return planes + [framed]
    if stats.counted and dtype.codebook_ok:  # every element counted: the codebook sized exactly
        patterns = choice.pattern_counts(stats, flat, dtype)
        known = planes + _dense_codebook_from_counts(flat, dtype, patterns, _best_size(flat, planes))
        if choice.sparse_family_bound(stats, dtype, flat.view(dtype.bits_dtype)) > _best_size(flat, known):
            return _with_zstd(flat, known, probe, framed)
    if not dtype.codebook_ok and choice.sparse_family_bound(stats, dtype, flat.view(dtype.bits_dtype)) > _best_size(flat, planes):
        return _with_zstd(flat, planes, probe, framed)  # sparse_raw, the one other candidate, cannot win
    return _with_zstd(flat, _candidates(flat, dtype, stats.planes), probe, framed)


def _dense_codebook_from_counts(flat: np.ndarray, dtype: DType, patterns: np.ndarray, beat: int) -> list[_Candidate]:
    """The ``codebook`` candidate sized from the counts of every bit pattern (2-byte
    elements): no scan, the same size and bytes as the scanning path gives (zero, where
    present, is the smallest pattern: first in the book there too). Left out where it is
    larger than `beat` bytes (the best other candidate's: it cannot win)."""
    counts = patterns[patterns > 0]
    if counts.size > limits.MAX_CODEBOOK_SIZE:
        return []
    indices = _index_size(counts, counts.size, beat - counts.size * dtype.itemsize)
    if indices is None:
        return []
    size = counts.size * dtype.itemsize + indices

    def make() -> EncodedTensor:
        book, indices = find_codebook(flat.view(dtype.bits_dtype))  # type: ignore[misc]
        return _encode_dense(book, indices, None, flat.size)

    return [_Candidate(size, "codebook", make)]


def _candidates(flat: np.ndarray, dtype: DType, planes: list[int] | None = None) -> list[_Candidate]:
    """Every candidate that may win, each sized by the planner (`planes`: the planes'
    estimates, if known); a codebook one larger than another or raw is left out."""
    found = scan(flat, dtype)
    nnz = found.positions.size
    candidates: list[_Candidate] = []
    gaps = plan_gaps(found.gap_histogram, found.long_gaps) if 0 < nnz < flat.size else None
    if gaps is not None:
        size = nnz * dtype.itemsize + gaps.size
        candidates.append(_Candidate(size, "sparse_raw", lambda: _encode_sparse_raw(found, gaps)))
    if dtype.planes_ok and flat.size >= PLANES_MIN_NUMEL:
        coded = planes if planes is not None else plan_planes(flat, dtype)
        candidates.append(_planes_candidate(flat, dtype, sum(coded) + planes_header_bytes(dtype.itemsize), coded))
    if dtype.codebook_ok:
        candidates += _codebook_candidates(found, flat.size, gaps, dtype, _best_size(flat, candidates))
    return candidates


# ----------------------------------------------------------------- planes (5.7)


def plan_planes(flat: np.ndarray, dtype: DType) -> list[int]:
    """Each plane's estimated Huffman stream size, from the byte histograms of the elements
    :func:`choice.sample` picks, scaled to the whole tensor and sized by the encoder's
    planner. No plane is encoded to decide."""
    bits = choice.sample(flat, dtype)
    return choice.plan_planes(choice.plane_histograms(bits), flat.size, flat.size / bits.size)


def _planes_work(flat: np.ndarray, dtype: DType, estimates: list[int],
                 counted: _core.PlaneCounts | None = None) -> PlanesWork:
    """Huffman-code the planes estimated to shrink enough, keeping a stream only if it saves
    enough (W5, :func:`codec.plane_worth_coding`); the others are stored raw. From the
    statistics' `counted` planes where they counted them."""
    mask = sum(1 << k for k, estimate in enumerate(estimates) if estimate < flat.size)  # raw ones: numel
    return PlanesWork(flat.view(np.dtype(f"u{dtype.itemsize}")), mask, counted)  # the planes are of the bit patterns


def _planes_candidate(flat: np.ndarray, dtype: DType, size: int, estimates: list[int],
                      counted: _core.PlaneCounts | None = None) -> _Candidate:
    """The ``planes`` candidate of `size` planned bytes (:func:`_planes_work`)."""
    work = _planes_work(flat, dtype, estimates, counted)
    return _Candidate(size, "planes", lambda: _code_planes(work, flat.nbytes), work)


def _code_planes(work: PlanesWork, nbytes: int) -> EncodedTensor:
    """One native call splits the planes, codes them (several at once for a large tensor)
    and joins the section."""
    # a thread per plane, and a coded plane's stream may split between two (float8 has one plane)
    threads = min(_CPUS, 2 * work.bits.itemsize) if nbytes >= PLANES_PARALLEL_FROM_BYTES else 1
    return planes_encoded(*codec.planes_encode(work.bits, plane_mask=work.plane_mask, threads=threads,
                                               counted=work.counted))


def planes_encoded(section: Payload, lengths: tuple[int, ...]) -> EncodedTensor:
    """The ``planes`` encoding of a coded section and its planes' stream lengths."""
    return EncodedTensor("planes", {"planes": section}, plane_streams=lengths)


def _index_size(counts: np.ndarray, book_size: int, at_most: int) -> int | None:
    """The index stream's size for these counts, or None where it is certainly above
    `at_most` bytes (its candidate then loses)."""
    if at_most < 0:
        return None
    return codec._plan_size_of_counts(counts, index_symbol_bits(book_size), at_most)


def _codebook_candidates(found: Scan, numel: int, gaps: GapPlan | None, dtype: DType, beat: int) -> list[_Candidate]:
    """The ``codebook`` and ``sparse`` candidates, each left out where it is larger than
    `beat` bytes."""
    positions, values = found.positions, found.values
    nnz = positions.size
    zeros = numel - nnz
    book_and_indices = find_codebook(values) if nnz else (values[:0], values[:0].astype(np.uint16))
    if book_and_indices is None:
        return []
    book, indices = book_and_indices
    counts = np.bincount(indices, minlength=book.size) if nnz else np.zeros(0, np.int64)
    out = []
    dense_size = book.size + (1 if zeros else 0)
    if dense_size <= limits.MAX_CODEBOOK_SIZE:
        dense_counts = np.concatenate([[zeros], counts]) if zeros else counts
        coded = _index_size(dense_counts, dense_size, beat - dense_size * dtype.itemsize)
        if coded is not None:
            out.append(_Candidate(dense_size * dtype.itemsize + coded, "codebook",
                                  lambda: _encode_dense(book, indices, positions, numel)))
    if gaps is not None:
        coded = _index_size(counts, book.size, beat - book.size * dtype.itemsize - gaps.size)
        if coded is not None:
            out.append(_Candidate(book.size * dtype.itemsize + coded + gaps.size, "sparse",
                                  lambda: _encode_sparse(book, indices, positions, gaps)))
    return out


def _encode_dense(book: np.ndarray, indices: np.ndarray, positions: np.ndarray | None, numel: int) -> EncodedTensor:
    """`positions`: of the values `indices` index, None where they are every element."""
    if positions is not None and positions.size < numel:  # zero is the smallest bit pattern: prepending keeps the book sorted
        book = np.concatenate([np.zeros(1, book.dtype), book])
        all_indices = np.zeros(numel, dtype=np.uint16)
        all_indices[positions] = indices + 1
        indices = all_indices
    symbols = _index_symbols(indices, book.size)
    return EncodedTensor("codebook", {"codebook": _value_bytes(book), "indices": codec.huffman_encode(symbols)})


def _encode_sparse(book: np.ndarray, indices: np.ndarray, positions: np.ndarray, gaps: GapPlan) -> EncodedTensor:
    entries = codec.relative_index_encode(positions, gaps.index_bits)
    return EncodedTensor(
        "sparse",
        {
            "codebook": _value_bytes(book),
            "indices": codec.huffman_encode(_index_symbols(indices, book.size)),
            "gaps": codec.huffman_encode(entries),
        },
        index_bits=gaps.index_bits,
    )


def _encode_sparse_raw(found: Scan, gaps: GapPlan) -> EncodedTensor:
    entries = codec.relative_index_encode(found.positions, gaps.index_bits)
    return EncodedTensor(
        "sparse_raw",
        {"values": _value_bytes(found.values), "gaps": codec.huffman_encode(entries)},
        index_bits=gaps.index_bits,
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
        parse_stream(entry, "indices", payloads["indices"], index_symbol_bits(book.size), entry.numel, book.size)
        return Facts(codebook_size=book.size)
    if entry.encoding == "sparse":
        book = decode_codebook(entry, dtype, payloads["codebook"])
        indices, _ = _sparse_streams(entry, book.size, payloads)
        return Facts(codebook_size=book.size, nnz=indices.count)
    if entry.encoding == "sparse_raw":
        values = _raw_values(entry, dtype, payloads["values"])
        _gaps_stream(entry, payloads["gaps"], values.size)
        return Facts(nnz=values.size)
    if entry.encoding == "planes":
        _plane_streams(entry, payloads["planes"])
    if entry.encoding == "zstd":
        zstd_frames.check_frame(payloads["frame"], entry.numel * dtype.itemsize, f"tensor {entry.name!r}")
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


def parse_stream(
    entry: TensorEntry, role: str, data: Payload, symbol_bits: int, max_count: int, alphabet: int
) -> codec.ParsedStream:
    """Parse a Huffman stream once, checking what the spec requires of it in this role:
    its symbol width (also when empty), a count of at most `max_count`, and every symbol
    of its code table below `alphabet` (unused ones included)."""
    try:
        parsed = codec.huffman_parse(data, max_symbols=max_count)
    except CodecError as exc:
        raise _fail(entry, f"{role} stream: {exc}") from exc
    if parsed.symbol_bits != symbol_bits:
        raise _fail(entry, f"{role} stream has {parsed.symbol_bits}-bit symbols, expected {symbol_bits}")
    if parsed.max_symbol >= alphabet:
        raise _fail(entry, f"{role} stream: symbol {parsed.max_symbol} out of range (at most {alphabet - 1})")
    return parsed


def _decode(entry: TensorEntry, role: str, parsed: codec.ParsedStream) -> np.ndarray:
    try:
        return parsed.decode()
    except CodecError as exc:
        raise _fail(entry, f"{role} stream: {exc}") from exc


def _symbol_bytes(parsed: codec.ParsedStream) -> int:
    """Bytes of the array a stream decodes to (what the budget must count)."""
    return parsed.count * parsed.symbol_bits // 8


def decode_dense(entry: TensorEntry, dtype: DType, payloads: dict[str, Payload], budget: DecodeBudget) -> np.ndarray:
    """Decode a ``codebook`` tensor (5.2) to a flat storage-dtype array."""
    book = decode_codebook(entry, dtype, payloads["codebook"])
    parsed = parse_stream(entry, "indices", payloads["indices"], index_symbol_bits(book.size), entry.numel, book.size)
    if parsed.count != entry.numel:
        raise _fail(entry, f"indices stream holds {parsed.count} symbols for {entry.numel} elements")
    if parsed.single_symbol is not None:  # never decoded: its count is not bounded by its bytes
        return np.full(entry.numel, book[parsed.single_symbol], dtype=book.dtype).view(dtype.storage)
    with budget.held(_symbol_bytes(parsed), f"tensor {entry.name!r}: indices"):
        indices = _decode(entry, "indices", parsed)
        try:
            out = codec.scatter(book, indices, None, entry.numel)
        except CodecError as exc:
            raise _fail(entry, str(exc)) from exc
    return out.view(dtype.storage)


def _filler(entry: TensorEntry) -> int:
    bits = entry.index_bits
    if bits is None or not limits.MIN_INDEX_BITS <= bits <= limits.MAX_INDEX_BITS:
        raise _fail(entry, f"index_bits {bits} outside 1..16")
    return (1 << bits) - 1


def _gaps_stream(entry: TensorEntry, data: Payload, nnz: int) -> codec.ParsedStream:
    """The gaps stream's header (5.4): its width, and nnz <= count <= nnz + numel // M + 1."""
    filler = _filler(entry)
    bound = nnz + entry.numel // filler + 1
    gaps = parse_stream(entry, "gaps", data, gap_symbol_bits(entry.index_bits or 0), bound, filler + 1)
    if gaps.count < nnz:
        raise _fail(entry, f"gaps stream holds {gaps.count} entries, expected {nnz}..{bound}")
    return gaps


def _sparse_streams(
    entry: TensorEntry, book_size: int, payloads: dict[str, Payload]
) -> tuple[codec.ParsedStream, codec.ParsedStream]:
    """Parse the sparse streams (5.3); return (indices, gaps)."""
    indices = parse_stream(entry, "indices", payloads["indices"], index_symbol_bits(book_size), entry.numel, book_size)
    return indices, _gaps_stream(entry, payloads["gaps"], indices.count)


def _positions(entry: TensorEntry, gaps: codec.ParsedStream, nnz: int, budget: DecodeBudget) -> np.ndarray | slice:
    """Where the non-zeros go (5.4): a slice when the gaps stream repeats one entry (never
    decoded: its count is not bounded by its bytes), else an int64 array."""
    filler = _filler(entry)
    if gaps.single_symbol is not None:
        gap = gaps.single_symbol
        if gap == filler:
            raise _fail(entry, "gaps stream ends with a filler")
        if gaps.count != nnz:
            raise _fail(entry, f"gaps stream places {gaps.count} non-zeros, expected {nnz}")
        if nnz * (gap + 1) > entry.numel:
            raise _fail(entry, f"relative index points past the tensor: {nnz} non-zeros every {gap + 1} "
                               f"in {entry.numel} elements")
        return slice(gap, nnz * (gap + 1), gap + 1)
    with budget.held(_symbol_bytes(gaps), f"tensor {entry.name!r}: gaps"):
        entries = _decode(entry, "gaps", gaps)
        if entries.size and int(entries[-1]) == filler:
            raise _fail(entry, "gaps stream ends with a filler")
        budget.reserve(8 * gaps.count, f"tensor {entry.name!r}: positions")
        try:
            positions = codec.relative_index_decode(entries, entry.index_bits or 0, entry.numel)
        except CodecError as exc:
            raise _fail(entry, str(exc)) from exc
        finally:
            budget.release(8 * gaps.count)
    if positions.size != nnz:
        raise _fail(entry, f"gaps stream places {positions.size} non-zeros, expected {nnz}")
    return positions


def decode_sparse(entry: TensorEntry, dtype: DType, payloads: dict[str, Payload], budget: DecodeBudget) -> np.ndarray:
    """Decode a ``sparse`` tensor (5.3, 5.4) to a flat storage-dtype array."""
    book = decode_codebook(entry, dtype, payloads["codebook"])
    indices, gaps = _sparse_streams(entry, book.size, payloads)
    if gaps.single_symbol is not None:
        where = _positions(entry, gaps, indices.count, budget)
        out = np.zeros(entry.numel, dtype=book.dtype)
        if indices.single_symbol is not None:
            out[where] = book[indices.single_symbol]
        else:
            with budget.held(_symbol_bytes(indices), f"tensor {entry.name!r}: indices"):
                out[where] = book[_decode(entry, "indices", indices)]
        return out.view(dtype.storage)
    with budget.held(_symbol_bytes(gaps), f"tensor {entry.name!r}: gaps"):
        entries = _decode(entry, "gaps", gaps)
        if entries.size and int(entries[-1]) == _filler(entry):
            raise _fail(entry, "gaps stream ends with a filler")
        with budget.held(_symbol_bytes(indices), f"tensor {entry.name!r}: indices"):
            if indices.single_symbol is None:
                symbols = _decode(entry, "indices", indices)
            else:  # one value: a one-entry codebook and zero indices
                book = book[indices.single_symbol : indices.single_symbol + 1]
                symbols = np.zeros(indices.count, dtype=np.uint8 if indices.symbol_bits == 8 else np.uint16)
            try:  # fused: places the entries' positions and checks their count and range
                out = codec.sparse_scatter(book, symbols, entries, entry.index_bits or 0, entry.numel)
            except CodecError as exc:
                raise _fail(entry, str(exc)) from exc
    return out.view(dtype.storage)


def _raw_values(entry: TensorEntry, dtype: DType, data: Payload) -> np.ndarray:
    """The values section of ``sparse_raw`` (5.5): nnz elements of the dtype."""
    if len(data) % dtype.itemsize:
        raise _fail(entry, f"values section of {len(data)} bytes is not a multiple of {dtype.itemsize}")
    nnz = len(data) // dtype.itemsize
    if nnz > entry.numel:
        raise _fail(entry, f"{nnz} values for {entry.numel} elements")
    return np.frombuffer(data, dtype=dtype.storage)


def decode_sparse_raw(
    entry: TensorEntry, dtype: DType, payloads: dict[str, Payload], budget: DecodeBudget
) -> np.ndarray:
    """Decode a ``sparse_raw`` tensor (5.5) to a flat storage-dtype array."""
    values = _raw_values(entry, dtype, payloads["values"])
    gaps = _gaps_stream(entry, payloads["gaps"], values.size)
    where = _positions(entry, gaps, values.size, budget)
    out = np.zeros(entry.numel, dtype=dtype.storage)
    out[where] = values
    _check_bool(entry, dtype, out)
    return out


def _check_bool(entry: TensorEntry, dtype: DType, array: np.ndarray) -> None:
    if dtype.name == "bool" and array.size and int(array.view(np.uint8).max()) > 1:
        raise _fail(entry, "bool element is neither 0x00 nor 0x01")


def decode_raw(entry: TensorEntry, dtype: DType, data: Payload) -> np.ndarray:
    """Check a ``raw`` section (5.1) and view it as a flat storage-dtype array."""
    expected = entry.numel * dtype.itemsize
    if len(data) != expected:
        raise _fail(entry, f"raw data of {len(data)} bytes, expected {expected}")
    # An ndarray payload is the reader's own buffer (or a view of a map): view, not copy.
    array = data.view(dtype.storage) if isinstance(data, np.ndarray) else np.frombuffer(data, dtype.storage)
    _check_bool(entry, dtype, array)
    return array


def decode_zstd(entry: TensorEntry, dtype: DType, data: Payload) -> np.ndarray:
    """Decode a ``zstd`` tensor (5.8, R29): its frame holds the raw bytes."""
    array = zstd_frames.decode(data, entry.numel * dtype.itemsize, f"tensor {entry.name!r}").view(dtype.storage)
    _check_bool(entry, dtype, array)
    return array


def check_planes_entry(entry: TensorEntry, dtype: DType) -> None:
    """The table checks of a ``planes`` tensor (5.7, R27): a floating dtype, one
    `plane_streams` entry per byte of the element, and a section that holds exactly the
    planes (a raw plane takes numel bytes, a coded one its stream's length)."""
    if not dtype.planes_ok:
        raise _fail(entry, f"encoding planes not allowed for {dtype.name}")
    streams = entry.plane_streams or ()
    if len(streams) != dtype.itemsize:
        raise _fail(entry, f"plane_streams has {len(streams)} entries, expected {dtype.itemsize}")
    expected = sum(n if n else entry.numel for n in streams)
    if entry.sections["planes"].length != expected:
        raise _fail(entry, f"planes section of {entry.sections['planes'].length} bytes, "
                           f"plane_streams give {expected}")


def _plane_streams(entry: TensorEntry, data: Payload) -> list[Payload | codec.ParsedStream]:
    """Each plane of the section (5.7): a raw plane's bytes, or its parsed stream, checked
    to hold numel 8-bit symbols (R28)."""
    out: list[Payload | codec.ParsedStream] = []
    start = 0
    for k, length in enumerate(entry.plane_streams or ()):
        stop = start + (length or entry.numel)
        if stop > len(data):  # checked with the table; a reader handed a short payload still fails cleanly
            raise _fail(entry, f"plane {k} runs past the planes section")
        if length == 0:
            out.append(data[start:stop])
        else:
            parsed = parse_stream(entry, f"plane {k}", data[start:stop], 8, entry.numel, 256)
            if parsed.count != entry.numel:
                raise _fail(entry, f"plane {k} stream holds {parsed.count} symbols for {entry.numel} elements")
            out.append(parsed)
        start = stop
    return out


def decode_planes(entry: TensorEntry, dtype: DType, payloads: dict[str, Payload], budget: DecodeBudget,
                  threads: int = 1) -> np.ndarray:
    """Decode a ``planes`` tensor (5.7): byte k of element j is byte j of plane k. The
    coded planes decode natively on up to `threads` threads, straight into the join."""
    check_planes_entry(entry, dtype)
    streams = _plane_streams(entry, payloads["planes"])
    planes = [p if isinstance(p, (codec.ParsedStream, np.ndarray)) else np.frombuffer(p, dtype=np.uint8) for p in streams]
    # raw planes are read in place, and the first coded one decodes into the output itself
    buffers = max(0, sum(isinstance(plane, codec.ParsedStream) for plane in planes) - 1)
    with budget.held(entry.numel * buffers, f"tensor {entry.name!r}: {buffers} decoded plane buffer(s)"):
        try:
            joined = codec.planes_decode(planes, entry.numel, threads=threads)
        except CodecError as exc:
            raise _fail(entry, str(exc)) from exc
    return joined.view(dtype.storage)


def decode_tensor(
    entry: TensorEntry, dtype: DType, payloads: dict[str, Payload], budget: DecodeBudget, threads: int = 1
) -> np.ndarray:
    """Decode any non-alias tensor to a flat array of its storage dtype.

    The output is already counted by the caller; intermediates are held in `budget`
    while they live. A planes tensor decodes on up to `threads` threads.
    """
    if entry.encoding == "raw":
        return decode_raw(entry, dtype, payloads["data"])
    if entry.encoding == "codebook":
        return decode_dense(entry, dtype, payloads, budget)
    if entry.encoding == "sparse_raw":
        return decode_sparse_raw(entry, dtype, payloads, budget)
    if entry.encoding == "planes":
        return decode_planes(entry, dtype, payloads, budget, threads)
    if entry.encoding == "zstd":
        return decode_zstd(entry, dtype, payloads["frame"])
    return decode_sparse(entry, dtype, payloads, budget)

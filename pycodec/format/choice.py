"""Which encodings can win for a tensor, decided from cheap statistics (issue 12, item 2).

Sizing the ``codebook`` and ``sparse`` encodings exactly needs a hashing pass over the
tensor, the gap planning and the encoder's planner on up to 65,536 symbols: far more
than coding a dense float tensor's planes. So the writer first looks at numbers that cost
a small fraction of encoding:

* the exact non-zero count (one vectorized pass);
* the bit patterns of every element of 1 or 2 bytes, or of about :data:`SAMPLE` evenly
  spaced elements of 4 or 8 bytes: their byte histograms (which size ``planes`` with the
  encoder's planner), and their distinct non-zero values and those values' entropy.

From them it bounds what ``sparse_raw`` and the codebook family (``codebook``, ``sparse``)
can reach, and only where a bound is no larger than the best of ``planes`` and ``raw`` are
all candidates sized exactly (:func:`needs_exact_sizing`). Pruned and weight-shared
tensors get there; dense trained weights (all values distinct, few zeros) do not.

The bounds:

* ``sparse_raw`` stores every non-zero raw: never below ``nnz * itemsize`` bytes.
* A codebook of D non-zero values whose nnz non-zeros carry H bits of entropy each is
  never below ``D * (itemsize + 1.5) + nnz * H / 8`` bytes: its values, its code table
  (a varint and a 4-bit length per symbol), and a payload no Huffman code makes shorter
  than the entropy (a dense ``codebook`` also codes its zeros, ``sparse`` adds gaps).

When the statistics cover the whole tensor (every tensor of 1 or 2-byte elements, and
tensors of up to ``2 * SAMPLE - 1`` elements) the bounds are true ones and the choice is
the one that sizing every candidate gives. For a sampled tensor D and H are the sample's,
on average lower than the tensor's, so the bound errs on the side of sizing; and a sample
whose non-zeros are more than :data:`DISTINCT_GATE` distinct is taken to come from a
tensor with more than the 65,536 values a codebook may hold. Before counting a sample of
4- or 8-byte elements, a first look at :data:`FIRST_LOOK` of them rules the codebook
family out when all differ (all of a tensor that short: then every value is distinct and
a codebook, storing each, is larger than raw).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pycodec import _core, codec
from pycodec.format import limits
from pycodec.format.dtypes import DType

#: Elements of 4 or 8 bytes are sampled evenly: step ``numel // SAMPLE``, so 16,384 to
#: 32,767 of them (byte entropies of 256-symbol planes are within about 1% from that many).
#: Elements of 1 or 2 bytes are all looked at: one count over their 256 or 65,536 bit
#: patterns gives both the planes' exact histograms and the codebook's.
SAMPLE = 1 << 14
#: Above this share of distinct values among 16,384 or more sampled non-zeros, the tensor
#: is taken to have more than 65,536 distinct values: drawing 16,384 times from at most
#: 65,536 values gives at most 88.5% distinct ones on average.
DISTINCT_GATE = 0.95
#: A Huffman code table lists each used symbol: at least one varint byte and a 4-bit length.
TABLE_BYTES_PER_SYMBOL = 1.5
#: 2-byte elements are counted over all 65,536 patterns from this many on (else hashed):
#: hashing 12,288 of them took 80-490 us in a save, the count of all patterns 30-60.
_COUNT_FROM = 1 << 12
#: A first look at this many evenly spaced elements of a 4- or 8-byte sample: when all
#: are distinct, the codebook family is ruled out without counting the whole sample. Had
#: the tensor at most 65,536 values, 2048 draws from them would all differ with
#: probability below e^-32; trained weights' draws differ (their bit patterns rarely
#: repeat), weight-shared and pruned tensors' collide at once. The zstd probe's gate
#: looks at sampled 8-byte words the same way (:func:`zstd_frames.repeats`).
FIRST_LOOK = 2048
#: Bytes of float rounding the bound may carry; ties go to exact sizing.
_SLACK = 1.0


@dataclass(frozen=True)
class Statistics:
    """What the choice knows about a tensor before encoding it."""

    numel: int
    nnz: int
    planes: list[int] | None  # each plane's planned stream size, numel where stored raw (planes_ok only)
    codebook_bound: float | None  # lower bound of codebook / sparse; None where they cannot apply
    #: occurrences of every bit pattern (index = pattern), where every element was counted
    #: and they were kept (:func:`pattern_counts` gives them either way)
    pattern_counts: np.ndarray | None = None
    sampled: bool = False  # from a sample of the elements, not all of them
    counted: bool = False  # every element's bit pattern was counted (1 or 2-byte elements)
    #: the planes encoder's own counts of these elements, where counting the patterns made
    #: them (1-byte elements): it does not count them again
    plane_counts: _core.PlaneCounts | None = None

    def planes_size(self, header_bytes: int) -> int | None:
        """The ``planes`` encoding's planned size."""
        if self.planes is None:
            return None
        return sum(self.planes) + header_bytes  # a plane not worth coding counts at numel


def sample(flat: np.ndarray, dtype: DType) -> np.ndarray:
    """The bit patterns the statistics look at: every element of 1 or 2 bytes, else about
    :data:`SAMPLE` evenly spaced elements (all of a small tensor)."""
    bits = flat.view(dtype.bits_dtype)
    return np.ascontiguousarray(bits[::flat.size // SAMPLE]) if is_sampled(flat.size, dtype) else bits


def is_sampled(numel: int, dtype: DType) -> bool:
    """Whether :func:`statistics` looks at a sample of the elements, not all of them."""
    return dtype.itemsize > 2 and numel // SAMPLE > 1


def _pattern_counts(bits: np.ndarray) -> np.ndarray:
    """Occurrences of every 8- or 16-bit pattern (index = pattern), uint64."""
    return codec.histogram_counts(bits)


def plane_histograms(bits: np.ndarray, byte_patterns: np.ndarray | None = None) -> np.ndarray:
    """The (itemsize, 256) byte histograms of the planes (byte k of every element,
    little-endian) of `bits`: the counts of 1-byte elements' patterns when given, else one
    256-bin count per plane."""
    return codec.plane_histograms(bits) if byte_patterns is None else byte_patterns.reshape(1, 256)


def plan_planes(histograms: np.ndarray, numel: int, scale: float = 1.0) -> list[int]:
    """Each plane's Huffman stream size for its byte counts scaled by `scale` (a sample's to
    the whole tensor), by the encoder's own planner; a plane not worth coding (W5) is
    reported at its raw size, `numel` (one whose entropy alone rules it out is not even
    planned)."""
    return codec.plan_plane_sizes(histograms, numel, scale=scale)


def all_distinct_at_first_look(values: np.ndarray, step: int = 1) -> bool:
    """Whether :data:`FIRST_LOOK` evenly spaced elements of ``values[::step]`` (all of a
    shorter one) are all distinct; read in place, stopping at the first repeat."""
    sampled = -(-values.size // step)
    return codec.all_distinct(values, step=step * max(1, sampled // FIRST_LOOK))


def codebook_bound(counts: np.ndarray, sampled: bool, nnz: int, itemsize: int) -> float | None:
    """A lower bound (estimated when `sampled`) of the codebook family's size from the
    counts of the distinct non-zero values, or None when they are too many for a codebook."""
    return _bound(*codec.count_entropy(counts), sampled, nnz, itemsize)


def values_bound(bits: np.ndarray, sampled: bool, nnz: int, itemsize: int, limit: int | None = None) -> float | None:
    """:func:`codebook_bound` of the non-zero values among `bits` (bit patterns), counted
    natively; None also where more than `limit` of them are distinct."""
    found = codec.value_entropy(bits, skip_zero=True, limit=limit)
    return None if found is None else _bound(*found, sampled, nnz, itemsize)


def _bound(distinct: int, seen: int, entropy: float, sampled: bool, nnz: int, itemsize: int) -> float | None:
    """:func:`codebook_bound` from the distinct non-zero values' count, occurrences and
    entropy (bits per occurrence)."""
    if distinct > limits.MAX_CODEBOOK_SIZE:
        return None
    if sampled and seen >= SAMPLE and distinct > DISTINCT_GATE * seen:
        return None
    if distinct <= 1:
        return float(distinct * itemsize)
    return distinct * (itemsize + TABLE_BYTES_PER_SYMBOL) + nnz * entropy / 8


def statistics(flat: np.ndarray, dtype: DType, *, planes_ok: bool) -> Statistics:
    """The non-zero count, the planes' estimated sizes (when `planes_ok`) and the codebook
    family's bound."""
    bits = sample(flat, dtype)
    # 2-byte elements: a count of all 65,536 patterns where it is cheaper than hashing
    if dtype.itemsize == 2 and bits.size >= _COUNT_FROM and (planes_ok or dtype.codebook_ok):
        return _pattern_statistics(bits, dtype, planes_ok=planes_ok)
    full = bits.size == flat.size
    # 1-byte elements: their 256 pattern counts are the plane's histogram and the codebook's,
    # counted per segment of the planes encoder where it may code them
    counted = codec._count_planes(bits) if dtype.itemsize == 1 and planes_ok else None
    patterns = (counted.histograms[0].sum(axis=0) if counted is not None
                else _pattern_counts(bits) if dtype.itemsize == 1 and dtype.codebook_ok else None)
    # every element counted: the zeros are pattern 0, no second pass
    nnz = flat.size - int(patterns[0]) if patterns is not None else int(np.count_nonzero(flat.view(dtype.bits_dtype)))
    planes = bound = None
    if planes_ok:
        planes = plan_planes(plane_histograms(bits, patterns), flat.size, flat.size / bits.size)
    if dtype.codebook_ok and patterns is not None:
        bound = codebook_bound(patterns[1:], not full, nnz, dtype.itemsize)
    elif dtype.codebook_ok and not all_distinct_at_first_look(bits):
        bound = values_bound(bits, not full, nnz, dtype.itemsize)
    return Statistics(flat.size, nnz, planes, bound, patterns if full else None, not full,
                      counted=patterns is not None and full, plane_counts=counted)


def _pattern_statistics(bits: np.ndarray, dtype: DType, *, planes_ok: bool) -> Statistics:
    """:func:`statistics` of 2-byte elements from one native pass over all of them (their
    65,536 pattern counts are not kept: :func:`pattern_counts` makes them where needed)."""
    found = codec.pattern_statistics(bits)
    nnz = bits.size - found.zeros
    planes = plan_planes(found.plane_histograms, bits.size) if planes_ok else None
    bound = (_bound(found.distinct, found.nonzero, found.entropy, False, nnz, dtype.itemsize)
             if dtype.codebook_ok else None)
    return Statistics(bits.size, nnz, planes, bound, None, False, counted=True)


def pattern_counts(stats: Statistics, flat: np.ndarray, dtype: DType) -> np.ndarray | None:
    """Occurrences of every bit pattern of a tensor whose statistics counted every element
    (1 or 2-byte elements), else None."""
    if stats.pattern_counts is not None or not stats.counted:
        return stats.pattern_counts
    return _pattern_counts(flat.view(dtype.bits_dtype))


def exact_codebook_bound(flat: np.ndarray, dtype: DType, nnz: int) -> float | None:
    """The codebook family's bound from every element's value, not a sample's (a true
    lower bound); None past the 65,536 values a codebook may hold."""
    return values_bound(flat.view(dtype.bits_dtype), False, nnz, dtype.itemsize, limits.MAX_CODEBOOK_SIZE)


def lower_bound(stats: Statistics, dtype: DType, best: int) -> float:
    """The fewest bytes exact sizing could find, given `best` bytes already in hand: the
    bounds of ``sparse_raw`` and the codebook family."""
    floor = float(best)
    if 0 < stats.nnz < stats.numel:
        floor = min(floor, stats.nnz * dtype.itemsize)
    if stats.codebook_bound is not None:
        floor = min(floor, stats.codebook_bound)
    return floor


def sparse_family_bound(stats: Statistics, dtype: DType, bits: np.ndarray) -> float:
    """A lower bound of ``sparse`` and ``sparse_raw`` (infinite without zeros): their
    non-zeros (raw, or the codebook bound) plus their gap stream. With fewer zeros than
    non-zeros, not all of them at the end, the gaps cannot all be equal, so their stream
    holds two symbols or more: at least one bit for each of its `nnz` or more entries.
    `bits`: the tensor's bit patterns."""
    zeros = stats.numel - stats.nnz
    if stats.nnz == 0 or zeros == 0:
        return float("inf")
    trailing = int(np.count_nonzero(bits[:stats.nnz])) == stats.nnz
    gaps = stats.nnz / 8 if zeros < stats.nnz - 1 and not trailing else 0.0
    values = float(stats.nnz * dtype.itemsize)
    if stats.codebook_bound is not None:
        values = min(values, stats.codebook_bound)
    return values + gaps


def needs_exact_sizing(stats: Statistics, dtype: DType, planes_bytes: int | None) -> bool:
    """Whether ``sparse_raw``, ``codebook`` or ``sparse`` could beat the best of ``planes``
    (`planes_bytes`) and ``raw``; if not, they are neither sized nor encoded."""
    best = stats.numel * dtype.itemsize
    if planes_bytes is not None:
        best = min(best, planes_bytes)
    if 0 < stats.nnz < stats.numel and stats.nnz * dtype.itemsize <= best:
        return True
    return stats.codebook_bound is not None and stats.codebook_bound <= best + _SLACK

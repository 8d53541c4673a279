"""The ``zstd`` encoding (spec 5.8): a tensor's raw bytes as one Zstandard frame.

Huffman coding of values or byte planes sees each element on its own; a tensor built
from repeated sequences (a Fourier basis, a table of shifted or repeated rows) is far
smaller under LZ77 matching. Such tensors are rare among trained weights, so the writer
does not try every tensor in full: a fast *probe* compresses a sample of at most
:data:`PROBE_BYTES` and only a tensor whose sample shrinks well below the best other
candidate is compressed in full (:func:`worth_trying`); a tensor of at most twice the
sample is compressed in full at once.

Reading checks the frame header first (one frame, declared content size equal to the
tensor's bytes, no dictionary: R29), so the output size is known and counted before
anything is decoded; decoding stops at that size.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import zstandard

from pycodec import codec
from pycodec.errors import MalformedFileError
from pycodec.format.choice import all_distinct_at_first_look

#: Tensors smaller than this are not probed: a frame's header and block headers take a
#: dozen bytes, and matches in a few KiB rarely beat a Huffman code of the values.
MIN_BYTES = 4096
#: The probe compresses up to this many bytes: the whole tensor, or evenly spaced chunks
#: (matches in a float table can be a few rows apart: a Fourier basis's rows are 1 KiB).
PROBE_BYTES = 1 << 18
PROBE_CHUNKS = 4
#: A tensor up to this size is framed at once, not probed: a frame costs about twice a
#: probe of the same bytes, and the probe would read half of it or more (a Fourier basis
#: of 258 KiB: probe 0.85-0.97 ms, then the frame 1.64 ms).
FRAME_AT_ONCE_BYTES = 2 * PROBE_BYTES
#: A float tensor is probed only when a sample of its aligned 8-byte words holds repeats:
#: below this share of distinct words. Trained weights have none: every sampled word was
#: distinct in every tensor of 4 third-party models in float32, bfloat16, float16 and
#: float8, while a Fourier basis's float32 words were 93% distinct.
REPEAT_GATE = 0.99
#: 4,096 words: a 93%-distinct tensor shows about 290 repeats there, against the 41 the
#: gate allows; hashing 16,384 of them took up to 1 ms in a save (a table of 768 KB).
REPEAT_SAMPLE = 1 << 12
#: A full encode is tried only when the probe's ratio is below this share of the best
#: other candidate's: the probe sees a sample with the fastest matching, so near ties
#: (integer weights whose entropy a Huffman code of the literals already takes) would
#: often pay a full encode for nothing.
PROBE_MARGIN = 0.9
#: Frames are made at zstd's level 3 with 4-byte matches (its default there is 5): the
#: matches of a float32 table are whole elements. Measured on a Fourier basis: 41.6% of
#: raw at 150 MB/s, against 36.7% at 70 MB/s (level 6) and 22.6% at 3-5 MB/s (level 19),
#: too slow for a save that should stay near ``torch.save``'s time.
LEVEL, MIN_MATCH = 3, 4
#: W6: windows of at most 8 MiB, what RFC 8878 asks every decoder to support.
WINDOW_LOG = 23

_probe_params = zstandard.ZstdCompressionParameters(
    strategy=zstandard.STRATEGY_FAST, window_log=17, hash_log=15, min_match=5, target_length=0)
_local = threading.local()


def _probe_compressor() -> zstandard.ZstdCompressor:
    """One probe compressor per thread (a compressor is not safe to share)."""
    compressor = getattr(_local, "probe", None)
    if compressor is None:
        compressor = _local.probe = zstandard.ZstdCompressor(compression_params=_probe_params)
    return compressor


def _sample(data: memoryview) -> memoryview | bytes:
    """The whole of a small tensor's bytes, else :data:`PROBE_CHUNKS` evenly spaced chunks."""
    if len(data) <= PROBE_BYTES:
        return data
    chunk = PROBE_BYTES // PROBE_CHUNKS
    starts = (i * (len(data) - chunk) // (PROBE_CHUNKS - 1) for i in range(PROBE_CHUNKS))  # first to last byte
    return b"".join(data[start:start + chunk] for start in starts)


def probe_ratio(data: memoryview) -> float:
    """Compressed over original size of the fast probe on a sample of `data`."""
    sample = _sample(data)
    return len(_probe_compressor().compress(sample)) / len(sample)


def repeats(data: np.ndarray) -> bool:
    """Whether about :data:`REPEAT_SAMPLE` evenly spaced aligned 8-byte words of `data`
    (uint8) hold fewer than :data:`REPEAT_GATE` distinct ones (one hashing pass)."""
    words = data[:data.size // 8 * 8].view(np.uint64)
    step = max(1, words.size // REPEAT_SAMPLE)
    if words.size < 2:
        return False
    # a first look at 2048 of them: trained weights' words never repeat, while a Fourier
    # basis's first 2048 words in float32, bfloat16, float16 and float8 each held repeats
    if all_distinct_at_first_look(words, step):
        return False
    sample = np.ascontiguousarray(words[::step])
    return codec.value_counts(sample).size < REPEAT_GATE * sample.size


@dataclass(frozen=True)
class Probe:
    """What probing found: an estimate of a frame's size from a sample, or, for a tensor
    of at most :data:`FRAME_AT_ONCE_BYTES`, the frame itself (`frame`, of `size` bytes)."""

    size: float
    frame: bytes | None = None
    #: the codebook family's exact bound (:func:`pycodec.format.choice.exact_codebook_bound`)
    #: where the prober counted it beside the frame (`bound_counted`)
    codebook_bound: float | None = None
    bound_counted: bool = False


def worth_probing(data: np.ndarray, *, floats: bool) -> bool:
    """The probe's cheap gate: a float tensor is probed only when it :func:`repeats`;
    other dtypes have no entropy coder but this one, so are always probed."""
    return data.size >= MIN_BYTES and (not floats or repeats(data))


def probe(data: np.ndarray, *, floats: bool, gated: bool = False) -> Probe | None:
    """The fast probe's estimate of a frame of `data` (uint8); None where not
    :func:`worth_probing` (not asked again when `gated`: the caller has). A tensor of at
    most :data:`FRAME_AT_ONCE_BYTES` is framed instead."""
    if not gated and not worth_probing(data, floats=floats):
        return None
    if data.size <= FRAME_AT_ONCE_BYTES:
        frame = encode(memoryview(data))
        return Probe(len(frame), frame)
    return Probe(probe_ratio(memoryview(data)) * data.size)


def worth_trying(found: Probe | None, best_other: float) -> bool:
    """Whether a ``zstd`` frame may beat `best_other` bytes (the best other candidate, raw
    included): a frame in hand when smaller, an estimate when below :data:`PROBE_MARGIN`
    of it."""
    if found is None:
        return False
    return found.size < (best_other if found.frame is not None else PROBE_MARGIN * best_other)


def encode(data: memoryview) -> bytes:
    """One frame of `data` with its content size, no checksum and no dictionary ID."""
    window_log = zstandard.ZstdCompressionParameters.from_level(LEVEL, source_size=len(data)).window_log
    params = zstandard.ZstdCompressionParameters.from_level(
        LEVEL, source_size=len(data), window_log=min(WINDOW_LOG, window_log), min_match=MIN_MATCH,
        write_content_size=1, write_checksum=0, write_dict_id=0)
    return zstandard.ZstdCompressor(compression_params=params).compress(data)


def check_frame(frame: bytes | memoryview | np.ndarray, expected: int, where: str) -> None:
    """R29 checks that need only the frame header: a frame (not a skippable one) declaring
    `expected` content bytes and no dictionary."""
    head = bytes(memoryview(frame)[:18])  # the longest frame header
    if len(head) < 4 or head[:4] != b"\x28\xb5\x2f\xfd":
        raise MalformedFileError(f"{where}: not a Zstandard frame")
    try:
        params = zstandard.get_frame_parameters(head)
    except zstandard.ZstdError as exc:
        raise MalformedFileError(f"{where}: bad Zstandard frame header ({exc})") from exc
    if params.content_size == zstandard.CONTENTSIZE_UNKNOWN:
        raise MalformedFileError(f"{where}: Zstandard frame without a content size")
    if params.content_size != expected:
        raise MalformedFileError(f"{where}: Zstandard frame of {params.content_size} bytes, expected {expected}")
    if params.dict_id != 0:
        raise MalformedFileError(f"{where}: Zstandard frame names dictionary {params.dict_id}")


def decode(frame: bytes | memoryview | np.ndarray, expected: int, where: str) -> np.ndarray:
    """The `expected` bytes one checked frame holds, as a read-only uint8 array."""
    check_frame(frame, expected, where)
    # One-shot decoding writes into an output of the declared size (checked above), so a
    # large declared window costs no memory; the cap only refuses nonsense windows.
    decompressor = zstandard.ZstdDecompressor(max_window_size=1 << 31)
    try:
        data = decompressor.decompress(memoryview(frame), allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise MalformedFileError(f"{where}: corrupt Zstandard frame ({exc})") from exc
    if len(data) != expected:  # the library checks the declared size; a second guard costs nothing
        raise MalformedFileError(f"{where}: Zstandard frame decoded to {len(data)} bytes, expected {expected}")
    return np.frombuffer(data, np.uint8)

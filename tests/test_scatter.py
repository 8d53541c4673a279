"""Scatter and gather of codebook values, by bit pattern."""

from __future__ import annotations

import numpy as np
import pytest

from pycodec import codec
from pycodec.errors import CodecError, CorruptStreamError


def special_float32_codebook() -> np.ndarray:
    bits = np.array([0x7FC00001, 0xFFC12345, 0x7F800000, 0xFF800000, 0x80000000, 0x3F800000], np.uint32)
    return bits.view(np.float32)  # NaN payloads, +-inf, -0.0, 1.0


@pytest.mark.parametrize(
    "codebook",
    [
        special_float32_codebook(),
        np.array([np.nan, -0.0, 1.5, -2.25], np.float16),
        np.array([0x7FC1, 0x8000, 0x3F80, 0xC040], np.uint16),  # bfloat16 bit patterns
        np.array([1.0, -0.0, np.inf], np.float64),
    ],
)
def test_scatter_preserves_bit_patterns(codebook):
    rng = np.random.default_rng(0)
    numel = 5000
    positions = np.flatnonzero(rng.random(numel) < 0.1)
    indices = rng.integers(0, codebook.size, positions.size).astype(np.uint8)
    dense = codec.scatter(codebook, indices, positions, numel)
    expected = np.zeros(numel, codebook.dtype)
    expected[positions] = codebook[indices]
    assert dense.dtype == codebook.dtype
    assert dense.tobytes() == expected.tobytes()
    entries = codec.relative_index_encode(positions, 4)
    assert codec.sparse_scatter(codebook, indices, entries, 4, numel).tobytes() == expected.tobytes()


def test_gather_dense_codebook_tensor():
    codebook = special_float32_codebook()
    indices = np.random.default_rng(1).integers(0, codebook.size, 1000).astype(np.uint16)
    assert codec.scatter(codebook, indices, None, 1000).tobytes() == codebook[indices].tobytes()


def test_index_out_of_codebook_range():
    with pytest.raises(CorruptStreamError, match="out of range"):
        codec.scatter(np.zeros(4, np.float32), np.array([4], np.uint8), np.array([0]), 10)
    with pytest.raises(CorruptStreamError, match="out of range"):
        codec.scatter(np.zeros(4, np.float32), np.array([9], np.uint8), None, 1)


def test_position_out_of_range():
    with pytest.raises(CorruptStreamError, match="outside"):
        codec.scatter(np.zeros(4, np.float32), np.array([1], np.uint8), np.array([10]), 10)


def test_sparse_scatter_count_mismatches():
    book = np.ones(2, np.float32)
    with pytest.raises(CorruptStreamError, match="more relative-index entries"):
        codec.sparse_scatter(book, np.array([0], np.uint8), np.array([0, 0], np.uint8), 4, 10)
    with pytest.raises(CorruptStreamError, match="left without a position"):
        codec.sparse_scatter(book, np.array([0, 1], np.uint8), np.array([0], np.uint8), 4, 10)
    with pytest.raises(CorruptStreamError, match="more codebook indices than"):
        codec.sparse_scatter(book, np.zeros(11, np.uint8), np.zeros(11, np.uint8), 4, 10)


def test_bad_codebook_and_index_types():
    with pytest.raises(CodecError):
        codec.scatter(np.zeros(2, np.float32), np.array([0], np.int32), None, 1)
    with pytest.raises(CodecError):
        codec.scatter(np.zeros(2, np.complex128), np.array([0], np.uint8), None, 1)

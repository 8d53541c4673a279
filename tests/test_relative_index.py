"""Relative-index (gap) coding with filler entries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycodec import codec
from pycodec.errors import CodecError, CorruptStreamError


def roundtrip(positions, bits: int, numel: int) -> np.ndarray:
    entries = codec.relative_index_encode(positions, bits)
    assert entries.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert entries.max(initial=0) <= 2**bits - 1
    np.testing.assert_array_equal(codec.relative_index_decode(entries, bits, numel), positions)
    return entries


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    numel=st.integers(0, 50_000),
    density=st.floats(0.0, 1.0),
    bits=st.integers(1, 16),
)
def test_roundtrip(seed, numel, density, bits):
    rng = np.random.default_rng(seed)
    positions = np.flatnonzero(rng.random(numel) < density)
    roundtrip(positions, bits, numel)


@pytest.mark.parametrize("bits", [1, 3, 5, 8, 16])
def test_gap_of_exactly_max_needs_one_filler(bits):
    m = 2**bits - 1
    # p0 = m: m zeros before it -> one filler, then 0
    entries = roundtrip(np.array([m]), bits, m + 1)
    assert entries.tolist() == [m, 0]
    # gap of m - 1 zeros fits without a filler
    assert roundtrip(np.array([m - 1]), bits, m).tolist() == [m - 1]


@pytest.mark.parametrize("bits", [1, 3, 5, 8, 16])
def test_gap_of_two_to_the_bits(bits):
    m = 2**bits - 1
    entries = roundtrip(np.array([0, m + 2]), bits, m + 3)  # m + 1 zeros between
    assert entries.tolist() == [0] + [m] * ((m + 1) // m) + [(m + 1) % m]


def test_paper_example_three_bit_gaps():
    # Deep Compression Fig. 2 style: a gap of 8 zeros with 3-bit entries needs a filler
    assert roundtrip(np.array([1, 4, 13]), 3, 16).tolist() == [1, 2, 7, 1]


def test_all_zero_and_all_nonzero_tensors():
    assert roundtrip(np.zeros(0, np.int64), 5, 1000).size == 0
    entries = roundtrip(np.arange(1000), 5, 1000)
    assert (entries == 0).all()


def test_encoder_rejects_unsorted_negative_or_float_positions():
    with pytest.raises(CodecError, match="increasing"):
        codec.relative_index_encode(np.array([3, 3]), 4)
    with pytest.raises(CodecError, match="increasing"):
        codec.relative_index_encode(np.array([5, 2]), 4)
    with pytest.raises(CodecError, match="non-negative"):
        codec.relative_index_encode(np.array([-1, 2]), 4)
    with pytest.raises(CodecError):
        codec.relative_index_encode(np.array([1.0]), 4)
    with pytest.raises(CodecError):
        codec.relative_index_encode(np.array([1]), 17)


def test_decoder_rejects_entries_above_the_filler():
    with pytest.raises(CorruptStreamError, match="exceeds"):
        codec.relative_index_decode(np.array([40], np.uint8), 5, 100)


def test_decoder_rejects_positions_past_numel():
    with pytest.raises(CorruptStreamError, match="past"):
        codec.relative_index_decode(np.array([0, 9], np.uint8), 5, 10)
    with pytest.raises(CorruptStreamError, match="past the tensor"):
        codec.relative_index_decode(np.array([31, 31, 31, 31], np.uint8), 5, 100)

"""Huffman coding: round trips, optimality against bitarray, length limits, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycodec import codec
from pycodec.errors import CodecError

bitarray_util = pytest.importorskip("bitarray.util")


def roundtrip(symbols: np.ndarray, **kwargs) -> bytes:
    data = codec.huffman_encode(symbols, **kwargs)
    decoded = codec.huffman_decode(data)
    assert decoded.dtype == symbols.dtype
    np.testing.assert_array_equal(decoded, symbols)
    return data


def optimal_total_bits(symbols: np.ndarray) -> tuple[int, int]:
    """Total bits and longest code of an unlimited optimal Huffman code (bitarray)."""
    values, counts = np.unique(symbols, return_counts=True)
    code = bitarray_util.huffman_code(dict(zip(values.tolist(), counts.tolist())))
    lengths = {s: len(c) for s, c in code.items()}
    return sum(lengths[v] * c for v, c in zip(values.tolist(), counts.tolist())), max(lengths.values())


def payload_bits(symbols: np.ndarray, max_code_length: int = codec.DEFAULT_MAX_CODE_LENGTH) -> int:
    """Coded bits (without padding) of symbols under our length-limited code."""
    counts = np.bincount(symbols.astype(np.int64), minlength=256 if symbols.dtype == np.uint8 else 65536)
    lengths = codec.code_lengths(counts, max_code_length).astype(np.int64)
    return int((counts * lengths).sum())


distributions = st.sampled_from(["uniform", "geometric", "zipf", "two-point"])


def draw_symbols(seed: int, n: int, alphabet: int, shape: str, dtype) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if shape == "uniform":
        x = rng.integers(0, alphabet, n)
    elif shape == "geometric":
        x = np.minimum(rng.geometric(0.3, n) - 1, alphabet - 1)
    elif shape == "zipf":
        x = np.minimum(rng.zipf(1.5, n) - 1, alphabet - 1)
    else:
        x = np.where(rng.random(n) < 0.999, 0, alphabet - 1)
    return x.astype(dtype)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 20000),
    alphabet=st.sampled_from([1, 2, 3, 17, 256, 4000, 65536]),
    shape=distributions,
    wide=st.booleans(),
)
def test_roundtrip_random_distributions(seed, n, alphabet, shape, wide):
    if alphabet > 256 and not wide:
        alphabet = 256
    symbols = draw_symbols(seed, n, alphabet, shape, np.uint16 if wide else np.uint8)
    roundtrip(symbols)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 30000),
    alphabet=st.sampled_from([2, 5, 32, 200]),
    shape=distributions,
)
def test_total_bits_match_optimal_huffman_when_limit_does_not_bind(seed, n, alphabet, shape):
    symbols = draw_symbols(seed, n, alphabet, shape, np.uint8)
    if len(np.unique(symbols)) < 2:
        return
    optimal, longest = optimal_total_bits(symbols)
    limit = codec.DEFAULT_MAX_CODE_LENGTH
    if longest <= limit:
        assert payload_bits(symbols, limit) == optimal
    else:
        assert payload_bits(symbols, limit) >= optimal
    if longest <= codec.MAX_CODE_LENGTH:
        assert payload_bits(symbols, codec.MAX_CODE_LENGTH) == optimal


def test_encoded_size_is_payload_plus_small_header():
    symbols = draw_symbols(7, 100_000, 32, "geometric", np.uint8)
    data = roundtrip(symbols)
    info = codec.huffman_stream_info(data)
    assert info.count == symbols.size and info.streams == 4
    # each substream pads to a byte
    assert info.payload_bytes <= payload_bits(symbols) // 8 + info.streams
    assert info.header_bytes < 60


def test_empty_input():
    for dtype in (np.uint8, np.uint16):
        data = roundtrip(np.zeros(0, dtype))
        assert len(data) == 2


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_single_repeated_symbol_costs_a_few_bytes(dtype):
    symbols = np.full(10_000_000, 200, dtype)
    data = roundtrip(symbols)
    assert len(data) <= 8
    assert codec.huffman_stream_info(data).distinct == 1


def test_every_symbol_distinct():
    roundtrip(np.arange(256, dtype=np.uint8))
    roundtrip(np.random.default_rng(0).permutation(65536).astype(np.uint16))


def test_full_16_bit_alphabet():
    rng = np.random.default_rng(1)
    symbols = np.concatenate([np.arange(65536), rng.integers(0, 300, 200_000)]).astype(np.uint16)
    data = roundtrip(symbols)
    assert codec.huffman_stream_info(data).max_code_length == 16


@pytest.mark.parametrize("count", [1, 2, 700, 65_535, 65_536, 200_000])
@pytest.mark.parametrize("largest", [1, 259, 65_535])
def test_16_bit_streams_counted_up_to_their_largest_symbol_or_all(count: int, largest: int):
    """A 16-bit stream of fewer than 65,536 symbols is counted over 0..its largest symbol
    only, a longer one over all 65,536: the code and the bytes are the same either way."""
    rng = np.random.default_rng(count + largest)
    symbols = rng.integers(0, largest + 1, count).astype(np.uint16)
    symbols[rng.integers(0, count)] = largest
    data = roundtrip(symbols)
    counts = np.bincount(symbols, minlength=65_536)
    planned = codec.huffman_plan_size(counts, 16)
    assert planned == codec.huffman_plan_size(counts[:largest + 1], 16)
    assert abs(len(data) - planned) <= codec.huffman_stream_info(data).streams  # a byte of padding each


def test_16_bit_streams_coded_one_after_another_on_a_thread_match_fresh_ones():
    """A thread keeps its 16-bit code table between streams and puts back only the entries
    a code wrote: coding a code over every symbol in between changes no byte."""
    rng = np.random.default_rng(3)
    narrow = rng.integers(0, 300, 5000).astype(np.uint16)
    first = codec.huffman_encode(narrow)
    codec.huffman_encode(np.concatenate([np.arange(65536), rng.integers(0, 50, 9000)]).astype(np.uint16))
    assert codec.huffman_encode(narrow) == first
    assert np.array_equal(codec.huffman_decode(first, max_symbols=5000), narrow)


def test_code_table_grows_with_symbols_used_not_alphabet():
    rng = np.random.default_rng(2)
    used = np.array([3, 999, 20000, 40000, 65535], np.uint16)
    symbols = used[rng.integers(0, len(used), 1000)]
    data = roundtrip(symbols)
    assert codec.huffman_stream_info(data).header_bytes < 24


def fibonacci_counts(n: int) -> np.ndarray:
    counts = [1, 1]
    while len(counts) < n:
        counts.append(counts[-1] + counts[-2])
    return np.array(counts, np.uint64)


@pytest.mark.parametrize("limit", [5, 8, 11, 16])
def test_fibonacci_counts_force_the_length_limit(limit):
    counts = fibonacci_counts(30)
    lengths = codec.code_lengths(counts, limit)
    assert lengths.max() == limit
    assert np.sum(2.0 ** -lengths.astype(float)) == 1.0  # complete code
    symbols = np.repeat(np.arange(30, dtype=np.uint8), np.minimum(counts, 5000).astype(np.int64))
    data = roundtrip(symbols, max_code_length=limit)
    assert codec.huffman_stream_info(data).max_code_length <= limit


def test_limit_is_raised_to_cover_every_used_symbol():
    lengths = codec.code_lengths(np.ones(300, np.uint64), 4)
    assert lengths.max() == 9 and np.sum(2.0 ** -lengths.astype(float)) == 1.0


def test_length_limit_costs_little_on_skewed_data():
    symbols = draw_symbols(3, 200_000, 32, "zipf", np.uint8)
    optimal, _ = optimal_total_bits(symbols)
    assert payload_bits(symbols, 11) <= optimal * 1.005


@pytest.mark.parametrize(
    "bad",
    [
        np.array([1.0, 2.0]),
        np.array([-1, 2], np.int16),
        np.array([1, 2], np.int32),
        np.array([1, 2], np.uint32),
        np.array([True, False]),
        [1, 2, 3],
    ],
)
def test_encoder_rejects_anything_but_uint8_uint16(bad):
    with pytest.raises(CodecError):
        codec.huffman_encode(bad)


def test_encoder_rejects_bad_length_limit():
    with pytest.raises(CodecError):
        codec.huffman_encode(np.zeros(3, np.uint8), max_code_length=17)


def test_multidimensional_and_noncontiguous_inputs_are_flattened():
    grid = np.arange(64, dtype=np.uint8).reshape(8, 8)[:, ::2]
    np.testing.assert_array_equal(codec.huffman_decode(codec.huffman_encode(grid)), grid.ravel())


def test_low_level_pieces_compose():
    symbols = draw_symbols(4, 5000, 40, "geometric", np.uint16)
    code = codec.build_code(symbols)
    table = codec.serialize_code(code)
    parsed, consumed = codec.parse_code(table + b"tail", 16)
    assert consumed == len(table)
    np.testing.assert_array_equal(parsed.symbols, code.symbols)
    np.testing.assert_array_equal(parsed.lengths, code.lengths)
    packed = codec.encode_with_code(symbols, parsed)
    np.testing.assert_array_equal(codec.decode_with_code(packed, parsed, symbols.size), symbols)


def test_encode_with_code_rejects_symbols_without_a_code():
    code = codec.build_code(np.array([1, 2, 2], np.uint8))
    with pytest.raises(CodecError, match="no code"):
        codec.encode_with_code(np.array([1, 3], np.uint8), code)


def test_lone_symbol_code_roundtrips_at_low_level():
    code = codec.build_code(np.array([9, 9, 9], np.uint8))
    packed = codec.encode_with_code(np.full(20, 9, np.uint8), code)
    assert packed == bytes(3)
    np.testing.assert_array_equal(codec.decode_with_code(packed, code, 20), np.full(20, 9, np.uint8))


def test_concurrent_calls_share_no_state():
    from concurrent.futures import ThreadPoolExecutor

    streams = [draw_symbols(seed, 50_000, 40, "geometric", np.uint8) for seed in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        encoded = list(pool.map(codec.huffman_encode, streams))
        decoded = list(pool.map(codec.huffman_decode, encoded))
    for original, data, result in zip(streams, encoded, decoded, strict=True):
        assert data == codec.huffman_encode(original)
        np.testing.assert_array_equal(result, original)

"""The core's fast Huffman decode paths against a bit-by-bit reference decoder.

The core decodes with multi-symbol lookup tables: 8-byte entries (up to 6 uint8 or 3
uint16 symbols per lookup) or compact 4-byte ones (up to 2 uint8 symbols), as wide as
the longest code (at least 11 bits) or, for streams of 2**16 symbols and more, 12 bits,
whichever a cost model expects to decode fastest; four substreams interleaved (an
assembly loop on x86-64 with BMI2), then a symbol-at-a-time tail. These tests reach
every one of those paths with codes of every maximum length 1..16, uint8 and uint16
alphabets, streams ending at every bit offset, and corrupt streams.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import varint
from hypothesis import given, settings
from hypothesis import strategies as st

from pycodec import codec
from pycodec.errors import CorruptStreamError

WIDE_TABLE_SYMBOLS = 1 << 16  # streams from here may get a 12-bit table


class Rejected(Exception):
    """The reference decoder refuses the bits (overrun, unused bytes, padding, bad code)."""


def canonical_codewords(code: codec.HuffmanCode) -> dict[tuple[int, int], int]:
    """{(length, codeword): symbol}, assigned as RFC 1951 3.2.2 does."""
    order = sorted(zip(code.lengths.tolist(), code.symbols.tolist()))
    words, value, previous = {}, 0, order[0][0]
    for length, symbol in order:
        value <<= length - previous
        words[(length, value)] = symbol
        value, previous = value + 1, length
    return words


def reference_decode(data: bytes, code: codec.HuffmanCode, count: int) -> np.ndarray:
    """Decode `count` symbols bit by bit, enforcing the substream rules of the spec."""
    words = canonical_codewords(code)
    longest = int(code.lengths.max())
    bits = np.unpackbits(np.frombuffer(data, np.uint8)).tolist()
    out, pos = [], 0
    for _ in range(count):
        value, length = 0, 0
        while True:
            if pos >= len(bits):
                raise Rejected("codes run past the end")
            value, length, pos = (value << 1) | bits[pos], length + 1, pos + 1
            if (length, value) in words:
                out.append(words[(length, value)])
                break
            if length == longest:
                raise Rejected("no such code")
    if (pos + 7) // 8 != len(data):
        raise Rejected("unused trailing bytes")
    if any(bits[pos:]):
        raise Rejected("non-zero padding")
    return np.array(out, np.uint16 if code.symbol_bits == 16 else np.uint8)


def code_with_max_length(max_length: int, symbol_bits: int, seed: int) -> codec.HuffmanCode:
    """A complete code whose longest codeword is exactly `max_length` bits: lengths
    1, 2, ..., max_length - 1, max_length, max_length on random distinct symbols, with
    some branches split further so that several lengths repeat."""
    rng = np.random.default_rng(seed)
    lengths = list(range(1, max_length)) + [max_length, max_length] if max_length > 1 else [1, 1]
    # split random codewords shorter than max_length into two of one bit more
    for _ in range(int(rng.integers(0, 40))):
        i = int(rng.integers(0, len(lengths)))
        if lengths[i] < max_length:
            lengths[i] += 1
            lengths.append(lengths[i])
    alphabet = 1 << symbol_bits
    if len(lengths) > alphabet:
        lengths = sorted(lengths)[:2] if max_length == 1 else lengths[: alphabet]
    symbols = np.sort(rng.choice(alphabet, size=len(lengths), replace=False)).astype(np.uint16)
    code = codec.HuffmanCode(symbol_bits, symbols, np.array(rng.permutation(lengths), np.uint8))
    codec.serialize_code(code)  # validates: complete, in range
    return code


def draw(code: codec.HuffmanCode, n: int, seed: int) -> np.ndarray:
    """n symbols of the code, each codeword equally likely (long codes as often as short)."""
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if code.symbol_bits == 16 else np.uint8
    return code.symbols[rng.integers(0, code.symbols.size, n)].astype(dtype)


def coded_bits(code: codec.HuffmanCode, symbols: np.ndarray) -> int:
    length_of = dict(zip(code.symbols.tolist(), code.lengths.tolist()))
    return sum(length_of[s] for s in symbols.tolist())


def uniform(alphabet: int, n: int, seed: int, dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, alphabet, n).astype(dtype)


def laplace(entropy: float, n: int, seed: int) -> np.ndarray:
    scale = 2.0 ** (entropy - 2.4)  # about `entropy` bits once rounded
    return np.clip(np.rint(np.random.default_rng(seed).laplace(128, scale, n)), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------- one substream, every length


@pytest.mark.parametrize("symbol_bits", [8, 16])
@pytest.mark.parametrize("max_length", range(1, 17))
def test_every_code_length_decodes_as_the_reference(max_length, symbol_bits):
    code = code_with_max_length(max_length, symbol_bits, seed=max_length * 31 + symbol_bits)
    for n in (0, 1, 2, 7, 33, 150, 400):
        symbols = draw(code, n, seed=n)
        data = codec.encode_with_code(symbols, code)
        expected = reference_decode(data, code, n)
        np.testing.assert_array_equal(expected, symbols)
        np.testing.assert_array_equal(codec.decode_with_code(data, code, n), expected)


@pytest.mark.parametrize("max_length", [2, 5, 11, 16])
def test_streams_ending_at_every_bit_offset(max_length):
    code = code_with_max_length(max_length, 8, seed=max_length)
    lengths_gcd = math.gcd(*code.lengths.tolist())
    offsets = set()
    for n in range(0, 120):
        symbols = draw(code, n, seed=1000 + n)
        data = codec.encode_with_code(symbols, code)
        offsets.add(coded_bits(code, symbols) % 8)
        np.testing.assert_array_equal(codec.decode_with_code(data, code, n), reference_decode(data, code, n))
    assert offsets == {k * lengths_gcd % 8 for k in range(8)}  # every offset the code can reach


@pytest.mark.parametrize("alphabet", [1, 2, 3, 31, 32, 64, 255, 256, 257, 4096, 65535, 65536])
def test_alphabets_from_1_to_65536(alphabet):
    symbol_bits = 8 if alphabet <= 256 else 16
    rng = np.random.default_rng(alphabet)
    dtype = np.uint8 if symbol_bits == 8 else np.uint16
    values = rng.integers(0, alphabet, 3000)
    symbols = np.concatenate([np.arange(alphabet), values]).astype(dtype)  # every symbol used
    code = codec.build_code(symbols, max_code_length=16)
    n = min(symbols.size, 4000)
    data = codec.encode_with_code(symbols[:n], code)
    np.testing.assert_array_equal(codec.decode_with_code(data, code, n), reference_decode(data, code, n))


# ----------------------------------------------------------------- corrupt input


@settings(max_examples=150, deadline=None)
@given(
    max_length=st.integers(1, 16),
    wide=st.booleans(),
    n=st.integers(0, 200),
    data=st.binary(min_size=0, max_size=120),
)
def test_random_bytes_decode_exactly_when_the_reference_accepts_them(max_length, wide, n, data):
    code = code_with_max_length(max_length, 16 if wide else 8, seed=max_length)
    try:
        expected = reference_decode(data, code, n)
    except Rejected:
        with pytest.raises(CorruptStreamError):
            codec.decode_with_code(data, code, n)
        return
    np.testing.assert_array_equal(codec.decode_with_code(data, code, n), expected)


@pytest.mark.parametrize("max_length", [3, 8, 11, 16])
def test_truncated_padded_and_extended_streams_are_rejected(max_length):
    code = code_with_max_length(max_length, 8, seed=7)
    symbols = draw(code, 500, seed=7)
    data = codec.encode_with_code(symbols, code)
    for cut in range(1, min(len(data), 40)):
        with pytest.raises(CorruptStreamError):
            codec.decode_with_code(data[:-cut], code, symbols.size)
    with pytest.raises(CorruptStreamError):
        codec.decode_with_code(data + b"\x00", code, symbols.size)
    try:  # one symbol more: valid only where the padding bits spell a code
        reference_decode(data, code, symbols.size + 1)
    except Rejected:
        with pytest.raises(CorruptStreamError):
            codec.decode_with_code(data, code, symbols.size + 1)
    pad = (8 - coded_bits(code, symbols) % 8) % 8
    if pad:
        bad = data[:-1] + bytes([data[-1] | 1])
        with pytest.raises(CorruptStreamError):
            codec.decode_with_code(bad, code, symbols.size)


# ----------------------------------------------------------------- whole streams, the wide table


@pytest.mark.parametrize("max_length", [1, 2, 4, 6, 9, 11, 12, 16])
def test_long_streams_round_trip_with_every_table(max_length):
    code = code_with_max_length(max_length, 8, seed=max_length + 100)
    symbols = draw(code, WIDE_TABLE_SYMBOLS + 12345, seed=max_length)
    stream = codec.huffman_encode(symbols, max_code_length=16)
    np.testing.assert_array_equal(codec.huffman_decode(stream), symbols)


@pytest.mark.parametrize("entropy", [3.0, 4.0, 5.0, 5.5, 6.0, 7.9])
def test_laplace_streams_round_trip(entropy):
    symbols = laplace(entropy, WIDE_TABLE_SYMBOLS * 2, int(entropy * 10))
    np.testing.assert_array_equal(codec.huffman_decode(codec.huffman_encode(symbols)), symbols)


def readvarint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        value, shift, pos = value | (byte & 0x7F) << shift, shift + 7, pos + 1
        if not byte & 0x80:
            return value, pos


def substreams(stream: bytes) -> tuple[codec.HuffmanCode, list[tuple[bytes, int]]]:
    """A Huffman-mode stream's code and its (substream bytes, symbol count) pairs."""
    count, pos = readvarint(stream, 1)
    code, used = codec.parse_code(stream[pos:], 8)
    pos += used
    k = stream[pos]
    sizes = []
    pos += 1
    for _ in range(k - 1):
        size, pos = readvarint(stream, pos)
        sizes.append(size)
    sizes.append(len(stream) - pos - sum(sizes))
    segment = -(-count // k)
    out = []
    for i, size in enumerate(sizes):
        out.append((stream[pos : pos + size], max(0, min(count, segment * (i + 1)) - segment * i)))
        pos += size
    return code, out


def test_long_stream_bit_flips_raise_or_decode_like_each_substream_alone():
    """A corrupted long stream: the 4-lane, wide-table decode raises exactly when one of
    its substreams, decoded alone on the narrow one-lane path, does, and otherwise gives
    the same symbols."""
    rng = np.random.default_rng(5)
    symbols = np.clip(np.rint(rng.laplace(128, 8, WIDE_TABLE_SYMBOLS * 2)), 0, 255).astype(np.uint8)
    stream = codec.huffman_encode(symbols)
    header = codec.huffman_stream_info(stream).header_bytes
    code, parts = substreams(stream)
    assert len(parts) == 4
    for _ in range(24):
        bad = bytearray(stream)
        bad[int(rng.integers(header, len(stream)))] ^= 1 << int(rng.integers(0, 8))
        bad = bytes(bad)
        try:
            alone = np.concatenate([codec.decode_with_code(data, code, n) for data, n in substreams(bad)[1]])
        except CorruptStreamError:
            with pytest.raises(CorruptStreamError):
                codec.huffman_decode(bad)
            continue
        np.testing.assert_array_equal(codec.huffman_decode(bad), alone)


# ----------------------------------------------------------------- each table layout


LAYOUT_STREAMS = {
    # 5-bit codes: an 11-bit window holds 2, as does a 12-bit one (with fewer per refill)
    (11, 4): lambda: uniform(32, WIDE_TABLE_SYMBOLS * 2, 1),
    # 6-bit codes: only a 12-bit window holds 2
    (12, 4): lambda: uniform(64, WIDE_TABLE_SYMBOLS * 2, 2),
    # ~3 bits of entropy over codes of 1..11 bits: 3 per 11-bit window, 8-byte entries
    (11, 8): lambda: laplace(3.0, WIDE_TABLE_SYMBOLS * 2, 3),
    # uint16 symbols: always 8-byte entries
    (12, 8): lambda: uniform(64, WIDE_TABLE_SYMBOLS * 2, 4, np.uint16),
}


@pytest.mark.parametrize("layout", sorted(LAYOUT_STREAMS))
def test_each_table_layout_is_chosen_and_decodes_with_corruption_caught(layout):
    """Every table layout the 4-lane loop runs on: the stream round-trips, and bit flips
    raise or decode exactly as each substream decoded alone on the one-lane path does."""
    symbols = LAYOUT_STREAMS[layout]()
    stream = codec.huffman_encode(symbols)
    assert codec.huffman_parse(stream).decode_table == layout
    np.testing.assert_array_equal(codec.huffman_decode(stream), symbols)
    if symbols.dtype != np.uint8:
        return  # substreams() reads uint8 code tables
    rng = np.random.default_rng(layout[0] * layout[1])
    header = codec.huffman_stream_info(stream).header_bytes
    for _ in range(12):
        bad = bytearray(stream)
        bad[int(rng.integers(header, len(stream)))] ^= 1 << int(rng.integers(0, 8))
        bad = bytes(bad)
        code, parts = substreams(bad)
        try:
            alone = np.concatenate([codec.decode_with_code(data, code, n) for data, n in parts])
        except CorruptStreamError:
            with pytest.raises(CorruptStreamError):
                codec.huffman_decode(bad)
            continue
        np.testing.assert_array_equal(codec.huffman_decode(bad), alone)


def test_short_streams_get_the_narrowest_table_and_lone_symbols_none():
    assert codec.huffman_parse(codec.huffman_encode(uniform(64, 5000, 5))).decode_table[0] == 11
    assert codec.huffman_parse(codec.huffman_encode(np.full(5000, 7, np.uint8))).decode_table is None


# ----------------------------------------------------------------- any substream count


def stream_with_substreams(symbols: np.ndarray, k: int) -> bytes:
    """A Huffman-mode stream of `k` substreams, laid out as spec/huffman-stream.md says
    (the core's encoder writes 1 or 4; another writer may choose any K in 1..8)."""
    code = codec.build_code(symbols)
    segment = -(-symbols.size // k)
    parts = [codec.encode_with_code(symbols[i * segment:(i + 1) * segment], code) for i in range(k)]
    flags = 0x08 | (1 if symbols.dtype == np.uint16 else 0)  # mode 2 (Huffman), symbol width
    sizes = b"".join(varint(len(p)) for p in parts[:-1])
    return bytes([flags]) + varint(symbols.size) + codec.serialize_code(code) + bytes([k]) + sizes + b"".join(parts)


@pytest.mark.parametrize("k", range(1, 9))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_every_substream_count_decodes_through_the_lane_groups(k, dtype):
    """K = 8 runs two 4-lane groups, K = 6 a group and a pair, K = 3 a pair and a lane..."""
    symbols = laplace(5.0, 3 * WIDE_TABLE_SYMBOLS + 17, k).astype(dtype)
    stream = stream_with_substreams(symbols, k)
    assert codec.huffman_stream_info(stream).streams == k
    np.testing.assert_array_equal(codec.huffman_decode(stream), symbols)
    cut = stream[:-1]  # the last substream one byte short
    with pytest.raises(CorruptStreamError):
        codec.huffman_decode(cut)

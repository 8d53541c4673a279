"""The Huffman stream against hostile input: every malformation raises, nothing crashes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import varint
from hypothesis import given, settings
from hypothesis import strategies as st

from pycodec import codec
from pycodec.errors import CodecError, CorruptStreamError, LimitExceededError


# ----------------------------------------------------------------- reference decoder


class SpecReject(Exception):
    """The reference decoder refuses the stream (spec/huffman-stream.md says MUST reject)."""


def _spec_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos >= len(data):
            raise SpecReject("varint runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i and byte == 0:
                raise SpecReject("varint not minimal")
            if value >= 1 << 64:
                raise SpecReject("varint overflows 64 bits")
            return value, pos
    raise SpecReject("varint longer than 10 bytes")


def spec_decode(data: bytes, max_symbols: int = codec.DEFAULT_MAX_SYMBOLS) -> np.ndarray:
    """spec/huffman-stream.md read literally, in Python and bit by bit: an oracle for the core."""
    if not data:
        raise SpecReject("empty")
    flags = data[0]
    mode, width_code = (flags >> 2) & 3, flags & 3
    if flags & 0xF0 or width_code > 1 or mode == 3:
        raise SpecReject("reserved flags")
    width = 16 if width_code else 8
    dtype = np.uint16 if width == 16 else np.uint8
    count, pos = _spec_varint(data, 1)
    if mode == 0:
        if count != 0 or pos != len(data):
            raise SpecReject("empty mode")
        return np.zeros(0, dtype)
    if mode == 1:
        size = width // 8
        if count < 1 or len(data) - pos != size:
            raise SpecReject("single-symbol mode")
        if count > max_symbols:
            raise SpecReject("over max_symbols")
        return np.full(count, int.from_bytes(data[pos:], "little"), dtype)
    n, pos = _spec_varint(data, pos)
    if not 1 <= n <= 1 << width or pos >= len(data):
        raise SpecReject("code table size")
    max_len = data[pos]
    pos += 1
    symbols: list[int] = []
    for i in range(n):
        delta, pos = _spec_varint(data, pos)
        symbols.append(delta if i == 0 else symbols[-1] + 1 + delta)
        if symbols[-1] >= 1 << width:
            raise SpecReject("symbol outside the alphabet")
    packed = data[pos : pos + (n + 1) // 2]
    pos += (n + 1) // 2
    if len(packed) != (n + 1) // 2:
        raise SpecReject("truncated lengths")
    lengths = [((packed[i // 2] >> (4 * (i & 1))) & 0xF) + 1 for i in range(n)]
    if n & 1 and packed[-1] >> 4:
        raise SpecReject("code table padding nibble")
    if not 1 <= max_len <= 16 or max(lengths) != max_len:
        raise SpecReject("L_max")
    if n < 2 or sum(1 << (16 - length) for length in lengths) != 1 << 16:
        raise SpecReject("not a complete prefix code")
    if pos >= len(data) or not 1 <= data[pos] <= 8:
        raise SpecReject("substream count")
    k = data[pos]
    pos += 1
    sizes = []
    for _ in range(k - 1):
        size, pos = _spec_varint(data, pos)
        sizes.append(size)
    if sum(sizes) > len(data) - pos:
        raise SpecReject("substream sizes exceed the bytes")
    sizes.append(len(data) - pos - sum(sizes))
    table, code = {}, -1
    previous = 0
    for i in sorted(range(n), key=lambda i: (lengths[i], symbols[i])):
        code = (code + 1) << (lengths[i] - previous)
        previous = lengths[i]
        table["{:0{}b}".format(code, lengths[i])] = symbols[i]
    segment = -(-count // k)
    out: list[int] = []
    for i in range(k):
        bits = "".join(f"{byte:08b}" for byte in data[pos : pos + sizes[i]])
        pos += sizes[i]
        at = 0
        for _ in range(min((i + 1) * segment, count) - min(i * segment, count)):
            end = at + 1
            while bits[at:end] not in table:
                if end >= len(bits):
                    raise SpecReject("substream overruns")
                end += 1
            out.append(table[bits[at:end]])
            at = end
        if -(-at // 8) != len(bits) // 8 or "1" in bits[at:]:
            raise SpecReject("substream size or padding")
    return np.array(out, dtype)


def assert_agrees_with_spec(data: bytes) -> np.ndarray | None:
    """The core and the reference accept the same streams and decode them identically."""
    try:
        expected = spec_decode(data)
    except SpecReject as why:
        with pytest.raises(CorruptStreamError):
            codec.huffman_decode(data)
            pytest.fail(f"the core accepts a stream the spec rejects ({why}): {data.hex()}")
        return None
    decoded = codec.huffman_decode(data)
    assert decoded.dtype == expected.dtype
    np.testing.assert_array_equal(decoded, expected)
    return decoded


@pytest.fixture(scope="module")
def stream() -> bytes:
    rng = np.random.default_rng(0)
    return codec.huffman_encode(rng.geometric(0.3, 5000).clip(0, 40).astype(np.uint8))


def test_truncation_at_every_offset_raises(stream):
    for cut in range(len(stream)):
        with pytest.raises(CorruptStreamError):
            codec.huffman_decode(stream[:cut])


def test_trailing_bytes_raise(stream):
    with pytest.raises(CorruptStreamError):
        codec.huffman_decode(stream + b"\x00")


def test_every_single_bit_flip_raises_or_decodes_safely(stream):
    original = codec.huffman_decode(stream)
    assert original.size == 5000
    header = codec.huffman_stream_info(stream).header_bytes
    decoded_some = 0
    for offset in range(len(stream)):
        for bit in (0, 3, 7):
            damaged = bytearray(stream)
            damaged[offset] ^= 1 << bit
            try:
                decoded = codec.huffman_decode(bytes(damaged))
            except CorruptStreamError:
                continue
            decoded_some += 1
            # a flip can decode to other symbols, never to another count: a flipped count
            # cannot match the exact substream sizes
            assert decoded.size == original.size
            if offset == 0:  # the width bit: the same symbols, as 16-bit ones
                assert bit == 0 and decoded.dtype == np.uint16
                np.testing.assert_array_equal(decoded, original)
                continue
            assert decoded.dtype == original.dtype
            assert offset >= header or not np.array_equal(decoded, original)
            if offset < header + 8 or offset % 97 == 0:  # pure Python: a sample
                np.testing.assert_array_equal(decoded, spec_decode(bytes(damaged)))
    assert decoded_some > len(stream)  # most payload flips still decode


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_in_error_out(data):
    assert_agrees_with_spec(data)


@st.composite
def mutated_streams(draw) -> bytes:
    """A valid stream of a few symbols with some of its bytes replaced, cut or extended."""
    width = draw(st.sampled_from([np.uint8, np.uint16]))
    top = draw(st.sampled_from([1, 3, 20, 300 if width is np.uint16 else 255]))
    symbols = draw(st.lists(st.integers(0, top), max_size=80))
    data = bytearray(codec.huffman_encode(np.array(symbols, dtype=width)))
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.sampled_from([data[at] ^ 1 << draw(st.integers(0, 7)), draw(st.integers(0, 255))]))
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + bytearray(draw(st.binary(max_size=3)))
    return bytes(data)


@settings(max_examples=600, deadline=None)
@given(mutated_streams())
def test_mutated_streams_decode_as_the_spec_says(data):
    assert_agrees_with_spec(data)


@pytest.mark.parametrize("width", [np.uint8, np.uint16])
@pytest.mark.parametrize("size", [0, 1, 2, 7, 4095, 4096, 4099, 10_000])
def test_reference_decoder_reads_what_the_core_writes(width, size):
    rng = np.random.default_rng(size)
    symbols = rng.geometric(0.2, size).clip(0, 200).astype(width) * (3 if width is np.uint16 else 1)
    np.testing.assert_array_equal(assert_agrees_with_spec(codec.huffman_encode(symbols)), symbols)


@pytest.mark.parametrize("size", [32_767, 32_768, 40_001, 300_000])
@pytest.mark.parametrize("spread", [7, 100, 256])
def test_reference_decoder_reads_long_byte_streams(size, spread):
    """Streams of 32,768 byte symbols and more are coded two symbols a lookup (one pair table
    per stream, shared by its substreams) where the code's lengths allow: same stream."""
    rng = np.random.default_rng(size + spread)
    symbols = (rng.standard_normal(size) * spread / 6).astype(np.int64).clip(-128, 127).astype(np.int8).view(np.uint8)
    for max_length in (11, 12, 16):
        data = codec.huffman_encode(symbols, max_code_length=max_length)
        np.testing.assert_array_equal(assert_agrees_with_spec(data), symbols)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "truncated"),
        (bytes([0xF0, 0]), "reserved stream flag"),
        (bytes([0x02, 0]), "reserved symbol width"),
        (bytes([0x0C, 0]), "reserved stream mode"),
        (bytes([0x00, 1]), "empty-mode"),
        (bytes([0x04, 0, 7]), "at least 1 symbol"),
        (bytes([0x00]) + b"\xff" * 11, "varint"),
        (bytes([0x00]) + b"\xff" * 9 + b"\x7f", "overflows"),
        # Huffman mode, 2 symbols with lengths 1 and 2: not a complete code
        (bytes([0x08, 4, 2, 2, 0, 0, 0x10, 1, 0]), "complete prefix code"),
        # symbols not ascending: 5 then 5 + 1 + 0 is fine, but a width-8 symbol 300 is not
        (bytes([0x08, 4, 2, 1]) + varint(300) + bytes([0, 0, 1, 0]), "outside the alphabet"),
        # substream count 9
        (bytes([0x08, 4, 2, 1, 0, 0, 0x00, 9, 0]), "substream count"),
        # a substream size beyond the data
        (bytes([0x08, 4, 2, 1, 0, 0, 0x00, 2, 50, 0]), "exceed the bytes"),
        # 1000 symbols declared, 1 payload byte
        (bytes([0x08]) + varint(1000) + bytes([2, 1, 0, 0, 0x00, 1, 0]), "payload byte"),
    ],
)
def test_specific_malformations_name_the_problem(data, message):
    with pytest.raises(CorruptStreamError, match=message):
        codec.huffman_decode(data)


def test_single_symbol_stream_count_is_limited_before_allocating():
    huge = bytes([0x04]) + varint(2**40) + b"\x07"
    with pytest.raises(LimitExceededError, match="max_symbols"):
        codec.huffman_decode(huge)
    small = bytes([0x04]) + varint(1000) + b"\x07"
    with pytest.raises(LimitExceededError):
        codec.huffman_decode(small, max_symbols=999)
    np.testing.assert_array_equal(codec.huffman_decode(small, max_symbols=1000), np.full(1000, 7, np.uint8))


def test_nonzero_padding_is_rejected():
    data = bytearray(codec.huffman_encode(np.array([0, 1, 1], np.uint8)))  # 3 bits of payload
    data[-1] |= 0x01
    with pytest.raises(CorruptStreamError, match="padding"):
        codec.huffman_decode(bytes(data))


def test_overrunning_substream_is_rejected():
    # code lengths 1, 2, 2; 8 symbols declared; 0xFF holds only four 2-bit codes
    data = bytes([0x08]) + varint(8) + bytes([3, 2, 0, 0, 0, 0x10, 0x01, 1, 0xFF])
    with pytest.raises(CorruptStreamError, match="overruns"):
        codec.huffman_decode(data)


def test_decode_rejects_non_bytes():
    with pytest.raises(CodecError):
        codec.huffman_decode(12345)  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        codec.huffman_decode(b"", max_symbols=-1)


def test_stream_info_matches_the_encoding():
    symbols = np.random.default_rng(5).integers(0, 9, 10_000).astype(np.uint16)
    info = codec.huffman_stream_info(codec.huffman_encode(symbols))
    assert (info.symbol_bits, info.count, info.distinct, info.streams) == (16, 10_000, 9, 4)


# ----------------------------------------------------------------- code table padding nibble


def _odd_table_stream(width: type, padding: int) -> bytes:
    """Symbols [0, 1, 2, 0] of width 8 or 16, hand-built per spec/huffman-stream.md.

    The code table lists 3 symbols (an odd count) with code lengths 1, 2, 2: its lengths
    are the bytes 0x10 (low nibble: 1 - 1, high nibble: 2 - 1) and 0x01 | padding << 4,
    whose high nibble is the padding the spec requires to be 0. Canonical codes 0, 10,
    11, so the payload is 0 10 11 0 + two zero bits: 0x58.
    """
    flags = 0x08 | (1 if width is np.uint16 else 0)
    table = varint(3) + bytes([2, 0, 0, 0, 0x10, 0x01 | padding << 4])
    return bytes([flags]) + varint(4) + table + bytes([1, 0x58])


@pytest.mark.parametrize("width", [np.uint8, np.uint16])
def test_odd_code_table_with_zero_padding_nibble_decodes(width):
    data = _odd_table_stream(width, 0)
    assert data == codec.huffman_encode(np.array([0, 1, 2, 0], width))  # the layout is right
    decoded = codec.huffman_decode(data)
    assert decoded.dtype == width
    np.testing.assert_array_equal(decoded, [0, 1, 2, 0])


@pytest.mark.parametrize("width", [np.uint8, np.uint16])
@pytest.mark.parametrize("padding", range(1, 16))
def test_odd_code_table_with_nonzero_padding_nibble_is_rejected(width, padding):
    with pytest.raises(CorruptStreamError, match="padding nibble"):
        codec.huffman_decode(_odd_table_stream(width, padding))
    with pytest.raises(CorruptStreamError, match="padding nibble"):
        codec.huffman_stream_info(_odd_table_stream(width, padding))


def test_even_code_table_has_no_padding_nibble():
    # 4 symbols of length 2: two length bytes 0x11 0x11, every nibble a length
    data = codec.huffman_encode(np.array([0, 1, 2, 3], np.uint8))
    assert data == bytes([0x08, 4]) + varint(4) + bytes([2, 0, 0, 0, 0, 0x11, 0x11, 1, 0x1B])
    np.testing.assert_array_equal(codec.huffman_decode(data), [0, 1, 2, 3])

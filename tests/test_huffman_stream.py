"""The Huffman stream against hostile input: every malformation raises, nothing crashes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycodec import codec
from pycodec.errors import CodecError, CorruptStreamError, LimitExceededError


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


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
    for offset in range(len(stream)):
        for bit in (0, 3, 7):
            damaged = bytearray(stream)
            damaged[offset] ^= 1 << bit
            try:
                decoded = codec.huffman_decode(bytes(damaged))
            except CorruptStreamError:
                continue
            # a flip inside the payload can decode to other symbols; never to more of them
            assert decoded.size <= 8 * len(stream) and decoded.size >= 0
            assert decoded.dtype in (np.uint8, np.uint16)
    assert original.size == 5000


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_in_error_out(data):
    try:
        decoded = codec.huffman_decode(data)
    except CorruptStreamError:
        return
    assert decoded.size <= max(8 * len(data), codec.DEFAULT_MAX_SYMBOLS)


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

"""The native CRC-32 of the sections' checksums: zlib's, for every length, alignment and
starting value (the folding path from 64 bytes, the tables for the rest). codec.crc32
hands short bytes-like objects to zlib itself: the core is checked directly too."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycodec import _core, codec
from pycodec.errors import CodecError

DATA = np.random.default_rng(0).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()


@pytest.mark.parametrize("offset", [0, 1, 3, 8, 15])
def test_crc32_is_zlibs_at_every_length_around_the_folding_steps(offset: int) -> None:
    for n in [*range(0, 200), 255, 256, 1023, 4096, 16383, 16384, 16385, 65000]:
        piece = DATA[offset:offset + n]
        assert codec.crc32(piece) == zlib.crc32(piece), n
        assert _core.crc32(np.frombuffer(piece, np.uint8), 0) == zlib.crc32(piece), n


@given(st.binary(max_size=5000), st.integers(0, 0xFFFFFFFF))
@settings(max_examples=300, deadline=None)
def test_crc32_continues_from_any_value(data: bytes, value: int) -> None:
    assert codec.crc32(data, value) == zlib.crc32(data, value)
    assert _core.crc32(np.frombuffer(data, np.uint8), value) == zlib.crc32(data, value)


def test_crc32_of_a_split_buffer_is_the_crc_of_the_whole() -> None:
    head, tail = DATA[:777], DATA[777:]
    assert codec.crc32(tail, codec.crc32(head)) == zlib.crc32(DATA)


def test_crc32_reads_the_bytes_of_arrays_and_memoryviews() -> None:
    array = np.frombuffer(DATA, np.uint8)
    assert codec.crc32(array) == codec.crc32(memoryview(DATA)) == zlib.crc32(DATA)
    assert codec.crc32(array.view(np.uint32)) == zlib.crc32(DATA)  # any item size: its bytes
    assert codec.crc32(array[::2]) == zlib.crc32(array[::2].tobytes())  # strided: its C-order bytes
    short = memoryview(DATA[:400])
    assert codec.crc32(short.cast("I")) == codec.crc32(bytearray(short)) == zlib.crc32(short)
    assert codec.crc32(short[::3]) == zlib.crc32(short[::3].tobytes())  # not contiguous: copied
    with pytest.raises(CodecError, match="value"):
        codec.crc32(DATA, -1)
    with pytest.raises(CodecError, match="data"):
        codec.crc32("text")

"""A Huffman stream (spec/huffman-stream.md) as editable fields, and back to bytes.

The parser is lenient where the mutator needs it (it keeps whatever it could read) and
the builder writes exactly the fields it is given, recomputing substream sizes only when
asked, so a mutation can break one rule at a time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


def varint(value: int, min_bytes: int = 1) -> bytes:
    """LEB128; `min_bytes` > the minimal length gives an (allowed) overlong encoding."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        more = value or len(out) + 1 < min_bytes
        out.append(byte | (0x80 if more else 0))
        if not more:
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos >= len(data):
            raise ValueError("varint runs past the end")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, pos
    raise ValueError("varint longer than 10 bytes")


@dataclass
class StreamFields:
    flags: int
    count: int
    count_bytes: int = 1  # width of the count's varint (overlong when above minimal)
    symbol: int = 0  # mode 1
    symbols: list[int] = field(default_factory=list)  # mode 2 code table, ascending
    lengths: list[int] = field(default_factory=list)
    n_used: int | None = None  # None: len(symbols)
    max_length: int | None = None  # None: max(lengths)
    pad_nibble: int = 0
    k: int = 1
    sizes: list[int] | None = None  # None: recomputed from substreams
    substreams: list[bytes] = field(default_factory=list)
    trailing: bytes = b""

    @property
    def mode(self) -> int:
        return (self.flags >> 2) & 3

    @property
    def width(self) -> int:
        return 16 if self.flags & 1 else 8


def parse(data: bytes) -> StreamFields | None:
    """Fields of a well-formed-enough stream, or None."""
    try:
        return _parse(data)
    except (ValueError, IndexError, struct.error):
        return None


def _parse(data: bytes) -> StreamFields:
    flags = data[0]
    count, pos = read_varint(data, 1)
    fields = StreamFields(flags, count, count_bytes=pos - 1)
    if fields.mode == 1:
        size = 2 if fields.width == 16 else 1
        fields.symbol = int.from_bytes(data[pos : pos + size], "little")
        fields.trailing = data[pos + size :]
    elif fields.mode == 2:
        _parse_huffman(data, pos, fields)
    else:
        fields.trailing = data[pos:]
    return fields


def _parse_huffman(data: bytes, pos: int, fields: StreamFields) -> None:
    n_used, pos = read_varint(data, pos)
    if n_used > 65536:
        raise ValueError("too many symbols to edit")
    fields.max_length, pos = data[pos], pos + 1
    previous = -1
    for _ in range(n_used):
        delta, pos = read_varint(data, pos)
        previous += delta + 1
        fields.symbols.append(previous)
    packed = data[pos : pos + (n_used + 1) // 2]
    pos += (n_used + 1) // 2
    nibbles = [n for b in packed for n in (b & 0x0F, b >> 4)]
    fields.lengths = [n + 1 for n in nibbles[:n_used]]
    fields.pad_nibble = nibbles[-1] if n_used % 2 else 0
    fields.k, pos = data[pos], pos + 1
    sizes = []
    for _ in range(max(0, fields.k - 1)):
        size, pos = read_varint(data, pos)
        sizes.append(size)
    for size in sizes:
        fields.substreams.append(data[pos : pos + size])
        pos += size
    fields.substreams.append(data[pos:])


def build(fields: StreamFields) -> bytes:
    out = bytearray([fields.flags & 0xFF]) + varint(fields.count, fields.count_bytes)
    if fields.mode == 1:
        size = 2 if fields.width == 16 else 1
        out += (fields.symbol % (1 << (8 * size))).to_bytes(size, "little")
    elif fields.mode == 2:
        out += _build_huffman(fields)
    return bytes(out + fields.trailing)


def _build_huffman(fields: StreamFields) -> bytes:
    n_used = len(fields.symbols) if fields.n_used is None else fields.n_used
    max_length = max(fields.lengths, default=1) if fields.max_length is None else fields.max_length
    out = bytearray(varint(n_used)) + bytes([max_length & 0xFF])
    previous = -1
    for symbol in fields.symbols:
        out += varint(max(0, symbol - previous - 1))
        previous = symbol
    nibbles = [(length - 1) & 0x0F for length in fields.lengths]
    if len(nibbles) % 2:
        nibbles.append(fields.pad_nibble & 0x0F)
    out += bytes(nibbles[i] | (nibbles[i + 1] << 4) for i in range(0, len(nibbles), 2))
    out.append(fields.k & 0xFF)
    sizes = [len(s) for s in fields.substreams[:-1]] if fields.sizes is None else fields.sizes
    for size in sizes:
        out += varint(size)
    for substream in fields.substreams:
        out += substream
    return bytes(out)

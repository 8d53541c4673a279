"""A `.dcz` decoder written from spec/dcz.md and spec/huffman-stream.md alone.

It imports nothing from pycodec (numpy, json, struct and zlib; for the `zstd` encoding's
blocks the zstandard library, since RFC 8878's entropy stages are not worth re-deriving
here: the frame header checks of R29 are parsed from the RFC below), so it can serve as a
differential oracle: on any input it must accept or reject exactly when pycodec does, and
decode to the same bytes. It checks every MUST of the two documents it can check on a
whole file; it is written for clarity, not speed (streams are decoded symbol by symbol).

`decode_bytes` returns the metadata and, per tensor, (dtype, shape, element bytes);
anything that violates the spec raises `SpecReject`, the policy limit on decoded bytes
raises `SpecPolicyReject`.
"""

from __future__ import annotations

import json
import re
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"\x89DCZ\r\n\x1a\n"
HEADER_ZLIB = 0x0001
MUST_UNDERSTAND_MASK = 0x00FF
MAX_HEADER = 1 << 24
MAX_FILE = 1 << 48
MAX_TENSORS = 65536
MAX_METADATA = 4096
MAX_RANK = 16
MAX_DIM = 1 << 40
MAX_NUMEL = 1 << 40
MAX_CODEBOOK = 65536
DEFAULT_MAX_DECODED_BYTES = 1 << 36

# Section 4.5: dtype -> element size; the first four may use codebook encodings.
DTYPE_SIZES = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "float8_e4m3fn": 1, "float8_e4m3fnuz": 1, "float8_e5m2": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1,
    "int8": 1, "int16": 2, "int32": 4, "int64": 8,
    "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
    "bool": 1, "complex64": 8, "complex128": 16,
}  # fmt: skip
CODEBOOK_DTYPES = {"float64", "float32", "float16", "bfloat16"}
PLANES_DTYPES = {name for name in DTYPE_SIZES if name.startswith(("float", "bfloat"))}  # 4.4
SECTION_ROLES = {"raw": ("data",), "codebook": ("codebook", "indices"),
                 "sparse": ("codebook", "indices", "gaps"), "sparse_raw": ("values", "gaps"),
                 "planes": ("planes",), "zstd": ("frame",), "alias": ()}  # fmt: skip
EXTRA_MEMBERS = {"raw": {"data"}, "codebook": {"codebook", "indices"},
                 "sparse": {"codebook", "indices", "gaps", "index_bits"},
                 "sparse_raw": {"values", "gaps", "index_bits"}, "planes": {"planes", "plane_streams"},
                 "zstd": {"frame"}, "alias": {"alias_of"}}  # fmt: skip
MAX_DEPTH = 4  # dcz.md 4.1: object > array > object > object or array


class SpecReject(Exception):
    """The file violates a MUST of the specification."""


class SpecPolicyReject(SpecReject):
    """The file is valid as far as checked, but decodes to more than the policy limit."""


@dataclass(frozen=True)
class Decoded:
    dtype: str
    shape: tuple[int, ...]
    data: bytes


def require(condition: bool, why: str) -> None:
    if not condition:
        raise SpecReject(why)


# ----------------------------------------------------------------- huffman-stream.md


class Cursor:
    """Reads a byte string front to back; every read past the end is a rejection."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        require(self.pos < len(self.data), "stream ends early")
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n: int) -> bytes:
        require(self.pos + n <= len(self.data), "stream ends early")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def varint(self) -> int:
        """Unsigned LEB128: at most 10 bytes, value below 2^64."""
        value = 0
        for i in range(10):
            b = self.byte()
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                require(value < 1 << 64, "varint overflows 64 bits")
                require(i == 0 or b != 0, "varint is not minimal")
                return value
        raise SpecReject("varint longer than 10 bytes")

    def rest(self) -> bytes:
        return self.data[self.pos :]


@dataclass(frozen=True)
class StreamHead:
    mode: int
    width: int
    count: int


def read_stream_head(cur: Cursor) -> StreamHead:
    flags = cur.byte()
    require(flags & 0xF0 == 0, "reserved stream flag bits set")
    mode, width_code = (flags >> 2) & 3, flags & 3
    require(mode != 3, "reserved stream mode")
    require(width_code in (0, 1), "reserved symbol width")
    return StreamHead(mode, 8 if width_code == 0 else 16, cur.varint())


def read_code_table(cur: Cursor, width: int) -> tuple[list[int], list[int]]:
    """Symbols (ascending) and their code lengths; Kraft equality for two or more."""
    n_used = cur.varint()
    require(1 <= n_used <= 1 << width, "n_used outside 1..2^width")
    max_length = cur.byte()
    require(1 <= max_length <= 16, "L_max outside 1..16")
    symbols, previous = [], -1
    for _ in range(n_used):
        symbol = cur.varint() + previous + 1
        require(symbol < 1 << width, "code table symbol out of range")
        symbols.append(symbol)
        previous = symbol
    packed = cur.take((n_used + 1) // 2)
    nibbles = [n for b in packed for n in (b & 0x0F, b >> 4)]
    require(n_used % 2 == 0 or nibbles[-1] == 0, "non-zero padding nibble in the code table")
    lengths = [n + 1 for n in nibbles[:n_used]]
    require(all(length <= max_length for length in lengths), "code length above L_max")
    require(max_length in lengths, "L_max does not occur")
    if n_used >= 2:
        require(sum(1 << (16 - length) for length in lengths) == 1 << 16, "code lengths break Kraft equality")
    return symbols, lengths


def canonical_table(symbols: list[int], lengths: list[int]) -> dict[tuple[int, int], int]:
    """(length, code) -> symbol, codes assigned as in RFC 1951 3.2.2."""
    table, code, previous_length = {}, 0, 0
    for length, symbol in sorted(zip(lengths, symbols, strict=True)):
        code <<= length - previous_length
        table[(length, code)] = symbol
        code, previous_length = code + 1, length
    return table


def decode_substream(data: bytes, count: int, table: dict[tuple[int, int], int], max_length: int) -> list[int]:
    """`count` symbols from one zero-padded, exactly sized substream."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).tolist()
    out, pos = [], 0
    for _ in range(count):
        code, length = 0, 0
        while True:
            require(pos < len(bits) and length < max_length, "codes run past the substream")
            code, length, pos = (code << 1) | bits[pos], length + 1, pos + 1
            if (length, code) in table:
                out.append(table[(length, code)])
                break
    require(len(data) == (pos + 7) // 8, "substream size is not ceil(bits / 8)")
    require(not any(bits[pos:]), "non-zero substream padding bits")
    return out


def decode_stream(data: bytes, max_count: int, alphabet: int | None = None) -> tuple[int, np.ndarray]:
    """(symbol width, symbols) of a buffer holding exactly one Huffman stream.

    `max_count` is checked against the declared count before anything is decoded, and
    every symbol the stream can produce (its code table's, or its single symbol) against
    `alphabet` when given (huffman-stream.md, Code table).
    A single-symbol stream is returned as a broadcast view (nothing is materialised).
    """
    cur = Cursor(data)
    head = read_stream_head(cur)
    require(head.count <= max_count, "stream declares more symbols than allowed")
    dtype = np.uint8 if head.width == 8 else np.uint16
    if head.mode == 0:
        require(head.count == 0, "empty-mode stream with a non-zero count")
        require(not cur.rest(), "bytes after the stream")
        return head.width, np.zeros(0, dtype)
    if head.mode == 1:
        require(head.count >= 1, "single-symbol stream with count 0")
        symbol = cur.byte() if head.width == 8 else struct.unpack("<H", cur.take(2))[0]
        require(alphabet is None or symbol < alphabet, "symbol outside the alphabet")
        require(not cur.rest(), "bytes after the stream")
        return head.width, np.broadcast_to(np.array(symbol, dtype), (head.count,))
    require(head.count >= 1, "Huffman-mode stream with count 0")
    return head.width, np.array(decode_huffman_body(cur, head, alphabet), dtype)


def decode_huffman_body(cur: Cursor, head: StreamHead, alphabet: int | None = None) -> list[int]:
    symbols, lengths = read_code_table(cur, head.width)
    require(len(symbols) >= 2, "Huffman mode with fewer than two symbols")
    require(alphabet is None or max(symbols) < alphabet, "symbol outside the alphabet")
    k = cur.byte()
    require(1 <= k <= 8, "K outside 1..8")
    sizes = [cur.varint() for _ in range(k - 1)]
    remaining = len(cur.rest())
    require(sum(sizes) <= remaining, "substream sizes exceed the stream")
    sizes.append(remaining - sum(sizes))
    require(head.count <= 8 * remaining, "count exceeds 8 x payload bytes")
    table = canonical_table(symbols, lengths)
    seg = -(-head.count // k)
    out: list[int] = []
    for i, size in enumerate(sizes):
        n = max(0, min((i + 1) * seg, head.count) - i * seg)
        out += decode_substream(cur.take(size), n, table, max(lengths))
    return out


# ----------------------------------------------------------------- dcz.md: preamble, header


def inflate_header(stored: bytes) -> bytes:
    """Section 3.2: exactly one zlib stream, inflated to at most 2^24 bytes."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(stored, MAX_HEADER + 1)
    except zlib.error as exc:
        raise SpecReject(f"corrupt zlib header: {exc}") from None
    require(len(text) <= MAX_HEADER, "inflated header over 16 MiB")
    require(inflater.eof, "truncated zlib header")
    require(not inflater.unused_data, "bytes after the zlib header stream")
    return text


def read_preamble(data: bytes) -> tuple[int, bytes]:
    """Section 3.1 checks in their order; returns (flags, JSON header bytes)."""
    require(len(data) >= 32, "shorter than a preamble")
    magic, version, flags, hlen, hcrc, flen, pcrc = struct.unpack_from("<8sHHIIQI", data)
    require(magic == MAGIC, "bad magic")
    require(zlib.crc32(data[:28]) == pcrc, "preamble checksum")
    require(version == 1, "version")
    require(flags & MUST_UNDERSTAND_MASK & ~HEADER_ZLIB == 0, "unknown must-understand flag")
    require(2 <= hlen <= MAX_HEADER, "header length")
    require(flen == len(data) and 32 + hlen <= flen <= MAX_FILE, "file length")
    stored = data[32 : 32 + hlen]
    require(zlib.crc32(stored) == hcrc, "header checksum")
    return flags, inflate_header(stored) if flags & HEADER_ZLIB else stored


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    require(len(set(keys)) == len(keys), "duplicate key")
    return dict(pairs)


def _integer(token: str) -> int:
    require(len(token.lstrip("-")) <= 20, "integer over 20 digits")
    return int(token)


def _not_allowed(token: str) -> Any:
    raise SpecReject(f"number {token} is not an integer")


def _scalar_strings_only(value: Any) -> None:
    """No lone surrogates anywhere (keys and values)."""
    if isinstance(value, str):
        require(not any(0xD800 <= ord(c) <= 0xDFFF for c in value), "lone surrogate")
    elif isinstance(value, dict):
        for k, v in value.items():
            _scalar_strings_only(k)
            _scalar_strings_only(v)
    elif isinstance(value, list):
        for v in value:
            _scalar_strings_only(v)


def nesting_depth(text: bytes) -> int:
    """The deepest nesting of arrays and objects, brackets inside strings not counted."""
    bare = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", text)
    depth = deepest = 0
    for byte in bare:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def parse_json(text: bytes) -> dict[str, Any]:
    """Section 4.1."""
    require(not text.startswith(b"\xef\xbb\xbf"), "byte-order mark")
    require(nesting_depth(text) <= MAX_DEPTH, "JSON nested deeper than 4")
    try:
        document = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_int=_integer,
                              parse_float=_not_allowed, parse_constant=_not_allowed)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SpecReject(f"not JSON: {exc}") from None
    require(type(document) is dict, "header is not an object")
    _scalar_strings_only(document)
    return document


# ----------------------------------------------------------------- dcz.md: tensor table


def is_int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def utf8_size(value: Any, low: int, high: int) -> bool:
    return type(value) is str and low <= len(value.encode("utf-8")) <= high


def check_members(obj: Any, expected: set[str], where: str) -> None:
    require(type(obj) is dict and set(obj) == expected, f"{where}: wrong members")


def check_metadata(metadata: Any) -> None:
    require(type(metadata) is dict and len(metadata) <= MAX_METADATA, "metadata")
    for key, value in metadata.items():
        require(utf8_size(key, 1, 256) and utf8_size(value, 0, 65536), "metadata entry")


def check_shape(shape: Any) -> int:
    """Rank, dimensions, and the product of max(d, 1) bounded (so order does not matter)."""
    require(type(shape) is list and len(shape) <= MAX_RANK, "shape")
    require(all(is_int(d, 0, MAX_DIM) for d in shape), "dimension")
    volume = 1
    for d in shape:
        volume *= max(d, 1)
    require(volume <= MAX_NUMEL, "numel over 2^40")
    return math.prod(shape)


def check_section(section: Any, file_length: int) -> tuple[int, int]:
    check_members(section, {"crc32", "length"}, "section")
    c, n = section["crc32"], section["length"]
    require(is_int(c, 0, (1 << 32) - 1) and is_int(n, 0, MAX_FILE), "section values")
    require(n <= file_length, "section longer than the file")
    return n, c


def check_tensor(t: Any, earlier: dict[str, dict[str, Any]], file_length: int) -> None:
    require(type(t) is dict and type(t.get("encoding")) is str and t["encoding"] in SECTION_ROLES, "encoding")
    check_members(t, {"name", "dtype", "shape", "encoding"} | EXTRA_MEMBERS[t["encoding"]], "tensor")
    require(utf8_size(t["name"], 1, 1024) and t["name"] not in earlier, "tensor name")
    require(type(t["dtype"]) is str and t["dtype"] in DTYPE_SIZES, "dtype")
    t["numel"] = check_shape(t["shape"])
    if t["encoding"] in ("codebook", "sparse"):
        require(t["dtype"] in CODEBOOK_DTYPES, "codebook encoding for a non-floating dtype")
    if t["encoding"] in ("sparse", "sparse_raw"):
        require(is_int(t["index_bits"], 1, 16), "index_bits")
    if t["encoding"] == "planes":
        check_plane_streams(t)
    if t["encoding"] == "alias":
        target = earlier.get(t["alias_of"]) if type(t["alias_of"]) is str else None
        require(utf8_size(t["alias_of"], 1, 1024), "alias_of")
        require(target is not None and target["encoding"] != "alias", "alias target")
        require(target["dtype"] == t["dtype"] and target["shape"] == t["shape"], "alias dtype/shape")
    for role in SECTION_ROLES[t["encoding"]]:
        check_section(t[role], file_length)


def check_plane_streams(t: dict[str, Any]) -> None:
    """4.3, 4.4, 5.7: a floating dtype; 1..8 entries 0..2^48, exactly one per byte of the
    element; the section holds the planes exactly (a raw plane takes numel bytes)."""
    streams = t["plane_streams"]
    require(type(streams) is list and 1 <= len(streams) <= 8, "plane_streams")
    require(all(is_int(n, 0, MAX_FILE) for n in streams), "plane_streams entry")
    require(t["dtype"] in PLANES_DTYPES, "planes encoding for a non-floating dtype")
    require(len(streams) == DTYPE_SIZES[t["dtype"]], "plane_streams count differs from the element size")
    check_members(t["planes"], {"crc32", "length"}, "section")
    require(t["planes"]["length"] == sum(n or t["numel"] for n in streams), "planes length")


def check_layout(tensors: list[dict[str, Any]], header_length: int, data: bytes) -> None:
    """Section 3.3: sections from the data area on, in table order; zero padding; the
    last section ends the file. Records each section's offset as "_offset"."""
    end = 32 + header_length
    start = -(-end // 64) * 64
    require(start <= len(data) and not any(data[end:start]), "non-zero padding")
    end = start
    for t in tensors:
        for role in SECTION_ROLES[t["encoding"]]:
            alignment = 64 if t["encoding"] == "raw" else 1
            offset = -(-end // alignment) * alignment
            require(offset <= len(data) and not any(data[end:offset]), "non-zero padding")
            t[role]["_offset"] = offset
            end = offset + t[role]["length"]
            require(end <= len(data), "section past the end of the file")
    require(end == len(data), "sections do not end at the end of the file")


def check_table(document: dict[str, Any], header_length: int, data: bytes, max_decoded_bytes: int) -> None:
    check_members(document, {"metadata", "tensors"}, "top level")
    check_metadata(document["metadata"])
    tensors = document["tensors"]
    require(type(tensors) is list and len(tensors) <= MAX_TENSORS, "tensors")
    earlier: dict[str, dict[str, Any]] = {}
    for t in tensors:
        check_tensor(t, earlier, len(data))
        earlier[t["name"]] = t
    check_layout(tensors, header_length, data)
    decoded = sum(t["numel"] * DTYPE_SIZES[t["dtype"]] for t in tensors if t["encoding"] != "alias")
    if decoded > max_decoded_bytes:
        raise SpecPolicyReject("decodes to more bytes than the policy limit")


# ----------------------------------------------------------------- dcz.md: encodings


def filler_decode(entries: list[int], bits: int) -> list[int]:
    """Section 5.4, literally."""
    filler, cursor, positions = (1 << bits) - 1, 0, []
    for e in entries:
        if e == filler:
            cursor += filler
        else:
            positions.append(cursor + e)
            cursor = cursor + e + 1
    return positions


def filler_decode_array(entries: np.ndarray, bits: int) -> np.ndarray:
    """Section 5.4 without a Python loop: each entry advances the cursor by M or e + 1."""
    filler = (1 << bits) - 1
    e = entries.astype(np.int64)
    advance = np.where(e == filler, filler, e + 1)
    cursor_before = np.cumsum(advance) - advance
    return (cursor_before + e)[e != filler]


def section_bytes(data: bytes, t: dict[str, Any], role: str) -> bytes:
    chunk = data[t[role]["_offset"] : t[role]["_offset"] + t[role]["length"]]
    require(zlib.crc32(chunk) == t[role]["crc32"], f"{role} checksum")
    return chunk


def decode_codebook(book: bytes, size: int) -> list[bytes]:
    require(len(book) > 0 and len(book) % size == 0, "codebook length")
    require(len(book) // size <= MAX_CODEBOOK, "codebook over 65536 entries")
    return [book[i : i + size] for i in range(0, len(book), size)]


def decode_indices(stream: bytes, book: list[bytes], max_count: int) -> np.ndarray:
    width, indices = decode_stream(stream, max_count, len(book))
    require(width == (8 if len(book) <= 256 else 16), "index stream width")
    require(indices.size == 0 or int(indices.max()) < len(book), "index past the codebook")
    return indices


def gather(book: list[bytes], indices: np.ndarray, size: int) -> np.ndarray:
    """Element bytes codebook[indices[j]] as an (n, size) uint8 array."""
    values = np.frombuffer(b"".join(book), dtype=np.uint8).reshape(-1, size)
    return values[indices]


def decode_codebook_tensor(data: bytes, t: dict[str, Any], size: int) -> bytes:
    book = decode_codebook(section_bytes(data, t, "codebook"), size)
    indices = decode_indices(section_bytes(data, t, "indices"), book, t["numel"])
    require(indices.size == t["numel"], "index count differs from numel")
    return gather(book, indices, size).tobytes()


def decode_gaps(data: bytes, t: dict[str, Any], nnz: int) -> np.ndarray:
    """Sections 5.3-5.5: gap entries placing exactly nnz non-zeros below numel."""
    bits, numel = t["index_bits"], t["numel"]
    filler = (1 << bits) - 1
    max_entries = nnz + numel // filler + 1
    width, entries = decode_stream(section_bytes(data, t, "gaps"), max_entries, filler + 1)
    require(width == (8 if bits <= 8 else 16), "gap stream width")
    require(entries.size >= nnz, "fewer gap entries than non-zeros")
    require(entries.size == 0 or int(entries[-1]) != filler, "last gap entry is a filler")
    positions = filler_decode_array(np.asarray(entries), bits)
    require(positions.size == nnz, "gap entries place a different number of non-zeros")
    require(positions.size == 0 or int(positions[-1]) < numel, "position past numel")
    return positions


def decode_sparse_tensor(data: bytes, t: dict[str, Any], size: int) -> bytes:
    book = decode_codebook(section_bytes(data, t, "codebook"), size)
    indices = decode_indices(section_bytes(data, t, "indices"), book, t["numel"])
    positions = decode_gaps(data, t, indices.size)
    out = np.zeros((t["numel"], size), dtype=np.uint8)
    out[positions] = gather(book, indices, size)
    return out.tobytes()


def decode_sparse_raw_tensor(data: bytes, t: dict[str, Any], size: int) -> bytes:
    values = section_bytes(data, t, "values")
    require(len(values) % size == 0, "values length is not a multiple of the element size")
    nnz = len(values) // size
    require(nnz <= t["numel"], "more values than elements")
    positions = decode_gaps(data, t, nnz)
    out = np.zeros((t["numel"], size), dtype=np.uint8)
    out[positions] = np.frombuffer(values, dtype=np.uint8).reshape(nnz, size)
    if t["dtype"] == "bool":
        require(out.tobytes().translate(None, b"\x00\x01") == b"", "bool byte other than 0 or 1")
    return out.tobytes()


def decode_raw_tensor(data: bytes, t: dict[str, Any], size: int) -> bytes:
    raw = section_bytes(data, t, "data")
    require(len(raw) == t["numel"] * size, "raw length")
    if t["dtype"] == "bool":
        require(raw.translate(None, b"\x00\x01") == b"", "bool byte other than 0 or 1")
    return raw


def decode_planes_tensor(data: bytes, t: dict[str, Any], size: int) -> bytes:
    """5.7: byte k of element j is byte j of plane k; plane k is raw (numel bytes) or one
    Huffman stream of numel 8-bit symbols."""
    section = section_bytes(data, t, "planes")
    numel = t["numel"]
    out = np.zeros((numel, size), dtype=np.uint8)
    start = 0
    for k, length in enumerate(t["plane_streams"]):
        chunk = section[start : start + (length or numel)]
        start += length or numel
        if length == 0:
            out[:, k] = np.frombuffer(chunk, dtype=np.uint8)
            continue
        width, symbols = decode_stream(chunk, numel, 256)
        require(width == 8, "plane stream width")
        require(symbols.size == numel, "plane stream count differs from numel")
        out[:, k] = symbols
    return out.tobytes()


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # RFC 8878 3.1.1: 0xFD2FB528, little-endian


def zstd_content_size(frame: bytes) -> int:
    """RFC 8878 3.1.1.1: the frame header's Frame_Content_Size; rejects a frame without one
    or with a Dictionary_ID (dcz.md 5.8, R29)."""
    require(frame[:4] == ZSTD_MAGIC, "zstd frame magic")
    require(len(frame) >= 5, "zstd frame header truncated")
    descriptor = frame[4]
    fcs_flag, single_segment, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    require(descriptor & 0x08 == 0, "zstd frame header reserved bit")
    at = 5 + (0 if single_segment else 1)  # Window_Descriptor
    dict_size = (0, 1, 2, 4)[dict_flag]
    require(len(frame) >= at + dict_size, "zstd frame header truncated")
    require(int.from_bytes(frame[at:at + dict_size], "little") == 0, "zstd frame names a dictionary")
    at += dict_size
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    require(fcs_size > 0, "zstd frame without a content size")
    require(len(frame) >= at + fcs_size, "zstd frame header truncated")
    value = int.from_bytes(frame[at:at + fcs_size], "little")
    return value + 256 if fcs_size == 2 else value


def decode_zstd_tensor(data: bytes, t: dict[str, Any], size: int) -> bytes:
    """5.8: one frame (no bytes around it) of exactly numel * s declared and decoded bytes."""
    import zstandard  # only this encoding needs it

    frame = section_bytes(data, t, "frame")
    expected = t["numel"] * size
    require(zstd_content_size(frame) == expected, "zstd content size differs from numel * s")
    try:
        out = zstandard.ZstdDecompressor(max_window_size=1 << 31).decompress(frame, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise SpecReject(f"zstd frame: {exc}") from exc
    require(len(out) == expected, "zstd frame decodes to another length")
    if t["dtype"] == "bool":
        require(out.translate(None, b"\x00\x01") == b"", "bool byte other than 0 or 1")
    return out


DECODERS = {"raw": decode_raw_tensor, "codebook": decode_codebook_tensor, "sparse": decode_sparse_tensor,
            "sparse_raw": decode_sparse_raw_tensor, "planes": decode_planes_tensor, "zstd": decode_zstd_tensor}


def decode_bytes(
    data: bytes, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
) -> tuple[dict[str, str], dict[str, Decoded]]:
    """Metadata and every tensor of a whole file, or SpecReject."""
    flags, text = read_preamble(data)
    header_length = struct.unpack_from("<I", data, 12)[0]
    document = parse_json(text)
    check_table(document, header_length, data, max_decoded_bytes)
    out: dict[str, Decoded] = {}
    for t in document["tensors"]:
        shape = tuple(t["shape"])
        if t["encoding"] == "alias":
            out[t["name"]] = Decoded(t["dtype"], shape, out[t["alias_of"]].data)
        else:
            raw = DECODERS[t["encoding"]](data, t, DTYPE_SIZES[t["dtype"]])
            out[t["name"]] = Decoded(t["dtype"], shape, raw)
    return document["metadata"], out


def decode_file(path: str | Path, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> dict[str, bytes]:
    """Tensor name -> element bytes (row-major, little-endian)."""
    _, tensors = decode_bytes(Path(path).read_bytes(), max_decoded_bytes)
    return {name: t.data for name, t in tensors.items()}

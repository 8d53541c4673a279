"""Generate the .dcz test vectors of spec/dcz.md section 9 (deterministic).

Run from the repository root:  python3 spec/vectors/generate.py

Positive vectors, ``NAME.dcz`` with ``NAME.json``: the preamble flags, the metadata and,
per tensor, its name, dtype, shape, encoding and the hex of its decoded elements
(row-major, little-endian), plus ``streams``: what each Huffman stream of the file
exercises (mode, symbol width, K, longest code). Expected contents are computed from the
inputs, never by decoding the file.

Two kinds of positive vectors: ``WRITTEN`` ones are what pycodec's writer makes from a
state dict (the test suite checks that it still makes them byte for byte); ``ASSEMBLED``
ones are put together here from the spec's layout rules, to reach cases a writer does
not produce (an empty stream, 16-bit gap entries, fillers, a given K).

Negative vectors, ``negative/NAME.dcz`` with ``negative/NAME.json``: each breaks exactly
one rule; its JSON names the reject condition of spec/dcz.md section 8 (``"reject"``) and
says what was changed. Every conforming reader rejects every one of them.

The stored header of ``zlib-header`` is zlib's DEFLATE at level 9; another DEFLATE
implementation may compress differently and still conform. The ``zstd`` vector's frames
are fixed bytes (one made once by libzstd at level 19, the others built here from RFC
8878's block formats), so they do not change with the installed zstd.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import pycodec  # noqa: E402
from pycodec import codec  # noqa: E402
from pycodec.torch_adapter import dtype_row  # noqa: E402

MAGIC = b"\x89DCZ\r\n\x1a\n"
PLAIN = {"compress_header": False}
Vector = tuple[dict[str, torch.Tensor], dict[str, str], dict[str, bool]]


def _hex(tensor: torch.Tensor) -> str:
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes().hex()


def _bits(values: np.ndarray) -> np.ndarray:
    return values.view(np.dtype(f"<u{values.dtype.itemsize}"))


# ----------------------------------------------------------------- written by the writer


def _quantized_dense() -> torch.Tensor:
    """A 6x6 weight-shared dense tensor over 3 values."""
    book = torch.tensor([-1.0, 0.125, 2.0])
    return book[torch.arange(36).reshape(6, 6) * 7 % 3]


def _skewed_indices(n: int, symbols: int, seed: int) -> np.ndarray:
    """Geometric-ish symbol frequencies: long codes (over 4 bits) for the rare ones."""
    rng = np.random.default_rng(seed)
    return np.minimum(rng.geometric(0.35, n) - 1, symbols - 1)


def _many_substreams() -> torch.Tensor:
    """64x80 = 5120 elements (four substreams) over 24 values, skewed: codes up to 11 bits."""
    book = torch.linspace(-1.0, 1.0, 24)
    return book[torch.from_numpy(_skewed_indices(5120, 24, 1))].reshape(64, 80)


def _wide_codebook() -> torch.Tensor:
    """300 distinct values (16-bit indices), each used four times in a shuffled order;
    values with full mantissas, so that byte planes (5.7) do not beat the codebook, and
    no repeated runs, so that zstd (5.8) does not either."""
    rng = np.random.default_rng(3)
    book = torch.from_numpy(rng.standard_normal(300).astype(np.float32))
    return book[torch.from_numpy(rng.permutation(1200) % 300)].reshape(30, 40)


def _codebook_dtypes() -> dict[str, torch.Tensor]:
    out = {}
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        book = torch.tensor([-2.0137, 0.5183, 3.1416, 1027.7], dtype=dtype)  # full mantissas: no plane is constant
        out[str(dtype).removeprefix("torch.")] = book[torch.from_numpy(_skewed_indices(64, 4, 2))].reshape(8, 8)
    return out


def _sparse_raw_values() -> dict[str, torch.Tensor]:
    """10%-dense layers whose non-zeros are all distinct: raw values beat a codebook."""
    rng = np.random.default_rng(3)
    out = {}
    for name, dtype in (("f32", np.float32), ("i32", np.int32)):
        values = np.zeros(2000, dtype=dtype)
        where = np.sort(rng.choice(2000, 200, replace=False))
        if dtype == np.int32:  # odd, so never zero
            values[where] = (rng.integers(-50_000, 50_000, 200) * 2 + 1).astype(dtype)
        else:
            values[where] = rng.standard_normal(200).astype(dtype)
        out[name] = torch.from_numpy(values.reshape(40, 50))
    return out


def _layered_model() -> dict[str, torch.Tensor]:
    """A small model with repetitive tensor names: its header compresses well."""
    book = torch.tensor([-0.5, 0.25, 1.0])
    state = {}
    for i in range(4):
        weight = torch.zeros(4, 8)
        weight.view(-1)[i :: 5] = book[torch.arange(len(range(i, 32, 5))) % 3]
        state[f"encoder.layers.{i}.linear.weight"] = weight
        state[f"encoder.layers.{i}.linear.bias"] = torch.full((4,), 0.125 * i)
        state[f"encoder.layers.{i}.norm.num_batches_tracked"] = torch.tensor(i)
    return state


def _raw_dtypes() -> dict[str, torch.Tensor]:
    raw_specials = torch.tensor([1.0, -0.0, float("inf"), -float("inf")])
    nan_payload = torch.tensor([0x7FC0BEEF, 0x7F800001], dtype=torch.int32).view(torch.float32)
    out = {
        "f32": torch.cat([raw_specials, nan_payload]),
        "scalar": torch.tensor(3.25, dtype=torch.float64),
        "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "i16": torch.tensor([-32768, 7], dtype=torch.int16),
        "i32": torch.tensor([-(2**31), 5], dtype=torch.int32),
        "i64": torch.tensor([[1, -2], [2**40, -(2**62)]]),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "u16": torch.tensor([1, 65535], dtype=torch.int32).to(torch.uint16),
        "u32": torch.tensor([1, 2**32 - 1], dtype=torch.int64).to(torch.uint32),
        "u64": torch.tensor([1, 2**62], dtype=torch.int64).to(torch.uint64),
        "bool": torch.tensor([True, False, True]),
        "f16": torch.tensor([1.0, -2.5, 65504.0], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -3.0, 1e30], dtype=torch.bfloat16),
        "c64": torch.tensor([1 + 2j, -0.5j], dtype=torch.complex64),
        "c128": torch.tensor([3 - 1j], dtype=torch.complex128),
        "empty": torch.zeros(0, 4),
    }
    for name in ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu"):
        dtype = getattr(torch, name, None)
        if dtype is not None:
            out[name] = torch.tensor([0x00, 0x38, 0x7F, 0x80, 0xFF], dtype=torch.uint8).view(dtype)
    return out


def written() -> dict[str, Vector]:
    tied = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    return {
        "empty": ({}, {}, PLAIN),
        "raw": (_raw_dtypes(), {"purpose": "every dtype stored raw; specials, NaN payloads, empty shapes"}, PLAIN),
        "codebook": ({"conv.weight": _quantized_dense(), "zeros": torch.zeros(5, 5)},
                     {"purpose": "8-bit indices, K = 1; a one-value tensor as a mode-1 stream"}, PLAIN),
        "codebook-substreams": ({"w": _many_substreams()},
                                {"purpose": "K = 4 substreams, code lengths over 4 bits"}, PLAIN),
        "codebook-16bit": ({"w": _wide_codebook()}, {"purpose": "16-bit index symbols"}, PLAIN),
        "codebook-dtypes": (_codebook_dtypes(), {"purpose": "float16, bfloat16 and float64 codebooks"}, PLAIN),
        "sparse-raw": (_sparse_raw_values(), {"purpose": "sparse_raw of float32 and int32"}, PLAIN),
        "alias": ({"embed.weight": tied, "head.weight": tied, "bias": torch.zeros(2)}, {"tied": "yes"}, PLAIN),
        "zlib-header": (_layered_model(), {"purpose": "a zlib-compressed header (flag bit 0)"}, {}),
    }


# ----------------------------------------------------------------- assembled from the spec


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def assemble(
    tensors: list[tuple[dict[str, Any], dict[str, bytes]]],
    metadata: dict[str, str] | None = None,
    *,
    zlib_header: bool = False,
    header_text: bytes | None = None,
    preamble: dict[str, int] | None = None,
    magic: bytes = MAGIC,
    padding_byte: int = 0,
) -> bytes:
    """A file laid out as spec/dcz.md section 3 says, from table entries (without their
    section members) and their section payloads, in table order. Keyword arguments
    break one rule at a time for the negative vectors."""
    document: dict[str, Any] = {"metadata": metadata or {}, "tensors": []}
    sections: list[tuple[int, bytes]] = []
    for entry, payloads in tensors:
        row = dict(entry)
        for role, payload in payloads.items():
            row.setdefault(role, {"crc32": zlib.crc32(payload), "length": len(payload)})
            sections.append((64 if entry["encoding"] == "raw" else 1, payload))
        document["tensors"].append(row)
    text = header_text if header_text is not None else json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    stored = zlib.compress(text, 9) if zlib_header else text
    end = 32 + len(stored)
    body = bytearray()
    start = align_up(end, 64)
    body += bytes([padding_byte]) * (start - end)
    end = start
    for alignment, payload in sections:
        offset = align_up(end, alignment)
        body += bytes([padding_byte]) * (offset - end) + payload
        end = offset + len(payload)
    fields = {"version": 1, "flags": 1 if zlib_header else 0, "header_length": len(stored),
              "header_crc32": zlib.crc32(stored), "file_length": end}
    fields.update(preamble or {})
    head = magic + struct.pack("<HHIIQ", *fields.values())
    return head + struct.pack("<I", zlib.crc32(head)) + stored + bytes(body)


def stream(symbols: list[int] | np.ndarray, width: int = 8) -> bytes:
    return codec.huffman_encode(np.asarray(symbols, dtype=np.uint8 if width == 8 else np.uint16))


def relative_entries(positions: list[int], bits: int) -> np.ndarray:
    return codec.relative_index_encode(np.asarray(positions, dtype=np.int64), bits)


def _f32(*values: float) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def _dense_from_positions(numel: int, positions: list[int], values: bytes, size: int) -> str:
    out = bytearray(numel * size)
    for i, p in enumerate(positions):
        out[p * size : (p + 1) * size] = values[i * size : (i + 1) * size]
    return out.hex()


#: An assembled vector: (tensors for `assemble`, metadata, expected tensors).
Assembled = tuple[list[tuple[dict[str, Any], dict[str, bytes]]], dict[str, str], list[dict[str, Any]]]


def _sparse_fillers() -> Assembled:
    """Codebook-sparse, index_bits 3: gaps over 7 zeros need filler entries (M = 7)."""
    positions = [1, 2, 20, 21, 60]
    book = _f32(0.5, -0.25, 1.5)
    indices = [0, 1, 2, 0, 1]
    entry = {"name": "fc.weight", "dtype": "float32", "shape": [8, 8], "encoding": "sparse", "index_bits": 3}
    payloads = {"codebook": book, "indices": stream(indices), "gaps": stream(relative_entries(positions, 3))}
    values = b"".join(book[4 * i : 4 * i + 4] for i in indices)
    expected = {**_expected_row(entry), "hex": _dense_from_positions(64, positions, values, 4),
                "gap_entries": relative_entries(positions, 3).tolist()}
    return [(entry, payloads)], {"purpose": "filler entries (index_bits 3, M = 7)"}, [expected]


def _sparse_raw_wide_gaps() -> Assembled:
    """sparse_raw, index_bits 12: 16-bit gap entries; float16 values."""
    positions = [5, 3000, 3001, 9000]
    values = np.asarray([1.5, -2.0, 0.25, 7.0], dtype="<f2").tobytes()
    entry = {"name": "w", "dtype": "float16", "shape": [100, 100], "encoding": "sparse_raw", "index_bits": 12}
    payloads = {"values": values, "gaps": stream(relative_entries(positions, 12), 16)}
    expected = {**_expected_row(entry), "hex": _dense_from_positions(10000, positions, values, 2)}
    return [(entry, payloads)], {"purpose": "sparse_raw with 16-bit gap entries"}, [expected]


def _empty_streams() -> Assembled:
    """Mode-0 (empty) streams: an all-zero sparse_raw tensor, and a sparse tensor with no
    non-zeros, each of its streams empty and of the width the spec requires."""
    rows: list[tuple[dict[str, Any], dict[str, bytes]]] = []
    rows.append(({"name": "zeros", "dtype": "int64", "shape": [3, 4], "encoding": "sparse_raw", "index_bits": 2},
                 {"values": b"", "gaps": stream([])}))
    rows.append(({"name": "pruned", "dtype": "float32", "shape": [10], "encoding": "sparse", "index_bits": 9},
                 {"codebook": _f32(1.0), "indices": stream([]), "gaps": stream([], 16)}))
    expected = [{**_expected_row(rows[0][0]), "hex": "00" * 96}, {**_expected_row(rows[1][0]), "hex": "00" * 40}]
    return rows, {"purpose": "mode-0 streams of both widths"}, expected


def _expected_row(entry: dict[str, Any]) -> dict[str, Any]:
    return {"name": entry["name"], "dtype": entry["dtype"], "shape": entry["shape"], "encoding": entry["encoding"]}


def _example() -> Assembled:
    """The file of spec/dcz.md section 9's annotated dump: float32 [0, 1.0, 0, 0, 0, -2.0, 0, 0]."""
    positions, values = [1, 5], _f32(1.0, -2.0)
    entry = {"name": "w", "dtype": "float32", "shape": [8], "encoding": "sparse_raw", "index_bits": 2}
    payloads = {"values": values, "gaps": stream(relative_entries(positions, 2))}
    return [(entry, payloads)], {}, [{**_expected_row(entry), "hex": _dense_from_positions(8, positions, values, 4)}]


def _planes_payload(elements: bytes, size: int, coded: str) -> tuple[bytes, list[int]]:
    """The planes section (5.7) of `elements` and its plane_streams: plane k is coded as one
    Huffman stream when coded[k] == "h", stored raw when "r"."""
    planes = np.frombuffer(elements, dtype=np.uint8).reshape(-1, size).T
    parts, lengths = [], []
    for plane, how in zip(planes, coded, strict=True):
        part = stream(plane) if how == "h" else plane.tobytes()
        parts.append(part)
        lengths.append(len(part) if how == "h" else 0)
    return b"".join(parts), lengths


def _planes_row(name: str, dtype: str, elements: bytes, coded: str) -> tuple[dict[str, Any], dict[str, bytes], dict]:
    size = len(coded)
    section, lengths = _planes_payload(elements, size, coded)
    entry = {"name": name, "dtype": dtype, "shape": [len(elements) // size], "encoding": "planes",
             "plane_streams": lengths}
    return entry, {"planes": section}, {**_expected_row(entry), "hex": elements.hex(), "plane_streams": lengths}


def _special_float32() -> bytes:
    """Every kind of binary32 value, 64 of them: NaN payloads, -0.0, subnormals, infinities
    and trained-like weights."""
    specials = np.array([0x7FC00000, 0x7F800001, 0xFFFFFFFF, 0x80000000, 0x00000000, 0x00000001, 0x807FFFFF,
                         0x7F800000, 0xFF800000, 0x7F7FFFFF], dtype="<u4")
    weights = (np.random.default_rng(5).standard_normal(54) * 0.05).astype("<f4").view("<u4")
    return np.concatenate([specials, weights]).tobytes()


def _planes() -> Assembled:
    """planes (5.7) of every plane count (8, 4, 2, 1) and every plane kind: raw,
    single-symbol and Huffman-mode streams."""
    rng = np.random.default_rng(6)
    halves = np.array([0x7E01, 0xFC00, 0x8000, 0x0001, 0x3C00, 0xC000, 0x7C00, 0x03FF], dtype="<u2").tobytes()
    bf16 = (np.array([1.0, -0.0, np.inf, np.nan, 3e-39, -1e38, 0.5, 0.5], dtype="<f4").view("<u4") >> 16)
    doubles = np.array([1.0, -0.0, np.inf, 5e-324, -2.5, 1.0, 0.5, -1.0], dtype="<f8").tobytes()
    rows = [
        _planes_row("f32", "float32", _special_float32(), "rhhh"),
        _planes_row("f64", "float64", doubles, "rrhhhhhh"),  # planes 2..5 all zero: single-symbol streams
        _planes_row("f16", "float16", halves, "hr"),
        _planes_row("bf16", "bfloat16", bf16.astype("<u2").tobytes(), "hh"),
        _planes_row("e4m3", "float8_e4m3fn", bytes(rng.integers(0, 256, 40, dtype=np.uint8)), "h"),
        _planes_row("e5m2", "float8_e5m2", bytes([0x7C, 0xFC, 0x7F, 0x80, 0x00, 0x01]), "r"),
    ]
    return ([(e, p) for e, p, _ in rows], {"purpose": "planes: 8, 4, 2 and 1 planes; raw, mode-1 and mode-2 planes"},
            [x for _, _, x in rows])


ZSTD_MAGIC = bytes.fromhex("28b52ffd")
#: float32 [4, 16]: a 16-value row (-1.5, -1.25, ..., 2.25) four times, as libzstd 1.5.7 at
#: level 19 framed it (content size, content checksum, compressed blocks).
ZSTD_TABLE_FRAME = bytes.fromhex(
    "28b52ffd64000075010002040910d0a5310003b2b8420480c0f682a6c329039eaf3cf2c4a337ef81fe41d76b2eba"
    "c4450e0100406fa04214ada911ad")


def _zstd_table() -> bytes:
    return np.tile(np.arange(16, dtype="<f4") * 0.25 - 1.5, 4).astype("<f4").tobytes()


def _zstd_block(kind: int, content: bytes, size: int, last: bool = True) -> bytes:
    """RFC 8878 3.1.1.2: a Raw (kind 0) or RLE (kind 1) block of `size` bytes."""
    return (int(last) | kind << 1 | size << 3).to_bytes(3, "little") + content


def zstd_rle_frame(byte: int, size: int, declared: int | None = None) -> bytes:
    """A single-segment frame (1-byte content size, so size < 256) of one RLE block."""
    declared = size if declared is None else declared
    return ZSTD_MAGIC + bytes([0x20, declared]) + _zstd_block(1, bytes([byte]), size)


def zstd_raw_frame(content: bytes) -> bytes:
    """A frame with a Window_Descriptor (1 KiB) and a 2-byte content size (256 .. 65791
    bytes, stored minus 256) holding one Raw block."""
    return ZSTD_MAGIC + bytes([0x40, 0x00]) + (len(content) - 256).to_bytes(2, "little") + \
        _zstd_block(0, content, len(content))


def _zstd_row(name: str, dtype: str, shape: list[int], frame: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    return {"name": name, "dtype": dtype, "shape": shape, "encoding": "zstd"}, {"frame": frame}


def _zstd() -> Assembled:
    """zstd (5.8): a compressed frame with a checksum (float32), an RLE block (int16) and a
    raw block behind a window descriptor and a 2-byte content size (bool)."""
    flags = bytes(np.random.default_rng(7).integers(0, 2, 300, dtype=np.uint8))
    rows = [_zstd_row("table", "float32", [4, 16], ZSTD_TABLE_FRAME),
            _zstd_row("sevens", "int16", [50], zstd_rle_frame(7, 100)),
            _zstd_row("mask", "bool", [300], zstd_raw_frame(flags))]
    contents = [_zstd_table(), b"\x07" * 100, flags]
    return (rows, {"purpose": "zstd: compressed, RLE and raw blocks; float32, int16, bool"},
            [{**_expected_row(e), "hex": c.hex()} for (e, _), c in zip(rows, contents, strict=True)])


def assembled() -> dict[str, Assembled]:
    return {"example": _example(), "sparse-fillers": _sparse_fillers(), "sparse-raw-wide-gaps": _sparse_raw_wide_gaps(),
            "empty-streams": _empty_streams(), "planes": _planes(), "zstd": _zstd()}


# ----------------------------------------------------------------- negative vectors


def _raw_row(name: str = "w", values: bytes = _f32(1.0, 2.0), dtype: str = "float32",
             shape: list[int] | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    shape = shape if shape is not None else [len(values) // 4]
    return {"name": name, "dtype": dtype, "shape": shape, "encoding": "raw"}, {"data": values}


def _codebook_row(book: bytes = _f32(1.0, 2.0), indices: bytes | None = None, shape: list[int] | None = None,
                  dtype: str = "float32") -> tuple[dict[str, Any], dict[str, bytes]]:
    indices = indices if indices is not None else stream([0, 1, 1, 0])
    entry = {"name": "w", "dtype": dtype, "shape": shape or [4], "encoding": "codebook"}
    return entry, {"codebook": book, "indices": indices}


def _sparse_raw_row(values: bytes = _f32(1.0, 2.0), gaps: bytes | None = None, bits: int = 3,
                    shape: list[int] | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    gaps = gaps if gaps is not None else stream(relative_entries([1, 5], bits))
    entry = {"name": "w", "dtype": "float32", "shape": shape or [8], "encoding": "sparse_raw", "index_bits": bits}
    return entry, {"values": values, "gaps": gaps}


def _planes_neg(dtype: str = "float32", coded: str = "hrrh", streams: list[int] | None = None,
                plane: tuple[int, bytes] | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A planes tensor of 1.0, 2.0 (or 0x01, 0x02 for one-byte dtypes), broken as asked:
    `streams` replaces plane_streams, `plane` = (k, bytes) replaces plane k's stored bytes."""
    size = len(coded)
    elements = _f32(1.0, 2.0) if size == 4 else bytes(range(1, 2 * size + 1))
    planes = np.frombuffer(elements, dtype=np.uint8).reshape(-1, size).T
    parts = [stream(p) if how == "h" else p.tobytes() for p, how in zip(planes, coded, strict=True)]
    if plane is not None:
        parts[plane[0]] = plane[1]
    lengths = [len(part) if how == "h" else 0 for part, how in zip(parts, coded, strict=True)]
    entry = {"name": "w", "dtype": dtype, "shape": [2], "encoding": "planes",
             "plane_streams": streams if streams is not None else lengths}
    return entry, {"planes": b"".join(parts)}


def _with_raw_bytes(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def _refresh_crcs(data: bytes) -> bytes:
    """Recompute the preamble's checksum (after editing bytes 0..27)."""
    return data[:28] + struct.pack("<I", zlib.crc32(data[:28])) + data[32:]


def _huffman_varint_not_minimal() -> bytes:
    # count 4 written as 0x84 0x00 (two bytes) instead of 0x04
    good = stream([0, 1, 1, 0])
    bad = good[:1] + b"\x84\x00" + good[2:]
    return assemble([_codebook_row(indices=bad)])


def _huffman_table_symbol_unused_out_of_range() -> bytes:
    # a code table listing symbols 0, 1 and 2 (2 unused) for a 2-entry codebook
    code = codec.build_code(np.array([0, 0, 1, 1, 2], dtype=np.uint8))  # symbol 2 gets a code too
    body = codec.encode_with_code(np.array([0, 1, 1, 0], dtype=np.uint8), code)
    data = bytes([0x08, 4]) + codec.serialize_code(code) + b"\x01" + body
    return assemble([_codebook_row(indices=data)])


def _stream_with_padding_nibble() -> bytes:
    # three symbols: odd count, so the code table's last high nibble is padding: set it
    good = stream([0, 1, 2, 2])
    table_end = 2 + 1 + 1 + 3 + 2  # flags, count, n_used, L_max, 3 symbols, 2 length bytes
    bad = bytearray(good)
    bad[table_end - 1] |= 0x50
    return assemble([_codebook_row(book=_f32(1.0, 2.0, 3.0), indices=bytes(bad))])


def _table_and_k() -> bytes:
    """The code table and K byte of stream([0, 1, 1, 0]): bytes 2..7."""
    return stream([0, 1, 1, 0])[2:8]


def _with_k(k: int) -> bytes:
    good = stream([0, 1, 1, 0])
    return good[:7] + bytes([k]) + good[8:]


def _stream_substream_padding() -> bytes:
    good = bytearray(stream([0, 1, 1]))
    good[-1] |= 0x01  # the last byte's low bits are padding
    return assemble([_codebook_row(indices=bytes(good), shape=[3])])


NEGATIVE: dict[str, tuple[str, str, Callable[[], bytes]]] = {
    # name: (reject condition of dcz.md 8, what is wrong, how to make it)
    "short-file": ("R1", "fewer than 32 bytes", lambda: MAGIC + b"\x01\x00"),
    "bad-magic": ("R2", "magic differs", lambda: assemble([_raw_row()], magic=b"\x89DCZ\n\r\x1a\n")),
    "preamble-crc": ("R3", "preamble_crc32 does not match",
                     lambda: _with_raw_bytes(assemble([_raw_row()]), 28, b"\x00\x00\x00\x00")),
    "version-2": ("R4", "version 2", lambda: assemble([_raw_row()], preamble={"version": 2})),
    "unknown-flag": ("R5", "must-understand flag bit 1 set", lambda: assemble([_raw_row()], preamble={"flags": 2})),
    "header-length-1": ("R6", "header_length 1", lambda: assemble([], header_text=b"{",
                                                                  preamble={"header_length": 1})),
    "file-length": ("R7", "file_length one more than the file",
                    lambda: _refresh_crcs(_with_raw_bytes(assemble([_raw_row()]), 20, struct.pack("<Q", 129)))),
    "header-crc": ("R8", "header_crc32 does not match", lambda: assemble([_raw_row()], preamble={"header_crc32": 0})),
    "zlib-trailing": ("R9", "a byte after the end of the zlib header stream", lambda: _zlib_trailing()),
    "json-duplicate-key": ("R10", "duplicate key in the header",
                           lambda: assemble([], header_text=b'{"metadata":{},"metadata":{},"tensors":[]}')),
    "json-float": ("R10", "a non-integer number",
                   lambda: assemble([], header_text=b'{"metadata":{},"tensors":[{"name":"w","dtype":"float32",'
                                                    b'"shape":[1.0],"encoding":"raw","data":{"crc32":0,"length":0}}]}')),
    "json-depth": ("R10", "JSON nested deeper than 4",
                   lambda: assemble([], header_text=b'{"metadata":{"a":"b"},"tensors":[],"x":[[[[[]]]]]}')),
    "unknown-member": ("R11", "a tensor object with an unknown member",
                       lambda: assemble([({**_raw_row()[0], "offset": 0}, _raw_row()[1])])),
    "shape-volume": ("R12", "product of max(d, 1) over 2^40",
                     lambda: assemble([_raw_row(values=b"", shape=[0, 2**20, 2**21])])),
    "duplicate-name": ("R13", "two tensors named w", lambda: assemble([_raw_row(), _raw_row()])),
    "codebook-int": ("R14", "codebook encoding for int32",
                     lambda: assemble([_codebook_row(book=np.asarray([1, 2], "<i4").tobytes(), dtype="int32")])),
    "sections-short": ("R15", "the sections end 4 bytes before file_length",
                       lambda: assemble([_raw_row()], preamble={"file_length": len(assemble([_raw_row()])) + 4})
                       + b"\x00" * 4),
    "padding-nonzero": ("R16", "a non-zero padding byte", lambda: assemble([_raw_row()], padding_byte=0x20)),
    "section-crc": ("R17", "section CRC32 does not match",
                    lambda: assemble([({**_raw_row()[0], "data": {"crc32": 1, "length": 8}}, _raw_row()[1])])),
    "raw-length": ("R18", "raw data length is not numel x size", lambda: assemble([_raw_row(shape=[3])])),
    "bool-byte": ("R19", "bool element 0x02", lambda: assemble([_raw_row(values=b"\x01\x02", dtype="bool",
                                                                          shape=[2])])),
    "codebook-length": ("R20", "codebook length not a multiple of the element size",
                        lambda: assemble([_codebook_row(book=_f32(1.0, 2.0)[:6])])),
    "index-width": ("R21", "8-bit codebook indices written as 16-bit symbols",
                    lambda: assemble([_codebook_row(indices=stream([0, 1, 1, 0], 16))])),
    "index-count": ("R22", "indices stream holds 3 symbols for 4 elements",
                    lambda: assemble([_codebook_row(indices=stream([0, 1, 1]))])),
    "index-out-of-range": ("R23", "single-symbol stream of index 2 for a 2-entry codebook",
                           lambda: assemble([_codebook_row(indices=stream([2, 2, 2, 2]))])),
    "table-symbol-out-of-range": ("R23", "code table lists symbol 2 (unused) for a 2-entry codebook",
                                  _huffman_table_symbol_unused_out_of_range),
    "gaps-last-filler": ("R24", "the last gap entry is a filler",
                         lambda: assemble([_sparse_raw_row(gaps=stream([1, 3, 7]))])),
    "gaps-past-end": ("R24", "a position past numel",
                      lambda: assemble([_sparse_raw_row(gaps=stream([1, 6]))])),
    "gaps-too-few": ("R24", "fewer gap entries than values",
                     lambda: assemble([_sparse_raw_row(gaps=stream([1]))])),
    "values-length": ("R25", "values length not a multiple of the element size",
                      lambda: assemble([_sparse_raw_row(values=_f32(1.0, 2.0)[:7])])),
    "alias-forward": ("R26", "alias of a later tensor",
                      lambda: assemble([({"name": "t", "dtype": "float32", "shape": [2], "encoding": "alias",
                                          "alias_of": "w"}, {}), _raw_row()])),
    "planes-int": ("R27", "planes encoding for int32", lambda: assemble([_planes_neg(dtype="int32")])),
    "planes-streams-count": ("R27", "plane_streams with 3 entries for float32",
                             lambda: assemble([_planes_neg(coded="hrr")])),
    "planes-length": ("R27", "planes section one byte longer than the planes",
                      lambda: assemble([_planes_neg(plane=(1, b"\x00\x00\x00"))])),
    "planes-width": ("R28", "a plane stream of 16-bit symbols",
                     lambda: assemble([_planes_neg(plane=(0, stream([0, 0], 16)))])),
    "planes-count": ("R28", "a plane stream of 3 symbols for 2 elements",
                     lambda: assemble([_planes_neg(plane=(3, stream([0x3F, 0x40, 0x40])))])),
    "zstd-trailing": ("R29", "a byte after the zstd frame",
                      lambda: assemble([_zstd_row("w", "float32", [4, 16], ZSTD_TABLE_FRAME + b"\x00")])),
    "zstd-two-frames": ("R29", "a second frame after the first",
                        lambda: assemble([_zstd_row("w", "int16", [2], zstd_rle_frame(7, 4) + zstd_rle_frame(7, 4))])),
    "zstd-skippable": ("R29", "a skippable frame before the frame",
                       lambda: assemble([_zstd_row("w", "int16", [2], bytes.fromhex("502a4d1801000000") + b"\x00"
                                                   + zstd_rle_frame(7, 4))])),
    "zstd-content-size": ("R29", "a frame of 100 bytes for 40 int16 elements",
                          lambda: assemble([_zstd_row("w", "int16", [40], zstd_rle_frame(7, 100))])),
    "zstd-no-content-size": ("R29", "a frame header without Frame_Content_Size",
                             lambda: assemble([_zstd_row("w", "int16", [2], ZSTD_MAGIC + b"\x00\x00"
                                                         + _zstd_block(1, b"\x07", 4))])),
    "zstd-dictionary": ("R29", "a frame naming dictionary 5",
                        lambda: assemble([_zstd_row("w", "int16", [2], ZSTD_MAGIC + b"\x21\x05\x04"
                                                    + _zstd_block(1, b"\x07", 4))])),
    "zstd-short": ("R29", "a frame declaring 100 bytes whose block holds 99",
                   lambda: assemble([_zstd_row("w", "int16", [50], zstd_rle_frame(7, 99, declared=100))])),
    "zstd-checksum": ("R29", "a content checksum that does not match",
                      lambda: assemble([_zstd_row("w", "float32", [4, 16], ZSTD_TABLE_FRAME[:-1] + b"\x00")])),
    "zstd-bool": ("R19", "a zstd bool tensor holding 0x02",
                  lambda: assemble([_zstd_row("w", "bool", [4], zstd_rle_frame(2, 4))])),
    "stream-reserved-flags": ("S1", "reserved stream flag bits set",
                              lambda: assemble([_codebook_row(indices=b"\x14" + stream([0, 0, 0, 0])[1:])])),
    "stream-mode-3": ("S2", "stream mode 3 (reserved)",
                      lambda: assemble([_codebook_row(indices=b"\x0c" + stream([0, 1, 1, 0])[1:])])),
    "stream-k-9": ("S5", "K = 9 substreams", lambda: assemble([_codebook_row(indices=_with_k(9))])),
    "stream-huffman-count-0": ("S8", "a Huffman-mode stream of count 0",
                               lambda: assemble([_sparse_raw_row(values=b"", gaps=b"\x08\x00" + _table_and_k())])),
    "stream-varint-not-minimal": ("S3", "a varint with a redundant final zero byte", _huffman_varint_not_minimal),
    "stream-padding-nibble": ("S4", "non-zero padding nibble in the code table", _stream_with_padding_nibble),
    "stream-substream-padding": ("S6", "non-zero padding bits after the last code", _stream_substream_padding),
    "stream-trailing": ("S7", "a byte after the end of the stream",
                        lambda: assemble([_codebook_row(indices=stream([0, 0, 0, 0]) + b"\x00")])),
}


def _zlib_trailing() -> bytes:
    text = b'{"metadata":{},"tensors":[]}'
    stored = zlib.compress(text, 9) + b"\x00"
    end = align_up(32 + len(stored), 64)
    head = MAGIC + struct.pack("<HHIIQ", 1, 1, len(stored), zlib.crc32(stored), end)
    return head + struct.pack("<I", zlib.crc32(head)) + stored + bytes(end - 32 - len(stored))


# ----------------------------------------------------------------- expected values


def _streams_of(file: Any, entry: Any) -> list[tuple[str, bytes]]:
    """(role, bytes) of each Huffman stream of a tensor; a coded plane's role is "plane k"."""
    out = [(role, file.read_section(entry, role)) for role in ("indices", "gaps") if role in entry.sections]
    if entry.encoding == "planes":
        section, start = file.read_section(entry, "planes"), 0
        for k, length in enumerate(entry.plane_streams):
            if length:
                out.append((f"plane {k}", section[start : start + length]))
            start += length or entry.numel
    return out


def stream_facts(path: Path) -> list[dict[str, Any]]:
    """What each Huffman stream of a file exercises (documentation of coverage)."""
    facts = []
    with pycodec.open(path) as file:
        for name in file.keys():
            entry = file.entry(name)
            for role, data in _streams_of(file, entry):
                info = codec.huffman_parse(data)
                mode = 0 if info.count == 0 else 1 if info.single_symbol is not None else 2
                facts.append({"tensor": name, "role": role, "mode": mode, "symbol_bits": info.symbol_bits,
                              "substreams": info.streams, "max_code_length": info.max_code_length})
    return facts


def expected_written(state: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> dict[str, Any]:
    with pycodec.open(path) as file:
        encoding = {name: file.entry(name).encoding for name in file.keys()}
        flags = file.preamble.flags
    return {
        "flags": flags,
        "metadata": metadata,
        "tensors": [
            {"name": name, "dtype": dtype_row(t.dtype).name, "shape": list(t.shape), "encoding": encoding[name],
             "hex": _hex(t)}
            for name, t in state.items()
        ],
        "streams": stream_facts(path),
    }


def _write(path: Path, data: bytes, document: dict[str, Any]) -> None:
    path.write_bytes(data)
    path.with_suffix(".json").write_text(json.dumps(document, indent=1) + "\n")


def main() -> None:
    for name, (state, metadata, options) in written().items():
        path = HERE / f"{name}.dcz"
        pycodec.save(state, path, metadata=metadata, **options)
        _write(path, path.read_bytes(), expected_written(state, metadata, path))
    for name, (rows, metadata, tensors) in assembled().items():
        path = HERE / f"{name}.dcz"
        path.write_bytes(assemble(rows, metadata))
        _write(path, path.read_bytes(), {"flags": 0, "metadata": metadata, "tensors": tensors,
                                         "streams": stream_facts(path)})
    negative = HERE / "negative"
    negative.mkdir(exist_ok=True)
    for old in negative.glob("*"):
        old.unlink()
    for name, (condition, why, make) in NEGATIVE.items():
        data = make()
        _write(negative / f"{name}.dcz", data, {"reject": condition, "why": why, "hex": data.hex()})
    print(f"{len(written()) + len(assembled())} positive and {len(NEGATIVE)} negative vectors in "
          f"{HERE.relative_to(HERE.parents[1])}")


if __name__ == "__main__":
    main()

"""A catalogue of malformed .dcz files: each must raise MalformedFileError, never crash,
hang or allocate past the limits."""

from __future__ import annotations

import collections
import json
import random
import sys
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import pycodec
from pycodec import codec
from pycodec.errors import LimitExceededError, MalformedFileError
from pycodec.format import limits
from pycodec.format.syntax import HEADER_ZLIB

PAD_KEY = "padding-for-tests"


# ----------------------------------------------------------------- building files


def small_file(tmp_path: Path) -> Path:
    """A file with every encoding: sparse, codebook, raw (float, bool, int) and alias."""
    torch.manual_seed(0)
    pruned = torch.zeros(20, 20)
    pruned.view(-1)[torch.randperm(400)[:40]] = torch.tensor([-0.5, 0.25, 0.5, 1.0]).repeat(10)
    levels = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    state = {
        "sparse": pruned,
        "dense": levels[torch.randint(0, 4, (16, 16))],
        "bias": torch.randn(5),
        "mask": torch.tensor([True, False, True]),
        "steps": torch.tensor(7),
        "tied": pruned,
    }
    path = tmp_path / "small.dcz"
    # A plain header, so that tests can edit it as JSON (split, rewrite).
    pycodec.save(state, path, metadata={PAD_KEY: "x" * 400}, compress_header=False)
    return path


def split(data: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """(header document, header bytes, body after the header) of a well-formed file."""
    (header_length,) = struct.unpack_from("<I", data, 12)
    header = data[32 : 32 + header_length]
    return json.loads(header), header, data[32 + header_length :]


def assemble(header: bytes, body: bytes, *, flags: int = 0, version: int = 1, file_length: int | None = None,
             magic: bytes = b"\x89DCZ\r\n\x1a\n") -> bytes:
    """A file with valid preamble checksums around the given header and body."""
    length = 32 + len(header) + len(body) if file_length is None else file_length
    head = magic + struct.pack("<HHIIQ", version, flags, len(header), zlib.crc32(header), length)
    return head + struct.pack("<I", zlib.crc32(head)) + header + body


def rewrite(data: bytes, mutate: Callable[[dict[str, Any]], None]) -> bytes:
    """Apply `mutate` to the header document, keeping the header's length (and so the
    layout) by trimming the test padding in metadata and padding with JSON whitespace."""
    document, header, body = split(data)
    document["metadata"].pop(PAD_KEY)
    mutate(document)
    text = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    if len(text) > len(header):
        raise AssertionError("mutation needs more header room than the test padding gives")
    return assemble(text + b" " * (len(header) - len(text)), body)


def tensor(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in document["tensors"] if t["name"] == name)


def expect_malformed(tmp_path: Path, data: bytes, match: str | None = None) -> MalformedFileError:
    path = tmp_path / "bad.dcz"
    path.write_bytes(data)
    with pytest.raises(MalformedFileError, match=match) as caught:
        pycodec.load(path)
    return caught.value


@pytest.fixture
def good(tmp_path: Path) -> bytes:
    data = small_file(tmp_path).read_bytes()
    assert set(pycodec.load(tmp_path / "small.dcz")) == {"sparse", "dense", "bias", "mask", "steps", "tied"}
    return data


# ----------------------------------------------------------------- sanity of the helpers


def test_rewrite_without_changes_still_loads(tmp_path: Path, good: bytes) -> None:
    path = tmp_path / "same.dcz"
    path.write_bytes(rewrite(good, lambda doc: None))
    with pycodec.open(path) as file:
        assert {file.entry(n).encoding for n in file.names()} == {"sparse", "codebook", "raw", "alias"}
    pycodec.load(path)


# ----------------------------------------------------------------- every byte


def test_truncation_at_every_offset(tmp_path: Path, good: bytes) -> None:
    path = tmp_path / "cut.dcz"
    for size in range(len(good)):
        path.write_bytes(good[:size])
        with pytest.raises(MalformedFileError):
            pycodec.load(path)


def test_appended_bytes(tmp_path: Path, good: bytes) -> None:
    expect_malformed(tmp_path, good + b"\x00", "trailing bytes")


def test_a_flipped_bit_in_every_byte_is_detected(tmp_path: Path, good: bytes) -> None:
    path = tmp_path / "flip.dcz"
    for offset in range(len(good)):
        corrupt = bytearray(good)
        corrupt[offset] ^= 1 << (offset % 8)
        path.write_bytes(bytes(corrupt))
        with pytest.raises(MalformedFileError):
            pycodec.load(path)
        with pytest.raises(MalformedFileError), pycodec.open(path) as file:  # verify checks the same bytes
            file.verify()


def test_nonzero_padding_is_detected(tmp_path: Path, good: bytes) -> None:
    (tmp_path / "good.dcz").write_bytes(good)
    with pycodec.open(tmp_path / "good.dcz") as file:
        bias = file.entry("bias").sections["data"].offset
    # The byte before a 64-aligned raw section is padding unless a section ends there.
    corrupt = bytearray(good)
    corrupt[bias - 1] = 0xFF
    expect_malformed(tmp_path, bytes(corrupt), "padding")


# ----------------------------------------------------------------- preamble


def test_wrong_magic(tmp_path: Path, good: bytes) -> None:
    expect_malformed(tmp_path, b"PK\x03\x04" + good[4:], "bad magic")
    _, header, body = split(good)
    expect_malformed(tmp_path, assemble(header, body, magic=b"\x89DCZ\n\n\x1a\n"), "bad magic")


@pytest.mark.parametrize("version", [0, 2, 0xFFFF])
def test_unsupported_version(tmp_path: Path, good: bytes, version: int) -> None:
    _, header, body = split(good)
    expect_malformed(tmp_path, assemble(header, body, version=version), "version")


@pytest.mark.parametrize("bit", range(1, 8))  # bit 0 is HEADER_ZLIB
def test_unknown_must_understand_flags_are_rejected(tmp_path: Path, good: bytes, bit: int) -> None:
    _, header, body = split(good)
    expect_malformed(tmp_path, assemble(header, body, flags=1 << bit), "must-understand")
    zipped = zlib.compress(header, 9)
    expect_malformed(tmp_path, assemble(zipped, body, flags=HEADER_ZLIB | 1 << bit), "must-understand")


@pytest.mark.parametrize("bit", range(8, 16))
def test_informational_flags_are_ignored(tmp_path: Path, good: bytes, bit: int) -> None:
    _, header, body = split(good)
    path = tmp_path / "flags.dcz"
    path.write_bytes(assemble(header, body, flags=1 << bit))
    assert set(pycodec.load(path)) == {"sparse", "dense", "bias", "mask", "steps", "tied"}


def test_declared_file_length_must_match(tmp_path: Path, good: bytes) -> None:
    _, header, body = split(good)
    expect_malformed(tmp_path, assemble(header, body, file_length=len(good) + 1), "truncated")
    expect_malformed(tmp_path, assemble(header, body, file_length=len(good) - 1), "trailing")


@pytest.mark.parametrize("length", [0, 1, limits.MAX_HEADER_LENGTH + 1, 0xFFFFFFFF])
def test_header_length_out_of_limits(tmp_path: Path, length: int) -> None:
    head = b"\x89DCZ\r\n\x1a\n" + struct.pack("<HHIIQ", 1, 0, length, 0, 32 + 2)
    data = head + struct.pack("<I", zlib.crc32(head)) + b"{}"
    expect_malformed(tmp_path, data, "header length")


def test_header_checksum(tmp_path: Path, good: bytes) -> None:
    _, header, body = split(good)
    bad = assemble(header, body)
    bad = bad[:16] + struct.pack("<I", zlib.crc32(header) ^ 1) + bad[20:28]
    bad = bad + struct.pack("<I", zlib.crc32(bad[:28])) + header + body
    expect_malformed(tmp_path, bad, "header checksum")


@pytest.mark.parametrize("data", [b"", b"\x89DCZ", b"\x00" * 31])
def test_too_short_for_a_preamble(tmp_path: Path, data: bytes) -> None:
    expect_malformed(tmp_path, data, "too short")


# ----------------------------------------------------------------- zlib header (flag bit 0)
# The body of `good` is laid out for its plain header's length; a zlib header of another
# length moves the sections, so these files are rejected by the layout check at the
# latest. Each case must fail earlier, with its own message.


def _zlib_file(header_json: bytes, body: bytes = b"") -> bytes:
    stored = zlib.compress(header_json, 9)
    to_data_area = bytes(-(32 + len(stored)) % 64)
    return assemble(stored, to_data_area + body, flags=HEADER_ZLIB)


EMPTY_HEADER = b'{"metadata":{},"tensors":[]}'


def test_zlib_header_of_an_empty_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "z.dcz"
    path.write_bytes(_zlib_file(EMPTY_HEADER))
    assert pycodec.load(path) == {}


def test_zlib_header_with_trailing_whitespace_loads(tmp_path: Path) -> None:
    path = tmp_path / "z.dcz"
    path.write_bytes(_zlib_file(EMPTY_HEADER + b" \n\t\r "))
    assert pycodec.load(path) == {}


def test_corrupt_zlib_header(tmp_path: Path) -> None:
    stored = bytearray(zlib.compress(EMPTY_HEADER, 9))
    stored[-1] ^= 0xFF  # the Adler-32 no longer matches (the CRC32 is recomputed)
    expect_malformed(tmp_path, assemble(bytes(stored), b"", flags=HEADER_ZLIB), "corrupt zlib stream")
    stored = bytearray(zlib.compress(EMPTY_HEADER, 9))
    stored[2] = 0xFF  # reserved block type 3
    expect_malformed(tmp_path, assemble(bytes(stored), b"", flags=HEADER_ZLIB), "corrupt zlib stream")


def test_truncated_zlib_header(tmp_path: Path) -> None:
    stored = zlib.compress(EMPTY_HEADER, 9)
    for cut in range(2, len(stored)):
        expect_malformed(tmp_path, assemble(stored[:cut], b"", flags=HEADER_ZLIB), "truncated|corrupt")
    expect_malformed(tmp_path, assemble(stored[:-1], b"", flags=HEADER_ZLIB), "truncated")


def test_bytes_after_the_zlib_stream(tmp_path: Path) -> None:
    stored = zlib.compress(EMPTY_HEADER, 9)
    for tail in (b"\x00", b" ", stored):
        expect_malformed(tmp_path, assemble(stored + tail, b"", flags=HEADER_ZLIB), "after the end of the zlib")


def test_flag_set_on_a_plain_json_header(tmp_path: Path, good: bytes) -> None:
    _, header, body = split(good)
    expect_malformed(tmp_path, assemble(header, body, flags=HEADER_ZLIB), "corrupt zlib stream")


def test_zlib_header_with_a_preset_dictionary(tmp_path: Path) -> None:
    deflater = zlib.compressobj(9, zdict=b'{"metadata":')
    stored = deflater.compress(EMPTY_HEADER) + deflater.flush()
    expect_malformed(tmp_path, assemble(stored, b"", flags=HEADER_ZLIB), "corrupt zlib stream")


def test_zlib_bomb_is_rejected_without_inflating_past_the_limit(tmp_path: Path) -> None:
    deflater = zlib.compressobj(9)
    chunk = b"{" * 2**20
    stored = b"".join(deflater.compress(chunk) for _ in range(17)) + deflater.flush()
    assert len(stored) < 32 * 2**10  # 17 MiB in a few KB
    tracemalloc.start()
    try:
        expect_malformed(tmp_path, assemble(stored, b"", flags=HEADER_ZLIB), "inflates to more than 16777216")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20


def test_zlib_header_at_exactly_the_limit_is_not_a_bomb(tmp_path: Path) -> None:
    """16 MiB inflated is allowed (it then fails as JSON, not as a size)."""
    text = b" " * (limits.MAX_HEADER_LENGTH - len(EMPTY_HEADER)) + EMPTY_HEADER
    path = tmp_path / "big.dcz"
    path.write_bytes(_zlib_file(text))
    assert pycodec.load(path) == {}
    expect_malformed(tmp_path, _zlib_file(b" " + text), "inflates to more than")


def test_zlib_header_with_bad_json_reports_the_json(tmp_path: Path) -> None:
    expect_malformed(tmp_path, _zlib_file(b'{"metadata":{},"tensors":['), "invalid JSON")
    expect_malformed(tmp_path, _zlib_file(b""), "invalid JSON")


def test_zlib_header_checksum_covers_the_stored_bytes(tmp_path: Path) -> None:
    stored = zlib.compress(EMPTY_HEADER, 9)
    data = bytearray(assemble(stored, b"", flags=HEADER_ZLIB))
    data[32 + 3] ^= 0x10
    expect_malformed(tmp_path, bytes(data), "header checksum")


@pytest.fixture
def zipped(tmp_path: Path) -> bytes:
    """`good`'s tensors saved with a zlib header."""
    path = tmp_path / "zipped.dcz"
    pycodec.save(pycodec.load(small_file(tmp_path)), path, metadata={PAD_KEY: "x" * 400})
    with pycodec.open(path) as file:
        assert file.header_compressed
    return path.read_bytes()


def test_every_truncation_and_bit_flip_of_a_zlib_file(tmp_path: Path, zipped: bytes) -> None:
    path = tmp_path / "bad.dcz"
    for size in range(len(zipped)):
        path.write_bytes(zipped[:size])
        with pytest.raises(MalformedFileError):
            pycodec.load(path)
    for offset in range(len(zipped)):
        corrupt = bytearray(zipped)
        corrupt[offset] ^= 1 << (offset % 8)
        path.write_bytes(bytes(corrupt))
        with pytest.raises(MalformedFileError):
            pycodec.load(path)


# ----------------------------------------------------------------- header JSON


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"[]", "expected an object"),
        (b"{}", "missing member"),
        (b'{"metadata":{},"tensors":[],"extra":1}', "unknown member"),
        (b'{"metadata":{},"metadata":{},"tensors":[]}', "duplicate key"),
        (b'{"metadata":{"a":1},"tensors":[]}', "expected a string"),
        (b'{"metadata":{},"tensors":[]', "invalid JSON"),
        (b'\xef\xbb\xbf{"metadata":{},"tensors":[]}', "byte-order mark"),
        (b'{"metadata":{"\xff":"x"},"tensors":[]}', "invalid UTF-8"),
        (b'{"metadata":{"\\ud800":"x"},"tensors":[]}', "lone surrogate"),
        (b'{"metadata":{},"tensors":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper than 4|nested too deeply|expected an object"),
        (b'{"metadata":{},"tensors":[{"name":"a","dtype":"float32","shape":[1.0],"encoding":"raw",'
         b'"data":{"length":4,"crc32":0}}]}', "non-integer"),
        (b'{"metadata":{},"tensors":[{"name":"a","dtype":"float32","shape":[NaN],"encoding":"raw",'
         b'"data":{"length":4,"crc32":0}}]}', "NaN"),
        (b'{"metadata":{},"tensors":[{"name":"a","dtype":"float32","shape":[' + b"9" * 21 + b'],"encoding":"raw",'
         b'"data":{"length":4,"crc32":0}}]}', "digits"),
        (b'{"metadata":{},"tensors":[{"name":"a","dtype":"float32","shape":[true],"encoding":"raw",'
         b'"data":{"length":4,"crc32":0}}]}', "expected an integer"),
    ],
    ids=lambda value: value if isinstance(value, str) else "header",
)
def test_bad_header_json(tmp_path: Path, header: bytes, match: str) -> None:
    expect_malformed(tmp_path, assemble(header, b""), match)


# ----------------------------------------------------------------- tensor table


def _set(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        tensor(document, name)[key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (_set("bias", "dtype", "float128"), "expected one of"),
        (_set("bias", "encoding", "lz4"), "expected one of"),
        (_set("bias", "shape", [1] * 17), "rank"),
        (_set("bias", "shape", [-5]), "outside"),
        (_set("bias", "shape", [2**41]), "outside"),
        (_set("bias", "shape", [2**20, 2**20, 2]), "more than 2\\^40"),
        (_set("bias", "shape", [6]), "raw data of 20 bytes, expected 24"),
        (_set("bias", "name", "sparse"), "appears twice"),
        (_set("bias", "name", ""), "string of 0 bytes"),
        (_set("bias", "extra", 1), "unknown member"),
        (_set("sparse", "index_bits", 0), "outside 1..16"),
        (_set("sparse", "index_bits", 17), "outside 1..16"),
        (_set("steps", "encoding", "codebook"), "missing member"),
        (_set("tied", "alias_of", "nothing"), "not an earlier non-alias"),
        (_set("tied", "alias_of", "bias"), "differs from its alias target"),
        (_set("tied", "alias_of", "tied"), "not an earlier non-alias"),
    ],
)
def test_bad_table_entries(tmp_path: Path, good: bytes, mutate, match: str) -> None:
    expect_malformed(tmp_path, rewrite(good, mutate), match)


def test_codebook_encoding_is_refused_for_integer_dtypes(tmp_path: Path, good: bytes) -> None:
    def mutate(document: dict[str, Any]) -> None:
        tensor(document, "dense")["dtype"] = "int32"

    expect_malformed(tmp_path, rewrite(good, mutate), "not allowed for int32")


def _section(name: str, role: str, **changes: int) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        tensor(document, name)[role].update(changes)

    return mutate


def _length_of(good: bytes, name: str, role: str) -> int:
    return tensor(split(good)[0], name)[role]["length"]


@pytest.mark.parametrize(
    ("name", "role", "field", "delta", "match"),
    [
        # A wrong length moves every later section: some check downstream must see it.
        ("sparse", "codebook", "length", 1, "cover|checksum|padding"),
        ("sparse", "indices", "length", -2, "cover|checksum|padding"),
        ("dense", "codebook", "length", 3, "cover|checksum|multiple|padding"),
        ("bias", "data", "length", 64, "raw data|cover"),
        ("sparse", "gaps", "length", 1, "cover|checksum|padding"),
        ("sparse", "gaps", "length", -1, "cover|checksum|padding"),
        ("steps", "data", "length", 2**40, "raw data|cover"),
        ("sparse", "indices", "length", 2**48, "outside"),
    ],
)
def test_overlapping_uncovered_and_oversized_ranges(
    tmp_path: Path, good: bytes, name: str, role: str, field: str, delta: int, match: str
) -> None:
    value = max(0, tensor(split(good)[0], name)[role][field] + delta)
    expect_malformed(tmp_path, rewrite(good, _section(name, role, **{field: value})), match)


def test_uncovered_trailing_section_bytes(tmp_path: Path, good: bytes) -> None:
    """Bytes after the last section, with the preamble's file length covering them."""
    _, header, body = split(good)
    expect_malformed(tmp_path, assemble(header, body + b"\x00" * 8), "do not cover")


def test_section_checksum_names_the_tensor(tmp_path: Path, good: bytes) -> None:
    expect_malformed(tmp_path, rewrite(good, _section("dense", "indices", crc32=0)), "'dense': checksum mismatch")


def test_swapped_sections_are_rejected(tmp_path: Path, good: bytes) -> None:
    def swap(document: dict[str, Any]) -> None:
        entry = tensor(document, "sparse")
        entry["indices"], entry["gaps"] = entry["gaps"], entry["indices"]

    expect_malformed(tmp_path, rewrite(good, swap), "cover|checksum")


# ----------------------------------------------------------------- inconsistent payloads
# Files with valid checksums whose sections contradict the table: crafted by replacing
# one section's bytes and rebuilding the header around them.


def craft(tensors: list[tuple[dict[str, Any], dict[str, bytes]]]) -> bytes:
    """A file from (entry without sections, {role: payload}) pairs, laid out canonically."""
    from pycodec.format.syntax import SECTION_ROLES

    header_room = 4096 - 32  # so the data area starts at 4096
    end = 32 + header_room
    body = b""
    document: dict[str, Any] = {"metadata": {}, "tensors": []}
    for entry, payloads in tensors:
        entry = dict(entry)
        for role in SECTION_ROLES[entry["encoding"]]:
            alignment = 64 if entry["encoding"] == "raw" else 1
            offset = -(-end // alignment) * alignment
            body += b"\x00" * (offset - end) + payloads[role]
            entry[role] = {"length": len(payloads[role]), "crc32": zlib.crc32(payloads[role])}
            end = offset + len(payloads[role])
        document["tensors"].append(entry)
    text = json.dumps(document).encode()
    return assemble(text + b" " * (header_room - len(text)), body)


def _book(*values: float) -> bytes:
    return np.array(values, dtype="<f4").tobytes()


def _stream(values: list[int], dtype=np.uint8) -> bytes:
    return codec.huffman_encode(np.array(values, dtype=dtype))


def _sparse(shape: list[int], book: bytes, indices: bytes, gaps: bytes, bits: int = 3) -> bytes:
    entry = {"name": "t", "dtype": "float32", "shape": shape, "encoding": "sparse", "index_bits": bits}
    return craft([(entry, {"codebook": book, "indices": indices, "gaps": gaps})])


def _dense(shape: list[int], book: bytes, indices: bytes, dtype: str = "float32") -> bytes:
    entry = {"name": "t", "dtype": dtype, "shape": shape, "encoding": "codebook"}
    return craft([(entry, {"codebook": book, "indices": indices})])


def test_crafted_files_are_valid_when_consistent(tmp_path: Path) -> None:
    path = tmp_path / "ok.dcz"
    path.write_bytes(_sparse([12], _book(1.0, 2.0), _stream([0, 1, 1]), _stream([1, 0, 7, 0], np.uint8)))
    expected = [0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0]
    assert pycodec.load(path)["t"].tolist() == expected
    path.write_bytes(_dense([2, 2], _book(0.0, 5.0), _stream([0, 1, 1, 0])))
    assert pycodec.load(path)["t"].tolist() == [[0, 5], [5, 0]]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_dense([4], b"", _stream([0, 0, 0, 0])), "not a positive multiple"),
        (_dense([4], b"\x00" * 6, _stream([0, 0, 0, 0])), "not a positive multiple"),
        (_dense([4], b"\x00" * 4 * 65537, _stream([0, 0, 0, 0])), "exceeds 65536"),
        (_dense([4], _book(1.0, 2.0), _stream([0, 1, 1])), "3 symbols for 4 elements"),
        (_dense([4], _book(1.0, 2.0), _stream([0, 1, 1, 2])), "out of range"),
        (_dense([4], _book(1.0, 2.0), _stream([0, 1, 1, 0], np.uint16)), "16-bit symbols, expected 8"),
        (_dense([4], _book(1.0, 2.0), _stream([0, 1, 1, 0]) + b"\x00"), "indices stream"),
        (_dense([4], _book(1.0, 2.0), b"\x08\x04"), "indices stream"),
        (_dense([4], b"\x01", _stream([0, 0, 0, 0]), dtype="bool"), "not allowed for bool"),
        (_sparse([12], _book(1.0, 2.0), _stream([0, 1, 1]), _stream([1, 0, 7])), "ends with a filler|expected 3"),
        (_sparse([12], _book(1.0, 2.0), _stream([0, 1, 1]), _stream([1, 0, 7, 0, 7])), "ends with a filler"),
        (_sparse([12], _book(1.0, 2.0), _stream([0, 1, 1]), _stream([1, 0, 7, 3])), "past the tensor"),
        (_sparse([12], _book(1.0, 2.0), _stream([0, 1, 1]), _stream([1, 0, 8, 0])), "exceeds|out of range"),
        (_sparse([12], _book(1.0, 2.0), _stream([0, 1]), _stream([1, 0, 7, 0])), "more relative-index|left without"),
        (_sparse([12], _book(1.0, 2.0), _stream([0, 1, 1, 1]), _stream([1, 0, 7, 0])),
         "entries, expected|left without"),
        (_sparse([2], _book(1.0, 2.0), _stream([0, 1, 1]), _stream([0, 0, 0])), "declares 3 symbols, over the limit of 2"),
        (_sparse([12], _book(1.0, 2.0), _stream([0, 1, 1]), _stream([1, 0, 7, 0], np.uint16)), "16-bit symbols"),
        (_sparse([12], _book(1.0, 2.0), _stream([0, 1, 1]), _stream([0, 0] + [7] * 300 + [0])),
         "declares 303 symbols, over the limit of 5"),
    ],
    ids=lambda value: value if isinstance(value, str) else "file",
)
def test_inconsistent_payloads(tmp_path: Path, data: bytes, match: str) -> None:
    expect_malformed(tmp_path, data, match)


def test_raw_bool_must_be_zero_or_one(tmp_path: Path) -> None:
    entry = {"name": "m", "dtype": "bool", "shape": [3], "encoding": "raw"}
    expect_malformed(tmp_path, craft([(entry, {"data": b"\x00\x01\x02"})]), "neither 0x00 nor 0x01")


# ----------------------------------------------------------------- allocation limits


def _single_symbol_stream(count: int) -> bytes:
    """A mode-1 Huffman stream declaring `count` copies of symbol 0 (a few bytes)."""
    out = bytearray([0x04])
    while True:
        byte, count = count & 0x7F, count >> 7
        out.append(byte | (0x80 if count else 0))
        if not count:
            break
    return bytes(out + b"\x00")


def test_huge_declared_shapes_are_rejected_before_allocating(tmp_path: Path) -> None:
    cases = [
        _dense([2**40], _book(1.0), _single_symbol_stream(2**40)),
        _sparse([2**20, 2**20], _book(1.0), _single_symbol_stream(1), _stream([0, 0])),
        _dense([2**20, 2**20], _book(1.0), _single_symbol_stream(2**40)),
    ]
    path = tmp_path / "huge.dcz"
    for data in cases:
        path.write_bytes(data)
        tracemalloc.start()
        try:
            with pytest.raises(LimitExceededError, match="decode to more than"):  # a policy limit
                pycodec.load(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 16 * 2**20


def test_decoded_size_policy_is_overridable(tmp_path: Path) -> None:
    path = tmp_path / "z.dcz"
    pycodec.save({"z": torch.zeros(1000)}, path)
    with pytest.raises(LimitExceededError, match="max_decoded_bytes"):
        pycodec.load(path, max_decoded_bytes=3999)
    assert pycodec.load(path, max_decoded_bytes=4000)["z"].shape == (1000,)


def test_single_symbol_stream_cannot_exceed_the_tensor(tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        expect_malformed(tmp_path, _dense([16], _book(1.0), _single_symbol_stream(2**33)), "over the limit of 16")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


# ----------------------------------------------------------------- fuzzing
# Structure-aware mutations (tools/fuzz/dcz_mutator.py) lay each file out again with every
# offset, length and CRC recomputed, so a mutation reaches the check or decoder it targets
# instead of the first checksum. The oracle (tools/fuzz/oracle.py) runs load, open + lazy
# reads and `dcz verify`, and compares with the spec-only decoder (tools/fuzz/spec_decoder.py).

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "fuzz"))
import dcz_mutator  # noqa: E402
import oracle  # noqa: E402
import seeds as fuzz_seeds  # noqa: E402

FUZZ_SEED = 7
FUZZ_INPUTS_PER_FAMILY = 60
#: Spec decoder rejections made before any section is decoded.
EARLY_REJECTIONS = {"bad magic", "preamble checksum", "version", "header length", "file length", "header checksum",
                    "shorter than a preamble", "unknown must-understand flag"}  # fmt: skip


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    vectors = sorted((Path(__file__).resolve().parents[1] / "spec" / "vectors").glob("*.dcz"))
    return [p.read_bytes() for p in vectors + fuzz_seeds.write_generated(folder)] + [small_file(folder).read_bytes()]


def fuzz_family(tmp_path: Path, seeds: list[bytes], families: tuple[str, ...]) -> collections.Counter[str]:
    """Run the oracle on mutated inputs; fail on any finding; tally how inputs ended."""
    tally: collections.Counter[str] = collections.Counter()
    path = tmp_path / "fuzz.dcz"
    for i in range(FUZZ_INPUTS_PER_FAMILY):
        rng = random.Random(f"{FUZZ_SEED}:{families}:{i}")
        data, what = dcz_mutator.mutate(rng.choice(seeds), rng, families)
        path.write_bytes(data)
        report = oracle.run_all(str(path), data)
        details = [o.detail for o in report.outcomes.values() if o.kind == "exception"]
        assert not report.findings, f"input {i} ({'; '.join(what)}): {report.findings}\n{details}"
        spec = report.outcomes["spec"]
        tally["accepted" if spec.kind == "ok" else "rejected"] += 1
        if spec.kind != "ok" and spec.detail.removeprefix("SpecReject (").rstrip(")") not in EARLY_REJECTIONS:
            tally["rejected after the header checks"] += 1
    return tally


@pytest.mark.parametrize("families", [("preamble", "raw"), ("json",), ("text",), ("stream",), ("payload",)])
def test_mutated_files_load_or_raise_dcz_error_and_agree_with_the_spec(
    tmp_path: Path, seed_files: list[bytes], families: tuple[str, ...]
) -> None:
    tally = fuzz_family(tmp_path, seed_files, families)
    assert tally["rejected"] > 0
    if families != ("preamble", "raw"):
        # Not vacuous: mutations get past the checksums, and some files still load.
        assert tally["accepted"] > 0
        assert tally["rejected after the header checks"] >= tally["rejected"] // 2


def test_spec_decoder_agrees_on_every_seed(seed_files: list[bytes], tmp_path: Path) -> None:
    path = tmp_path / "seed.dcz"
    for data in seed_files:
        path.write_bytes(data)
        report = oracle.run_all(str(path), data)
        assert not report.findings and report.outcomes["spec"].kind == "ok", report.findings

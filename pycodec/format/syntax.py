"""The syntax tables of ``spec/dcz.md`` and the code they drive.

One field list per structure, named and ordered as in the spec: :data:`PREAMBLE_FIELDS`
(section 3.1), :data:`TOP_LEVEL_MEMBERS` (4.2), :data:`COMMON_MEMBERS` and
:data:`ENCODING_MEMBERS` (4.3), :data:`SECTION_MEMBERS`. The stored form of the header
(plain JSON or, with flag :data:`HEADER_ZLIB`, a zlib stream; 3.2) is known here only:
:func:`pack_header` and :func:`unpack_header`. The writer
serializes and the reader parses through the same tables, so the two cannot drift apart;
the reader also checks every value against the table's rule and raises
:class:`MalformedFileError`.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pycodec import codec
from pycodec.errors import MalformedFileError
from pycodec.format import limits
from pycodec.format.dtypes import DTYPES

MAGIC = b"\x89DCZ\r\n\x1a\n"
VERSION = 1
MUST_UNDERSTAND_MASK = 0x00FF  # flag bits 0-7: reject if set and not implemented
HEADER_ZLIB = 0x0001  # flag bit 0: the stored header is a zlib stream (3.1, 3.2)
KNOWN_FLAGS = HEADER_ZLIB
HEADER_ZLIB_LEVEL = 9  # deterministic for a given zlib; headers are small, so speed is moot

# ----------------------------------------------------------------- preamble (3.1)

#: (name, struct code), in file order; all little-endian.
PREAMBLE_FIELDS: tuple[tuple[str, str], ...] = (
    ("magic", "8s"),
    ("version", "H"),
    ("flags", "H"),
    ("header_length", "I"),
    ("header_crc32", "I"),
    ("file_length", "Q"),
    ("preamble_crc32", "I"),
)
PREAMBLE_STRUCT = struct.Struct("<" + "".join(code for _, code in PREAMBLE_FIELDS))
CRC_COVERED = PREAMBLE_STRUCT.size - 4  # preamble_crc32 covers the bytes before it
if PREAMBLE_STRUCT.size != limits.PREAMBLE_SIZE:  # pragma: no cover - a table bug
    raise ImportError("preamble table does not add up to 32 bytes")


@dataclass(frozen=True)
class Preamble:
    """The fixed 32 bytes at the start of a file."""

    header_length: int
    header_crc32: int
    file_length: int
    flags: int = 0
    version: int = VERSION
    magic: bytes = MAGIC

    def pack(self) -> bytes:
        values = {name: getattr(self, name) for name, _ in PREAMBLE_FIELDS[:-1]}
        head = PREAMBLE_STRUCT.pack(*values.values(), 0)[:CRC_COVERED]
        return head + struct.pack("<I", codec.crc32(head))


def unpack_preamble(data: bytes) -> Preamble:
    """Parse and check the preamble in the order the spec prescribes (3.1)."""
    if len(data) < limits.PREAMBLE_SIZE:
        raise MalformedFileError(
            f"file too short: need {limits.PREAMBLE_SIZE} bytes for the preamble, got {len(data)}"
        )
    values = dict(zip((n for n, _ in PREAMBLE_FIELDS), PREAMBLE_STRUCT.unpack(data[:32]), strict=True))
    if values["magic"] != MAGIC:
        raise MalformedFileError(f"not a .dcz file: bad magic {values['magic']!r}")
    if codec.crc32(data[:CRC_COVERED]) != values["preamble_crc32"]:
        raise MalformedFileError("preamble checksum mismatch: the first 32 bytes are corrupt")
    if values["version"] != VERSION:
        raise MalformedFileError(f"unsupported format version {values['version']} (this reader: 1)")
    unknown = values["flags"] & MUST_UNDERSTAND_MASK & ~KNOWN_FLAGS
    if unknown:
        raise MalformedFileError(f"unknown must-understand flags 0x{unknown:02x}")
    if not limits.MIN_HEADER_LENGTH <= values["header_length"] <= limits.MAX_HEADER_LENGTH:
        raise MalformedFileError(
            f"header length {values['header_length']} outside "
            f"{limits.MIN_HEADER_LENGTH}..{limits.MAX_HEADER_LENGTH}"
        )
    values.pop("preamble_crc32")
    return Preamble(**values)


# ----------------------------------------------------------------- stored header (3.2)


def pack_header(text: bytes, flags: int) -> bytes:
    """The stored form of the JSON header `text` under `flags`: itself, or zlib-compressed."""
    return zlib.compress(text, HEADER_ZLIB_LEVEL) if flags & HEADER_ZLIB else text


def unpack_header(stored: bytes, flags: int) -> bytes:
    """The JSON header from its stored form (already CRC-checked) under `flags`."""
    return _inflate_header(stored) if flags & HEADER_ZLIB else stored


def _inflate_header(stored: bytes) -> bytes:
    """Inflate a zlib header, never producing more than one byte past the limit (a bomb
    of a few KB could otherwise ask for gigabytes)."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(stored, limits.MAX_HEADER_LENGTH + 1)
    except zlib.error as exc:
        raise MalformedFileError(f"header: corrupt zlib stream ({exc})") from exc
    if len(text) > limits.MAX_HEADER_LENGTH:
        raise MalformedFileError(f"header: zlib stream inflates to more than {limits.MAX_HEADER_LENGTH} bytes")
    if not inflater.eof:
        raise MalformedFileError("header: zlib stream is truncated (no end of stream)")
    if inflater.unused_data:
        raise MalformedFileError(f"header: {len(inflater.unused_data)} bytes after the end of the zlib stream")
    return text


# ----------------------------------------------------------------- header model


@dataclass(frozen=True)
class Section:
    """A byte range of the file with the CRC32 of its contents. The header stores the
    length and CRC32 only; the offset follows from the layout (:mod:`.layout`)."""

    length: int
    crc32: int
    offset: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class TensorEntry:
    """One row of the tensor table."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    encoding: str
    sections: dict[str, Section] = field(default_factory=dict)  # role -> section
    index_bits: int | None = None  # sparse only
    alias_of: str | None = None  # alias only
    plane_streams: tuple[int, ...] | None = None  # planes only: 0 = raw plane, n = stream bytes

    @property
    def numel(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass
class Header:
    metadata: dict[str, str]
    tensors: list[TensorEntry]


# ----------------------------------------------------------------- member rules
# A rule checks a JSON value (raising MalformedFileError with `where` in the message) and
# returns the Python value; writing uses the value as it is (ints, strings, lists).


def _int_rule(low: int, high: int) -> Callable[[Any, str], int]:
    def rule(value: Any, where: str) -> int:
        if type(value) is not int:
            raise MalformedFileError(f"{where}: expected an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise MalformedFileError(f"{where}: {value} outside {low}..{high}")
        return value

    return rule


def _string_rule(min_bytes: int, max_bytes: int) -> Callable[[Any, str], str]:
    def rule(value: Any, where: str) -> str:
        if type(value) is not str:
            raise MalformedFileError(f"{where}: expected a string, got {type(value).__name__}")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise MalformedFileError(f"{where}: string holds a lone surrogate") from exc
        if not min_bytes <= size <= max_bytes:
            raise MalformedFileError(f"{where}: string of {size} bytes outside {min_bytes}..{max_bytes}")
        return value

    return rule


def _enum_rule(allowed: tuple[str, ...]) -> Callable[[Any, str], str]:
    def rule(value: Any, where: str) -> str:
        if type(value) is not str or value not in allowed:
            raise MalformedFileError(f"{where}: expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return rule


def _shape_rule(value: Any, where: str) -> tuple[int, ...]:
    if type(value) is not list:
        raise MalformedFileError(f"{where}: expected an array, got {type(value).__name__}")
    if len(value) > limits.MAX_RANK:
        raise MalformedFileError(f"{where}: rank {len(value)} exceeds {limits.MAX_RANK}")
    dim = _int_rule(0, limits.MAX_DIM)
    shape = tuple(dim(v, f"{where}[{i}]") for i, v in enumerate(value))
    # At most 16 factors of at most 2^40: Python's integers make the product exact.
    if limits.shape_volume(shape) > limits.MAX_NUMEL:
        raise MalformedFileError(f"{where}: {list(shape)} spans more than 2^40 (the product of max(d, 1))")
    return shape


def _plane_streams_rule(value: Any, where: str) -> tuple[int, ...]:
    """`plane_streams` (5.7): an array of 1..8 integers 0..2^48 (its length against the
    dtype's size is checked with the table, R27)."""
    if type(value) is not list:
        raise MalformedFileError(f"{where}: expected an array, got {type(value).__name__}")
    if not 1 <= len(value) <= limits.MAX_PLANES:
        raise MalformedFileError(f"{where}: {len(value)} entries outside 1..{limits.MAX_PLANES}")
    length = _int_rule(0, limits.MAX_FILE_LENGTH)
    return tuple(length(v, f"{where}[{i}]") for i, v in enumerate(value))


def _section_rule(value: Any, where: str) -> Section:
    members = _members(value, SECTION_MEMBERS, where)
    return Section(**members)


def _metadata_rule(value: Any, where: str) -> dict[str, str]:
    if type(value) is not dict:
        raise MalformedFileError(f"{where}: expected an object, got {type(value).__name__}")
    if len(value) > limits.MAX_METADATA_ENTRIES:
        raise MalformedFileError(f"{where}: {len(value)} entries exceed {limits.MAX_METADATA_ENTRIES}")
    key_rule = _string_rule(1, limits.MAX_METADATA_KEY_BYTES)
    value_rule = _string_rule(0, limits.MAX_METADATA_VALUE_BYTES)
    return {key_rule(k, f"{where} key"): value_rule(v, f"{where}[{k!r}]") for k, v in value.items()}


def _tensors_rule(value: Any, where: str) -> list[TensorEntry]:
    if type(value) is not list:
        raise MalformedFileError(f"{where}: expected an array, got {type(value).__name__}")
    if len(value) > limits.MAX_TENSORS:
        raise MalformedFileError(f"{where}: {len(value)} tensors exceed {limits.MAX_TENSORS}")
    return [_tensor_entry(v, f"tensor {i}") for i, v in enumerate(value)]


Rule = Callable[[Any, str], Any]

NAME = _string_rule(1, limits.MAX_NAME_BYTES)
ENCODINGS = ("raw", "codebook", "sparse", "sparse_raw", "planes", "zstd", "alias")

#: Section object members (4.3).
SECTION_MEMBERS: tuple[tuple[str, Rule], ...] = (
    ("crc32", _int_rule(0, 0xFFFFFFFF)),
    ("length", _int_rule(0, limits.MAX_FILE_LENGTH)),
)
#: Top-level members (4.2).
TOP_LEVEL_MEMBERS: tuple[tuple[str, Rule], ...] = (
    ("metadata", _metadata_rule),
    ("tensors", _tensors_rule),
)
#: Members of every tensor object (4.3).
COMMON_MEMBERS: tuple[tuple[str, Rule], ...] = (
    ("name", NAME),
    ("dtype", _enum_rule(tuple(DTYPES))),
    ("shape", _shape_rule),
    ("encoding", _enum_rule(ENCODINGS)),
)
#: Members by encoding (4.3); sections in layout order (3.3).
ENCODING_MEMBERS: dict[str, tuple[tuple[str, Rule], ...]] = {
    "raw": (("data", _section_rule),),
    "codebook": (("codebook", _section_rule), ("indices", _section_rule)),
    "sparse": (
        ("codebook", _section_rule),
        ("indices", _section_rule),
        ("gaps", _section_rule),
        ("index_bits", _int_rule(limits.MIN_INDEX_BITS, limits.MAX_INDEX_BITS)),
    ),
    "sparse_raw": (
        ("values", _section_rule),
        ("gaps", _section_rule),
        ("index_bits", _int_rule(limits.MIN_INDEX_BITS, limits.MAX_INDEX_BITS)),
    ),
    "planes": (("planes", _section_rule), ("plane_streams", _plane_streams_rule)),
    "zstd": (("frame", _section_rule),),
    "alias": (("alias_of", NAME),),
}
SECTION_ROLES: dict[str, tuple[str, ...]] = {
    enc: tuple(name for name, rule in members if rule is _section_rule)
    for enc, members in ENCODING_MEMBERS.items()
}


def _members(value: Any, table: tuple[tuple[str, Rule], ...], where: str) -> dict[str, Any]:
    """Check that `value` is an object with exactly the table's members; apply the rules."""
    if type(value) is not dict:
        raise MalformedFileError(f"{where}: expected an object, got {type(value).__name__}")
    expected = {name for name, _ in table}
    missing = sorted(expected - value.keys())
    unknown = sorted(value.keys() - expected)
    if missing:
        raise MalformedFileError(f"{where}: missing member {missing[0]!r}")
    if unknown:
        raise MalformedFileError(f"{where}: unknown member {unknown[0]!r}")
    return {name: rule(value[name], f"{where}.{name}") for name, rule in table}


def _tensor_entry(value: Any, where: str) -> TensorEntry:
    if type(value) is not dict:
        raise MalformedFileError(f"{where}: expected an object, got {type(value).__name__}")
    encoding = _enum_rule(ENCODINGS)(value.get("encoding"), f"{where}.encoding")
    common = {name for name, _ in COMMON_MEMBERS}
    table = COMMON_MEMBERS + ENCODING_MEMBERS[encoding]
    members = _members(value, table, where)
    entry = TensorEntry(**{k: members[k] for k in common})
    entry.sections = {role: members[role] for role in SECTION_ROLES[encoding]}
    entry.index_bits = members.get("index_bits")
    entry.alias_of = members.get("alias_of")
    entry.plane_streams = members.get("plane_streams")
    return entry


# ----------------------------------------------------------------- JSON (4.1)


def _reject_constant(token: str) -> None:
    raise MalformedFileError(f"header: {token} is not allowed")


def _reject_float(token: str) -> None:
    raise MalformedFileError(f"header: non-integer number {token[:40]}")


def _parse_int(token: str) -> int:
    if len(token.lstrip("-")) > limits.MAX_INT_DIGITS:
        raise MalformedFileError(f"header: integer with more than {limits.MAX_INT_DIGITS} digits")
    return int(token)


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedFileError(f"header: duplicate key {key!r}")
        result[key] = value
    return result


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
#: Each byte's change of nesting depth: +1 for ``[`` and ``{``, -1 for ``]`` and ``}``.
_BRACKET_STEP = np.zeros(256, np.int8)
_BRACKET_STEP[[0x5B, 0x7B]], _BRACKET_STEP[[0x5D, 0x7D]] = 1, -1


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, brackets inside strings not
    counted (spec 4.1 bounds it before a parser could recurse into it)."""
    bare = np.frombuffer(_STRING.sub(b"", data), dtype=np.uint8)
    if bare.size == 0:
        return 0
    return int(np.cumsum(_BRACKET_STEP[bare], dtype=np.int64).max(initial=0))


def parse_header(data: bytes) -> Header:
    """Parse header bytes (already CRC-checked) into a :class:`Header`, checking 4.1–4.3."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise MalformedFileError("header: byte-order mark is not allowed")
    if nesting_depth(data) > limits.MAX_HEADER_DEPTH:
        raise MalformedFileError(f"header: JSON nested deeper than {limits.MAX_HEADER_DEPTH} levels")
    try:
        text = data.decode("utf-8")
        document = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_float=_reject_float,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError as exc:
        raise MalformedFileError(f"header: invalid UTF-8 at byte {exc.start}") from exc
    except RecursionError as exc:
        raise MalformedFileError("header: nested too deeply") from exc
    except ValueError as exc:  # json.JSONDecodeError; MalformedFileError passes through
        if isinstance(exc, MalformedFileError):
            raise
        raise MalformedFileError(f"header: invalid JSON: {exc}") from exc
    members = _members(document, TOP_LEVEL_MEMBERS, "header")
    return Header(metadata=members["metadata"], tensors=members["tensors"])


#: The members each encoding's tensor objects hold besides the common ones (names only:
#: serializing a large model's table looks them up hundreds of times).
_ENCODING_KEYS = {encoding: tuple(name for name, _ in members) for encoding, members in ENCODING_MEMBERS.items()}


def _section_json(section: Section) -> dict[str, int]:
    return {"crc32": section.crc32, "length": section.length}


def _tensor_json(entry: TensorEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry.name, "dtype": entry.dtype, "shape": list(entry.shape),
                           "encoding": entry.encoding}
    sections = entry.sections
    for name in _ENCODING_KEYS[entry.encoding]:
        section = sections.get(name)
        if section is not None:
            out[name] = _section_json(section)
        else:
            value = getattr(entry, name)
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def serialize_header(header: Header) -> bytes:
    """The canonical header bytes: compact JSON, keys sorted, UTF-8."""
    document = {"metadata": header.metadata, "tensors": [_tensor_json(t) for t in header.tensors]}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")

"""Structure-aware mutation of `.dcz` files.

A file is parsed into a `DczModel` (preamble fields, the header document, each tensor's
section payloads). Mutations edit the model: preamble fields, JSON values (shapes,
dtypes, encodings, lengths, bits, names, metadata), the JSON text itself,
Huffman stream fields (mode, width, count, code table, K, substream sizes, padding) and
payload bytes. `serialize` then lays the file out again, recomputing lengths,
CRCs, the header length and checksums (except the fields a mutation pinned), so each
mutation reaches the check or decoder it targets instead of the first CRC.

Everything is driven by a `random.Random`, so (seed file, rng seed) reproduces an input.
"""

from __future__ import annotations

import copy
import json
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import huffman_fields as hf

MAGIC = b"\x89DCZ\r\n\x1a\n"
ROLES = {"raw": ("data",), "codebook": ("codebook", "indices"), "sparse": ("codebook", "indices", "gaps"),
         "sparse_raw": ("values", "gaps"), "planes": ("planes",), "zstd": ("frame",),
         "alias": ()}  # fmt: skip
SECTION_FIELDS = ("crc32", "length")
DTYPE_SIZES = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e4m3fnuz": 1,
    "float8_e5m2": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8,
    "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8, "bool": 1, "complex64": 8, "complex128": 16,
}  # fmt: skip
FLOATS = ("float64", "float32", "float16", "bfloat16")
# Boundaries of the format's limits, and the usual integer edges.
INTERESTING_INTS = sorted({
    0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64, 65, 127, 128, 255, 256, 257, 1023, 1024, 1025, 4095, 4096,
    4097, 65535, 65536, 65537, 2**24 - 1, 2**24, 2**24 + 1, 2**28, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**33,
    2**36, 2**40 - 1, 2**40, 2**40 + 1, 2**48, 2**48 + 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
    10**20 - 1, 10**20, -1, -2, -(2**63), -(2**64),
})  # fmt: skip
NAMES = ["", "a", "x" * 1024, "x" * 1025, "é" * 512, "é" * 513, "\u0000", "\x1b]0;title\x07", "\n", "a\u2028b", "😀"]


@dataclass
class DczModel:
    version: int
    flags: int
    zlib_header: bool
    document: Any  # usually a dict; mutations may make it anything JSON
    payloads: list[dict[str, bytes]]  # per tensor (document order): role -> bytes
    pinned: set[tuple[int, str, str]] = field(default_factory=set)  # (tensor, role, member) kept as mutated
    text_edits: list[Callable[[bytes], bytes]] = field(default_factory=list)
    raw_edits: list[Callable[[bytearray], None]] = field(default_factory=list)
    zlib_level: int = 9
    header_padding: int = 0  # trailing spaces after the JSON text
    keep_preamble: dict[str, int] = field(default_factory=dict)  # preamble fields to force


# ----------------------------------------------------------------- parse / serialize


def parse(data: bytes) -> DczModel | None:
    """The model of a well-formed file (or one close enough), else None."""
    try:
        _, version, flags, hlen = struct.unpack_from("<8sHHI", data)
        stored = data[32 : 32 + hlen]
        text = zlib.decompress(stored) if flags & 1 else stored
        document = json.loads(text)
        payloads = []
        end = -(-(32 + hlen) // 64) * 64  # the data area (dcz.md 3.3)
        for t in document["tensors"]:
            payloads.append({})
            for role in ROLES[t["encoding"]]:
                offset = -(-end // 64) * 64 if t["encoding"] == "raw" else end
                end = offset + t[role]["length"]
                payloads[-1][role] = data[offset:end]
        return DczModel(version, flags, bool(flags & 1), document, payloads)
    except (ValueError, KeyError, TypeError, IndexError, struct.error, zlib.error, RecursionError):
        return None


def _tensors(model: DczModel) -> list[Any]:
    doc = model.document
    if isinstance(doc, dict) and isinstance(doc.get("tensors"), list):
        return doc["tensors"]
    return []


def _roles_of(entry: Any) -> tuple[str, ...]:
    if isinstance(entry, dict) and isinstance(entry.get("encoding"), str):
        return ROLES.get(entry["encoding"], ())
    return ()


def _layout(model: DczModel, header_length: int) -> bytes:
    """The data area behind a header of `header_length` bytes (dcz.md 3.3); fills each
    section's length and CRC32 unless a mutation pinned it."""
    start = -(-(32 + header_length) // 64) * 64
    body = bytearray(start - 32 - header_length)
    end = start
    for i, entry in enumerate(_tensors(model)):
        for role in _roles_of(entry):
            payload = model.payloads[i].get(role, b"") if i < len(model.payloads) else b""
            offset = -(-end // 64) * 64 if entry.get("encoding") == "raw" else end
            body += bytes(offset - end) + payload
            section = entry.get(role)
            if isinstance(section, dict):
                fresh = {"crc32": zlib.crc32(payload), "length": len(payload)}
                for member in SECTION_FIELDS:
                    if (i, role, member) not in model.pinned:
                        section[member] = fresh[member]
            end = offset + len(payload)
    return bytes(body)


def _header_text(model: DczModel) -> bytes:
    text = json.dumps(model.document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    data = text.encode("utf-8", "surrogatepass")
    for edit in model.text_edits:
        data = edit(data)
    return data + b" " * model.header_padding


def _store(model: DczModel, text: bytes, level: int) -> bytes:
    return zlib.compress(text, level) if model.zlib_header else text


def serialize(model: DczModel) -> bytes:
    """Bytes of the model with every unpinned length and checksum recomputed."""
    _layout(model, 0)  # lengths and CRCs first: the header holds them
    stored = _store(model, _header_text(model), model.zlib_level)
    body = _layout(model, len(stored))
    file_length = 32 + len(stored) + len(body)
    fields = {"version": model.version, "flags": model.flags, "header_length": len(stored),
              "header_crc32": zlib.crc32(stored), "file_length": file_length}  # fmt: skip
    fields.update(model.keep_preamble)
    head = MAGIC + struct.pack("<HHIIQ", fields["version"] & 0xFFFF, fields["flags"] & 0xFFFF,
                               fields["header_length"] & 0xFFFFFFFF, fields["header_crc32"] & 0xFFFFFFFF,
                               fields["file_length"] & 0xFFFFFFFFFFFFFFFF)  # fmt: skip
    data = bytearray(head + struct.pack("<I", zlib.crc32(head)) + stored + body)
    for edit in model.raw_edits:
        try:
            edit(data)
        except (IndexError, ValueError, struct.error):
            pass  # an earlier edit cut the file short of what this one edits
    return bytes(data)


# ----------------------------------------------------------------- helpers


def interesting_int(rng: random.Random, near: int | None = None) -> int:
    if near is not None and rng.random() < 0.4:
        return near + rng.choice([-2, -1, 1, 2])
    return rng.choice(INTERESTING_INTS)


def pick_tensor(rng: random.Random, model: DczModel, encodings: tuple[str, ...] | None = None) -> int | None:
    candidates = [i for i, t in enumerate(_tensors(model))
                  if isinstance(t, dict) and (encodings is None or t.get("encoding") in encodings)]  # fmt: skip
    return rng.choice(candidates) if candidates else None


def numel_of(entry: dict[str, Any]) -> int:
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < 2**20 for d in shape) or len(shape) > 8:
        return 0
    return int(np.prod(shape)) if shape else 1


def decode_symbols(stream: bytes) -> np.ndarray | None:
    from pycodec import codec  # the writer side: only used to build inputs
    from pycodec.errors import DczError

    try:
        return codec.huffman_decode(stream, max_symbols=1 << 22)
    except DczError:
        return None


def encode_symbols(symbols: np.ndarray, width: int) -> bytes:
    from pycodec import codec

    dtype = np.uint8 if width == 8 and (symbols.size == 0 or symbols.max() < 256) else np.uint16
    return codec.huffman_encode(np.asarray(symbols).astype(dtype))


# ----------------------------------------------------------------- mutations: preamble


def mutate_preamble(rng: random.Random, model: DczModel) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        model.version = rng.choice([0, 2, 0xFFFF, 256])
        return f"version={model.version}"
    if choice == 1:
        model.flags ^= 1 << rng.randrange(16)
        return f"flags={model.flags:#x}"
    if choice == 2:
        name = rng.choice(["header_length", "file_length", "header_crc32"])
        model.keep_preamble[name] = interesting_int(rng)
        return f"preamble {name} forced"
    if choice == 3:
        model.zlib_header = not model.zlib_header
        model.flags ^= 1
        return "header form switched"
    if choice == 4:
        model.zlib_header = not model.zlib_header  # flag says one thing, bytes are the other
        return "header form switched without the flag"
    position = rng.randrange(32)
    model.raw_edits.append(lambda d, p=position, b=rng.randrange(8): d.__setitem__(p, d[p] ^ (1 << b)))
    return f"preamble bit flip at {position}"


# ----------------------------------------------------------------- mutations: JSON values


def json_paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += json_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += json_paths(v, path + (i,))
    return out


def random_json_value(rng: random.Random, old: Any) -> Any:
    pool = [interesting_int(rng, old if type(old) is int else None), rng.choice(NAMES), None, True, False, [], {},
            [interesting_int(rng)], {"crc32": 0, "length": 0}, rng.choice(list(DTYPE_SIZES)),
            rng.choice(list(ROLES) + ["RAW", "dense", ""])]  # fmt: skip
    return rng.choice(pool)


def _pin_if_section(model: DczModel, path: tuple) -> None:
    if len(path) >= 4 and path[0] == "tensors" and type(path[1]) is int and path[-1] in SECTION_FIELDS:
        model.pinned.add((path[1], path[2], path[-1]))


def mutate_json_value(rng: random.Random, model: DczModel) -> str:
    paths = json_paths(model.document)[1:]
    if not paths:
        model.document = random_json_value(rng, None)
        return "document replaced"
    path = rng.choice(paths)
    parent = model.document
    for key in path[:-1]:
        parent = parent[key]
    action = rng.randrange(10)
    if action == 0 and isinstance(parent, dict):
        del parent[path[-1]]
        return f"deleted {path}"
    if action == 1 and isinstance(parent, dict):
        parent[rng.choice(["extra", "Name", "name", "crc32", "alias_of", "index_bits"])] = random_json_value(rng, 0)
        return f"member added next to {path}"
    if action == 2 and isinstance(parent, list):
        parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        return f"duplicated {path}"
    _pin_if_section(model, path)
    parent[path[-1]] = random_json_value(rng, parent[path[-1]])
    return f"{path} = {parent[path[-1]]!r:.40}"


def mutate_shape(rng: random.Random, model: DczModel) -> str | None:
    i = pick_tensor(rng, model)
    if i is None:
        return None
    entry = _tensors(model)[i]
    shapes = [[], [0], [1], [2**40], [2**40 + 1], [0, 2**40, 2**40], [2**40, 2**40, 0], [0, 2, 2**20, 2**40, 2, 2],
              [1] * 16, [1] * 17, [2**20, 2**20], [2**20, 2**20 + 1], [3, 0, 5], [2**24], [2**26], [7, 9]]  # fmt: skip
    entry["shape"] = rng.choice(shapes)
    if entry.get("encoding") == "raw" and rng.random() < 0.5:
        size = DTYPE_SIZES.get(entry.get("dtype"), 1)
        numel = numel_of(entry)
        if numel * size <= 1 << 20:
            model.payloads[i]["data"] = (model.payloads[i].get("data", b"") * (numel * size + 1))[: numel * size]
    return f"tensor {i} shape {entry['shape']}"


def mutate_dtype(rng: random.Random, model: DczModel) -> str | None:
    """A new dtype, with raw data and codebooks resized so the length checks still pass."""
    i = pick_tensor(rng, model)
    if i is None:
        return None
    entry = _tensors(model)[i]
    old = DTYPE_SIZES.get(entry.get("dtype"), 1)
    entry["dtype"] = rng.choice(list(DTYPE_SIZES) + list(FLOATS) * 3)
    new = DTYPE_SIZES[entry["dtype"]]
    for role in ("data", "codebook"):
        payload = model.payloads[i].get(role)
        if payload is not None and rng.random() < 0.8:
            items = len(payload) // old
            model.payloads[i][role] = (payload * (new // old + 1))[: items * new] if new >= old else payload[: items * new]
    return f"tensor {i} dtype {entry['dtype']}"


def mutate_encoding(rng: random.Random, model: DczModel) -> str | None:
    i = pick_tensor(rng, model)
    if i is None:
        return None
    entry = _tensors(model)[i]
    target = rng.choice(list(ROLES))
    entry["encoding"] = target
    for role in ("codebook", "indices", "gaps", "data", "values", "planes", "frame"):
        if role in ROLES[target]:
            entry.setdefault(role, {"crc32": 0, "length": 0})
            model.payloads[i].setdefault(role, rng.choice([b"", b"\x00" * 4, b"\x04\x05\x07"]))
        elif rng.random() < 0.8:
            entry.pop(role, None)
    if target in ("sparse", "sparse_raw"):
        entry.setdefault("index_bits", rng.randint(1, 16))
    elif rng.random() < 0.8:
        entry.pop("index_bits", None)
    if target == "planes":
        entry.setdefault("plane_streams", [0] * DTYPE_SIZES.get(entry.get("dtype"), 4))
    elif rng.random() < 0.8:
        entry.pop("plane_streams", None)
    if target == "alias":
        names = [t.get("name") for t in _tensors(model) if isinstance(t, dict)]
        entry["alias_of"] = rng.choice(names)
    elif rng.random() < 0.8:
        entry.pop("alias_of", None)
    return f"tensor {i} encoding {target}"


def mutate_index_bits(rng: random.Random, model: DczModel) -> str | None:
    i = pick_tensor(rng, model, ("sparse", "sparse_raw"))
    if i is None:
        return None
    entry = _tensors(model)[i]
    entry["index_bits"] = rng.choice([0, 1, 2, 7, 8, 9, 15, 16, 17, entry.get("index_bits", 1) + rng.choice([-1, 1])])
    return f"tensor {i} index_bits {entry['index_bits']}"


def mutate_names(rng: random.Random, model: DczModel) -> str | None:
    i = pick_tensor(rng, model)
    if i is None:
        return None
    entries = _tensors(model)
    names = [t.get("name") for t in entries if isinstance(t, dict)]
    value = rng.choice(NAMES + names)
    key = "alias_of" if entries[i].get("encoding") == "alias" and rng.random() < 0.5 else "name"
    entries[i][key] = value
    return f"tensor {i} {key} = {value!r:.30}"


def mutate_metadata(rng: random.Random, model: DczModel) -> str | None:
    if not isinstance(model.document, dict):
        return None
    meta = model.document.setdefault("metadata", {})
    if not isinstance(meta, dict):
        return None
    choice = rng.randrange(4)
    if choice == 0:
        meta[rng.choice(NAMES[:6]) or "k" * 257] = rng.choice(NAMES)
    elif choice == 1:
        meta["big"] = "v" * rng.choice([65536, 65537])
    elif choice == 2:
        meta.update({f"k{j}": "" for j in range(rng.choice([4096, 4097]))})
    else:
        meta[rng.choice(NAMES[1:])] = rng.choice([1, None, [], {}])
    return "metadata edited"


def mutate_table(rng: random.Random, model: DczModel) -> str | None:
    """Reorder, duplicate or drop whole tensors (payloads follow their entry)."""
    entries = _tensors(model)
    if not entries:
        return None
    pairs = list(zip(entries, model.payloads, strict=False))
    choice = rng.randrange(3)
    if choice == 0:
        rng.shuffle(pairs)
    elif choice == 1:
        pairs.insert(rng.randrange(len(pairs) + 1), copy.deepcopy(rng.choice(pairs)))
    else:
        pairs.pop(rng.randrange(len(pairs)))
    model.document["tensors"] = [p[0] for p in pairs]
    model.payloads = [p[1] for p in pairs]
    model.pinned.clear()
    return ["shuffled", "duplicated", "dropped"][choice] + " tensors"


# ----------------------------------------------------------------- mutations: JSON text


def _edit_at(rng: random.Random, pattern: bytes, replacement: bytes) -> Callable[[bytes], bytes]:
    """Replace one occurrence of `pattern` (the same one on every call) by `replacement`."""
    which = rng.random()

    def edit(text: bytes) -> bytes:
        starts = [j for j in range(len(text)) if text.startswith(pattern, j)]
        if not starts:
            return text
        j = starts[int(which * len(starts))]
        return text[:j] + replacement + text[j + len(pattern) :]

    return edit


def _number_edit(rng: random.Random) -> Callable[[bytes], bytes]:
    """Rewrite one integer token as a float, exponent, leading zeros, a constant, ..."""
    forms = [lambda n: n + b".0", lambda n: n + b"e0", lambda n: b"0" + n, lambda n: b"-0" if n == b"0" else n,
             lambda n: b"0" * (21 - len(n)) + n, lambda n: b"NaN", lambda n: b"Infinity", lambda n: b"-Infinity",
             lambda n: b"+" + n, lambda n: b" " + n + b" ", lambda n: b"1" * 21, lambda n: b"9" * 20]  # fmt: skip
    form, which = rng.choice(forms), rng.random()

    def edit(text: bytes) -> bytes:
        tokens = [(m, e) for m, e in _integer_tokens(text)]
        if not tokens:
            return text
        start, end = tokens[int(which * len(tokens))]
        return text[:start] + form(text[start:end]) + text[end:]

    return edit


def _integer_tokens(text: bytes) -> list[tuple[int, int]]:
    out, j, in_string = [], 0, False
    while j < len(text):
        c = text[j]
        if c == 0x22 and (j == 0 or text[j - 1] != 0x5C):
            in_string = not in_string
        if not in_string and (0x30 <= c <= 0x39 or c == 0x2D):
            end = j + 1
            while end < len(text) and 0x30 <= text[end] <= 0x39:
                end += 1
            out.append((j, end))
            j = end
            continue
        j += 1
    return out


def mutate_json_text(rng: random.Random, model: DczModel) -> str:
    edits = [
        ("whitespace", lambda: _edit_at(rng, rng.choice([b",", b":", b"[", b"{"]), rng.choice([b", ", b" :\n", b"\t[", b"{\r\n"]))),
        ("leading space", lambda: lambda t: b" \n" + t),
        ("BOM", lambda: lambda t: b"\xef\xbb\xbf" + t),
        ("duplicate key", lambda: _edit_at(rng, b'"metadata":', b'"metadata":{},"metadata":')),
        ("duplicate name", lambda: _edit_at(rng, b'"name":', b'"name":"dup","name":')),
        ("number form", lambda: _number_edit(rng)),
        ("escape", lambda: _edit_at(rng, b'"name":"', b'"name":"' + rng.choice([b"\\u0061", b"\\ud800", b"\\udc00x",
                                    b"\\ud83d\\ude00", b"\x01", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\\x41",
                                    b"\\/", b"\xe2\x80\xa8"]))),  # fmt: skip
        ("truncate", lambda: (lambda w: lambda t: t[: int(w * len(t))])(rng.random())),
        ("trailing", lambda: (lambda s: lambda t: t + s)(rng.choice([b"}", b"x", b"\x00", b",", b"{}"]))),
        ("deep", lambda: _edit_at(rng, b'"metadata":{', b'"metadata":{"d":' + b"[" * 100000 + b"]" * 100000 + b",")),
        ("literal", lambda: _edit_at(rng, b"{", b"null,")),
    ]  # fmt: skip
    name, make = rng.choice(edits)
    model.text_edits.append(make())
    if rng.random() < 0.3:
        model.header_padding = rng.choice([1, 7, 64])
    return f"json text: {name}"


def mutate_zlib_header(rng: random.Random, model: DczModel) -> str:
    """Damage the stored zlib stream itself (the header CRC still matches)."""
    model.zlib_header, model.flags = True, model.flags | 1
    choice = rng.randrange(5)
    if choice == 0:
        model.zlib_level = rng.choice([0, 1, 6])
        return f"zlib level {model.zlib_level}"
    position = rng.random()

    def damage(data: bytearray, kind: int = choice, where: float = position) -> None:
        _, _, _, hlen = struct.unpack_from("<8sHHI", data)
        start = 32 + min(hlen - 1, int(where * hlen))
        if kind == 1:
            data[start] ^= 1 << int(where * 8)
        elif kind == 2:
            flg = (data[33] | 0x20) & 0xE0  # FDICT: a preset dictionary, FCHECK kept valid
            data[33] = flg | (31 - (data[32] * 256 + flg) % 31) % 31
        elif kind == 3:
            data[32 + hlen - 1] ^= 0xFF  # Adler-32
        else:
            data[32 + hlen - 1] ^= 0x01
        _refresh_header_crc(data)

    model.raw_edits.append(damage)
    return f"zlib stream damage {choice}"


def _refresh_header_crc(data: bytearray) -> None:
    _, _, _, hlen = struct.unpack_from("<8sHHI", data)
    struct.pack_into("<I", data, 16, zlib.crc32(bytes(data[32 : 32 + hlen])))
    struct.pack_into("<I", data, 28, zlib.crc32(bytes(data[:28])))


def mutate_zlib_bomb(rng: random.Random, model: DczModel) -> str:
    """A header that inflates just to, or just past, the 16 MiB limit."""
    model.zlib_header, model.flags = True, model.flags | 1
    model.header_padding = (1 << 24) - rng.choice([2000, 0]) - 1000  # the JSON text is under 1000 bytes here
    return "zlib header near 16 MiB"


# ----------------------------------------------------------------- mutations: streams


def pick_stream(rng: random.Random, model: DczModel) -> tuple[int, str] | None:
    candidates = [(i, r) for i, t in enumerate(_tensors(model)) for r in ("indices", "gaps")
                  if isinstance(t, dict) and r in _roles_of(t) and r in model.payloads[i]]  # fmt: skip
    return rng.choice(candidates) if candidates else None


def mutate_stream_fields(rng: random.Random, model: DczModel) -> str | None:
    picked = pick_stream(rng, model)
    if picked is None:
        return None
    i, role = picked
    fields = hf.parse(model.payloads[i][role])
    if fields is None:
        return None
    what = _edit_stream(rng, fields)
    model.payloads[i][role] = hf.build(fields)
    return f"tensor {i} {role}: {what}"


def _edit_stream(rng: random.Random, f: hf.StreamFields) -> str:
    edits = [
        ("mode", lambda: setattr(f, "flags", (f.flags & ~0x0C) | (rng.randrange(4) << 2))),
        ("width", lambda: setattr(f, "flags", f.flags ^ rng.choice([1, 2, 3]))),
        ("reserved", lambda: setattr(f, "flags", f.flags | (0x10 << rng.randrange(4)))),
        ("count", lambda: setattr(f, "count", max(0, interesting_int(rng, f.count)))),
        ("overlong count", lambda: setattr(f, "count_bytes", rng.choice([2, 10, 11]))),
        ("symbol", lambda: setattr(f, "symbol", rng.choice([0, 1, 255, 256, 65535]))),
        ("trailing", lambda: setattr(f, "trailing", f.trailing + bytes([rng.randrange(256)]))),
        ("truncate", lambda: _truncate_stream(rng, f)),
    ]
    if f.mode == 2:
        edits += [
            ("n_used", lambda: setattr(f, "n_used", max(0, interesting_int(rng, len(f.symbols))))),
            ("L_max", lambda: setattr(f, "max_length", rng.choice([0, 1, 15, 16, 17, max(f.lengths) + rng.choice([-1, 1])]))),
            ("symbols", lambda: _edit_code_symbols(rng, f)),
            ("one length", lambda: _edit_one_length(rng, f)),
            ("swap lengths", lambda: _swap_lengths(rng, f)),
            ("pad nibble", lambda: setattr(f, "pad_nibble", rng.randrange(1, 16))),
            ("K", lambda: setattr(f, "k", rng.choice([0, 2, 8, 9, 255, f.k + 1, max(0, f.k - 1)]))),
            ("sizes", lambda: _edit_sizes(rng, f)),
            ("payload bit", lambda: _flip_substream_bit(rng, f)),
            ("padding bits", lambda: _set_padding_bits(rng, f)),
            ("substream byte", lambda: _append_substream_byte(rng, f)),
        ]  # fmt: skip
    name, apply = rng.choice(edits)
    apply()
    return name


def _truncate_stream(rng: random.Random, f: hf.StreamFields) -> None:
    if f.substreams and f.substreams[-1]:
        f.substreams[-1] = f.substreams[-1][: rng.randrange(len(f.substreams[-1]))]
    else:
        f.flags = (f.flags & ~0x0C) | 0x08  # claims Huffman, has no body


def _edit_code_symbols(rng: random.Random, f: hf.StreamFields) -> None:
    j = rng.randrange(len(f.symbols))
    f.symbols[j] = rng.choice([0, 255, 256, 65535, 65536, f.symbols[j] + 1, 2**64])
    if rng.random() < 0.5:
        f.symbols.sort()


def _edit_one_length(rng: random.Random, f: hf.StreamFields) -> None:
    j = rng.randrange(len(f.lengths))
    f.lengths[j] = rng.choice([1, 16, 17, f.lengths[j] + 1, max(1, f.lengths[j] - 1)])


def _swap_lengths(rng: random.Random, f: hf.StreamFields) -> None:
    """Kraft still holds: a valid code that decodes the same bits to other symbols."""
    a, b = rng.randrange(len(f.lengths)), rng.randrange(len(f.lengths))
    f.lengths[a], f.lengths[b] = f.lengths[b], f.lengths[a]


def _edit_sizes(rng: random.Random, f: hf.StreamFields) -> None:
    sizes = [len(s) for s in f.substreams[:-1]]
    if sizes:
        j = rng.randrange(len(sizes))
        sizes[j] = max(0, interesting_int(rng, sizes[j]))
    f.sizes = sizes if sizes else [rng.randrange(8)]


def _flip_substream_bit(rng: random.Random, f: hf.StreamFields) -> None:
    live = [j for j, s in enumerate(f.substreams) if s]
    if live:
        j = rng.choice(live)
        s = bytearray(f.substreams[j])
        s[rng.randrange(len(s))] ^= 1 << rng.randrange(8)
        f.substreams[j] = bytes(s)


def _set_padding_bits(rng: random.Random, f: hf.StreamFields) -> None:
    live = [j for j, s in enumerate(f.substreams) if s]
    if live:
        j = rng.choice(live)
        f.substreams[j] = f.substreams[j][:-1] + bytes([f.substreams[j][-1] | 1])


def _append_substream_byte(rng: random.Random, f: hf.StreamFields) -> None:
    j = rng.randrange(len(f.substreams))
    f.substreams[j] = f.substreams[j] + b"\x00"


def mutate_stream_symbols(rng: random.Random, model: DczModel) -> str | None:
    """Decode a stream, change what it says, encode it again: a valid stream whose
    contents break a rule of dcz.md (count, symbol range, fillers, positions)."""
    picked = pick_stream(rng, model)
    if picked is None:
        return None
    i, role = picked
    symbols = decode_symbols(model.payloads[i][role])
    if symbols is None:
        return None
    width = symbols.dtype.itemsize * 8
    entry = _tensors(model)[i]
    filler = (1 << entry["index_bits"]) - 1 if type(entry.get("index_bits")) is int and 1 <= entry["index_bits"] <= 16 else 255
    edits = {
        "one more": lambda s: np.append(s, s[-1] if s.size else 0),
        "one less": lambda s: s[:-1],
        "empty": lambda s: s[:0],
        "single": lambda s: np.full(max(1, s.size), s[0] if s.size else 1, dtype=s.dtype),
        "big": lambda s: np.full(1 << rng.choice([12, 16, 20]), s[0] if s.size else 0, dtype=s.dtype),
        "out of range": lambda s: np.append(s, np.array(rng.choice([filler + 1, 255, 256, 65535]))),
        "filler last": lambda s: np.append(s, filler),
        "all fillers": lambda s: np.full(max(1, s.size), filler),
        "shuffle": lambda s: np.array(rng.sample(list(s), len(s))) if s.size else s,
        "wider": lambda s: s.astype(np.uint16),
        "narrower": lambda s: (s & 0xFF).astype(np.uint8),
        "random": lambda s: np.array([rng.randrange(filler + 2) for _ in range(s.size)]),
        "k=4": lambda s: np.resize(s, 5000) if s.size else np.arange(5000) % 3,
    }  # fmt: skip
    name = rng.choice(list(edits))
    changed = np.asarray(edits[name](symbols))
    target_width = 16 if name == "wider" or changed.dtype == np.uint16 else width
    if changed.size and changed.max() > 65535:
        return None
    model.payloads[i][role] = encode_symbols(changed.astype(np.int64), target_width)
    return f"tensor {i} {role}: symbols {name}"


# ----------------------------------------------------------------- mutations: planes (dcz.md 5.7)


def split_planes(entry: dict[str, Any], section: bytes) -> list[bytes] | None:
    """The planes of a `planes` section as its plane_streams say (a raw plane: numel bytes)."""
    streams = entry.get("plane_streams")
    if not isinstance(streams, list) or not all(type(n) is int and 0 <= n < 2**32 for n in streams):
        return None
    numel, planes, start = numel_of(entry), [], 0
    for n in streams:
        planes.append(section[start : start + (n or numel)])
        start += n or numel
    return planes


def mutate_planes(rng: random.Random, model: DczModel) -> str | None:
    """Edit one plane of a `planes` tensor, keeping plane_streams in step (or not): its
    stream's fields or symbols, raw <-> coded, or the plane_streams entries themselves."""
    i = pick_tensor(rng, model, ("planes",))
    if i is None:
        return None
    entry = _tensors(model)[i]
    planes = split_planes(entry, model.payloads[i].get("planes", b""))
    if not planes:
        return None
    streams, k = entry["plane_streams"], rng.randrange(len(planes))
    choice = rng.randrange(5)
    if choice == 0:  # the table entries alone
        edit = rng.choice(["set", "append", "pop"])
        if edit == "set":
            streams[k] = rng.choice([0, 1, streams[k] + 1, max(0, streams[k] - 1), numel_of(entry), 2**48, 2**48 + 1])
        elif edit == "append":
            streams.append(rng.choice([0, 3]))
        else:
            streams.pop()
        return f"tensor {i} plane_streams {edit}"
    if choice == 1 or streams[k] == 0:  # raw <-> coded
        coded = streams[k] == 0
        if coded:
            planes[k] = encode_symbols(np.frombuffer(planes[k], dtype=np.uint8), 8)
        else:
            symbols = decode_symbols(planes[k])
            planes[k] = symbols.astype(np.uint8).tobytes() if symbols is not None else planes[k]
        streams[k] = len(planes[k]) if coded else 0
        what = "raw -> coded" if coded else "coded -> raw"
    elif choice == 2:
        fields = hf.parse(planes[k])
        if fields is None:
            return None
        what = _edit_stream(rng, fields)
        planes[k] = hf.build(fields)
        streams[k] = len(planes[k]) if rng.random() < 0.9 else streams[k]
    else:
        symbols = decode_symbols(planes[k])
        if symbols is None:
            return None
        edits = {"one more": lambda x: np.append(x, x[-1] if x.size else 0), "one less": lambda x: x[:-1],
                 "wider": lambda x: x.astype(np.uint16), "single": lambda x: np.full(max(1, x.size), 7),
                 "big": lambda x: np.full(1 << 20, 1)}  # fmt: skip
        what = rng.choice(list(edits))
        changed = edits[what](symbols)
        planes[k] = encode_symbols(changed.astype(np.int64), 16 if what == "wider" else 8)
        streams[k] = len(planes[k])
    model.payloads[i]["planes"] = b"".join(planes)
    return f"tensor {i} plane {k}: {what}"


# ----------------------------------------------------------------- mutations: payloads


def mutate_payload(rng: random.Random, model: DczModel) -> str | None:
    candidates = [(i, r) for i, p in enumerate(model.payloads) for r in p]
    if not candidates:
        return None
    i, role = rng.choice(candidates)
    data = bytearray(model.payloads[i][role])
    choice = rng.randrange(6)
    if choice == 0 and data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif choice == 1 and data:
        data[rng.randrange(len(data))] = rng.choice([0, 1, 2, 0x7F, 0x80, 0xFF])
    elif choice == 2:
        data = data[: rng.randrange(len(data) + 1)]
    elif choice == 3:
        data += bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 3, 8])))
    elif choice == 4 and data:
        n = rng.randrange(len(data))
        data[n : n + 8] = rng.choice([b"\x00\x00\xc0\x7f", b"\x01\x00\xc0\xff", b"\x00" * 8, b"\xff" * 8, b"\x00\x00\x00\x80"])
    else:
        data = data * rng.choice([2, 3])
    model.payloads[i][role] = bytes(data)
    return f"tensor {i} {role}: payload edit {choice}"


def mutate_raw(rng: random.Random, model: DczModel) -> str:
    """Byte-level damage after layout: checksums and lengths no longer match."""
    kind, where, value = rng.randrange(4), rng.random(), rng.randrange(256)

    def damage(data: bytearray) -> None:
        if kind == 0:
            data[int(where * len(data))] = value
        elif kind == 1:
            del data[int(where * len(data)) :]
        elif kind == 2:
            data += bytes([value])
        else:
            data[min(len(data) - 1, 32 + int(where * (len(data) - 32)))] ^= 0x01
            struct.pack_into("<Q", data, 20, len(data))
            _refresh_header_crc(data)

    model.raw_edits.append(damage)
    return f"raw damage {kind}"


# ----------------------------------------------------------------- driver

MUTATIONS: dict[str, list[tuple[Callable[[random.Random, DczModel], str | None], int]]] = {
    "preamble": [(mutate_preamble, 1)],
    "json": [(mutate_json_value, 6), (mutate_shape, 3), (mutate_dtype, 3), (mutate_encoding, 2),
             (mutate_index_bits, 2), (mutate_names, 2), (mutate_metadata, 1), (mutate_table, 2)],
    "text": [(mutate_json_text, 3), (mutate_zlib_header, 2), (mutate_zlib_bomb, 1)],
    "stream": [(mutate_stream_fields, 8), (mutate_stream_symbols, 5), (mutate_planes, 4)],
    "payload": [(mutate_payload, 3)],
    "raw": [(mutate_raw, 1)],
}  # fmt: skip
FAMILY_WEIGHTS = {"preamble": 1, "json": 6, "text": 2, "stream": 8, "payload": 3, "raw": 1}


def mutate(data: bytes, rng: random.Random, families: tuple[str, ...] | None = None, max_stack: int = 3) -> tuple[bytes, list[str]]:
    """One mutated input from seed `data`, and what was done to it."""
    model = parse(data)
    if model is None:
        return _byte_mutate(data, rng), ["bytes"]
    names = [f for f in (families or tuple(FAMILY_WEIGHTS)) if f in MUTATIONS]
    done: list[str] = []
    for _ in range(rng.randint(1, max_stack)):
        family = rng.choices(names, [FAMILY_WEIGHTS[f] for f in names])[0]
        functions, weights = zip(*MUTATIONS[family], strict=True)
        try:
            what = rng.choices(functions, weights)[0](rng, model)
        except (ValueError, OverflowError, IndexError, KeyError, TypeError, AttributeError) as exc:
            what = f"(mutation skipped: {type(exc).__name__})"  # an edit that does not apply here
        if what:
            done.append(what)
    return serialize(model), done


def _byte_mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)

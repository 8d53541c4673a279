"""``dcz dump`` and ``dcz verify``: the light inspector (numpy and the reader only).

``dcz dump FILE`` prints the header and a per-tensor table in the spirit of Tables 2–3
of the Deep Compression paper; ``dcz verify FILE`` checks every byte. Errors print one
line on stderr and exit with 1; usage errors exit with 2.

Names, metadata and paths come from the file or the user and may hold control
characters: every human-readable line escapes what is not printable (:func:`printable`),
so a file cannot move the cursor, retitle the terminal or forge a line. ``--json``
output is JSON, which escapes them itself.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pycodec.format import limits
from pycodec.format.dtypes import DTYPES
from pycodec.format.reader import DczReader, TensorInfo

# ----------------------------------------------------------------- output


def printable(text: object) -> str:
    """`text` with every non-printable character (C0/C1 controls, ESC, newlines, bidi
    overrides, other format characters) written as a Python escape such as ``\\x1b``."""
    return "".join(c if c.isprintable() else _escape(c) for c in str(text))


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


# ----------------------------------------------------------------- dump


@dataclass
class TensorRow:
    """One line of the dump table: the paper's per-layer statistics for one tensor."""

    name: str
    shape: list[int]
    dtype: str
    encoding: str
    numel: int
    nnz: int
    codebook_size: int | None
    weight_bits: int | None  # fixed-width index bits: ceil(log2(codebook size))
    weight_bits_huffman: float | None  # indices section bits per coded weight
    index_bits: int | None  # relative-index width (sparse)
    index_bits_huffman: float | None  # gaps section bits per non-zero (sparse)
    stored_bytes: int
    ratio_vs_float32: float | None
    alias_of: str | None


def _count_nonzero(file: DczReader, info: TensorInfo) -> int:
    if info.nnz is not None:
        return info.nnz
    if info.numel == 0:
        return 0
    array = file.read_array(info.name)
    itemsize = DTYPES[info.dtype].itemsize
    if itemsize > 8:  # complex128: non-zero if any of its 16 bytes is
        return int(np.count_nonzero(array.view(np.uint8).reshape(-1, itemsize).any(axis=1)))
    return int(np.count_nonzero(array.view(DTYPES[info.dtype].bits_dtype)))


def tensor_row(file: DczReader, name: str) -> TensorRow:
    info = file.info(name)
    nnz = _count_nonzero(file, info)
    book = info.codebook_size
    coded = info.numel if info.encoding == "codebook" else nnz
    weight_h = index_h = None
    if book is not None and coded:
        weight_h = info.section_bytes["indices"] * 8 / coded
    if info.encoding == "sparse" and nnz:
        index_h = info.section_bytes["gaps"] * 8 / nnz
    return TensorRow(
        name=info.name,
        shape=list(info.shape),
        dtype=info.dtype,
        encoding=info.encoding,
        numel=info.numel,
        nnz=nnz,
        codebook_size=book,
        weight_bits=max(1, math.ceil(math.log2(book))) if book else None,
        weight_bits_huffman=weight_h,
        index_bits=info.index_bits,
        index_bits_huffman=index_h,
        stored_bytes=info.stored_bytes,
        ratio_vs_float32=(info.numel * 4 / info.stored_bytes) if info.stored_bytes else None,
        alias_of=info.alias_of,
    )


def dump_document(file: DczReader) -> dict[str, Any]:
    """Everything ``dcz dump`` shows, as JSON-ready data."""
    rows = [tensor_row(file, name) for name in file.names()]
    stored = [r for r in rows if r.encoding != "alias"]
    numel = sum(r.numel for r in stored)
    return {
        "file": file.path,
        "version": file.preamble.version,
        "flags": file.preamble.flags,
        "file_length": file.preamble.file_length,
        "header_length": file.preamble.header_length,  # as stored
        "header_compressed": file.header_compressed,
        "header_json_length": file.header_json_length,  # inflated
        "metadata": file.metadata,
        "tensors": [asdict(r) for r in rows],
        "totals": {
            "tensors": len(rows),
            "numel": numel,
            "nnz": sum(r.nnz for r in stored),
            "stored_bytes": sum(r.stored_bytes for r in stored),
            "float32_bytes": numel * 4,
            "ratio_vs_float32": numel * 4 / file.preamble.file_length,
        },
    }


def _fmt(value: float | int | None, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _header_sizes(doc: dict[str, Any]) -> str:
    if doc["header_compressed"]:
        return f"{doc['header_length']} bytes zlib-compressed, {doc['header_json_length']} inflated"
    return f"{doc['header_length']} bytes, not compressed"


def format_dump(doc: dict[str, Any]) -> str:
    """The human-readable dump: header lines, then the per-tensor table with totals."""
    lines = [
        f"file:      {printable(doc['file'])}",
        f"format:    .dcz version {doc['version']}, flags 0x{doc['flags']:04x}",
        f"size:      {doc['file_length']} bytes (header {_header_sizes(doc)})",
        f"tensors:   {doc['totals']['tensors']}",
    ]
    for key, value in doc["metadata"].items():
        lines.append(f"metadata:  {printable(key)} = {printable(value)}")
    head = ("tensor", "shape", "dtype", "encoding", "nz %", "book", "w bits", "w bits H",
            "idx bits", "idx bits H", "bytes", "vs f32")
    table = [head]
    for r in doc["tensors"]:
        pct = 100 * r["nnz"] / r["numel"] if r["numel"] else 0.0
        encoding = r["encoding"] if r["alias_of"] is None else f"alias of {printable(r['alias_of'])}"
        table.append((
            printable(r["name"]), "x".join(map(str, r["shape"])) or "()", r["dtype"], encoding, f"{pct:.1f}",
            _fmt(r["codebook_size"]), _fmt(r["weight_bits"]), _fmt(r["weight_bits_huffman"], ".2f"),
            _fmt(r["index_bits"]), _fmt(r["index_bits_huffman"], ".2f"), str(r["stored_bytes"]),
            _fmt(r["ratio_vs_float32"], ".1f") + ("x" if r["ratio_vs_float32"] else ""),
        ))
    t = doc["totals"]
    pct = 100 * t["nnz"] / t["numel"] if t["numel"] else 0.0
    table.append(("total (file)", "", "", "", f"{pct:.1f}", "", "", "", "", "",
                  str(doc["file_length"]), f"{t['ratio_vs_float32']:.1f}x"))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    numeric = set(range(4, len(head)))
    lines.append("")
    for n, row in enumerate(table):
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0 or n == len(table) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_dump(args: argparse.Namespace) -> int:
    with DczReader(args.file, max_decoded_bytes=args.max_decoded_bytes) as file:
        doc = dump_document(file)
    print(json.dumps(doc, indent=2) if args.json else format_dump(doc))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    with DczReader(args.file, max_decoded_bytes=args.max_decoded_bytes) as file:
        file.verify()
        count, size = len(file), file.preamble.file_length
    print(f"{printable(args.file)}: OK ({count} tensors, {size} bytes, every checksum and tensor verified)")
    return 0


# ----------------------------------------------------------------- options


def add_dump_arguments(dump: argparse.ArgumentParser) -> None:
    dump.add_argument("file", help="a .dcz file")
    dump.add_argument("--json", action="store_true", help="machine-readable output")
    _add_budget(dump)
    dump.set_defaults(func=run_dump)


def add_verify_arguments(verify: argparse.ArgumentParser) -> None:
    verify.add_argument("file", help="a .dcz file")
    _add_budget(verify)
    verify.set_defaults(func=run_verify)


def _byte_count(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number of bytes, got {value}")
    return value


def _add_budget(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--max-decoded-bytes", type=_byte_count, default=limits.DEFAULT_MAX_DECODED_BYTES, metavar="N",
        help=f"refuse files that need more than N bytes to decode (default {limits.DEFAULT_MAX_DECODED_BYTES}, 4 GiB)",
    )


def describe(exc: BaseException) -> str:
    """One line for an error: ``path: reason`` for system errors, else the message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)

"""How ``dcz dump`` shows its documents: text fitted to a width, markdown, or JSON.

Each file is a block: its header (format, sizes, metadata, the ``pycodec.*`` provenance
metadata apart), then the per-tensor table with totals; a legend of the columns follows
the last file. Everything a file or the user wrote is escaped (:func:`printable`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from pycodec.cli.dump_table import Column, Row, render_markdown, render_text
from pycodec.cli.inspect import PROVENANCE_PREFIX, FileFailure, read_document, report_failure
from pycodec.cli.text import count, markdown_escape, printable, shorten_name, wrap

__all__ = ["COLUMNS", "LEGEND", "dump_files", "markdown_block", "text_block"]

COLUMNS = (
    Column("tensor", min_width=14, shorten=shorten_name),
    Column("shape", min_width=9),
    Column("dtype"),
    Column("encoding"),
    Column("nz %", numeric=True),
    Column("book", numeric=True),
    Column("w", numeric=True, optional=True),
    Column("w H", numeric=True),
    Column("idx", numeric=True, optional=True),
    Column("idx H", numeric=True),
    Column("bytes", numeric=True),
    Column("ratio", numeric=True),
)

LEGEND = (
    ("tensor", "its name; to fit the width a long one is shortened, leading words to their initials "
               "(f.11.1.running_mean), then its end cut in the middle (...); --wide shows it whole"),  # fmt: skip
    ("shape", "its dimensions; () for a scalar"),
    ("dtype", "its element type, as stored"),
    ("encoding", "raw: the values as they are; codebook: Huffman-coded indices into a table of shared "
                 "values; sparse: only the non-zeros, as codebook indices, and their positions as "
                 "Huffman-coded gaps; sparse_raw: the non-zeros as they are, and their gaps; planes: the "
                 "values' bytes as Huffman-coded byte planes (lossless); zstd: the values' bytes as one "
                 "Zstandard frame (repeats, lossless); alias: an earlier tensor's data, "
                 "stored once (listed under the table)"),  # fmt: skip
    ("nz %", "share of the elements that are not zero (by bit pattern: -0.0 counts as non-zero)"),
    ("book", "codebook size: the number of shared values"),
    ("w", "bits per weight with fixed-width codebook indices, ceil(log2(book)): the paper's P+Q "
          "weight bits"),  # fmt: skip
    ("w H", "bits per weight after Huffman coding, the paper's P+Q+H: 8 x the indices section's bytes / "
            "the weights it codes (every element for codebook, the non-zeros for sparse). The section "
            "carries its code table, so on a small layer w H can exceed w. A measured size, not an entropy"),
    ("idx", "bits of a relative index (the gap to the previous non-zero) at fixed width; a longer gap "
            "costs a filler entry"),  # fmt: skip
    ("idx H", "bits per non-zero of the Huffman-coded gaps: 8 x the gaps section's bytes / the non-zeros, "
              "code table and filler entries included"),  # fmt: skip
    ("bytes", "what the tensor takes in the file (its sections); the total is the whole file, header and "
              "padding included (with --name: the shown tensors' bytes)"),  # fmt: skip
    ("ratio", "the tensor in its own dtype (elements x dtype size) / its bytes, so 1.0x is stored as it "
              "is, whatever the dtype; the total: every tensor in its own dtype / the file"),  # fmt: skip
    ("- / ?", "does not apply / unknown without reading the sections (--header)"),
)

# ----------------------------------------------------------------- cells


def _fixed(value: float | None, unknown: bool = False) -> str:
    return "?" if unknown else "-" if value is None else f"{value:.2f}"


def _percent(nnz: int | None, numel: int) -> str:
    return "?" if nnz is None else f"{100 * nnz / numel:.1f}" if numel else "-"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}x"


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) or "()"


def tensor_cells(row: dict[str, Any]) -> list[str]:
    """The table cells of one tensor row of a document."""
    unknown = row["nnz"] is None  # only with --header: what needs the non-zeros is unknown
    sparse = row["encoding"] in ("sparse", "sparse_raw")
    book, width, index_bits = row["codebook_size"], row["weight_bits"], row["index_bits"]
    return [
        printable(row["name"]), _shape(row["shape"]), row["dtype"], row["encoding"],
        _percent(row["nnz"], row["numel"]),
        "-" if book is None else count(book), "-" if width is None else str(width),
        _fixed(row["weight_bits_huffman"], unknown and row["encoding"] == "sparse"),
        "-" if index_bits is None else str(index_bits),
        _fixed(row["index_bits_huffman"], unknown and sparse),
        count(row["stored_bytes"]), _ratio(row["ratio_vs_dtype"]),
    ]  # fmt: skip


def table_rows(doc: dict[str, Any]) -> list[Row]:
    """The tensor rows, a rule, and the totals row."""
    totals = doc["totals"]
    label = f"total ({totals['tensors']} shown)" if "selection" in doc else "total (file)"
    total = [label, "", "", "", _percent(totals["nnz"], totals["numel"]), "", "", "", "", "",
             count(totals["bytes"]), _ratio(totals["ratio_vs_dtype"])]  # fmt: skip
    return [tensor_cells(row) for row in doc["tensors"]] + [None, total]


# ----------------------------------------------------------------- header lines


def _header_size(doc: dict[str, Any]) -> str:
    if doc["header_compressed"]:
        return f"{count(doc['header_length'])} bytes zlib-compressed, {count(doc['header_json_length'])} inflated"
    return f"{count(doc['header_length'])} bytes, not compressed"


def _summary(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs of the file's header, in order."""
    tensors = count(len(doc["tensors"]))
    selection = doc.get("selection")
    if selection:
        tensors = f"{tensors} of {count(selection['of'])} shown (--name {printable(', '.join(selection['patterns']))})"
    pairs = [
        ("format", f".dcz version {doc['version']}, flags 0x{doc['flags']:04x}"),
        ("size", f"{count(doc['file_length'])} bytes (header {_header_size(doc)})"),
        ("tensors", tensors),
    ]
    pairs += [("metadata", f"{printable(k)} = {printable(v)}") for k, v in doc["metadata"].items()
              if not k.startswith(PROVENANCE_PREFIX)]  # fmt: skip
    return pairs


def _notes(doc: dict[str, Any]) -> list[str]:
    notes = []
    if doc["header_only"]:
        notes.append("header only: no section was read or checked; ? needs them")
    for pattern in doc.get("selection", {}).get("unmatched", []):
        notes.append(f"--name {printable(pattern)} matches no tensor in this file")
    return notes


def _inline(value: Any) -> str:
    """A JSON value on one line: text as it is, flat objects as ``k=v, ...``."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict) and value and all(_flat(v) for v in value.values()):
        return ", ".join(f"{printable(k)}={_inline(v)}" for k, v in value.items())
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return printable(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))


def _scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _flat(value: Any) -> bool:
    return _scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value))


def provenance_parts(value: Any) -> list[str]:
    """One line per member of an object value, else the value on one line."""
    if isinstance(value, dict) and value:
        return [f"{printable(k)}: {_inline(v)}" for k, v in value.items()]
    return [_inline(value)]


def _ordered(provenance: dict[str, Any]) -> list[tuple[str, Any]]:
    """The version first: it says which writer the rest comes from."""
    return sorted(provenance.items(), key=lambda item: item[0] != PROVENANCE_PREFIX + "version")


def _provenance_lines(provenance: dict[str, Any], width: int | None) -> list[str]:
    if not provenance:
        return []
    lines = ["provenance (written by pycodec):"]
    label_width = max(len(printable(key)) for key in provenance)
    for key, value in _ordered(provenance):
        label = "  " + printable(key).ljust(label_width) + "  "
        for n, part in enumerate(provenance_parts(value)):
            lines += wrap(label if n == 0 else " " * len(label), part, width, max_lines=6)
    return lines


def text_block(doc: dict[str, Any], width: int | None) -> list[str]:
    """One file as text: header lines, the table, and any aliases."""
    lines = [f"file:      {printable(doc['file'])}"]
    for label, text in _summary(doc):
        lines += wrap(f"{label + ':':<11}", text, width, max_lines=4)
    lines += _provenance_lines(doc["provenance"], width)
    for note in _notes(doc):
        lines += wrap("note:      ", note, width)
    if doc["tensors"]:
        table, left_out = render_text(COLUMNS, table_rows(doc), width)
        if left_out:
            lines += wrap("note:      ", f"columns {', '.join(left_out)} left out to fit {width} columns "
                                         "(--wide shows them)", width)  # fmt: skip
        lines += [""] + table
    aliases = [(row["name"], row["alias_of"]) for row in doc["tensors"] if row["alias_of"] is not None]
    if aliases:
        lines += [""] + [f"alias:     {printable(name)} = {printable(target)}" for name, target in aliases]
    return lines


def legend_text(width: int) -> list[str]:
    label_width = max(len(label) for label, _ in LEGEND)
    lines = ["legend:"]
    for label, text in LEGEND:
        lines += wrap(f"  {label:<{label_width}}  ", text, width)
    return lines


# ----------------------------------------------------------------- markdown


def markdown_block(doc: dict[str, Any]) -> list[str]:
    """One file as GitHub markdown: a heading, a list of header facts, the table."""
    lines = [f"### {markdown_escape(printable(doc['file']))}", ""]
    lines += [f"- {label}: {markdown_escape(text)}" for label, text in _summary(doc)]
    if doc["provenance"]:
        lines.append("- provenance (written by pycodec):")
        for key, value in _ordered(doc["provenance"]):
            parts = provenance_parts(value)
            if len(parts) == 1:
                lines.append(f"  - {markdown_escape(printable(key))}: {markdown_escape(parts[0])}")
            else:
                lines.append(f"  - {markdown_escape(printable(key))}:")
                lines += [f"    - {markdown_escape(part)}" for part in parts]
    lines += [f"- note: {markdown_escape(note)}" for note in _notes(doc)]
    lines += [f"- alias: {markdown_escape(printable(r['name']))} = {markdown_escape(printable(r['alias_of']))}"
              for r in doc["tensors"] if r["alias_of"] is not None]  # fmt: skip
    if doc["tensors"]:
        lines += [""] + render_markdown(COLUMNS, table_rows(doc))
    return lines + [""]


def legend_markdown() -> list[str]:
    return ["Legend:", ""] + [f"- **{markdown_escape(label)}**: {markdown_escape(text)}" for label, text in LEGEND]


# ----------------------------------------------------------------- the command


def _emit(lines: list[str]) -> None:
    print("\n".join(lines))


def _show(doc: dict[str, Any], args: argparse.Namespace, index: int) -> None:
    """Print one file's block as it is read, so a long run streams."""
    if args.markdown:
        _emit(markdown_block(doc))
        return
    heading = [f"==> {printable(doc['file'])} <=="] if len(args.files) > 1 else []
    _emit(([""] if index else []) + heading + text_block(doc, None if args.wide else args.width))


def dump_files(args: argparse.Namespace) -> int:
    """``dcz dump``: every file in turn; 1 if any failed, 2 if a --name pattern matched
    no tensor in any file read, else 0."""
    patterns = [pattern for group in args.name for pattern in group]
    status, documents, shown = 0, [], 0
    unmatched_everywhere = set(patterns)
    for path in args.files:
        try:
            doc = read_document(path, args, patterns)
        except FileFailure as failure:
            report_failure(failure)
            documents.append({"file": path, "error": str(failure)})
            status = 1
            continue
        unmatched_everywhere &= set(doc.get("selection", {}).get("unmatched", []))
        documents.append(doc)
        if not args.json:
            _show(doc, args, shown)
        shown += 1
    if args.json and len(args.files) > 1:
        print(json.dumps(documents, indent=2))  # failures too, as {"file", "error"}
    elif args.json and shown:
        print(json.dumps(documents[0], indent=2))
    elif shown and args.legend:
        _emit(legend_markdown() if args.markdown else [""] + legend_text(args.width if not args.wide else 100))
    if shown and unmatched_everywhere:
        report_failure(FileFailure(f"--name {printable(', '.join(sorted(unmatched_everywhere)))} "
                                   "matches no tensor in any file"))  # fmt: skip
        status = 2
    return status

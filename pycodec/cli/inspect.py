"""``dcz dump`` and ``dcz verify``: the light inspector (numpy and the reader only).

``dcz dump FILE...`` prints each file's header and a per-tensor table in the spirit of
Tables 2–3 of the Deep Compression paper (rendered by :mod:`pycodec.cli.dump_format`);
``dcz verify FILE...`` checks every byte. A file that fails is one line on stderr naming
it and the problem; the other files are still shown, and the exit status is 1. Usage
errors exit with 2; a closed output pipe (``dcz dump ... | head``) ends quietly with
status 141, as a shell reports for a tool stopped by SIGPIPE.

Names, metadata and paths come from the file or the user and may hold control
characters: every human-readable line escapes what is not printable (:func:`printable`),
so a file cannot move the cursor, retitle the terminal or forge a line. ``--json``
output is JSON, which escapes them itself.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pycodec.cli.text import count, printable
from pycodec.errors import DczError
from pycodec.format import limits
from pycodec.format.dtypes import DTYPES
from pycodec.format.reader import DczReader
from pycodec.format.syntax import TensorEntry

__all__ = ["PROVENANCE_PREFIX", "TensorRow", "describe", "dump_document", "printable", "tensor_row"]

#: Metadata keys under this prefix are written by pycodec itself (its version, the
#: compression settings, the accuracy measured); ``dcz dump`` shows them apart.
PROVENANCE_PREFIX = "pycodec."

#: The exit status of a tool stopped by SIGPIPE, as a shell reports it (128 + 13).
EXIT_CLOSED_PIPE = 141

# ----------------------------------------------------------------- rows


@dataclass
class TensorRow:
    """One line of the dump table: the paper's per-layer statistics for one tensor.
    ``None`` where a figure does not apply, or (``nnz`` and what needs it) where the
    header alone cannot tell."""

    name: str
    shape: list[int]
    dtype: str
    encoding: str
    numel: int
    nnz: int | None
    codebook_size: int | None
    weight_bits: int | None  # fixed-width index bits: ceil(log2(codebook size))
    weight_bits_huffman: float | None  # indices section bits per coded weight
    index_bits: int | None  # relative-index width (sparse)
    index_bits_huffman: float | None  # gaps section bits per non-zero (sparse, sparse_raw)
    stored_bytes: int
    dtype_bytes: int  # the tensor in its own dtype: numel × itemsize
    ratio_vs_dtype: float | None  # dtype_bytes / stored_bytes
    ratio_vs_float32: float | None  # numel × 4 / stored_bytes
    alias_of: str | None


def _bits_per(section_bytes: int | None, symbols: int | None) -> float | None:
    return section_bytes * 8 / symbols if section_bytes is not None and symbols else None


def entry_row(entry: TensorEntry, nnz: int | None) -> TensorRow:
    """The row of a table entry, from the header alone plus `nnz` where it is known.
    A codebook section holds one element per shared value, so its length gives the size."""
    itemsize = DTYPES[entry.dtype].itemsize
    sections = {role: section.length for role, section in entry.sections.items()}
    book = sections["codebook"] // itemsize if "codebook" in sections else None
    coded = entry.numel if entry.encoding == "codebook" else nnz  # symbols of the indices stream
    stored = sum(sections.values())
    return TensorRow(
        name=entry.name,
        shape=list(entry.shape),
        dtype=entry.dtype,
        encoding=entry.encoding,
        numel=entry.numel,
        nnz=nnz,
        codebook_size=book,
        weight_bits=max(1, math.ceil(math.log2(book))) if book else None,
        weight_bits_huffman=_bits_per(sections.get("indices"), coded),
        index_bits=entry.index_bits,
        index_bits_huffman=_bits_per(sections.get("gaps"), nnz),
        stored_bytes=stored,
        dtype_bytes=entry.numel * itemsize,
        ratio_vs_dtype=entry.numel * itemsize / stored if stored else None,
        ratio_vs_float32=entry.numel * 4 / stored if stored else None,
        alias_of=entry.alias_of,
    )


def _count_nonzero(file: DczReader, name: str) -> int:
    info = file.info(name)  # reads and checks the small sections, and knows nnz when sparse
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
    """The row of one tensor, reading (and checksumming) its sections to count non-zeros."""
    return entry_row(file.entry(name), _count_nonzero(file, name))


# ----------------------------------------------------------------- documents


def select(names: Sequence[str], patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    """The names matching any fnmatch pattern (all when there is none), and the patterns
    that match no name."""
    if not patterns:
        return list(names), []
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in names)]
    return chosen, unmatched


def provenance(metadata: dict[str, str]) -> dict[str, Any]:
    """The ``pycodec.*`` metadata, values that hold a JSON object or array parsed."""
    return {key: _parse_json(value) for key, value in metadata.items() if key.startswith(PROVENANCE_PREFIX)}


def _parse_json(value: str) -> Any:
    if not value.lstrip().startswith(("{", "[")):
        return value
    try:
        parsed = json.loads(value)
        json.dumps(parsed, indent=2)  # a nesting too deep to print again stays text
    except (ValueError, RecursionError):
        return value
    return parsed


def _totals(file: DczReader, rows: list[TensorRow], filtered: bool) -> dict[str, Any]:
    stored = [r for r in rows if r.encoding != "alias"]
    numel = sum(r.numel for r in stored)
    nnz = None if any(r.nnz is None for r in stored) else sum(r.nnz or 0 for r in stored)
    dtype_bytes = sum(r.dtype_bytes for r in stored)
    # The whole file (header and padding included) unless only some tensors are shown.
    size = sum(r.stored_bytes for r in stored) if filtered else file.preamble.file_length
    return {
        "tensors": len(rows),
        "numel": numel,
        "nnz": nnz,
        "stored_bytes": sum(r.stored_bytes for r in stored),
        "bytes": size,
        "dtype_bytes": dtype_bytes,
        "float32_bytes": numel * 4,
        "ratio_vs_dtype": dtype_bytes / size if size else None,
        "ratio_vs_float32": numel * 4 / size if size else None,
    }


def dump_document(file: DczReader, *, header_only: bool = False, patterns: Sequence[str] = ()) -> dict[str, Any]:
    """Everything ``dcz dump`` shows, as JSON-ready data. `header_only` reads no section
    (no checksum is checked, non-zeros are unknown); `patterns` keep the matching tensors."""
    names, unmatched = select(file.names(), patterns)
    if header_only:
        rows = [entry_row(file.entry(name), None) for name in names]
    else:
        rows = [tensor_row(file, name) for name in names]
    doc = {
        "file": file.path,
        "version": file.preamble.version,
        "flags": file.preamble.flags,
        "file_length": file.preamble.file_length,
        "header_length": file.preamble.header_length,  # as stored
        "header_compressed": file.header_compressed,
        "header_json_length": file.header_json_length,  # inflated
        "header_only": header_only,
        "metadata": file.metadata,
        "provenance": provenance(file.metadata),
        "tensors": [asdict(r) for r in rows],
        "totals": _totals(file, rows, filtered=bool(patterns)),
    }
    if patterns:
        doc["selection"] = {"patterns": list(patterns), "unmatched": unmatched, "of": len(file)}
    return doc


# ----------------------------------------------------------------- running


class FileFailure(Exception):
    """A file that could not be read: one line naming it and the problem."""


def describe(exc: BaseException) -> str:
    """One line for an error: ``path: reason`` for system errors, else the message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def _failure(path: str, exc: BaseException, hint: str = "") -> FileFailure:
    named = isinstance(exc, OSError) and exc.filename is not None
    return FileFailure(printable(describe(exc) if named else f"{path}: {describe(exc)}") + hint)


HEADER_HINT = " (dcz dump --header shows its header and tensor table without reading the sections)"


def read_document(path: str, args: argparse.Namespace, patterns: Sequence[str]) -> dict[str, Any]:
    """The dump document of one file; :class:`FileFailure` if it cannot be read, with a
    hint to try ``--header`` when the header is sound and a section is not."""
    try:
        file = DczReader(path, max_decoded_bytes=args.max_decoded_bytes)
    except (DczError, OSError) as exc:
        raise _failure(path, exc) from None
    with file:
        try:
            return dump_document(file, header_only=args.header, patterns=patterns)
        except (DczError, OSError) as exc:
            raise _failure(path, exc, "" if args.header else HEADER_HINT) from None


def report_failure(failure: FileFailure) -> None:
    sys.stdout.flush()  # keep the order of what was shown and what failed
    print(f"dcz: error: {failure}", file=sys.stderr)


def quiet_on_closed_pipe(run: Callable[[], int]) -> int:
    """Run `run`; when the reader of stdout has gone away (``| head``), stop without a
    word and send what remains of the output to /dev/null, as unix tools do."""
    try:
        status = run()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_CLOSED_PIPE


def _discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush goes nowhere
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured)
        pass


def run_dump(args: argparse.Namespace) -> int:
    from pycodec.cli.dump_format import dump_files

    return quiet_on_closed_pipe(lambda: dump_files(args))


def _verify_one(path: str, max_decoded_bytes: int) -> str:
    try:
        with DczReader(path, max_decoded_bytes=max_decoded_bytes) as file:
            file.verify()
            tensors, size = len(file), file.preamble.file_length
    except (DczError, OSError) as exc:
        raise _failure(path, exc) from None
    return f"{printable(path)}: OK ({count(tensors)} tensors, {count(size)} bytes, every checksum and tensor verified)"


def verify_files(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            print(_verify_one(path, args.max_decoded_bytes))
        except FileFailure as failure:
            report_failure(failure)
            status = 1
    return status


def run_verify(args: argparse.Namespace) -> int:
    return quiet_on_closed_pipe(lambda: verify_files(args))


# ----------------------------------------------------------------- options


def _patterns(text: str) -> list[str]:
    patterns = [p.strip() for p in text.split(",") if p.strip()]
    if not patterns:
        raise argparse.ArgumentTypeError(f"expected a tensor-name pattern, got {text!r}")
    return patterns


def _width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of columns, got {text!r}") from None
    if value < 60:
        raise argparse.ArgumentTypeError(f"expected at least 60 columns, got {value}")
    return value


DEFAULT_WIDTH = 100


def add_dump_arguments(dump: argparse.ArgumentParser) -> None:
    dump.add_argument("files", nargs="+", metavar="FILE", help="one or more .dcz files")
    shape = dump.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="machine-readable output (a list for several files)")
    shape.add_argument("--markdown", action="store_true", help="GitHub markdown: headings, lists and tables")
    dump.add_argument("--name", action="append", type=_patterns, default=[], metavar="PATTERN",
                      help="only tensors whose name matches an fnmatch PATTERN (repeatable or comma-separated; "
                           "a pattern no tensor of a file matches is noted, and one no file matches is an "
                           "error, exit status 2)")  # fmt: skip
    dump.add_argument("--header", action="store_true",
                      help="read only the header: metadata and the tensor table, without reading, decoding or "
                           "checking any section (works on a file with corrupt sections)")  # fmt: skip
    dump.add_argument("--wide", action="store_true", help="no width limit: tensor names and metadata in full")
    dump.add_argument("--width", type=_width, default=DEFAULT_WIDTH, metavar="N",
                      help=f"fit the text in N columns where the numbers allow, shortening long names "
                           f"(default {DEFAULT_WIDTH})")  # fmt: skip
    dump.add_argument("--no-legend", dest="legend", action="store_false", help="leave out the legend of the columns")
    _add_budget(dump)
    dump.set_defaults(func=run_dump)


def add_verify_arguments(verify: argparse.ArgumentParser) -> None:
    verify.add_argument("files", nargs="+", metavar="FILE", help="one or more .dcz files")
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

"""``dcz dump`` and ``dcz verify`` as a user meets them: width, legend, ratios against each
tensor's own dtype, several files, markdown, name filters, the header-only view of a
corrupt file, escaping, provenance and a closed output pipe."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pycodec
from pycodec import cli
from pycodec.cli.dump_format import COLUMNS, LEGEND
from pycodec.format.reader import DczReader

REPO = Path(__file__).resolve().parent.parent
RESULTS = sorted((REPO / "results").glob("*.dcz"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def table_row(out: str, name: str) -> list[str]:
    """The cells of the text table's row for `name` (split on the two-space gaps)."""
    line = next(line for line in out.splitlines() if line.startswith(name + " "))
    return re.split(r"\s{2,}", line.strip())


@pytest.fixture
def dtypes_file(tmp_path: Path) -> Path:
    """One tensor of each dtype family, stored raw (``compress=False``)."""
    torch.manual_seed(0)
    state = {
        "half": torch.randn(300, 20).half(),
        "bf16": torch.randn(64).bfloat16(),
        "steps": torch.tensor(123456789, dtype=torch.int64),
        "c64": torch.randn(16, dtype=torch.complex64),
        "c128": torch.randn(8, dtype=torch.complex128),
    }
    path = tmp_path / "dtypes.dcz"
    pycodec.save(state, path, metadata={"note": "dtypes"}, compress=False)
    return path


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    weight = torch.randn(200, 300)
    weight[weight.abs() < 1.5] = 0
    weight = torch.where(weight > 0, 0.5, torch.where(weight < 0, -0.5, 0.0))
    path = tmp_path / "small.dcz"
    pycodec.save({"fc1.weight": weight, "fc1.bias": torch.randn(200), "fc2.weight": torch.zeros(10, 200)},
                 path, metadata={"model": "small"})  # fmt: skip
    return path


# ----------------------------------------------------------------- ratios and numbers


def test_ratio_is_against_each_tensors_own_dtype(capsys, dtypes_file: Path) -> None:
    code, out, _ = run(capsys, "dump", "--json", str(dtypes_file))
    assert code == 0
    doc = json.loads(out)
    rows = {row["name"]: row for row in doc["tensors"]}
    itemsize = {"float16": 2, "bfloat16": 2, "int64": 8, "complex64": 8, "complex128": 16}
    for name, row in rows.items():
        assert row["encoding"] == "raw" and row["dtype_bytes"] == row["numel"] * itemsize[row["dtype"]]
        assert row["ratio_vs_dtype"] == 1.0, name  # stored as is: 1.0x whatever the dtype
    assert rows["steps"]["ratio_vs_float32"] == 0.5 and rows["c128"]["ratio_vs_float32"] == 0.25
    totals = doc["totals"]
    assert totals["dtype_bytes"] == sum(r["dtype_bytes"] for r in doc["tensors"])
    assert totals["ratio_vs_dtype"] == pytest.approx(totals["dtype_bytes"] / dtypes_file.stat().st_size)
    _, text, _ = run(capsys, "dump", str(dtypes_file))
    for name in rows:
        assert table_row(text, name)[-1] == "1.0x", name


def test_ratio_of_compressed_half_precision_tensors(capsys, tmp_path: Path) -> None:
    torch.manual_seed(0)
    levels = torch.tensor([-0.5, 0.0, 0.25, 1.0])
    state = {"shared_half": levels.half()[torch.randint(0, 4, (4000,))],
             "shared_bf16": levels.bfloat16()[torch.randint(0, 4, (4000,))],
             "smooth_half": torch.randn(4000).half()}  # fmt: skip
    path = tmp_path / "half.dcz"
    pycodec.save(state, path)
    _, out, _ = run(capsys, "dump", "--json", str(path))
    _, text, _ = run(capsys, "dump", str(path))
    for row in json.loads(out)["tensors"]:
        assert row["encoding"] != "raw" and row["dtype_bytes"] == 8000
        assert row["ratio_vs_dtype"] == pytest.approx(8000 / row["stored_bytes"])
        assert row["ratio_vs_float32"] == pytest.approx(2 * row["ratio_vs_dtype"])
        assert table_row(text, row["name"])[-1] == f"{row['ratio_vs_dtype']:.1f}x"
    assert table_row(text, "shared_half")[5] == "4"  # its codebook: four shared values


def test_counts_and_bytes_have_thousands_separators(capsys, dtypes_file: Path) -> None:
    _, out, _ = run(capsys, "dump", str(dtypes_file))
    size = dtypes_file.stat().st_size
    assert f"size:      {size:,} bytes" in out and size >= 1000
    assert table_row(out, "half")[-2] == "12,000"  # 6,000 float16 values, raw
    assert table_row(out, "total (file)")[-2] == f"{size:,}"
    assert table_row(out, "c64")[4] == "100.0" and table_row(out, "c128")[4] == "100.0"  # complex nz %


# ----------------------------------------------------------------- width and legend


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_results_files_fit_100_columns(capsys, path: Path) -> None:
    code, out, _ = run(capsys, "dump", str(path))
    assert code == 0 and widest(out) <= 100
    with DczReader(path) as file:
        assert len(table_lines(out)) == len(file)  # one line per tensor


def table_lines(out: str) -> list[str]:
    """The tensor rows of a text table: between its first two rule lines."""
    lines = out.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("-----")]
    return lines[rules[0] + 1: rules[1]]


def test_long_names_are_shortened_never_wrapped_and_wide_shows_them(capsys, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    names = [f"encoder.layers.{i}.self_attention.query_key_value.weight_with_a_long_suffix" for i in range(3)]
    names.append("a" * 120)
    state = {name: torch.zeros(2, 3, 4, 5, 6) for name in names}
    monkeypatch.chdir(tmp_path)  # a short path: paths are printed whole
    path = Path("long.dcz")
    pycodec.save(state, path)
    for width in (100, 90):
        code, out, _ = run(capsys, "dump", "--width", str(width), str(path))
        assert code == 0 and widest(out) <= width
        rows = table_lines(out)
        assert len(rows) == 4 and all("..." in row for row in rows)  # one line per tensor, shortened
        assert all(f"e.l.{i}.s.q.we" in out for i in range(3))  # leading words as initials; numbers whole
        assert "2x3x4x5x6" in out and "left out" in out  # w and idx make way first
    _, wide, _ = run(capsys, "dump", "--wide", str(path))
    assert all(name in wide for name in names) and widest(wide) > 100
    assert all(header in wide.splitlines()[wide.splitlines().index("") + 1].split() for header in ("w", "idx"))


def test_every_column_has_a_legend_and_no_legend_drops_it(capsys, small_file: Path) -> None:
    _, out, _ = run(capsys, "dump", str(small_file))
    legend = out[out.index("\nlegend:\n"):]
    for column in COLUMNS:
        assert re.search(rf"^  {re.escape(column.header)}\s{{2,}}\S", legend, re.M), column.header
    assert "Huffman" in legend and "code table" in legend  # what H means, and why it can exceed w
    assert {label for label, _ in LEGEND} >= {c.header for c in COLUMNS}
    _, bare, _ = run(capsys, "dump", "--no-legend", str(small_file))
    assert "\nlegend:" not in bare and bare.rstrip().endswith(table_row(out, "total (file)")[-1])


# ----------------------------------------------------------------- several files


def test_dump_of_several_files_shows_each_and_fails_for_the_missing_one(capsys, small_file: Path,
                                                                        dtypes_file: Path) -> None:  # fmt: skip
    missing = small_file.with_name("missing.dcz")
    code, out, err = run(capsys, "dump", str(small_file), str(missing), str(dtypes_file))
    assert code == 1
    assert f"==> {small_file} <==" in out and f"==> {dtypes_file} <==" in out and str(missing) not in out
    assert err.count("\n") == 1 and err.startswith("dcz: error: ") and str(missing) in err
    assert out.count("\nlegend:\n") == 1


def test_dump_json_of_several_files_is_one_valid_list(capsys, small_file: Path, dtypes_file: Path) -> None:
    missing = str(small_file.with_name("missing.dcz"))
    code, out, _ = run(capsys, "dump", "--json", str(small_file), missing, str(dtypes_file))
    docs = json.loads(out)
    assert code == 1 and [d["file"] for d in docs] == [str(small_file), missing, str(dtypes_file)]
    assert "No such file" in docs[1]["error"] and docs[2]["tensors"]


def test_verify_takes_several_files_and_reports_each(capsys, small_file: Path, dtypes_file: Path) -> None:
    code, out, err = run(capsys, "verify", str(small_file), str(dtypes_file))
    assert code == 0 and err == "" and out.count(": OK (") == 2
    assert f"{dtypes_file.stat().st_size:,} bytes" in out
    flip_a_section_byte(small_file, "fc1.weight")
    code, out, err = run(capsys, "verify", str(small_file), str(dtypes_file))
    assert code == 1 and out.count(": OK (") == 1 and str(dtypes_file) in out
    assert err.count("\n") == 1 and str(small_file) in err and "checksum mismatch" in err


# ----------------------------------------------------------------- markdown


def markdown_cells(line: str) -> list[str]:
    assert line.startswith("| ") and line.endswith(" |"), line
    return re.split(r"(?<!\\)\|", line[1:-1])


def test_markdown_is_a_valid_github_table(capsys, tmp_path: Path) -> None:
    path = tmp_path / "md.dcz"
    pycodec.save({"a|b": torch.zeros(3), "_private_": torch.ones(2), "x*y": torch.ones(1)}, path,
                 metadata={"k": "v|w"})  # fmt: skip
    code, out, _ = run(capsys, "dump", "--markdown", str(path))
    assert code == 0 and out.startswith(f"### {path}")
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| tensor |"))
    table = lines[start: lines.index("", start)]
    assert re.fullmatch(r"\|(:---|---:)(\|(:---|---:))*\|", table[1])
    widths = {len(markdown_cells(line)) for line in [table[0]] + table[2:]}
    assert widths == {len(COLUMNS)} and table[1].count("|") == len(COLUMNS) + 1
    assert len(table) == 2 + 3 + 1  # heading, rule, three tensors, the totals
    assert "| a\\|b |" in out and "| \\_private\\_ |" in out and "| x\\*y |" in out
    assert "- metadata: k = v\\|w" in out and "- **w H**:" in out


# ----------------------------------------------------------------- name filter


def test_name_filter_globs_repeatable_and_comma_separated(capsys, small_file: Path) -> None:
    code, out, err = run(capsys, "dump", "--name", "fc1.*", str(small_file))
    assert code == 0 and err == ""
    assert "fc1.weight" in out and "fc1.bias" in out and "fc2.weight" not in out
    assert "tensors:   2 of 3 shown" in out and "total (2 shown)" in out
    code, out, _ = run(capsys, "dump", "--json", "--name", "fc2.*,*.bias", "--name", "nothing", str(small_file))
    doc = json.loads(out)
    assert [t["name"] for t in doc["tensors"]] == ["fc1.bias", "fc2.weight"]
    assert doc["totals"]["bytes"] == sum(t["stored_bytes"] for t in doc["tensors"])
    assert doc["selection"]["unmatched"] == ["nothing"] and code == 2  # matched in no file


def test_a_pattern_matching_nothing_is_a_note_per_file_and_an_error_if_nowhere(capsys, small_file: Path,
                                                                               dtypes_file: Path) -> None:  # fmt: skip
    code, out, err = run(capsys, "dump", "--name", "half", str(small_file), str(dtypes_file))
    assert code == 0 and err == ""
    assert out.count("note:      --name half matches no tensor in this file") == 1
    code, out, err = run(capsys, "dump", "--name", "fc9*", str(small_file), str(dtypes_file))
    assert code == 2 and out.count("--name fc9* matches no tensor in this file") == 2
    assert err == "dcz: error: --name fc9* matches no tensor in any file\n"


# ----------------------------------------------------------------- corrupt files


def flip_a_section_byte(path: Path, tensor: str) -> None:
    with DczReader(path) as file:
        section = next(iter(file.entry(tensor).sections.values()))
    data = bytearray(path.read_bytes())
    data[section.offset + section.length // 2] ^= 0x20
    path.write_bytes(bytes(data))


def test_header_mode_shows_a_file_whose_sections_are_corrupt(capsys, small_file: Path) -> None:
    _, healthy, _ = run(capsys, "dump", "--json", str(small_file))
    flip_a_section_byte(small_file, "fc1.weight")
    code, out, err = run(capsys, "dump", str(small_file))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"dcz: error: {small_file}: ") and "checksum mismatch" in err and "--header" in err
    code, out, err = run(capsys, "dump", "--header", str(small_file))
    assert code == 0 and err == "" and "header only" in out and "model = small" in out
    assert table_row(out, "fc1.weight")[3:5] == ["sparse", "?"]  # non-zeros unknown without the sections
    code, out, _ = run(capsys, "dump", "--header", "--json", str(small_file))
    doc, full = json.loads(out), json.loads(healthy)
    assert code == 0 and doc["header_only"] is True
    for row, known in zip(doc["tensors"], full["tensors"], strict=True):
        assert row["nnz"] is None
        for key in ("name", "shape", "encoding", "codebook_size", "index_bits", "stored_bytes", "ratio_vs_dtype"):
            assert row[key] == known[key], key


def test_a_corrupt_header_is_one_line_without_the_header_hint(capsys, small_file: Path) -> None:
    data = bytearray(small_file.read_bytes())
    data[40] ^= 0x01  # inside the stored header
    small_file.write_bytes(bytes(data))
    code, _, err = run(capsys, "dump", "--header", str(small_file))
    assert code == 1 and err.count("\n") == 1 and "header" in err and "--header" not in err


# ----------------------------------------------------------------- escaping and provenance


def test_names_metadata_and_paths_are_escaped_everywhere(capsys, tmp_path: Path) -> None:
    path = tmp_path / "evil\x1b]0;title\x07.dcz"
    pycodec.save({"w\x1b[2J\u202e": torch.zeros(3)}, path,
                 metadata={"k\n": "v\rforged", "pycodec.note": '{"a": "\\u001b[31m"}'})  # fmt: skip
    for mode in ((), ("--markdown",), ("--header",), ("--wide",)):
        code, out, err = run(capsys, "dump", *mode, str(path))
        assert code == 0 and err == ""
        assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in out), mode
        assert "\\x1b" in out and "\\u202e" in out
    code, out, _ = run(capsys, "verify", str(path))
    assert code == 0 and "\x1b" not in out and "\\x1b]0;title\\x07" in out


def test_provenance_metadata_is_shown_apart_and_readably(capsys, tmp_path: Path) -> None:
    compression = {"via": "compress_model", "density": {"conv1": 0.66, "fc1": 0.08}, "bits": 5,
                   "exclude": ["fc2.bias"], "deep": {"a": {"b": [1, 2]}}}  # fmt: skip
    metadata = {"model": "net", "pycodec.version": "9.9.9", "pycodec.compression": json.dumps(compression),
                "pycodec.error": json.dumps({"baseline": 0.008, "final": 0.0074}),
                "pycodec.broken": "{not json", "pycodec.deep": "[" * 5000 + "]" * 5000}  # fmt: skip
    path = tmp_path / "prov.dcz"
    pycodec.save({"w": torch.zeros(2)}, path, metadata=metadata)
    code, out, _ = run(capsys, "dump", str(path))
    assert code == 0 and "metadata:  model = net" in out and "metadata:  pycodec" not in out
    block = out[out.index("\nprovenance"): out.index("\n\n")].splitlines()
    assert block[2].split() == ["pycodec.version", "9.9.9"]  # the writer first
    assert any(line.split()[-2:] == ["density:", "conv1=0.66,"] or "density: conv1=0.66, fc1=0.08" in line
               for line in block)  # fmt: skip
    assert "bits: 5" in out and "exclude: [fc2.bias]" in out and 'deep: {"a": {"b": [1, 2]}}' in out
    assert "baseline: 0.008" in out and "final: 0.0074" in out and "{not json" in out
    assert widest(out) <= 100  # the 10,000-character value is cut short
    _, raw, _ = run(capsys, "dump", "--json", str(path))
    doc = json.loads(raw)
    assert doc["provenance"]["pycodec.compression"] == compression
    assert doc["provenance"]["pycodec.broken"] == "{not json" and isinstance(doc["provenance"]["pycodec.deep"], str)
    assert doc["metadata"] == metadata


# ----------------------------------------------------------------- pipes and the version


@pytest.mark.parametrize("arguments", [["dump", *map(str, RESULTS)], ["verify", *map(str, RESULTS)],
                                       ["compress", "--help"], ["plot", "--help"], ["--help"]])
def test_a_closed_pipe_ends_quietly_like_other_unix_tools(arguments: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written (| head -0)
    try:
        done = subprocess.run([sys.executable, "-m", "pycodec", *arguments],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=REPO)  # fmt: skip
    finally:
        os.close(write_end)
    # 128 + SIGPIPE, as a shell reports `yes | head`; --help's one buffered write may end before it
    assert done.stderr == "" and done.returncode in ((0, 141) if "--help" in arguments else (141,))


def test_version_is_printed(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out.strip() == f"dcz (pycodec) {pycodec.__version__}"

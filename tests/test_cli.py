"""The dcz command line: dump (text and JSON), verify, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pycodec
from pycodec import cli


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    weight = torch.randn(100, 200)
    weight[weight.abs() < 1.8] = 0
    weight = torch.where(weight > 0, 0.75, torch.where(weight < 0, -0.75, 0.0))
    levels = torch.tensor([-1.0, 0.0, 1.0, 3.0])
    state = {
        "fc.weight": weight,
        "fc.bias": torch.randn(100),
        "conv.weight": levels[torch.randint(0, 4, (8, 4, 3, 3))],
        "steps": torch.tensor(5),
        "tied": weight,
    }
    path = tmp_path / "m.dcz"
    pycodec.save(state, path, metadata={"arch": "test-net"})
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dump_prints_header_and_paper_style_table(capsys, model_file: Path) -> None:
    code, out, err = run(capsys, "dump", str(model_file))
    assert code == 0 and err == ""
    assert ".dcz version 1" in out and "arch = test-net" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith("-")}
    assert "sparse" in lines["fc.weight"] and "100x200" in lines["fc.weight"]
    assert "codebook" in lines["conv.weight"]
    assert "alias" in lines["tied"] and "alias:     tied = fc.weight" in out
    assert "total" in out


def test_dump_json_numbers_are_right(capsys, model_file: Path) -> None:
    code, out, _ = run(capsys, "dump", "--json", str(model_file))
    assert code == 0
    doc = json.loads(out)
    rows = {row["name"]: row for row in doc["tensors"]}
    fc = rows["fc.weight"]
    state = pycodec.load(model_file)
    assert fc["nnz"] == int(torch.count_nonzero(state["fc.weight"]))
    assert fc["codebook_size"] == 2 and fc["weight_bits"] == 1
    assert fc["encoding"] == "sparse" and fc["index_bits"] >= 1
    assert fc["weight_bits_huffman"] > 0 and fc["index_bits_huffman"] > 0
    assert rows["conv.weight"]["codebook_size"] == 4
    assert rows["conv.weight"]["nnz"] == int(torch.count_nonzero(state["conv.weight"]))
    assert rows["fc.bias"]["encoding"] == "raw" and rows["fc.bias"]["codebook_size"] is None
    assert doc["file_length"] == model_file.stat().st_size
    assert doc["totals"]["stored_bytes"] == sum(r["stored_bytes"] for r in doc["tensors"])
    assert doc["metadata"] == {"arch": "test-net"}


@pytest.mark.parametrize("compress_header", [True, False])
def test_dump_shows_the_header_form_and_sizes(capsys, model_file: Path, compress_header: bool) -> None:
    pycodec.save(pycodec.load(model_file), model_file, metadata={"arch": "test-net"}, compress_header=compress_header)
    code, out, _ = run(capsys, "dump", "--json", str(model_file))
    doc = json.loads(out)
    assert code == 0 and doc["header_compressed"] is compress_header
    assert doc["flags"] == (1 if compress_header else 0)
    with pycodec.open(model_file) as file:
        assert doc["header_length"] == file.preamble.header_length
        assert doc["header_json_length"] == file.header_json_length
    _, text, _ = run(capsys, "dump", str(model_file))
    size_line = next(line for line in text.splitlines() if line.startswith("size:"))
    if compress_header:
        assert doc["header_length"] < doc["header_json_length"]
        expected = f"header {doc['header_length']:,} bytes zlib-compressed, {doc['header_json_length']:,} inflated"
    else:
        assert doc["header_length"] == doc["header_json_length"]
        expected = f"header {doc['header_length']:,} bytes, not compressed"
    assert expected in size_line


def test_verify_ok(capsys, model_file: Path) -> None:
    code, out, err = run(capsys, "verify", str(model_file))
    assert code == 0 and "OK" in out and err == ""


@pytest.mark.parametrize("damage", ["truncate", "flip", "missing"])
def test_verify_failures_exit_1_with_one_line(capsys, model_file: Path, damage: str) -> None:
    data = model_file.read_bytes()
    if damage == "truncate":
        model_file.write_bytes(data[:-10])
    elif damage == "flip":
        corrupt = bytearray(data)
        corrupt[-5] ^= 0x10
        model_file.write_bytes(bytes(corrupt))
    else:
        model_file.unlink()
    code, out, err = run(capsys, "verify", str(model_file))
    assert code == 1 and out == ""
    assert err.startswith("dcz: error: ") and err.count("\n") == 1


def test_dump_of_a_corrupt_file_fails_cleanly(capsys, model_file: Path) -> None:
    model_file.write_bytes(b"not a dcz file at all, just some text long enough")
    code, _, err = run(capsys, "dump", str(model_file))
    assert code == 1 and "bad magic" in err


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main([])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        cli.main(["dump"])
    assert caught.value.code == 2


def test_compress_and_train_subcommands_are_wired_in() -> None:
    for argv in (["compress", "--out", "x.dcz"], ["train", "--out", "x.pt"]):
        args = cli.build_parser(argv).parse_args(argv)
        assert callable(args.func)


def test_user_errors_are_one_line_and_exit_2_without_a_traceback() -> None:
    root = Path(__file__).resolve().parents[1]
    for argv, message in ((["compress", "--bits", "fc1=17"], "1..16"), (["train", "--baseline-lr", "0"], "--baseline-lr")):
        done = subprocess.run([sys.executable, "-m", "pycodec", *argv], capture_output=True, text=True, cwd=root)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_python_dash_m_runs_the_cli(model_file: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "pycodec", "verify", str(model_file)],
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "pycodec", "verify", str(model_file) + ".nope"],
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 1 and "No such file" in done.stderr


def test_dump_and_verify_import_neither_the_training_stack_nor_tqdm(model_file: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys; from pycodec.cli import main\n"
        f"assert main(['verify', {str(model_file)!r}]) == 0 and main(['dump', {str(model_file)!r}]) == 0\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('torch', 'tqdm') or m.startswith('pycodec.compress')]\n"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr


def test_import_pycodec_does_not_import_torch() -> None:
    root = Path(__file__).resolve().parents[1]
    code = "import sys, pycodec; assert 'torch' not in sys.modules, 'torch imported'; print(pycodec.__all__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr

"""Regression tests for the format/API defects of issue 7 (a hostile-input campaign).

One test (or a few) per defect, named after it. Tests that could hang (a FIFO) or
allocate gigabytes (a hostile file) run in a subprocess with a timeout and, where it
matters, an address-space limit, so a regression fails instead of hanging or taking the
machine down.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import stat
import struct
import subprocess
import sys
import textwrap
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import pycodec
from pycodec import cli, codec
from pycodec.errors import (
    DczError,
    LimitExceededError,
    MalformedFileError,
    NotRegularFileError,
    UnsupportedTensorError,
)
from pycodec.format import limits

TIMEOUT_S = 60
GiB = 1 << 30
MiB = 1 << 20


# ----------------------------------------------------------------- crafting files


def _assemble(document: dict[str, Any], body: bytes, header_room: int) -> bytes:
    text = json.dumps(document).encode()
    header = text + b" " * (header_room - len(text))
    data_start = -(-(32 + len(header)) // 64) * 64
    body = bytes(data_start - 32 - len(header)) + body
    head = b"\x89DCZ\r\n\x1a\n" + struct.pack("<HHIIQ", 1, 0, len(header), zlib.crc32(header),
                                             32 + len(header) + len(body))
    return head + struct.pack("<I", zlib.crc32(head)) + header + body


def craft(entry: dict[str, Any], payloads: dict[str, bytes]) -> bytes:
    """A one-tensor file around `payloads` (sections in the order given), laid out
    canonically from a 64-aligned data area (the header holds lengths, not offsets)."""
    body = b""
    placed = dict(entry)
    for role, payload in payloads.items():
        alignment = 64 if entry["encoding"] == "raw" else 1
        body += bytes(-len(body) % alignment) + payload
        placed[role] = {"length": len(payload), "crc32": zlib.crc32(payload)}
    document = {"metadata": {}, "tensors": [placed]}
    return _assemble(document, body, len(json.dumps(document).encode()))


def single_symbol_stream(count: int, symbol: int = 0) -> bytes:
    """A mode-1 Huffman stream of `count` copies of an 8-bit `symbol` (a few bytes)."""
    out = bytearray([0x04])
    while True:
        byte, count = count & 0x7F, count >> 7
        out.append(byte | (0x80 if count else 0))
        if not count:
            return bytes(out) + bytes([symbol])


def dense_single_symbol(numel: int, value: float, dtype: str = "float32") -> bytes:
    book = np.array([0.0, value], dtype={"float32": "<f4", "float16": "<f2"}[dtype]).tobytes()
    entry = {"name": "w", "dtype": dtype, "shape": [numel], "encoding": "codebook"}
    return craft(entry, {"codebook": book, "indices": single_symbol_stream(numel, 1)})


def sparse_single_symbols(numel: int, nnz: int, gap: int, value: float) -> bytes:
    """A float16 sparse tensor with one value every ``gap + 1`` elements (two mode-1 streams)."""
    entry = {"name": "s", "dtype": "float16", "shape": [numel], "encoding": "sparse", "index_bits": 3}
    payloads = {
        "codebook": np.array([value], dtype="<f2").tobytes(),
        "indices": single_symbol_stream(nnz, 0),
        "gaps": single_symbol_stream(nnz, gap),
    }
    return craft(entry, payloads)


def run_python(code: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[1])


# ----------------------------------------------------------------- defect 2


def test_defect02_conj_view_saved_beside_base_keeps_its_values(tmp_path: Path) -> None:
    base = torch.tensor([1 + 2j, -3 + 0.5j, 4 - 1j], dtype=torch.complex64)
    path = tmp_path / "conj.dcz"
    pycodec.save({"base": base, "conj": base.conj()}, path)
    loaded = pycodec.load(path)
    assert torch.equal(loaded["base"], base)
    assert torch.equal(loaded["conj"], base.conj().resolve_conj())
    with pycodec.open(path) as file:
        assert file.entry("conj").encoding != "alias"


def test_defect02_neg_view_saved_beside_base_keeps_its_values(tmp_path: Path) -> None:
    base = torch.tensor([1.0, -2.0, 3.5])
    negative = base._neg_view()
    assert negative.is_neg() and negative.data_ptr() == base.data_ptr()
    imaginary = torch.tensor([1 + 2j, 3 - 4j]).conj().imag  # a neg-bit view torch makes itself
    assert imaginary.is_neg()
    path = tmp_path / "neg.dcz"
    pycodec.save({"base": base, "neg": negative, "imag": imaginary}, path)
    loaded = pycodec.load(path)
    assert loaded["base"].tolist() == [1.0, -2.0, 3.5]
    assert loaded["neg"].tolist() == [-1.0, 2.0, -3.5]
    assert loaded["imag"].tolist() == [-2.0, 4.0]


def test_defect02_conj_view_saved_alone_round_trips(tmp_path: Path) -> None:
    base = torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex128)
    path = tmp_path / "alone.dcz"
    pycodec.save({"conj": base.conj()}, path)
    assert pycodec.load(path)["conj"].tolist() == [1 - 2j, 3 + 4j]


def test_defect02_true_aliases_are_still_stored_once(tmp_path: Path) -> None:
    weight = torch.randn(4, 4)
    path = tmp_path / "tied.dcz"
    pycodec.save({"a": weight, "b": weight, "c": weight.conj()}, path)  # conj of real: itself
    with pycodec.open(path) as file:
        assert file.entry("b").encoding == "alias"
        assert file.entry("c").encoding == "alias"


def test_parameters_that_require_grad_and_their_views_save_their_values() -> None:
    weight = torch.nn.Parameter(torch.randn(5, 6))
    state = {"weight": weight, "row": weight[2], "columns": weight[:, 1:3], "tied": weight}
    loaded = pycodec.load_bytes(pycodec.save_bytes(state))
    for name, tensor in state.items():
        assert torch.equal(loaded[name], tensor.detach()) and not loaded[name].requires_grad
    assert weight.requires_grad and weight.grad is None  # the caller's tensor is left as it was


# ----------------------------------------------------------------- defect 3


@pytest.mark.parametrize("how", ["load", "open", "verify", "dump"])
def test_defect03_fifo_is_refused_without_blocking(tmp_path: Path, how: str) -> None:
    fifo = tmp_path / "pipe.dcz"
    os.mkfifo(fifo)
    calls = {
        "load": f"pycodec.load({str(fifo)!r})",
        "open": f"pycodec.open({str(fifo)!r})",
        "verify": f"raise SystemExit(cli.main(['verify', {str(fifo)!r}]))",
        "dump": f"raise SystemExit(cli.main(['dump', {str(fifo)!r}]))",
    }
    code = f"""
        import pycodec
        from pycodec import cli
        try:
            {calls[how]}
        except pycodec.NotRegularFileError as exc:
            print("refused:", exc)
    """
    try:
        result = run_python(code, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{how} blocked on a FIFO")
    output = result.stdout + result.stderr
    assert "FIFO, not a regular file" in output, output
    if how in ("verify", "dump"):
        assert result.returncode == 1 and "Traceback" not in output


def test_defect03_directory_is_refused_with_a_dcz_error(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFileError, match="directory"):
        pycodec.load(tmp_path)
    assert issubclass(NotRegularFileError, DczError) and issubclass(NotRegularFileError, OSError)


# ----------------------------------------------------------------- defect 4


def _state() -> dict[str, torch.Tensor]:
    return {"w": torch.arange(6, dtype=torch.float32)}


def test_defect04_save_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    with pytest.raises(NotRegularFileError, match="FIFO"):
        pycodec.save(_state(), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_defect04_save_refuses_a_socket_and_a_directory(tmp_path: Path) -> None:
    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(NotRegularFileError, match="socket"):
            pycodec.save(_state(), sock_path)
        assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    directory = tmp_path / "d"
    directory.mkdir()
    with pytest.raises(NotRegularFileError, match="directory"):
        pycodec.save(_state(), directory)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root")
def test_defect04_save_refuses_a_character_device(tmp_path: Path) -> None:
    device = tmp_path / "null"  # a copy of /dev/null's node, so a regression harms nothing
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with pytest.raises(NotRegularFileError, match="character device"):
        pycodec.save(_state(), device)
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert not list(tmp_path.glob(".dcz-tmp-*"))


def test_defect04_save_through_a_symlink_replaces_its_target(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "models" / "real.dcz"
    pycodec.save({"old": torch.zeros(2)}, target)
    os.chmod(target, 0o640)
    link = tmp_path / "links" / "current.dcz"
    link.symlink_to(target)
    pycodec.save(_state(), link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert set(pycodec.load(target)) == {"w"}
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert os.listdir(tmp_path / "links") == ["current.dcz"]
    assert os.listdir(tmp_path / "models") == ["real.dcz"]


def test_defect04_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.dcz"
    link.symlink_to(tmp_path / "new.dcz")
    pycodec.save(_state(), link)
    assert link.is_symlink() and set(pycodec.load(tmp_path / "new.dcz")) == {"w"}


# ----------------------------------------------------------------- defect 5


def test_defect05_default_budget_fits_a_24_gb_machine() -> None:
    assert limits.DEFAULT_MAX_DECODED_BYTES <= 4 * GiB


def test_defect05_tiny_hostile_file_is_refused_with_the_default_budget(tmp_path: Path) -> None:
    data = dense_single_symbol(2**34, 1.0)  # 64 GiB of float32 behind a 16 GiB index stream
    assert len(data) < 400
    path = tmp_path / "hostile.dcz"
    path.write_bytes(data)
    with pytest.raises(LimitExceededError, match="max_decoded_bytes"):
        pycodec.load(path)
    code, _, err = _cli("verify", str(path))
    assert code == 1 and "max_decoded_bytes" in err and "Traceback" not in err


def _limited_python(body: str, headroom: int) -> subprocess.CompletedProcess[str]:
    """Run `body` after capping the address space at what the process has mapped plus
    `headroom` bytes (torch and pycodec imported first)."""
    code = f"""
        import resource, torch, numpy, pycodec
        def mapped():
            with open("/proc/self/status") as status:
                line = next(l for l in status if l.startswith("VmSize:"))
            return int(line.split()[1]) * 1024
        limit = mapped() + {headroom}
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    """
    return run_python(textwrap.dedent(code) + textwrap.dedent(body))


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists() or not hasattr(resource, "RLIMIT_AS"),
                                reason="needs /proc and RLIMIT_AS")


@needs_proc
def test_defect05_single_symbol_stream_is_never_materialised(tmp_path: Path) -> None:
    numel = 2**27  # 256 MiB of float16 output; its index stream would be 128 MiB more
    path = tmp_path / "moderate.dcz"
    path.write_bytes(dense_single_symbol(numel, 0.5, "float16"))
    with pytest.raises(LimitExceededError):
        pycodec.open(path, max_decoded_bytes=2 * numel - 1)
    result = _limited_python(f"""
        with pycodec.open({str(path)!r}, max_decoded_bytes={2 * numel}) as file:
            out = file.read_array("w")
        assert out.size == {numel} and out.min() == out.max() == numpy.float16(0.5)  # no temporaries
        print("decoded")
    """, headroom=2 * numel + 64 * MiB)
    assert "decoded" in result.stdout, result.stderr[-2000:]


@needs_proc
def test_defect05_sparse_single_symbol_streams_are_never_materialised(tmp_path: Path) -> None:
    numel, gap = 2**27, 1  # one non-zero every 2 elements: 2^26 entries in each stream
    path = tmp_path / "sparse.dcz"
    path.write_bytes(sparse_single_symbols(numel, numel // 2, gap, -2.0))
    result = _limited_python(f"""
        with pycodec.open({str(path)!r}, max_decoded_bytes={2 * numel}) as file:
            out = file.read_array("s")
        assert out[1::2].min() == out[1::2].max() == numpy.float16(-2.0)
        assert out.view(numpy.uint16)[0::2].max() == 0
        print("decoded")
    """, headroom=2 * numel + 64 * MiB)
    assert "decoded" in result.stdout, result.stderr[-2000:]


def test_defect05_sparse_single_symbol_gaps_decode_like_the_general_path(tmp_path: Path) -> None:
    path = tmp_path / "small.dcz"
    path.write_bytes(sparse_single_symbols(10, 3, 2, 1.5))
    assert pycodec.load(path)["s"].tolist() == [0, 0, 1.5, 0, 0, 1.5, 0, 0, 1.5, 0]
    path.write_bytes(sparse_single_symbols(8, 3, 2, 1.5))  # the third lands at 8
    with pytest.raises(MalformedFileError, match="past the tensor"):
        pycodec.load(path)
    entry = {"name": "s", "dtype": "float16", "shape": [10], "encoding": "sparse", "index_bits": 3}
    book = np.array([1.5], dtype="<f2").tobytes()
    mismatched = {"codebook": book, "indices": single_symbol_stream(2), "gaps": single_symbol_stream(3, 1)}
    path.write_bytes(craft(entry, mismatched))
    with pytest.raises(MalformedFileError, match="places 3 non-zeros"):
        pycodec.load(path)
    fillers = {"codebook": book, "indices": single_symbol_stream(1), "gaps": single_symbol_stream(1, 7)}
    path.write_bytes(craft(entry, fillers))
    with pytest.raises(MalformedFileError, match="filler"):
        pycodec.load(path)
    out_of_book = {"codebook": book, "indices": single_symbol_stream(3, 1), "gaps": single_symbol_stream(3, 2)}
    path.write_bytes(craft(entry, out_of_book))
    with pytest.raises(MalformedFileError, match="out of range"):
        pycodec.load(path)


@needs_proc
def test_defect05_allocation_failure_is_a_limit_error(tmp_path: Path) -> None:
    path = tmp_path / "hostile.dcz"
    path.write_bytes(dense_single_symbol(2**34, 1.0))
    result = _limited_python(f"""
        try:
            pycodec.load({str(path)!r}, max_decoded_bytes=1 << 40)
        except pycodec.LimitExceededError as exc:
            print("limit:", exc)
    """, headroom=512 * MiB)
    assert "limit:" in result.stdout and "out of memory" in result.stdout, result.stderr[-2000:]


def test_defect05_intermediates_count_in_the_budget(tmp_path: Path) -> None:
    numel = 4096
    # shuffled, so that no repeated run makes zstd (5.8) the smaller encoding
    values = np.random.default_rng(0).permutation(np.resize(np.array([0.5, -1.0, 2.0], dtype=np.float16), numel))
    path = tmp_path / "w.dcz"
    pycodec.save({"w": torch.from_numpy(values.copy())}, path)
    with pycodec.open(path) as file:
        assert file.entry("w").encoding == "codebook"
    output, indices = 2 * numel, numel  # float16 output, 8-bit index array
    with pytest.raises(LimitExceededError, match="indices"):
        pycodec.load(path, max_decoded_bytes=output + indices - 1)
    assert np.array_equal(pycodec.load(path, max_decoded_bytes=output + indices)["w"].numpy(), values)


def test_defect05_cli_takes_max_decoded_bytes(tmp_path: Path) -> None:
    path = tmp_path / "z.dcz"
    pycodec.save({"z": torch.zeros(1000)}, path)
    for command in ("verify", "dump"):
        code, _, err = _cli(command, "--max-decoded-bytes", "3999", str(path))
        assert code == 1 and "max_decoded_bytes" in err
        code, _, _ = _cli(command, "--max-decoded-bytes", "4000", str(path))
        assert code == 0


# ----------------------------------------------------------------- defect 6


def _raw_empty(shape: list[int]) -> bytes:
    return craft({"name": "e", "dtype": "float32", "shape": shape, "encoding": "raw"}, {"data": b""})


@pytest.mark.parametrize(
    "shape", [[0, 2, 2**20, 2**40, 2, 2], [2**40, 2**40, 0], [0, 2**40, 2**40], [2**21, 0, 2**20]]
)
def test_defect06_zero_element_shape_whose_other_dims_overflow_is_malformed(tmp_path: Path, shape) -> None:
    path = tmp_path / "empty.dcz"
    path.write_bytes(_raw_empty(shape))
    with pytest.raises(MalformedFileError, match="more than 2\\^40"):
        pycodec.load(path)


def test_defect06_zero_element_shape_within_the_bound_loads(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcz"
    path.write_bytes(_raw_empty([0, 2**20, 2**20]))
    assert pycodec.load(path)["e"].shape == (0, 2**20, 2**20)


def test_defect06_writer_applies_the_same_rule(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="limits"):
        pycodec.save({"e": torch.empty(0, 2**21, 2**20)}, tmp_path / "e.dcz")


# ----------------------------------------------------------------- defect 7


def _cli(*argv: str) -> tuple[int, str, str]:
    result = run_python(f"from pycodec import cli; raise SystemExit(cli.main({list(argv)!r}))")
    return result.returncode, result.stdout, result.stderr


HOSTILE = "w\x1b]0;pwned\x07\x1b[2J\nverify: OK\u202etxt.exe\x85"


def test_defect07_dump_escapes_names_and_metadata(tmp_path: Path, capsys) -> None:
    weight = torch.zeros(8)
    path = tmp_path / "m.dcz"
    pycodec.save({HOSTILE: weight, "tied" + HOSTILE: weight}, path, metadata={HOSTILE: HOSTILE})
    assert cli.main(["dump", str(path)]) == 0
    out = capsys.readouterr().out
    for char in ("\x1b", "\x07", "\u202e", "\x85"):
        assert char not in out
    assert not any(line.startswith("verify: OK") for line in out.splitlines())
    assert "\\x1b]0;pwned\\x07" in out and "\\u202e" in out
    assert cli.main(["dump", "--json", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["metadata"] == {HOSTILE: HOSTILE}
    assert {t["name"] for t in document["tensors"]} == {HOSTILE, "tied" + HOSTILE}


def test_defect07_verify_and_errors_escape_paths_and_names(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ok\nverify: OK.dcz"
    pycodec.save({"w": torch.zeros(2)}, path)
    assert cli.main(["verify", str(path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    missing = tmp_path / "gone\x1b[2J.dcz"
    assert cli.main(["verify", str(missing)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and len(err.splitlines()) == 1
    bad = craft({"name": HOSTILE, "dtype": "float32", "shape": [2], "encoding": "raw"}, {"data": b"\x00" * 7})
    (tmp_path / "bad.dcz").write_bytes(bad)
    assert cli.main(["verify", str(tmp_path / "bad.dcz")]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and len(err.splitlines()) == 1


# ----------------------------------------------------------------- defect 8


@pytest.mark.parametrize("length", [242, 250, 255])
def test_defect08_save_to_a_long_file_name(tmp_path: Path, length: int) -> None:
    path = tmp_path / ("m" * (length - 4) + ".dcz")
    assert len(path.name.encode()) == length
    pycodec.save(_state(), path)
    pycodec.save(_state(), path)  # and replace it
    assert set(pycodec.load(path)) == {"w"}
    assert os.listdir(tmp_path) == [path.name]


# ----------------------------------------------------------------- extra findings


def test_extra_file_growing_after_open_fails_verify(tmp_path: Path) -> None:
    path = tmp_path / "grow.dcz"
    pycodec.save(_state(), path)
    with pycodec.open(path) as file:
        with path.open("ab") as appender:
            appender.write(b"\x00")
        with pytest.raises(MalformedFileError, match="changed while open"):
            file.verify()
        with pytest.raises(MalformedFileError, match="changed while open"):
            file.tensor("w")


def test_extra_file_shrinking_after_open_fails_reads(tmp_path: Path) -> None:
    path = tmp_path / "shrink.dcz"
    pycodec.save(_state(), path)
    with pycodec.open(path) as file:
        os.truncate(path, path.stat().st_size - 1)
        with pytest.raises(MalformedFileError, match="changed while open"):
            file.tensor("w")


def test_extra_os_errors_are_documented(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        pycodec.load(tmp_path / "missing.dcz")
    loop = tmp_path / "loop.dcz"
    loop.symlink_to(loop)
    with pytest.raises(OSError):
        pycodec.load(loop)
    with pytest.raises(OSError):
        pycodec.save(_state(), loop)
    for function in (pycodec.save, pycodec.load, pycodec.open):
        assert "OSError" in (function.__doc__ or "")


# ----------------------------------------------------------------- defect 10 (format side)


def _unsupported() -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():  # torch warns that CSR and nested tensors are beta
        warnings.simplefilter("ignore", UserWarning)
        return {
            "sparse": torch.eye(3).to_sparse(),
            "csr": torch.eye(3).to_sparse_csr(),
            "quantized": torch.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.qint8),
            "meta": torch.empty(3, device="meta"),
            "nested": torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]),
        }


def test_defect10_unsupported_tensor_kinds_raise_a_dcz_error_naming_the_tensor(tmp_path: Path) -> None:
    for kind, tensor in _unsupported().items():
        name = f"layer.{kind}"
        with pytest.raises(UnsupportedTensorError, match=f"'{name}'.*{kind}"):
            pycodec.save({name: tensor}, tmp_path / "x.dcz")
    assert not list(tmp_path.iterdir())
    assert issubclass(UnsupportedTensorError, DczError) and issubclass(UnsupportedTensorError, TypeError)


def test_defect10_unsupported_dtype_is_an_unsupported_tensor_error(tmp_path: Path) -> None:
    with warnings.catch_warnings():  # torch warns that complex32 is experimental
        warnings.simplefilter("ignore", UserWarning)
        tensor = torch.zeros(2, dtype=torch.complex32)
    with pytest.raises(UnsupportedTensorError, match="'q'.*complex32"):
        pycodec.save({"q": tensor}, tmp_path / "x.dcz")

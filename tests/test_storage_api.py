"""The storage API: file objects, bytes, memory maps, and the lazy reader's vocabulary."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

import pycodec


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    pruned = torch.where(torch.rand(64, 64) < 0.1, torch.randn(64, 64), torch.zeros(()))
    shared = torch.tensor([-1.0, 0.5, 2.0])[torch.randint(0, 3, (32, 32))]
    bias = torch.randn(64)
    return {"pruned": pruned, "shared": shared, "bias": bias, "tied": bias, "steps": torch.tensor(3)}


def _bits(tensor: torch.Tensor) -> bytes:
    return tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert _bits(a[name]) == _bits(b[name]), name


def test_save_and_load_through_file_objects(tmp_path: Path) -> None:
    state = _state()
    buffer = io.BytesIO(b"prefix")
    buffer.seek(6)
    pycodec.save(state, buffer, metadata={"k": "v"})
    data = buffer.getvalue()[6:]
    assert data == pycodec.save_bytes(state, metadata={"k": "v"})
    buffer.seek(6)
    loaded = pycodec.load(buffer)
    _same(loaded, state)
    assert loaded["tied"].untyped_storage().data_ptr() == loaded["bias"].untyped_storage().data_ptr()
    (tmp_path / "m.dcz").write_bytes(data)
    with open(tmp_path / "m.dcz", "rb") as file:
        _same(pycodec.load(file), state)
    with open(tmp_path / "out.dcz", "wb") as file:
        pycodec.save(state, file)
    assert (tmp_path / "out.dcz").read_bytes() == pycodec.save_bytes(state)


def test_bytes_api_round_trips_and_checks_like_a_file() -> None:
    state = _state()
    data = pycodec.save_bytes(state, metadata={"arch": "test"})
    _same(pycodec.load_bytes(data), state)
    _same(pycodec.load_bytes(bytearray(data)), state)
    _same(pycodec.load_bytes(memoryview(data)), state)
    loaded = pycodec.load_bytes(data)
    loaded["bias"][0] = 99.0  # writable: a copy, not a view of the immutable bytes
    with pytest.raises(pycodec.MalformedFileError, match="checksum"):
        corrupt = bytearray(data)
        corrupt[-1] ^= 1
        pycodec.load_bytes(bytes(corrupt))
    with pytest.raises(TypeError, match="bytes"):
        pycodec.load_bytes("not bytes")  # type: ignore[arg-type]


def test_mmap_maps_raw_tensors_without_copying_and_copy_on_write(tmp_path: Path) -> None:
    # random bit patterns: no encoding shrinks them, so "big" is stored raw (normal floats would be planes)
    noise = torch.randint(-(2**31), 2**31 - 1, (100_000,), dtype=torch.int32, generator=torch.Generator().manual_seed(0))
    state = {"big": noise.view(torch.float32), "pruned": _state()["pruned"]}
    path = tmp_path / "m.dcz"
    pycodec.save(state, path)
    before = path.read_bytes()
    with pycodec.open(path, mmap=True) as file:
        mapped = file._source.read_at(0, file.preamble.file_length)
        start = mapped.ctypes.data
        big = file.get_tensor("big")
        assert start <= big.data_ptr() < start + len(before)  # inside the map: no copy
        assert (big.data_ptr() - start) % 64 == 0
        _same({"big": big, "pruned": file["pruned"]}, state)
    loaded = pycodec.load(path, mmap=True)
    _same(loaded, state)
    loaded["big"].mul_(2)  # copy-on-write: the process's pages change, the file does not
    assert path.read_bytes() == before
    _same(pycodec.load(path), state)
    with pytest.raises(TypeError, match="mmap=True needs a path"):
        pycodec.load(io.BytesIO(before), mmap=True)


def test_lazy_reader_vocabulary(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "m.dcz"
    pycodec.save(state, path, metadata={"arch": "test"})
    file = pycodec.open(path)
    assert file.keys() == list(state) == list(file) == file.names()
    assert "bias" in file and "nope" not in file and len(file) == len(state)
    assert file.metadata() == {"arch": "test"} and file.metadata == {"arch": "test"}
    _same({n: file.get_tensor(n) for n in file.keys()}, state)
    _same({n: file[n] for n in file}, state)
    _same({n: file.tensor(n) for n in file}, state)
    text = repr(file)
    assert "m.dcz" in text and "5 tensors" in text and str(path.stat().st_size) in text
    with pytest.raises(KeyError, match="nope"):
        file["nope"]
    file.close()
    assert "closed" in repr(file)
    for read in (lambda: file["bias"], lambda: file.get_tensor("bias"), file.verify):
        with pytest.raises(pycodec.ClosedFileError):
            read()
    assert issubclass(pycodec.ClosedFileError, pycodec.DczError)


def test_lazy_reader_over_bytes_and_file_objects() -> None:
    state = _state()
    data = pycodec.save_bytes(state)
    for source in (data, io.BytesIO(data)):
        with pycodec.open(source) as file:
            _same({n: file[n] for n in file}, state)
            assert "<" in repr(file)


def test_numpy_reader_needs_no_torch_types() -> None:
    data = pycodec.save_bytes(_state())
    with pycodec.DczReader(data) as reader:
        arrays = reader.read_all()
        assert set(arrays) == {"pruned", "shared", "bias", "steps"}  # aliases are not stored
        assert all(isinstance(a, np.ndarray) for a in arrays.values())
        assert reader.read_array("tied").tobytes() == arrays["bias"].tobytes()

"""The writer: atomic replacement, failure cleanup, input validation, canonical layout."""

from __future__ import annotations

import errno
import io
import os
import threading
import time
import zlib
from concurrent.futures import wait
from pathlib import Path

import pytest
import torch

import pycodec
from pycodec import codec
from pycodec.errors import DataChangedError
from pycodec.format import encodings, limits, writer
from pycodec.format.reader import DczReader
from pycodec.format.syntax import HEADER_ZLIB


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"w": torch.randn(64, 64), "b": torch.zeros(64)}


def _disk_full(file, data) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_leaves_previous_file_and_no_temporaries(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "m.dcz"
    pycodec.save({"old": torch.ones(3)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(writer, "_write_all", _disk_full)
    with pytest.raises(OSError) as caught:
        pycodec.save(_state(), path)
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.dcz"]


def test_failure_midway_through_writing_leaves_nothing_new(tmp_path: Path, monkeypatch) -> None:
    calls = {"n": 0}
    real = writer._write_all

    def fail_on_third(file, data) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.EIO, "I/O error")
        real(file, data)

    monkeypatch.setattr(writer, "_write_all", fail_on_third)
    monkeypatch.setattr(writer, "SHORT_CHUNK_BYTES", 0)  # one write per chunk
    path = tmp_path / "new.dcz"
    with pytest.raises(OSError):
        pycodec.save(_state(), path)
    assert os.listdir(tmp_path) == []


def test_save_replaces_existing_file_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "m.dcz"
    pycodec.save({"old": torch.ones(3)}, path)
    os.chmod(path, 0o640)
    pycodec.save(_state(), path)
    assert (path.stat().st_mode & 0o777) == 0o640
    assert list(pycodec.load(path)) == ["w", "b"]
    assert sorted(os.listdir(tmp_path)) == ["m.dcz"]


def test_new_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        pycodec.save(_state(), tmp_path / "n.dcz")
    finally:
        os.umask(old)
    assert ((tmp_path / "n.dcz").stat().st_mode & 0o777) == 0o644


def test_bad_inputs_raise_before_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.dcz"
    with pytest.raises(TypeError, match="mapping of tensors"):
        pycodec.save([torch.ones(1)], path)
    with pytest.raises(TypeError, match="expected a tensor"):
        pycodec.save({"a": 1.0}, path)
    with pytest.raises(TypeError, match="names must be strings"):
        pycodec.save({1: torch.ones(1)}, path)
    with pytest.raises(ValueError, match="tensor name"):
        pycodec.save({"": torch.ones(1)}, path)
    with pytest.raises(ValueError, match="tensor name"):
        pycodec.save({"x" * 1025: torch.ones(1)}, path)
    with pytest.raises(TypeError, match="metadata must map str to str"):
        pycodec.save({}, path, metadata={"a": 1})
    with pytest.raises(TypeError, match="dense strided"):
        pycodec.save({"s": torch.ones(2, 2).to_sparse()}, path)
    with pytest.raises(TypeError, match="dense strided"):
        pycodec.save({"m": torch.empty(2, device="meta")}, path)
    with pytest.raises(ValueError, match="rank"):
        pycodec.save({"r": torch.ones([1] * (limits.MAX_RANK + 1))}, path)
    assert os.listdir(tmp_path) == []


def test_layout_is_canonical_and_raw_sections_aligned(tmp_path: Path) -> None:
    path = tmp_path / "m.dcz"
    state = {"a": torch.ones(3), "q": torch.zeros(100, 100), "b": torch.arange(7.0)}
    pycodec.save(state, path)
    with DczReader(path) as file:
        for name in file.names():
            entry = file.entry(name)
            if entry.encoding == "raw":
                assert entry.sections["data"].offset % 64 == 0
        first = min(s.offset for n in file.names() for s in file.entry(n).sections.values())
        assert first == -(-(32 + file.preamble.header_length) // 64) * 64  # the data area
        assert file.preamble.file_length == path.stat().st_size
    # Saving the same state twice gives the same bytes.
    again = tmp_path / "again.dcz"
    pycodec.save(state, again)
    assert again.read_bytes() == path.read_bytes()


def _stored_header(path: Path) -> tuple[int, bytes]:
    with DczReader(path) as file:
        return file.preamble.flags, path.read_bytes()[32 : 32 + file.preamble.header_length]


@pytest.mark.parametrize("compress_header", [False, True])
def test_header_is_sorted_compact_json(tmp_path: Path, compress_header: bool) -> None:
    path = tmp_path / "m.dcz"
    metadata = {"z": "1", "a": "2", "note": "a long repetitive note " * 20}
    pycodec.save({"w": torch.tensor([1.0, 2.0])}, path, metadata=metadata, compress_header=compress_header)
    flags, stored = _stored_header(path)
    assert flags == (HEADER_ZLIB if compress_header else 0)
    header = (zlib.decompress(stored) if compress_header else stored).decode()
    assert header.startswith('{"metadata":{"a":"2","note":"a long')
    assert '"z":"1"},"tensors":[{"data":{"crc32":' in header
    assert " " not in header.replace(metadata["note"], "")


def test_writer_keeps_the_smaller_header_form(tmp_path: Path) -> None:
    """zlib only where it wins: a tiny header stays plain, a repetitive one is compressed."""
    for state, metadata in [({}, {}), ({"w": torch.ones(2)}, {"k": "x" * 2000})]:
        pycodec.save(state, tmp_path / "auto.dcz", metadata=metadata)
        pycodec.save(state, tmp_path / "plain.dcz", metadata=metadata, compress_header=False)
        flags, auto = _stored_header(tmp_path / "auto.dcz")
        _, plain = _stored_header(tmp_path / "plain.dcz")
        zipped = zlib.compress(plain, 9)
        assert flags == (HEADER_ZLIB if len(zipped) < len(plain) else 0)
        assert len(auto) == min(len(plain), len(auto))
        assert pycodec.load(tmp_path / "auto.dcz").keys() == state.keys()
    assert flags == HEADER_ZLIB and len(auto) < len(plain) // 4


def test_zlib_header_is_deterministic(tmp_path: Path) -> None:
    state = {f"layer{i}.weight": torch.full((3, 3), float(i)) for i in range(20)}
    pycodec.save(state, tmp_path / "a.dcz", metadata={"arch": "test"})
    pycodec.save(state, tmp_path / "b.dcz", metadata={"arch": "test"})
    assert _stored_header(tmp_path / "a.dcz")[0] == HEADER_ZLIB
    assert (tmp_path / "a.dcz").read_bytes() == (tmp_path / "b.dcz").read_bytes()


def test_zlib_header_is_plain_zlib_of_the_json(tmp_path: Path) -> None:
    """The header holds no offsets, so it is compressed once, as it is: no padding."""
    state = {f"layer{i}.weight": torch.full((3, 3), float(i)) for i in range(20)}
    path = tmp_path / "m.dcz"
    pycodec.save(state, path)
    flags, stored = _stored_header(path)
    assert flags == HEADER_ZLIB
    assert len(zlib.decompress(stored)) >= 3000 and len(stored) < 600
    assert stored == zlib.compress(zlib.decompress(stored), 9)
    assert not zlib.decompress(stored).endswith(b" ")
    loaded = pycodec.load(path)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def _python_choice(monkeypatch) -> None:
    """Every tensor chosen by the Python choice, on the threads these tests are about: the
    core's choice (:func:`writer._encode_natively`) would otherwise take the dense floats
    first (tests/test_dense_choice.py)."""
    monkeypatch.setattr(writer, "_encode_natively", lambda flats, gate: {})


def _mixed_state() -> dict[str, torch.Tensor]:
    """Tensors of several encodings and sizes, one tied: over the pool's threshold."""
    torch.manual_seed(1)
    big = torch.randn(1024, 1024) * 0.05  # 4 MiB of trained-like floats: planes
    shared = torch.tensor([-0.5, 0.0, 0.25, 1.0])[torch.randint(0, 4, (300, 300))]  # codebook
    return {"big": big, "half": big[:512].to(torch.bfloat16).clone(), "shared": shared,
            "noise": torch.randint(0, 2**31, (50_000,), dtype=torch.int32), "small": torch.ones(7),
            "tied": big}


def test_tensors_encoded_on_a_pool_give_the_bytes_of_one_thread(monkeypatch) -> None:
    _python_choice(monkeypatch)
    state = _mixed_state()
    monkeypatch.setattr(writer, "ENCODE_PARALLEL_FROM_BYTES", 1 << 62)
    serial = pycodec.save_bytes(state)
    calls: list[str] = []
    real = writer._encode_one
    monkeypatch.setattr(writer, "_encode_one", lambda f, d: calls.append(d.name) or real(f, d))
    monkeypatch.setattr(writer, "ENCODE_PARALLEL_FROM_BYTES", 0)
    pooled = pycodec.save_bytes(state)
    # every stored tensor but the tie, and but the integers and the shared weights (worth a
    # zstd probe: encoded ahead, on the helper)
    assert sorted(calls) == ["bfloat16", "float32", "float32"]
    assert pooled == serial
    loaded = pycodec.load_bytes(pooled)
    assert list(loaded) == list(state)
    for name, tensor in state.items():
        assert torch.equal(loaded[name], tensor)


def test_helpers_take_large_tensors_only_and_the_caller_the_small_ones(monkeypatch) -> None:
    """On the pool, a tensor below HELPER_MIN_BYTES is always coded by the calling thread
    (small tensors are mostly Python: two threads would take turns on the GIL); the large
    ones by either; the same bytes as one thread."""
    _python_choice(monkeypatch)
    torch.manual_seed(3)
    state = {f"large{i}": torch.randn(40_000) * 0.05 for i in range(4)}
    state |= {f"norm{i}": 1 + torch.randn(300) * 0.01 for i in range(12)}
    monkeypatch.setattr(writer, "ENCODE_THREADS", 1)
    alone = pycodec.save_bytes(state)
    monkeypatch.setattr(writer, "ENCODE_THREADS", 2)
    monkeypatch.setattr(writer, "ENCODE_PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr(writer, "HELPER_MIN_BYTES", 100_000)
    coded: list[tuple[int, str]] = []
    real = writer._encode_one

    def encode_one(flat, dtype):
        coded.append((flat.nbytes, threading.current_thread().name))
        if threading.current_thread() is threading.main_thread() and flat.nbytes >= 100_000:
            time.sleep(0.05)  # the helper, free meanwhile, would take small ones if it could
        return real(flat, dtype)

    monkeypatch.setattr(writer, "_encode_one", encode_one)
    assert pycodec.save_bytes(state) == alone
    assert len(coded) == len(state)
    assert {thread for size, thread in coded if size < 100_000} == {threading.current_thread().name}


def _probed_state() -> dict[str, torch.Tensor]:
    """Under the pool's threshold, with tensors the zstd probe looks at: a Fourier basis
    (its float words repeat) and integers (always probed), beside trained-like floats."""
    torch.manual_seed(2)
    basis = torch.cos(torch.outer(torch.arange(64.0), torch.arange(256.0)) * 0.05)
    return {"basis": basis, "weight": torch.randn(128, 256) * 0.05, "labels": torch.randint(0, 9, (20_000,)),
            "bias": torch.zeros(256), "half": basis.to(torch.bfloat16)}


def _probes_recorded(monkeypatch, before=lambda flat: None) -> tuple[bytes, list[tuple[object, int, str]]]:
    """The bytes of `_probed_state` saved by one thread, and a list that records each
    probe of the two-thread saves to come (dtype, bytes, thread), `before` run first."""
    state = _probed_state()
    monkeypatch.setattr(writer, "ENCODE_THREADS", 1)
    alone = pycodec.save_bytes(state)
    monkeypatch.setattr(writer, "ENCODE_THREADS", 2)
    probed: list[tuple[object, int, str]] = []
    real = writer.probe_ahead

    def probe(flat, dtype):
        probed.append((dtype.name, flat.nbytes, threading.current_thread().name))
        before(flat)
        return real(flat, dtype)

    monkeypatch.setattr(writer, "probe_ahead", probe)
    return alone, probed


def test_probes_started_on_the_helper_give_the_bytes_of_one_thread(monkeypatch) -> None:
    alone, recorded = _probes_recorded(monkeypatch)
    assert pycodec.save_bytes(_probed_state()) == alone
    probed = [(dtype, thread) for dtype, _, thread in recorded]
    assert sorted(dtype for dtype, _ in probed) == ["bfloat16", "float32", "int64"]  # not the weights or zeros
    here = threading.current_thread().name
    assert all(thread.startswith("pycodec-encode") or thread == here for _, thread in probed)


def test_a_probe_the_helper_has_not_begun_is_made_by_the_caller(monkeypatch) -> None:
    """The helper probes largest first; the caller, done with the rest, probes from the
    smallest those the helper has not begun instead of waiting: the same bytes."""
    begun = threading.Event()

    def hold_the_helper(flat) -> None:
        if threading.current_thread() is threading.main_thread():
            assert begun.wait(10)  # the helper is on the largest (it may have had other work first)
        else:
            begun.set()
            time.sleep(0.3)  # and stays on it

    alone, recorded = _probes_recorded(monkeypatch, hold_the_helper)
    assert pycodec.save_bytes(_probed_state()) == alone
    probed = [(size, thread) for _, size, thread in recorded]
    largest = max(size for size, _ in probed)
    assert [thread.startswith("pycodec-encode") for size, thread in probed if size == largest] == [True]
    assert {thread for size, thread in probed if size < largest} == {threading.main_thread().name}


@pytest.mark.parametrize("threshold, on_the_pool", [(0.5, False), (0.99, False), (1.01, True), (2.0, True)])
def test_a_save_whose_probes_are_a_large_share_keeps_to_one_thread_past_the_pool_threshold(
        monkeypatch, threshold: float, on_the_pool: bool) -> None:
    """Past ENCODE_PARALLEL_FROM_BYTES, a save with tensors worth a zstd probe holding at
    least PROBED_SHARE_FOR_ONE_THREAD of its bytes is coded on this thread with the probed
    tensors on the helper; one with less, on the pool (after those). The bytes are the same either way."""
    _python_choice(monkeypatch)
    state = _probed_state()
    monkeypatch.setattr(writer, "ENCODE_THREADS", 1)
    alone = pycodec.save_bytes(state)
    monkeypatch.setattr(writer, "ENCODE_THREADS", 2)
    monkeypatch.setattr(writer, "ENCODE_PARALLEL_FROM_BYTES", 0)
    stored = pycodec.torch_adapter.to_stored(state)
    flats = {name: writer._flat(tensor) for name, tensor in stored.items()}
    probed = sum(flat.nbytes for flat, dtype in flats.values() if encodings.worth_probing(flat, dtype))
    unprobed = sum(not encodings.worth_probing(flat, dtype) for flat, dtype in flats.values())
    total = sum(flat.nbytes for flat, _ in flats.values())
    assert 0.3 < probed / total < 0.9
    monkeypatch.setattr(writer, "PROBED_SHARE_FOR_ONE_THREAD", probed / total * threshold)  # the probed share, scaled
    pooled: list[str] = []
    real = writer._encode_one
    monkeypatch.setattr(writer, "_encode_one", lambda f, d: pooled.append(d.name) or real(f, d))
    assert pycodec.save_bytes(state) == alone
    assert unprobed >= 2 and len(pooled) == (unprobed if on_the_pool else 0)  # the probed ones: encoded ahead


def _coder_state() -> dict[str, torch.Tensor]:
    """Under the pool's threshold: planes of every float width above and below
    CODER_FROM_BYTES, beside a Fourier basis, integers and zeros (_probed_state)."""
    torch.manual_seed(4)
    weights = {f"w{i}": torch.randn(1000 * 3 ** i) * 0.05 for i in range(5)}  # 4 KB to 324 KB
    return _probed_state() | weights | {f"{dtype}": weights["w3"].to(getattr(torch, dtype))
                                          for dtype in ("bfloat16", "float16", "float8_e4m3fn")}


def _probes_done_first(monkeypatch) -> None:
    """Every tensor worth a zstd probe encoded before any other's encoding is chosen (as
    for a save whose probes are short), so that which tensors the planes coder takes does
    not vary."""
    real = writer.encodes_ahead

    def encodes_ahead(flats):
        started = real(flats)
        wait(started.values())
        return started

    monkeypatch.setattr(writer, "encodes_ahead", encodes_ahead)


def _recording_submits(monkeypatch) -> list[int]:
    """The raw bytes of each array submitted to the planes coder, as they come."""
    submitted: list[int] = []
    real = codec.PlanesCoder.submit
    monkeypatch.setattr(codec.PlanesCoder, "submit", lambda self, elements, **options: submitted.append(
        elements.nbytes) or real(self, elements, **options))
    return submitted


@pytest.mark.parametrize("probe_seconds, coded_there", [(0.0, True), (0.5, False)])
def test_planes_coded_on_the_coder_thread_give_the_bytes_of_one_thread(
        monkeypatch, probe_seconds: float, coded_there: bool) -> None:
    """On the one-thread path, the planes sections of CODER_FROM_BYTES or more go to a
    PlanesCoder while this thread chooses the rest, once the helper is done with the
    tensors worth a zstd probe (a third thread would slow their frames); the file is byte
    for byte the same."""
    _python_choice(monkeypatch)
    state = _coder_state()
    monkeypatch.setattr(writer, "ENCODE_THREADS", 1)
    alone = pycodec.save_bytes(state)
    monkeypatch.setattr(writer, "ENCODE_THREADS", 2)
    if probe_seconds:  # a probe running all along
        real_probe = writer.probe_ahead
        monkeypatch.setattr(writer, "probe_ahead", lambda flat, dtype: time.sleep(probe_seconds) or real_probe(flat, dtype))
    else:
        _probes_done_first(monkeypatch)
    submitted = _recording_submits(monkeypatch)
    assert pycodec.save_bytes(state) == alone
    with pycodec.open(io.BytesIO(alone)) as file:
        planes = sorted(state[name].nbytes for name in file.keys() if file.entry(name).encoding == "planes"
                        and name not in ("basis", "half"))  # worth a probe: encoded on the helper
    eligible = [size for size in planes if size >= writer.CODER_FROM_BYTES]
    assert len(eligible) >= 6 and len(eligible) < len(planes)  # some below the threshold too
    assert sorted(submitted) == (eligible if coded_there else [])
    loaded = pycodec.load_bytes(alone)
    assert all(torch.equal(loaded[name].view(torch.uint8), tensor.view(torch.uint8)) for name, tensor in state.items())


def test_an_error_on_the_coder_thread_reaches_the_caller_and_the_jobs_left_are_dropped(monkeypatch) -> None:
    _python_choice(monkeypatch)
    _probes_done_first(monkeypatch)
    submitted: list[int] = []
    dropped: list[int] = []
    real_submit, real_drop = codec.PlanesCoder.submit, codec.PlanesCoder.drop
    monkeypatch.setattr(codec.PlanesCoder, "submit",
                        lambda self, elements, **options: submitted.append(real_submit(self, elements, **options)) or submitted[-1])
    monkeypatch.setattr(codec.PlanesCoder, "drop", lambda self, job: dropped.append(job) or real_drop(self, job))

    def failing(self, job):
        raise DataChangedError("a tensor changed while it was saved")

    monkeypatch.setattr(codec.PlanesCoder, "result", failing)
    with pytest.raises(DataChangedError, match="changed while"):
        pycodec.save_bytes(_coder_state())
    assert len(submitted) >= 6 and dropped == submitted[1:]  # the first was taken, and failed
    monkeypatch.undo()
    state = _coder_state()
    loaded = pycodec.load_bytes(pycodec.save_bytes(state))  # the coder still works
    assert all(torch.equal(loaded[name].view(torch.uint8), tensor.view(torch.uint8)) for name, tensor in state.items())


def test_an_error_in_a_probe_on_the_helper_reaches_the_caller(monkeypatch) -> None:
    def failing(flat, dtype):
        raise MemoryError("no room to probe")

    monkeypatch.setattr(writer, "probe_ahead", failing)
    with pytest.raises(MemoryError, match="no room to probe"):
        pycodec.save_bytes(_probed_state())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
@pytest.mark.parametrize("pooled", [True, False])
def test_a_forked_child_encodes_with_helpers_of_its_own(monkeypatch, pooled: bool) -> None:
    """The helper thread and the planes coder's are kept between saves; a child forked
    after one has neither (threads do not survive fork) and must start its own rather than
    wait on the parent's."""
    monkeypatch.setattr(writer, "ENCODE_PARALLEL_FROM_BYTES", 0 if pooled else 1 << 62)
    state = _mixed_state() if pooled else _coder_state()
    expected = pycodec.save_bytes(state)  # the parent's helper now exists
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.write(write, b"1" if pycodec.save_bytes(state) == expected else b"0")
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    assert os.read(read, 1) == b"1" and status == 0
    os.close(read)


def test_an_error_encoding_one_tensor_on_the_pool_reaches_the_caller(monkeypatch) -> None:
    _python_choice(monkeypatch)
    real = writer._encode_one

    def failing(flat, dtype):
        if dtype.name == "bfloat16":
            raise MemoryError("refused")
        return real(flat, dtype)

    monkeypatch.setattr(writer, "_encode_one", failing)
    monkeypatch.setattr(writer, "ENCODE_PARALLEL_FROM_BYTES", 0)
    with pytest.raises(MemoryError, match="refused"):
        pycodec.save_bytes(_mixed_state())


def test_short_chunks_are_written_together_and_long_ones_as_they_are(tmp_path: Path, monkeypatch) -> None:
    state = _mixed_state()
    expected = pycodec.save_bytes(state)
    writes: list[int] = []
    real = writer._write_all
    monkeypatch.setattr(writer, "_write_all", lambda file, data: writes.append(len(data)) or real(file, data))
    with open(tmp_path / "f.dcz", "wb") as file:
        pycodec.save(state, file)
    assert (tmp_path / "f.dcz").read_bytes() == expected
    chunks = list(writer._chunks(writer.plan(pycodec.torch_adapter.to_stored(state))))
    assert len(writes) < len(chunks)
    long = sorted(len(c) for c in chunks if len(c) >= writer.SHORT_CHUNK_BYTES)
    assert long and sorted(n for n in writes if n in long) == long  # written as they are
    assert all(n <= writer.WRITE_BUFFER_BYTES for n in writes if n not in long)
    writes.clear()
    pycodec.save(state, tmp_path / "p.dcz")
    assert (tmp_path / "p.dcz").read_bytes() == expected
    assert len(writes) < len(chunks)


@pytest.mark.parametrize("short, limit", [(0, 0), (1, 1), (8, 7), (64, 64), (64, 100), (1 << 16, 1 << 20)])
def test_coalesced_chunks_join_to_the_same_bytes(short: int, limit: int, monkeypatch) -> None:
    monkeypatch.setattr(writer, "SHORT_CHUNK_BYTES", short)
    monkeypatch.setattr(writer, "WRITE_BUFFER_BYTES", limit)
    chunks = [bytes([n % 251]) * n for n in (0, 1, 5, 6, 70, 0, 3, 200, 1, 2, 63, 64, 65)]
    out = [bytes(c) for c in writer._coalesced(chunks)]
    assert b"".join(out) == b"".join(chunks)
    assert all(c in chunks or len(c) <= max(limit, short) for c in out)


def test_a_tensor_trained_while_it_is_saved_saves_or_raises() -> None:
    """Saving a tensor another thread keeps writing (a checkpoint saved beside training):
    each save gives a file that loads, or raises a DczError; memory is never corrupted
    (the encoder's buffers hold any symbols, see test_hardening_codec)."""
    from test_hardening_codec import _while_changing

    weights = torch.randn(512, 512) * 0.05
    raw = torch.randint(-2**31, 2**31 - 1, (300, 300), dtype=torch.int32)  # stored raw: the tensor's memory
    state = {"w": weights, "r": raw}
    array = weights.numpy()
    states = [array.copy(), array * 0, torch.randint(-100, 100, (512, 512)).float().numpy()]

    def save() -> None:
        data = pycodec.save_bytes(state)  # may raise DataChangedError (or a sizing CodecError)
        loaded = pycodec.load_bytes(data)  # must not raise: what was written loads
        assert loaded["w"].shape == weights.shape

    done, failed = _while_changing(array, states, save, seconds=1.0)
    assert done + failed > 0
    # a raw tensor changing between its checksum and its write: refused, never written wrong
    words = raw.numpy().reshape(-1)
    done, failed = _while_changing(words, [words.copy(), words[::-1].copy()], save, seconds=1.0)
    assert done + failed > 0

"""read_all's native pass (the core's read_sections): what goes to it, on how many
threads, and that a tensor it cannot decode is reported as reading it alone reports it."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import pycodec
from pycodec import _core, codec
from pycodec.errors import CodecError, LimitExceededError, MalformedFileError
from pycodec.format import reader


def _state(elements: int, tensors: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {f"w{i}": torch.randn(elements, generator=generator) * 0.05 for i in range(tensors)}


def _spy(monkeypatch) -> list[tuple[int, list[codec.SectionJob]]]:
    """Records each read_sections call's (threads, jobs)."""
    calls: list[tuple[int, list[codec.SectionJob]]] = []
    real = _core.read_sections

    def spy(source, jobs, threads):
        calls.append((threads, list(jobs)))
        return real(source, jobs, threads)

    monkeypatch.setattr(_core, "read_sections", spy)
    return calls


def _assert_same(loaded: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    assert loaded.keys() == state.keys()
    for name, tensor in state.items():
        assert loaded[name].dtype == tensor.dtype and loaded[name].shape == tensor.shape
        assert np.array_equal(loaded[name].view(torch.uint8).numpy(), tensor.view(torch.uint8).numpy()), name


def test_a_small_file_decodes_on_one_thread(tmp_path, monkeypatch) -> None:
    calls = _spy(monkeypatch)
    state = _state(1000)
    pycodec.save(state, tmp_path / "small.dcz")
    _assert_same(pycodec.load(tmp_path / "small.dcz", threads=2), state)
    assert [threads for threads, _ in calls] == [1] and len(calls[0][1]) == 3


def test_a_larger_file_decodes_on_every_thread_asked_for(tmp_path, monkeypatch) -> None:
    calls = _spy(monkeypatch)
    state = _state(400_000)  # planes-coded float32: ~1.3 MB a tensor
    pycodec.save(state, tmp_path / "large.dcz")
    for threads in (1, 2, 3):
        _assert_same(pycodec.load(tmp_path / "large.dcz", threads=threads), state)
    assert [threads for threads, _ in calls] == [1, 2, 3]


def test_raw_sections_of_a_file_are_read_natively_but_viewed_in_memory(tmp_path, monkeypatch) -> None:
    calls = _spy(monkeypatch)
    state = {"small": torch.arange(10, dtype=torch.float32), "flags": torch.tensor([True, False, True]),
             "ints": torch.arange(5000, dtype=torch.int64)}
    pycodec.save(state, tmp_path / "raw.dcz", compress=False)
    _assert_same(pycodec.load(tmp_path / "raw.dcz"), state)
    assert len(calls) == 1 and all(job[3] is None for job in calls[0][1]) and len(calls[0][1]) == 3
    _assert_same(pycodec.load((tmp_path / "raw.dcz").read_bytes()), state)
    assert len(calls) == 1  # from bytes, raw tensors are views: nothing to read


def test_a_large_tensor_that_would_idle_the_other_threads_decodes_alone_first(tmp_path, monkeypatch) -> None:
    calls = _spy(monkeypatch)
    monkeypatch.setattr(reader, "PARALLEL_FROM_BYTES", 1 << 20)
    state = {"big": _state(600_000, 1)["w0"], **_state(2000, 2, seed=1)}
    pycodec.save(state, tmp_path / "one-big.dcz")
    with pycodec.open(tmp_path / "one-big.dcz") as file:
        assert file.info("big").encoding == "planes"
        big = file.info("big").section_bytes["planes"]
    _assert_same(pycodec.load(tmp_path / "one-big.dcz", threads=2), state)
    assert len(calls) == 1 and all(job[1] != big for job in calls[0][1])  # "big" went alone
    _assert_same(pycodec.load(tmp_path / "one-big.dcz", threads=1), state)
    assert any(job[1] == big for job in calls[1][1])  # one thread: nothing to keep busy


def _corrupt(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def _error_alone(path) -> str:
    """The error of reading tensor w1 by itself (read_array: the Python path)."""
    with reader.DczReader(path) as file, pytest.raises(MalformedFileError) as raised:
        file.read_array("w1")
    return str(raised.value)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_checksum_mismatch_is_reported_as_reading_the_tensor_alone_reports_it(tmp_path, threads) -> None:
    pycodec.save(_state(400_000), tmp_path / "m.dcz")
    with reader.DczReader(tmp_path / "m.dcz") as file:
        section = file.entry("w1").sections["planes"]
    _corrupt(tmp_path / "m.dcz", section.offset + section.length // 2)
    expected = _error_alone(tmp_path / "m.dcz")
    assert "checksum mismatch in its planes section" in expected
    with pytest.raises(MalformedFileError) as raised:
        pycodec.load(tmp_path / "m.dcz", threads=threads)
    assert str(raised.value) == expected


def test_a_tensor_the_native_pass_gives_up_is_read_again(tmp_path, monkeypatch) -> None:
    state = _state(400_000)
    pycodec.save(state, tmp_path / "m.dcz")
    real = _core.read_sections

    def failing_first(source, jobs, threads):
        outputs, failures = real(source, jobs, threads)
        return [None, *outputs[1:]], ["gave up", *failures[1:]]

    monkeypatch.setattr(_core, "read_sections", failing_first)
    with reader.DczReader(tmp_path / "m.dcz", max_decoded_bytes=3 * 400_000 * 4 + 4 * 400_000) as file:
        arrays = file.read_all()  # the retried tensor's output is not counted twice
    for name, tensor in state.items():
        assert np.array_equal(arrays[name].view(np.uint32), tensor.numpy().view(np.uint32))


@pytest.mark.parametrize("threads", [1, 2])
def test_outputs_and_plane_buffers_count_against_max_decoded_bytes(tmp_path, threads) -> None:
    """Every output, plus the plane buffers of the `threads` largest tensors decoding at
    once (a buffer for each coded plane but the first)."""
    state = _state(400_000)
    pycodec.save(state, tmp_path / "m.dcz")
    with reader.DczReader(tmp_path / "m.dcz") as file:
        buffers = [400_000 * (sum(1 for n in file.entry(name).plane_streams if n) - 1) for name in state]
    need = 3 * 400_000 * 4 + sum(sorted(buffers, reverse=True)[:threads])
    with reader.DczReader(tmp_path / "m.dcz", max_decoded_bytes=need) as file:
        assert len(file.read_all(threads=threads)) == 3
    with reader.DczReader(tmp_path / "m.dcz", max_decoded_bytes=need - 1) as file, \
            pytest.raises(LimitExceededError):
        file.read_all(threads=threads)


# ----------------------------------------------------------------- read_sections itself


def _section(data: bytes) -> tuple[np.ndarray, int]:
    return np.frombuffer(data, np.uint8), zlib.crc32(data)


def test_read_sections_copies_raw_sections_and_decodes_planes_from_a_file_or_memory(tmp_path) -> None:
    elements = (np.random.default_rng(0).standard_normal(50_000) * 0.05).astype(np.float32).view(np.uint32)
    planes, lengths = codec.planes_encode(elements, plane_mask=0b1000)
    planes = bytes(planes)
    blob = b"abc" + planes + b"raw bytes"
    path = tmp_path / "blob"
    path.write_bytes(blob)
    jobs = [(3, len(planes), zlib.crc32(planes), tuple(lengths), elements.size),
            (3 + len(planes), 9, zlib.crc32(b"raw bytes"), None, 0)]
    with open(path, "rb") as file:
        from_file = codec.read_sections(file.fileno(), jobs, threads=2)
    from_memory = codec.read_sections(np.frombuffer(blob, np.uint8), jobs, threads=1)
    for outputs, failures in (from_file, from_memory):
        assert failures == [None, None]
        assert np.array_equal(outputs[0].view(np.uint32), elements)
        assert outputs[1].tobytes() == b"raw bytes"


def test_read_sections_reports_each_failure_and_decodes_the_rest(tmp_path) -> None:
    source, crc = _section(b"0123456789")
    jobs = [(0, 10, crc, None, 0), (0, 10, crc ^ 1, None, 0), (5, 10, crc, None, 0), (0, 10, crc, (0, 0), 4),
            (0, 10, crc, (0,), 10)]
    outputs, failures = codec.read_sections(source, jobs, threads=2)
    assert outputs[0].tobytes() == b"0123456789" and failures[0] is None
    assert outputs[1] is None and failures[1] == "checksum mismatch"
    assert outputs[2] is None and "past the end" in failures[2]
    assert outputs[3] is None and "do not fill" in failures[3]  # 2 raw planes of 4 bytes: 8 of 10
    assert failures[4] is None and outputs[4].tobytes() == b"0123456789"  # one raw plane: the bytes


def test_read_sections_reports_a_file_that_is_shorter_than_its_sections(tmp_path) -> None:
    (tmp_path / "short").write_bytes(b"0123")
    with open(tmp_path / "short", "rb") as file:
        outputs, failures = codec.read_sections(file.fileno(), [(0, 10, 0, None, 0)])
    assert outputs == [None] and "shrank" in failures[0]


@pytest.mark.parametrize("bad", [
    ("source", -1), ("source", 2**31), ("source", 2**64), ("source", np.zeros(4, np.int16)), ("job", (0, 1, 2)), ("job", (0, -1, 0, None, 0)),
    ("job", (0, 1, 1 << 32, None, 0)), ("job", (0, 1, 0, (0, 0, 0), 1)), ("threads", 0),
])
def test_read_sections_refuses_bad_arguments(bad) -> None:
    what, value = bad
    source = value if what == "source" else np.zeros(4, np.uint8)
    jobs = [value] if what == "job" else [(0, 4, 0, None, 0)]
    threads = value if what == "threads" else 1
    with pytest.raises(CodecError):
        codec.read_sections(source, jobs, threads=threads)


@pytest.mark.parametrize(("threads", "error"), [(0, CodecError), (-1, CodecError), (65, CodecError),
                                                (2.5, TypeError), ("2", TypeError), (True, TypeError), (None, TypeError)])
def test_load_refuses_a_thread_count_it_cannot_use_before_reading(tmp_path, monkeypatch, threads, error) -> None:
    calls = _spy(monkeypatch)
    pycodec.save(_state(1000), tmp_path / "m.dcz")
    with pytest.raises(error, match="threads"):
        pycodec.load(tmp_path / "m.dcz", threads=threads)
    assert calls == []
    _assert_same(pycodec.load(tmp_path / "m.dcz", threads=64), _state(1000))

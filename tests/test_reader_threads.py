"""read_all decodes in a pool only when there is enough coded data to pay for it."""

from __future__ import annotations

import numpy as np
import torch

import pycodec
from pycodec.format import reader


def _state(elements: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {f"w{i}": torch.randn(elements, generator=generator) * 0.05 for i in range(3)}


def _spy_pool(monkeypatch) -> list[int]:
    started: list[int] = []
    real = reader.ThreadPoolExecutor

    def spy(max_workers: int):
        started.append(max_workers)
        return real(max_workers=max_workers)

    monkeypatch.setattr(reader, "ThreadPoolExecutor", spy)
    return started


def test_a_small_file_is_decoded_without_a_pool(tmp_path, monkeypatch) -> None:
    started = _spy_pool(monkeypatch)
    pycodec.save(_state(1000), tmp_path / "small.dcz")
    loaded = pycodec.load(tmp_path / "small.dcz", threads=2)
    assert started == [] and torch.equal(loaded["w1"], _state(1000)["w1"])


def test_a_large_coded_file_decodes_the_same_in_a_pool(tmp_path, monkeypatch) -> None:
    started = _spy_pool(monkeypatch)
    monkeypatch.setattr(reader, "PARALLEL_FROM_BYTES", 1 << 20)  # a pool from 1 MiB, for a small test
    state = _state(400_000)  # planes-coded float32: ~1.3 MB coded per tensor
    pycodec.save(state, tmp_path / "large.dcz")
    one = pycodec.load(tmp_path / "large.dcz", threads=1)
    assert started == []
    two = pycodec.load(tmp_path / "large.dcz", threads=2)
    assert started == [2]
    for name, tensor in state.items():
        assert np.array_equal(one[name].numpy().view(np.uint32), tensor.numpy().view(np.uint32))
        assert np.array_equal(two[name].numpy().view(np.uint32), tensor.numpy().view(np.uint32))


def test_planes_sections_share_one_read_buffer_yet_decode_exactly(tmp_path) -> None:
    # sections of several sizes, read into one reused buffer (grown, then reused smaller)
    generator = torch.Generator().manual_seed(1)
    state = {f"w{i}": torch.randn(n, generator=generator) * 0.05 for i, n in enumerate([300_000, 100_000, 500_000, 7])}
    pycodec.save(state, tmp_path / "sizes.dcz")
    with pycodec.open(tmp_path / "sizes.dcz") as file:
        assert sum(file.info(name).encoding == "planes" for name in state) == 3
    for threads in (1, 2):
        loaded = pycodec.load(tmp_path / "sizes.dcz", threads=threads)
        for name, tensor in state.items():
            assert np.array_equal(loaded[name].numpy().view(np.uint32), tensor.numpy().view(np.uint32))

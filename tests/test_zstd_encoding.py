"""The ``zstd`` encoding (spec 5.8): chosen for tensors made of repeats, never for trained
weights; lossless for every dtype; hostile frames rejected before decoding."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import zstandard

import pycodec
from pycodec.errors import LimitExceededError, MalformedFileError
from pycodec.format import zstd_frames

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "spec" / "vectors"))
sys.path.insert(0, str(REPO / "tools" / "fuzz"))

import generate  # noqa: E402
import spec_decoder  # noqa: E402


def fourier_basis(n: int = 256) -> torch.Tensor:
    """A windowed real DFT basis, as an STFT front end stores it (cos rows, then sin rows)."""
    k = torch.arange(n // 2 + 1, dtype=torch.float64)[:, None]
    t = torch.arange(n, dtype=torch.float64)
    window = torch.hann_window(n, periodic=True, dtype=torch.float64)
    angle = 2 * math.pi * k * t / n
    return torch.cat([torch.cos(angle) * window, torch.sin(angle) * window]).float()


def encodings(data: bytes) -> dict[str, str]:
    with pycodec.open(data) as file:
        return {name: file.entry(name).encoding for name in file.keys()}


def stored(data: bytes, name: str) -> int:
    with pycodec.open(data) as file:
        return file.info(name).stored_bytes


def assert_bit_exact(loaded: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    for name, tensor in state.items():
        got = loaded[name]
        assert got.dtype == tensor.dtype and got.shape == tensor.shape, name
        assert got.contiguous().view(torch.uint8).equal(tensor.contiguous().view(torch.uint8)), name


def test_a_fourier_basis_is_stored_zstd_and_smaller_than_the_huffman_encodings() -> None:
    basis = {"stft.weight": fourier_basis()}
    data = pycodec.save_bytes(basis)
    assert encodings(data) == {"stft.weight": "zstd"}
    assert_bit_exact(pycodec.load_bytes(data), basis)
    # what the file would hold without it: the best of planes and codebook
    frame = stored(data, "stft.weight")
    assert frame < 0.8 * basis["stft.weight"].numel() * 4 * 0.63


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16, torch.int64,
                                   torch.int32, torch.uint8, torch.complex64])
def test_repeated_rows_are_stored_zstd_bit_exact_in_every_dtype(dtype: torch.dtype) -> None:
    row = (torch.randn(1, 300, generator=torch.Generator().manual_seed(1)) * 50)
    table = row.repeat(40, 1).to(dtype)
    data = pycodec.save_bytes({"t": table})
    assert encodings(data) == {"t": "zstd"}
    assert stored(data, "t") < table.numel() * table.element_size() / 10
    assert_bit_exact(pycodec.load_bytes(data), {"t": table})


def test_special_float_bit_patterns_survive_zstd() -> None:
    specials = torch.tensor([0x7FC00123, 0x80000000, 0x7F800000, 0xFF800000, 0x00000001, 0x7FFFFFFF],
                            dtype=torch.int64).to(torch.int32).view(torch.float32)
    table = specials.repeat(2000)
    data = pycodec.save_bytes({"t": table})
    assert encodings(data) == {"t": "zstd"}
    assert_bit_exact(pycodec.load_bytes(data), {"t": table})


def test_integers_and_masks_are_compressed() -> None:
    generator = torch.Generator().manual_seed(2)
    state = {
        "position_ids": torch.arange(8192),
        "quantized": (torch.randn(64, 256, generator=generator) * 12).round().clamp(-127, 127).to(torch.int8),
        "mask": torch.rand(128, 128, generator=generator) < 0.2,
    }
    data = pycodec.save_bytes(state)
    assert set(encodings(data).values()) == {"zstd"}
    for name, tensor in state.items():
        assert stored(data, name) < 0.75 * tensor.numel() * tensor.element_size(), name
    assert_bit_exact(pycodec.load_bytes(data), state)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float8_e4m3fn])
def test_trained_like_weights_are_never_probed(dtype: torch.dtype) -> None:
    weights = (torch.randn(256, 512, generator=torch.Generator().manual_seed(3)) * 0.05).to(dtype)
    data = pycodec.save_bytes({"w": weights})
    assert encodings(data) == {"w": "planes"}
    assert not zstd_frames.repeats(weights.contiguous().view(torch.uint8).numpy().reshape(-1))


def test_small_tensors_are_not_probed() -> None:
    assert zstd_frames.probe(np.zeros(zstd_frames.MIN_BYTES - 1, np.uint8), floats=False) is None


def test_a_tensor_of_at_most_twice_the_sample_is_framed_at_once() -> None:
    table = np.tile(np.arange(64, dtype=np.int32), 500).view(np.uint8)  # 128 KB of repeats
    found = zstd_frames.probe(table, floats=False)
    assert found is not None and found.frame is not None and found.size == len(found.frame)
    assert zstd_frames.decode(found.frame, table.size, "t").tobytes() == table.tobytes()
    assert zstd_frames.worth_trying(found, found.size + 1)  # exact: no margin
    assert not zstd_frames.worth_trying(found, found.size)
    assert zstd_frames.probe(np.tile(table, 4), floats=False).frame is not None  # 512 KiB
    larger = np.tile(table, 5)  # past FRAME_AT_ONCE_BYTES: sampled, an estimate with a margin
    estimated = zstd_frames.probe(larger, floats=False)
    assert estimated is not None and estimated.frame is None
    assert not zstd_frames.worth_trying(estimated, estimated.size / zstd_frames.PROBE_MARGIN)


def test_probe_samples_large_tensors_in_chunks() -> None:
    data = np.arange(zstd_frames.PROBE_BYTES * 3, dtype=np.uint8)
    sample = zstd_frames._sample(memoryview(data))
    assert len(sample) == zstd_frames.PROBE_BYTES
    assert bytes(sample[-16:]) == data[-16:].tobytes()  # the last chunk ends the tensor


def test_frames_keep_windows_within_8_mib() -> None:
    """W6: a streaming decoder never needs more than RFC 8878's recommended window."""
    table = np.tile(np.random.default_rng(4).standard_normal(1000).astype(np.float32), 6000)  # 24 MB
    frame = zstd_frames.encode(memoryview(table.view(np.uint8)))
    params = zstandard.get_frame_parameters(frame)
    assert params.window_size <= 8 << 20 and params.content_size == table.nbytes
    assert params.dict_id == 0 and not params.has_checksum


def zstd_file(dtype: str, shape: list[int], frame: bytes) -> bytes:
    return generate.assemble([generate._zstd_row("w", dtype, shape, frame)])


def test_a_declared_size_beyond_the_policy_limit_is_refused_before_decoding() -> None:
    # 2^34 int8 elements declared by the table and the frame alike, backed by 4 bytes
    frame = generate.ZSTD_MAGIC + bytes([0xC0, 0x00]) + (1 << 34).to_bytes(8, "little") + \
        generate._zstd_block(1, b"\x07", 4)
    data = zstd_file("int8", [1 << 34], frame)
    with pytest.raises(LimitExceededError):
        pycodec.load_bytes(data)


def test_a_frame_whose_blocks_fall_short_is_malformed_not_a_crash() -> None:
    frame = generate.ZSTD_MAGIC + bytes([0x40, 0x00]) + (1000 - 256).to_bytes(2, "little") + \
        generate._zstd_block(1, b"\x07", 500)
    data = zstd_file("uint8", [1000], frame)
    with pytest.raises(MalformedFileError, match="corrupt Zstandard frame"):
        pycodec.load_bytes(data)
    with pytest.raises(spec_decoder.SpecReject):
        spec_decoder.decode_bytes(data)


@pytest.mark.parametrize("cut", [4, 5, 6, 9, 20])
def test_truncated_frames_are_rejected_by_both_readers(cut: int) -> None:
    data = zstd_file("float32", [4, 16], generate.ZSTD_TABLE_FRAME[:cut])
    with pytest.raises(MalformedFileError):
        pycodec.load_bytes(data)
    with pytest.raises(spec_decoder.SpecReject):
        spec_decoder.decode_bytes(data)


def test_both_readers_agree_on_a_written_zstd_file() -> None:
    state = {"basis": fourier_basis(128), "ids": torch.arange(5000), "mask": torch.arange(6000) % 3 == 0}
    data = pycodec.save_bytes(state)
    assert set(encodings(data).values()) == {"zstd"}
    _, tensors = spec_decoder.decode_bytes(data)
    for name, tensor in state.items():
        assert tensors[name].data == tensor.contiguous().view(torch.uint8).numpy().tobytes(), name

"""Dataset readers: IDX (MNIST / Fashion-MNIST), CIFAR-10 binary batches, the embedded subset."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from pycodec.data import (
    DataError,
    embedded_dir,
    iterate_batches,
    load_cifar10_arrays,
    load_idx_pair,
    load_split,
    parse_idx,
    read_idx,
    resolve_data_dir,
    shard_indices,
    write_idx,
)
from pycodec.errors import DczError



def _write_mnist_folder(
    root: Path, n: int, *, gz: bool, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(root / f"train-images-idx3-ubyte{suffix}", images)
    write_idx(root / f"train-labels-idx1-ubyte{suffix}", labels)
    write_idx(root / f"t10k-images-idx3-ubyte{suffix}", images[:3])
    write_idx(root / f"t10k-labels-idx1-ubyte{suffix}", labels[:3])
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reader_reads_idx_files_it_did_not_write_itself(
    tmp_path: Path, gz: bool
) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    # Hand-built IDX bytes: magic 0x00000803 / 0x00000801, big-endian u32 dims.
    image_bytes = (
        b"\x00\x00\x08\x03"
        + (5).to_bytes(4, "big")
        + (28).to_bytes(4, "big") * 2
        + images.tobytes()
    )
    label_bytes = b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + labels.tobytes()
    for prefix in ("train", "t10k"):
        for stem, payload in (
            (f"{prefix}-images-idx3-ubyte", image_bytes),
            (f"{prefix}-labels-idx1-ubyte", label_bytes),
        ):
            path = tmp_path / (stem + (".gz" if gz else ""))
            path.write_bytes(gzip.compress(payload) if gz else payload)
    got_images, got_labels = load_idx_pair(tmp_path, train=True)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)
    split = load_split("mnist", False, tmp_path)
    assert split.images.shape == (5, 1, 28, 28) and split.images.dtype == torch.float32
    assert torch.equal(split.labels, torch.tensor([3, 1, 4, 1, 5]))
    expected = (images[0, 0, 0] / 255.0 - 0.1307) / 0.3081
    assert float(split.images[0, 0, 0, 0]) == pytest.approx(expected, rel=1e-5)


def test_fashion_mnist_uses_its_own_normalisation(tmp_path: Path) -> None:
    images, _ = _write_mnist_folder(tmp_path, 4, gz=True)
    split = load_split("fashion-mnist", True, tmp_path)
    assert float(split.images[1, 0, 5, 7]) == pytest.approx(
        (images[1, 5, 7] / 255.0 - 0.2860) / 0.3530, rel=1e-5
    )


def test_idx_round_trip_and_big_endian_types() -> None:
    data = (
        b"\x00\x00\x0c\x01"
        + (3).to_bytes(4, "big")
        + np.array([1, -2, 70000], dtype=">i4").tobytes()
    )
    assert parse_idx(data).tolist() == [1, -2, 70000]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "need 4 header bytes"),
        (b"\x01\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x00", "bad IDX magic"),
        (
            b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x00",
            "unknown IDX element type",
        ),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + (1).to_bytes(4, "big"), "truncated IDX header"),
        (
            b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x00" * 4,
            "need 5 data bytes",
        ),
        (
            b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x00" * 6,
            "need 5 data bytes",
        ),
        (b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3, "above the limit"),
    ],
)
def test_idx_header_validation(data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_idx(data)


def test_data_error_is_a_dcz_error_and_value_error() -> None:
    assert issubclass(DataError, DczError) and issubclass(DataError, ValueError)


def test_corrupt_gzip_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(bad)
    with pytest.raises(DataError, match="missing dataset file"):
        load_idx_pair(tmp_path, train=True)
    with pytest.raises(DataError, match="needs a data directory"):
        load_split("mnist", True, None)
    with pytest.raises(DataError, match="unknown dataset"):
        load_split("imagenet", True, tmp_path)


def test_mismatched_image_and_label_counts(tmp_path: Path) -> None:
    _write_mnist_folder(tmp_path, 4, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match="4 images but 3 labels"):
        load_idx_pair(tmp_path, train=True)


def test_label_out_of_range(tmp_path: Path) -> None:
    _write_mnist_folder(tmp_path, 4, gz=False)
    write_idx(
        tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 10, 2], dtype=np.uint8)
    )
    with pytest.raises(DataError, match="out of range"):
        load_idx_pair(tmp_path, train=True)


def _write_cifar_batches(
    root: Path, per_file: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Files in CIFAR-10's binary format: records of <1 label byte><3072 pixel bytes>."""
    rng = np.random.default_rng(7)
    written = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, per_file, dtype=np.uint8)
        pixels = rng.integers(0, 256, (per_file, 3072), dtype=np.uint8)
        with open(root / name, "wb") as f:
            for label, row in zip(labels, pixels, strict=True):
                f.write(bytes([label]))
                f.write(row.tobytes())  # 1024 red, 1024 green, 1024 blue, row-major
        written[name] = (labels, pixels)
    return written


@pytest.mark.parametrize("nested", [False, True])
def test_cifar10_reader_reads_binary_batches(tmp_path: Path, nested: bool) -> None:
    folder = tmp_path / "cifar-10-batches-bin" if nested else tmp_path
    folder.mkdir(exist_ok=True)
    written = _write_cifar_batches(folder, 6)
    images, labels = load_cifar10_arrays(tmp_path, train=True)
    assert images.shape == (30, 3, 32, 32) and labels.shape == (30,)
    first_labels, first_pixels = written["data_batch_1.bin"]
    assert np.array_equal(labels[:6], first_labels)
    assert np.array_equal(
        images[0, 1].reshape(-1), first_pixels[0, 1024:2048]
    )  # green plane
    last_labels, _ = written["data_batch_5.bin"]
    assert np.array_equal(labels[-6:], last_labels)
    test = load_split("cifar10", False, tmp_path)
    assert test.images.shape == (6, 3, 32, 32)
    red = written["test_batch.bin"][1][2, 5 * 32 + 9]
    assert float(test.images[2, 0, 5, 9]) == pytest.approx(
        (red / 255.0 - 0.4914) / 0.2470, rel=1e-5
    )


def test_cifar10_reader_validates(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing CIFAR-10"):
        load_cifar10_arrays(tmp_path, train=False)
    (tmp_path / "test_batch.bin").write_bytes(b"\x00" * 3074)
    with pytest.raises(DataError, match="multiple of the 3073-byte record"):
        load_cifar10_arrays(tmp_path, train=False)
    (tmp_path / "test_batch.bin").write_bytes(b"\x0a" + b"\x00" * 3072)
    with pytest.raises(DataError, match="out of range"):
        load_cifar10_arrays(tmp_path, train=False)


def test_embedded_subset_is_stratified_and_needs_no_files() -> None:
    assert (embedded_dir() / "train-images-idx3-ubyte.gz").is_file()
    train, test = load_split("embedded", True), load_split("embedded", False)
    assert train.images.shape == (30000, 1, 28, 28) and len(test) == 2000
    assert torch.bincount(train.labels).tolist() == [3000] * 10
    assert torch.bincount(test.labels).tolist() == [200] * 10


def test_shards_cover_every_example_once_per_epoch() -> None:
    shards = [
        shard_indices(10, shuffle=True, seed=3, epoch=2, rank=r, world_size=3)
        for r in range(3)
    ]
    assert all(len(s) == 4 for s in shards)
    assert set(torch.cat(shards).tolist()) == set(range(10))
    assert not torch.equal(
        shard_indices(10, shuffle=True, seed=3, epoch=1),
        shard_indices(10, shuffle=True, seed=3, epoch=2),
    )


def test_iterate_batches_yields_aligned_pairs() -> None:
    split = load_split("embedded", False).subset(70)
    batches = list(iterate_batches(split, 32, shuffle=False))
    assert [len(labels) for _, labels in batches] == [32, 32, 6]
    assert torch.equal(batches[1][0], split.images[32:64])


def test_full_mnist_matches_its_published_description(mnist: Path) -> None:
    images, labels = load_idx_pair(mnist, train=False)
    assert images.shape == (10000, 28, 28)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_data_folder_from_option_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYCODEC_DATA", "/somewhere")
    assert resolve_data_dir("mnist", "given") == Path("given")
    assert resolve_data_dir("mnist") == Path("/somewhere/mnist")
    monkeypatch.delenv("PYCODEC_DATA")
    assert resolve_data_dir("cifar10") == Path("data/cifar10")
    assert resolve_data_dir("embedded") is None

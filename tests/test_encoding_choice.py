"""The writer's fast choice (pycodec/format/choice.py, issue 12 item 2): the statistics'
gate skips the codebook family and sparse_raw only where they cannot win, so pruned and
weight-shared tensors keep the encoding and bytes that sizing every candidate gives,
while dense trained weights are never hashed into a codebook."""

from __future__ import annotations

import numpy as np
import pytest

from pycodec import codec
from pycodec.errors import CodecError
from pycodec.format import choice, encodings
from pycodec.format.dtypes import DTYPES


def _bytes(encoded: encodings.EncodedTensor) -> dict[str, bytes]:
    return {role: bytes(memoryview(np.ascontiguousarray(p)).cast("B")) for role, p in encoded.payloads.items()}


def _same_as_sizing_all(flat: np.ndarray, dtype: str) -> encodings.EncodedTensor:
    """Encode with the gate and with every candidate sized; they must agree bit for bit."""
    row = DTYPES[dtype]
    gated = encodings.encode_tensor(flat, row)
    reference = encodings.encode_tensor(flat, row, size_all=True)
    assert (gated.encoding, gated.index_bits, gated.plane_streams) == (
        reference.encoding, reference.index_bits, reference.plane_streams)
    assert _bytes(gated) == _bytes(reference)
    return gated


def _trained_like(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 0.04).astype(np.float32)


def _pruned(values: np.ndarray, density: float) -> np.ndarray:
    cut = np.quantile(np.abs(values), 1 - density)
    return np.where(np.abs(values) >= cut, values, 0).astype(values.dtype)


def _shared(values: np.ndarray, clusters: int) -> np.ndarray:
    """Non-zeros snapped to the nearest of `clusters` linear centroids (Deep Compression)."""
    nonzero = values != 0
    centroids = np.linspace(values.min(), values.max(), clusters).astype(values.dtype)
    snapped = centroids[np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)]
    return np.where(nonzero, snapped, 0).astype(values.dtype)


# ----------------------------------------------------------------- pruned and shared keep their encoding


@pytest.mark.parametrize("numel", [3000, 40000, 300000])  # exact statistics, and sampled ones
def test_pruned_and_shared_tensor_gets_the_same_sparse_bytes(numel: int) -> None:
    flat = _shared(_pruned(_trained_like(numel), 0.08), 32)
    assert _same_as_sizing_all(flat, "float32").encoding == "sparse"


@pytest.mark.parametrize("numel", [3000, 300000])
def test_pruned_tensor_without_sharing_gets_the_same_sparse_raw_bytes(numel: int) -> None:
    flat = _pruned(_trained_like(numel, seed=1), 0.1)
    assert _same_as_sizing_all(flat, "float32").encoding == "sparse_raw"


@pytest.mark.parametrize("numel", [5000, 300000])
def test_shared_dense_tensor_gets_the_same_codebook_bytes(numel: int) -> None:
    flat = _shared(_trained_like(numel, seed=2), 256)
    assert _same_as_sizing_all(flat, "float32").encoding == "codebook"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_constant_and_zero_tensors_keep_their_one_entry_codebook(dtype: str) -> None:
    row = DTYPES[dtype]
    for flat in (np.zeros(50000, row.storage), np.full(50000, 1, row.bits_dtype).view(row.storage)):
        assert _same_as_sizing_all(flat, dtype).encoding == "codebook"


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float8_e4m3fn", "int8", "int16", "uint8"])
@pytest.mark.parametrize("kind", ["dense", "pruned", "shared", "pruned_shared", "noise"])
def test_small_element_dtypes_choose_as_sizing_every_candidate(dtype: str, kind: str) -> None:
    """Elements of 1 or 2 bytes are counted in full, so the gate's bounds are true bounds
    and the choice is exactly the one of sizing every candidate."""
    row = DTYPES[dtype]
    rng = np.random.default_rng(3)
    values = _trained_like(60000, seed=3)
    if kind in ("pruned", "pruned_shared"):
        values = _pruned(values, 0.1)
    if kind in ("shared", "pruned_shared"):
        values = _shared(values, 16)
    if row.name.startswith("float") or row.name == "bfloat16":
        import torch

        flat = torch.from_numpy(values).to(getattr(torch, dtype)).view(getattr(torch, f"uint{8 * row.itemsize}"))
        bits = flat.numpy().copy()
    else:
        bits = np.rint(values * 1000).astype(row.storage).view(row.bits_dtype)
    if kind == "noise":
        bits = rng.integers(0, 1 << (8 * row.itemsize), bits.size).astype(row.bits_dtype)
    _same_as_sizing_all(bits.view(row.storage), dtype)


# ----------------------------------------------------------------- dense weights are not sized as codebooks


def test_dense_trained_weights_are_never_hashed_into_a_codebook(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for name in ("codebook_index", "nonzero_scan"):
        real = getattr(codec, name)
        monkeypatch.setattr(codec, name, lambda *a, _n=name, _f=real, **k: calls.append(_n) or _f(*a, **k))
    for numel in (5000, 70000, 1 << 20):
        encoded = encodings.encode_tensor(_trained_like(numel), DTYPES["float32"])
        assert encoded.encoding == "planes"
    assert calls == []


def test_bfloat16_dense_weights_skip_the_codebook_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    """bfloat16 has at most 65,536 values, so the codebook is always possible; its bound
    (values, code table, entropy) rules it out for trained weights without planning it."""
    import torch

    widths: list[int] = []
    real = codec.huffman_plan_size
    monkeypatch.setattr(codec, "huffman_plan_size", lambda c, bits, **k: widths.append(bits) or real(c, bits, **k))
    flat = torch.from_numpy(_trained_like(200000)).bfloat16().view(torch.uint16).numpy()
    assert encodings.encode_tensor(flat, DTYPES["bfloat16"]).encoding == "planes"
    assert 16 not in widths


def test_sampled_distinct_gate() -> None:
    """A float32 tensor with 1000 distinct values in a million elements still reaches the
    codebook (and takes it); one with all values distinct does not."""
    row = DTYPES["float32"]
    few = _trained_like(1000)[np.random.default_rng(4).integers(0, 1000, 1 << 20)]
    stats = choice.statistics(few, row, planes_ok=True)
    assert stats.codebook_bound is not None
    assert encodings.encode_tensor(few, row).encoding == "codebook"
    assert choice.statistics(_trained_like(1 << 20), row, planes_ok=True).codebook_bound is None


def test_choice_is_deterministic() -> None:
    flat = _trained_like(300000)
    first, second = (encodings.encode_tensor(flat, DTYPES["float32"]) for _ in range(2))
    assert first.plane_streams == second.plane_streams and _bytes(first) == _bytes(second)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_dense_small_element_codebooks_are_sized_from_the_pattern_counts(monkeypatch: pytest.MonkeyPatch,
                                                                          dtype: str) -> None:
    """A 1- or 2-byte tensor without zeros whose codebook may win is sized from the counts
    of its every bit pattern, with no scan for non-zeros, and gets the same bytes."""
    import torch

    row = DTYPES[dtype]
    values = _shared(_trained_like(100000, seed=5), 40)
    values[values == 0] = values.max()
    bits = torch.from_numpy(values).to(getattr(torch, dtype)).view(getattr(torch, f"uint{8 * row.itemsize}")).numpy().copy()
    scans: list[int] = []
    real = codec.nonzero_scan
    monkeypatch.setattr(codec, "nonzero_scan", lambda *a, **k: scans.append(1) or real(*a, **k))
    gated = encodings.encode_tensor(bits.view(row.storage), row)
    assert gated.encoding == "codebook" and scans == []
    monkeypatch.setattr(codec, "nonzero_scan", real)
    _same_as_sizing_all(bits.view(row.storage), dtype)


ZERO_PLACES = {
    "one": lambda n: [n // 3],
    "leading": lambda n: list(range(5)),
    "trailing": lambda n: list(range(n - 5, n)),
    "scattered": lambda n: list(range(7, n, 997)),
    "periodic_every_other": lambda n: list(range(0, n, 2)),  # as many zeros as non-zeros
    "most": lambda n: [i for i in range(n) if i % 50],
}


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("place", sorted(ZERO_PLACES))
def test_2_byte_tensors_with_zeros_choose_as_sizing_every_candidate(dtype: str, shared: bool, place: str) -> None:
    """The sparse family's bound (non-zeros plus at least a bit per gap where the gaps
    cannot all be equal) is a true bound: wherever zeros sit, the choice and bytes are
    those of sizing every candidate."""
    import torch

    row = DTYPES[dtype]
    values = _trained_like(50000, seed=7)
    if shared:
        values = _shared(values, 40)
    values[values == 0] = values.max()
    values[ZERO_PLACES[place](values.size)] = 0
    bits = torch.from_numpy(values).to(getattr(torch, dtype)).view(torch.uint16).numpy().copy()
    _same_as_sizing_all(bits.view(row.storage), dtype)


def test_a_few_zeros_do_not_send_2_byte_weights_to_the_full_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """bfloat16 weights with one zero whose codebook bound passes the gate: sized from the
    pattern counts, with no scan for non-zeros (which took 198 ms on an 8.4M-element layer)."""
    import torch

    values = _trained_like(2_000_000, seed=8)  # enough elements for the codebook's table to pay
    values[123] = 0
    bits = torch.from_numpy(values).to(torch.bfloat16).view(torch.uint16).numpy().copy()
    row = DTYPES["bfloat16"]
    stats = choice.statistics(bits.view(row.storage), row, planes_ok=True)
    assert choice.needs_exact_sizing(stats, row, stats.planes_size(encodings.planes_header_bytes(2)))
    scans: list[int] = []
    real = codec.nonzero_scan
    monkeypatch.setattr(codec, "nonzero_scan", lambda *a, **k: scans.append(1) or real(*a, **k))
    encodings.encode_tensor(bits.view(row.storage), row)
    assert scans == []


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_native_histogram_is_bincount(dtype) -> None:
    values = np.random.default_rng(1).integers(0, np.iinfo(dtype).max + 1, 100_001).astype(dtype)
    counts = codec.histogram(values)
    assert counts.dtype == np.int64 and counts.size == 1 << (8 * values.itemsize)
    assert np.array_equal(counts, np.bincount(values, minlength=counts.size))
    assert codec.histogram(values[::3]).sum() == values[::3].size  # strided: copied first


def test_native_histogram_refuses_wider_values() -> None:
    with pytest.raises(CodecError, match="uint8 or uint16"):
        codec.histogram(np.arange(4, dtype=np.uint32))


# ----------------------------------------------------------------- tiny tensors: raw at a glance

TINY_DTYPES = ["float32", "float64", "bfloat16", "float16", "float8_e4m3fn", "int8", "int32", "int64", "uint8", "bool"]


def _tiny(dtype: str, kind: str, n: int) -> np.ndarray:
    row = DTYPES[dtype]
    rng = np.random.default_rng(n)
    if dtype == "bool":
        return (rng.random(n) < (0.0 if kind == "zeros" else 0.5)).view(row.storage)
    bits = rng.integers(1, 1 << min(8 * row.itemsize, 62), n, dtype=np.uint64).astype(row.bits_dtype)
    if kind == "repeats":
        bits = bits[rng.integers(0, max(1, n // 3), n)]
    elif kind == "one_value":
        bits[:] = bits[0]
    elif kind == "zeros":
        bits[rng.random(n) < 0.6] = 0
    elif kind == "one_zero":
        bits[n // 2] = 0
    return bits.view(row.storage)


@pytest.mark.parametrize("dtype", TINY_DTYPES)
@pytest.mark.parametrize("kind", ["distinct", "repeats", "one_value", "zeros", "one_zero"])
@pytest.mark.parametrize("n", [1, 2, 17, 128, 511, 1023])
def test_tiny_tensors_choose_as_sizing_every_candidate(dtype: str, kind: str, n: int) -> None:
    """A bias or norm of a few hundred elements is ruled raw at a glance only where no
    candidate could win: the choice and bytes are those of sizing every one."""
    _same_as_sizing_all(_tiny(dtype, kind, n), dtype)


def test_the_glance_answers_raw_only_for_tensors_below_planes_and_zstd() -> None:
    row = DTYPES["float32"]
    distinct = _trained_like(4000)
    assert encodings._raw_at_a_glance(distinct[:1000], row)
    assert not encodings._raw_at_a_glance(distinct[:1024], row)  # planes may apply from 1024 elements on
    assert not encodings._raw_at_a_glance(_tiny("float32", "one_zero", 100), row)  # sparse may apply
    assert not encodings._raw_at_a_glance(_tiny("float32", "one_value", 100), row)  # a codebook wins
    small = DTYPES["int8"]
    assert encodings._raw_at_a_glance(np.arange(1, 101, dtype=np.int8), small)
    assert not encodings._raw_at_a_glance(np.ones(4096, np.int8), small)  # zstd may apply from 4096 bytes on


def test_a_codebook_candidate_is_left_out_only_where_it_is_larger_than_the_best_other() -> None:
    """A codebook of thousands of values is sized up to the best other candidate's bytes:
    far above them it is left out (an unlimited Huffman code's total says so, without
    package-merge), at or below them it is kept with its exact size, ties included."""
    rng = np.random.default_rng(11)
    values = np.minimum(rng.geometric(0.002, 66000), 3000).astype(np.uint16)  # deep codes: package-merge sizes it
    flat = values.view(DTYPES["bfloat16"].storage)
    patterns = codec.histogram_counts(values)
    counts = patterns[patterns > 0]
    size = counts.size * 2 + codec.huffman_plan_size(counts, 16)
    for beat, kept in ((size // 2, False), (size, True), (size + 1, True), (10 * size, True)):
        found = encodings._dense_codebook_from_counts(flat, DTYPES["bfloat16"], patterns, beat)
        assert [c.size for c in found] == ([size] if kept else [])
    # just below: left out, or kept at its exact size (it loses to `beat` either way)
    assert [c.size for c in encodings._dense_codebook_from_counts(flat, DTYPES["bfloat16"], patterns, size - 1)] in ([], [size])
    assert encodings._dense_codebook_from_counts(flat, DTYPES["bfloat16"], patterns, counts.size * 2 - 1) == []


def test_value_entropy_is_count_entropy_of_the_value_counts() -> None:
    rng = np.random.default_rng(5)
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        values = rng.integers(0, 40, 5000).astype(dtype)
        for skip_zero in (False, True):
            counts = codec.value_counts(values, skip_zero=skip_zero)
            assert codec.value_entropy(values, skip_zero=skip_zero) == codec.count_entropy(counts)
        assert codec.value_entropy(values, limit=39) is None
        assert codec.value_entropy(values, limit=40) == codec.count_entropy(codec.value_counts(values))
    assert codec.value_entropy(np.zeros(0, np.uint32)) == (0, 0, 0.0)
    with pytest.raises(CodecError, match="unsigned"):
        codec.value_entropy(np.arange(5, dtype=np.int32))

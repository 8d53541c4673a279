"""The native statistics behind the writer's choice (issue 12, item 2): value counts by
hashing, byte-plane histograms read in place, planned plane sizes with the entropy gate,
and the first look that rules codebooks and zstd repeats out for trained weights."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from pycodec import codec
from pycodec.errors import CodecError
from pycodec.format import choice, encodings, zstd_frames
from pycodec.format.dtypes import DTYPES


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("numel", [0, 1, 5000, 70_000])
def test_value_counts_match_numpy_unique(dtype: type, numel: int) -> None:
    rng = np.random.default_rng(numel)
    high = min(np.iinfo(dtype).max, 40_000)
    values = rng.integers(0, high, numel).astype(dtype)
    for skip_zero in (False, True):
        kept = values[values != 0] if skip_zero else values
        _, expected = np.unique(kept, return_counts=True)
        got = codec.value_counts(values, skip_zero=skip_zero)
        assert sorted(got.tolist()) == sorted(expected.tolist())


def test_hash_tables_kept_between_calls_give_fresh_answers() -> None:
    """The core keeps a thread's hash table between calls (and lets a large one go): calls
    of every size in turn, the tables of each reused or regrown, each answer as numpy's."""
    rng = np.random.default_rng(7)
    arrays = [rng.integers(1, 1 << 40, 100_000).astype(np.uint64),  # grows past the kept size
              np.arange(1, 32_768, dtype=np.uint32),  # a sample's worth, every value distinct
              rng.integers(1, 300, 2_000_000).astype(np.uint32),
              rng.integers(1, 50, 17).astype(np.uint64)]
    for values in arrays + arrays[::-1]:
        _, expected = np.unique(values, return_counts=True)
        assert sorted(codec.value_counts(values).tolist()) == sorted(expected.tolist())
        assert codec.all_distinct(values) == (expected.size == values.size)
        found = codec.codebook_index(values, 65_536)
        if expected.size > 65_536:
            assert found is None
        else:
            book, indices = found
            assert np.array_equal(book, np.unique(values)) and np.array_equal(book[indices], values)


@pytest.mark.parametrize("size", [1, 144, 4_095, 4_096, 70_000])
@pytest.mark.parametrize("high", [2, 300, 65_536])
def test_16_bit_codebooks_hashed_or_tabled_alike(size: int, high: int) -> None:
    """16-bit values are hashed below 4,096 of them and indexed through a table of all
    65,536 from there: either way the book is the sorted distinct values, and a cap below
    their count refuses them."""
    values = np.random.default_rng(size + high).integers(0, high, size).astype(np.uint16)
    book, indices = codec.codebook_index(values, 65_536)
    assert np.array_equal(book, np.unique(values)) and np.array_equal(book[indices], values)
    if book.size > 1:
        assert codec.codebook_index(values, book.size - 1) is None


def test_hash_tables_of_threads_counting_at_once_stay_apart() -> None:
    rng = np.random.default_rng(8)
    arrays = [rng.integers(1, high, 30_000).astype(np.uint32) for high in (10, 1000, 30_000, 1 << 31)]
    expected = [sorted(np.unique(a, return_counts=True)[1].tolist()) for a in arrays]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            got = list(pool.map(lambda a: sorted(codec.value_counts(a).tolist()), arrays))
            assert got == expected


def test_value_counts_come_in_order_of_first_appearance() -> None:
    values = np.array([7, 3, 7, 0, 3, 9, 7], np.uint32)
    assert codec.value_counts(values).tolist() == [3, 2, 1, 1]
    assert codec.value_counts(values, skip_zero=True).tolist() == [3, 2, 1]


def test_value_counts_stop_past_the_limit() -> None:
    values = np.arange(1, 100_001, dtype=np.uint64)
    assert codec.value_counts(values, limit=65_536) is None
    assert codec.value_counts(values[:65_536], limit=65_536).size == 65_536
    assert codec.value_counts(np.zeros(10, np.uint32), skip_zero=True, limit=1).size == 0


@pytest.mark.parametrize("bad", [np.zeros(3, np.float32), np.zeros(3, np.int16)])
def test_value_counts_refuse_non_unsigned_arrays(bad: np.ndarray) -> None:
    with pytest.raises(CodecError, match="unsigned"):
        codec.value_counts(bad)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("step", [1, 3, 64])
def test_all_distinct_matches_numpy_unique(dtype: type, step: int) -> None:
    rng = np.random.default_rng(step)
    for numel, high in ((0, 2), (1, 2), (200, 3), (5000, 1 << 60), (9000, 20_000)):
        values = rng.integers(0, min(high, np.iinfo(dtype).max), numel, dtype=np.uint64).astype(dtype)
        looked = values[::step]
        assert codec.all_distinct(values, step=step) == (np.unique(looked).size == looked.size)
    distinct = np.arange(3000, dtype=dtype if dtype != np.uint8 else np.uint16)
    assert codec.all_distinct(distinct, step=step)
    repeated = distinct.copy()
    repeated[-1] = repeated[0]  # a repeat found only at the last element looked at
    assert codec.all_distinct(repeated, step=step) == (step > 1 and (repeated.size - 1) % step != 0)


@pytest.mark.parametrize("bad", [np.zeros(3, np.float32), np.zeros(3, np.int16)])
def test_all_distinct_refuses_non_unsigned_arrays_and_step_zero(bad: np.ndarray) -> None:
    with pytest.raises(CodecError, match="unsigned"):
        codec.all_distinct(bad)
    with pytest.raises(CodecError, match="step"):
        codec.all_distinct(np.zeros(3, np.uint8), step=0)


@pytest.mark.parametrize("size", [0, 1, 2, 10_001])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_plane_histograms_count_each_byte_of_the_elements(dtype: type, size: int) -> None:
    rng = np.random.default_rng(1)
    elements = rng.integers(0, np.iinfo(dtype).max, size, dtype=np.uint64).astype(dtype)
    planes = elements.view(np.uint8).reshape(-1, elements.itemsize).T
    expected = np.stack([np.bincount(plane, minlength=256) for plane in planes])
    assert np.array_equal(codec.plane_histograms(elements), expected)
    assert np.array_equal(codec.plane_histograms(elements.astype(elements.dtype.newbyteorder(">"))), expected)


@pytest.mark.parametrize("values", ["trained", "sparse", "every"])
def test_pattern_plane_histograms_are_the_planes_of_2_byte_elements(values: str) -> None:
    rng = np.random.default_rng(5)
    elements = {"trained": (rng.standard_normal(50_000) * 0.05).astype(np.float16).view(np.uint16),
                "sparse": rng.choice(np.array([0, 7, 300, 65535], np.uint16), 9_999),
                "every": np.arange(65536, dtype=np.uint16)}[values]
    patterns = codec.histogram_counts(elements)
    assert np.array_equal(codec.pattern_plane_histograms(patterns), codec.plane_histograms(elements))
    with pytest.raises(CodecError, match="65,536"):
        codec.pattern_plane_histograms(patterns[:-1])


def test_pattern_statistics_are_the_counts_planes_and_entropy_in_one_pass() -> None:
    rng = np.random.default_rng(6)
    cases = [(rng.standard_normal(50_000) * 0.05).astype(np.float16).view(np.uint16),
             rng.choice(np.array([0, 7, 300, 65535], np.uint16), 9_999),  # zeros among few values
             np.arange(65536, dtype=np.uint16), np.zeros(5, np.uint16), np.full(3, 9, np.uint16),
             np.zeros(0, np.uint16)]
    for elements in cases + cases[:2]:  # again: the reused count table starts clear each time
        found = codec.pattern_statistics(elements)
        patterns = codec.histogram_counts(elements)
        assert np.array_equal(found.plane_histograms, codec.plane_histograms(elements))
        assert found.zeros == int(patterns[0])
        distinct, seen, entropy = codec.count_entropy(patterns[1:])
        assert (found.distinct, found.nonzero) == (distinct, seen)
        assert found.entropy == pytest.approx(entropy, rel=1e-12, abs=1e-12)
    with pytest.raises(CodecError, match="uint16"):
        codec.pattern_statistics(np.zeros(4, np.uint32))


def test_plan_plane_sizes_plan_the_scaled_counts_or_report_raw() -> None:
    rng = np.random.default_rng(2)
    weights = (rng.standard_normal(20_000) * 0.05).astype(np.float32).view(np.uint32)
    histograms = codec.plane_histograms(weights)
    numel, scale = 80_000, 4.0
    sizes = codec.plan_plane_sizes(histograms, numel, scale=scale)
    for row, size in zip(histograms, sizes):
        counts = np.where(row > 0, np.maximum(np.rint(row * scale), 1), 0).astype(np.int64)
        planned = codec.huffman_plan_size(counts, 8)
        # a plane is reported raw only where its plan could not be worth coding
        assert size == planned if codec.plane_worth_coding(planned, numel) else size in (planned, numel)
    assert sizes[0] == numel and sizes[3] < numel // 2  # a random low mantissa byte; the sign/exponent byte


@pytest.mark.parametrize("histograms, scale, message", [
    (np.zeros((2, 255), np.uint64), 1.0, "shape"),
    (np.zeros((2, 256), np.uint64), 0.5, "scale"),
    (np.zeros((2, 256), np.uint64), float("inf"), "scale"),
])
def test_plan_plane_sizes_refuse_bad_arguments(histograms: np.ndarray, scale: float, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        codec.plan_plane_sizes(histograms, 100, scale=scale)


@pytest.mark.parametrize("most", [5000, 10**6])  # small counts are looked up, large ones computed
@pytest.mark.parametrize("size, nonzero", [(256, 3), (65536, 15000), (65536, 65536), (7, 1), (9, 9)])
def test_count_entropy_matches_the_definition(size: int, nonzero: int, most: int) -> None:
    rng = np.random.default_rng(size + nonzero)
    counts = np.zeros(size, np.uint64)
    counts[rng.choice(size, nonzero, replace=False)] = rng.integers(1, most, nonzero)
    share = counts[counts > 0] / counts.sum()
    distinct, total, bits = codec.count_entropy(counts)
    assert (distinct, total) == (nonzero, int(counts.sum()))
    assert bits == pytest.approx(float(-(share * np.log2(share)).sum()), abs=1e-9)
    assert codec.histogram_counts(np.arange(256, dtype=np.uint8)).dtype == np.uint64


def test_count_entropy_of_uniform_single_and_empty_tables() -> None:
    assert codec.count_entropy(np.full(64, 9, np.int64)) == (64, 576, pytest.approx(6.0))
    assert codec.count_entropy([0, 5, 0]) == (1, 5, 0.0)
    assert codec.count_entropy([]) == (0, 0, 0.0)
    with pytest.raises(CodecError, match="non-negative"):
        codec.count_entropy(np.array([3, -1]))
    with pytest.raises(CodecError, match="integer array"):
        codec.count_entropy(np.array([0.5]))


def test_first_look_separates_trained_weights_from_shared_ones() -> None:
    rng = np.random.default_rng(3)
    trained = (rng.standard_normal(200_000) * 0.05).astype(np.float32).view(np.uint32)
    shared = rng.choice(trained[:256], 200_000)
    assert choice.all_distinct_at_first_look(trained)
    assert not choice.all_distinct_at_first_look(shared)
    assert not zstd_frames.repeats(trained.view(np.uint8))


def _payload_bytes(encoded: encodings.EncodedTensor) -> int:
    return sum(p.nbytes if isinstance(p, np.ndarray) else len(p) for p in encoded.payloads.values())


def test_the_gate_keeps_the_choice_of_sizing_every_candidate() -> None:
    """Trained, weight-shared, pruned and repeating float32 tensors: the statistics' gate
    chooses the encoding that sizing every candidate chooses, at the same size."""
    rng = np.random.default_rng(4)
    trained = (rng.standard_normal(100_000) * 0.05).astype(np.float32)
    shared = rng.choice(trained[:200], 100_000)
    pruned = np.where(np.abs(trained) > 0.08, trained, 0).astype(np.float32)
    basis = np.tile(np.cos(np.arange(1024) * 0.01).astype(np.float32), 100)
    dtype = DTYPES["float32"]
    for flat in (trained, shared, pruned, basis):
        gated = encodings.encode_tensor(flat, dtype)
        every = encodings.encode_tensor(flat, dtype, size_all=True)
        assert gated.encoding == every.encoding
        assert _payload_bytes(gated) == _payload_bytes(every)


def test_a_sampled_fourier_basis_is_framed_without_sizing_every_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sampled tensor of repeats whose sample bound is low: every value is counted, and
    the frame wins without the scan that exact sizing needs."""
    n = torch.arange(256, dtype=torch.float64)
    window = torch.hann_window(256, periodic=True, dtype=torch.float64)
    rows = [wave(2 * torch.pi * k * n / 256) * window for wave in (torch.cos, torch.sin) for k in range(129)]
    basis = torch.stack(rows).float().numpy().reshape(-1)  # an STFT basis, as Silero VAD ships one
    assert choice.statistics(basis, DTYPES["float32"], planes_ok=True).sampled
    monkeypatch.setattr(encodings, "scan", lambda *a: pytest.fail("exact sizing ran"))
    assert encodings.encode_tensor(basis, DTYPES["float32"]).encoding == "zstd"


def test_a_probe_run_ahead_counts_the_bound_the_choice_would_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside a frame of a sampled float tensor, the probe run ahead on the writer's helper
    counts the codebook's exact bound; the choice takes it instead of counting again."""
    n = torch.arange(256, dtype=torch.float64)
    rows = [wave(2 * torch.pi * k * n / 256) for wave in (torch.cos, torch.sin) for k in range(129)]
    basis = torch.stack(rows).float().numpy().reshape(-1)
    row = DTYPES["float32"]
    found = encodings.probe_ahead(basis, row)
    assert found is not None and found.frame is not None and found.bound_counted
    nnz = int(np.count_nonzero(basis.view(np.uint32)))
    assert found.codebook_bound == choice.exact_codebook_bound(basis, row, nnz)
    alone = encodings.encode_tensor(basis, row)
    monkeypatch.setattr(choice, "exact_codebook_bound", lambda *a: pytest.fail("counted again"))
    ahead = encodings.encode_tensor(basis, row, probe=lambda: found)
    assert ahead.encoding == alone.encoding == "zstd" and ahead.payloads == alone.payloads


@pytest.mark.parametrize("dtype, numel", [("float32", 2 * choice.SAMPLE - 1), ("bfloat16", 1 << 16), ("int64", 1 << 16)])
def test_a_probe_run_ahead_counts_nothing_the_choice_would_not_ask_for(dtype: str, numel: int) -> None:
    """Unsampled statistics count every value themselves, and dtypes without a codebook
    have no bound: the probe only probes."""
    row = DTYPES[dtype]
    flat = np.tile(np.arange(64, dtype=np.uint64), numel // 64 + 1)[:numel].astype(row.bits_dtype).view(row.storage)
    found = encodings.probe_ahead(flat, row)
    assert found is not None and found.frame is not None and not found.bound_counted


@pytest.mark.parametrize("name", ["float8_e4m3fn", "int8", "int32", "int64"])
@pytest.mark.parametrize("zeros", [1, 2, 150, 900, 999])
def test_dtypes_without_a_codebook_skip_sizing_only_where_sparse_cannot_win(name: str, zeros: int,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """For dtypes without codebooks sparse_raw is the one candidate exact sizing adds: it
    is sized only where its lower bound (the non-zeros, and a bit per gap when the gaps
    differ) does not rule it out; the choice is the one sizing every candidate makes."""
    rng = np.random.default_rng(zeros)
    dtype = DTYPES[name]
    if name.startswith("float8"):
        values = torch.from_numpy(rng.standard_normal(1000) * 0.05 + 0.2).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
    else:
        values = rng.integers(1, 100, 1000).astype(dtype.storage)
    values = values.copy()
    values[rng.choice(1000, zeros, replace=False)] = 0
    flat = values.view(dtype.storage)
    gated = encodings.encode_tensor(flat, dtype)
    every = encodings.encode_tensor(flat, dtype, size_all=True)
    assert gated.encoding == every.encoding
    sizes = [_payload_bytes(e) for e in (gated, every)]
    assert sizes[0] == sizes[1]
    if zeros < 10:  # a few zeros among 1000 values: the gaps alone rule sparse_raw out, no scan
        monkeypatch.setattr(encodings, "scan", lambda *a: pytest.fail("exact sizing ran"))
        encodings.encode_tensor(flat, dtype)


def _symbols(kind: str, alphabet: int, n: int, seed: int) -> np.ndarray:
    """`n` symbols of an 8- or 16-bit alphabet: uniform, geometric (a code deeper than the
    length limit) or a quarter uniform behind zeros (flat-tail)."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        symbols = rng.integers(0, alphabet, n)
    elif kind == "geometric":
        symbols = np.minimum(rng.geometric(0.3, n) - 1, alphabet - 1)
    else:
        symbols = np.concatenate([np.zeros(n * 3 // 4, np.int64), rng.integers(0, alphabet, n - n * 3 // 4)])
    return symbols.astype(np.uint8 if alphabet <= 256 else np.uint16)


@pytest.mark.parametrize("kind", ["uniform", "geometric", "flat-tail"])
@pytest.mark.parametrize("alphabet", [200, 3000, 60_000])
def test_planned_size_is_the_encoded_size_whether_or_not_huffman_fits_the_limit(kind: str, alphabet: int) -> None:
    # One substream (under 4096 symbols), so the plan is exact: an unlimited Huffman code
    # sizes it where its longest code fits, package-merge where not (geometric: too deep).
    symbols = _symbols(kind, alphabet, 4000, seed=alphabet)
    bits = 8 if alphabet <= 256 else 16
    counts = np.bincount(symbols, minlength=alphabet)
    encoded = len(codec.huffman_encode(symbols))
    assert codec.huffman_plan_size(counts, bits) == encoded
    assert codec.huffman_plan_size(counts[: int(symbols.max()) + 1], bits) == encoded  # unused tail left out


@pytest.mark.parametrize("kind", ["uniform", "geometric", "flat-tail"])
@pytest.mark.parametrize("alphabet", [2, 200, 3000, 60_000])
def test_a_size_bound_gives_none_only_above_it_and_the_exact_size_otherwise(kind: str, alphabet: int) -> None:
    # geometric: Huffman's code is deeper than the limit, so only package-merge sizes it
    # exactly; the bound is decided from the unlimited code's total, which is never more
    symbols = _symbols(kind, alphabet, 20_000, seed=alphabet + 7)
    bits = 8 if alphabet <= 256 else 16
    counts = np.bincount(symbols, minlength=alphabet)
    exact = codec.huffman_plan_size(counts, bits)
    for at_most in (0, exact // 2, exact - 40, exact - 1, exact, exact + 1, 10 * exact):
        bounded = codec.huffman_plan_size(counts, bits, at_most=max(0, at_most))
        assert exact > max(0, at_most) if bounded is None else bounded == exact
    assert codec.huffman_plan_size(counts, bits, at_most=exact) == exact
    assert codec.huffman_plan_size(counts, bits, at_most=exact // 2) is None  # Huffman's total is far above that


def test_a_size_bound_below_zero_is_refused() -> None:
    with pytest.raises(codec.CodecError, match="at_most"):
        codec.huffman_plan_size(np.array([3, 1, 1], np.uint64), 8, at_most=-1)


@pytest.mark.parametrize("dtype, counted", [("float8_e4m3fn", True), ("float8_e5m2", True), ("bfloat16", False),
                                             ("float32", False)])
def test_planes_of_1_byte_floats_are_coded_from_the_statistics_counts(dtype: str, counted: bool,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting a 1-byte tensor's patterns counts its plane per encoder segment: the
    encoder takes those counts instead of counting again, and writes the same bytes."""
    row = DTYPES[dtype]
    weights = (torch.randn(50_000, generator=torch.Generator().manual_seed(7)) * 0.05).to(getattr(torch, dtype))
    flat = weights.view({1: torch.uint8, 2: torch.int16, 4: torch.int32}[row.itemsize]).numpy().view(row.storage)
    estimates = choice.statistics(flat, row, planes_ok=True).planes
    uncounted = encodings._code_planes(encodings._planes_work(flat, row, estimates), flat.nbytes)
    handed: list[object] = []
    real = codec.planes_encode

    def planes_encode(elements, **kwargs):
        handed.append(kwargs.get("counted"))
        return real(elements, **kwargs)

    monkeypatch.setattr(codec, "planes_encode", planes_encode)
    encoded = encodings.encode_tensor(flat, row)
    assert encoded.encoding == "planes" and len(handed) == 1 and (handed[0] is not None) == counted
    assert encoded.payloads["planes"] == uncounted.payloads["planes"]
    assert encoded.plane_streams == uncounted.plane_streams

"""The ``planes`` encoding (spec/dcz.md 5.7): bit-exact round trips for every floating
dtype, the writer's choice, malformed planes, and the decoded-size budget."""

from __future__ import annotations

import importlib.util
import io
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pycodec
from pycodec import codec
from pycodec.errors import CodecError, DataChangedError, LimitExceededError, MalformedFileError
from pycodec.format import encodings
from pycodec.format.budget import DecodeBudget
from pycodec.format.dtypes import DTYPES
from pycodec.format.syntax import Section, TensorEntry

FLOAT_DTYPES = [name for name, row in DTYPES.items() if row.planes_ok]
TORCH_FLOATS = [getattr(torch, name) for name in FLOAT_DTYPES if hasattr(torch, name)]
VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"


def _bytes(tensor: torch.Tensor) -> bytes:
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _roundtrip(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    data = pycodec.save_bytes(state)
    with pycodec.open(io.BytesIO(data)) as file:
        chosen = {name: file.entry(name).encoding for name in file.keys()}
    return pycodec.load_bytes(data), chosen


def _trained_like(n: int, seed: int = 0) -> torch.Tensor:
    """Dense weights with a trained layer's byte statistics: normal, small, all distinct."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=generator) * 0.04


def _specials() -> torch.Tensor:
    return torch.tensor([float("nan"), -0.0, 0.0, float("inf"), -float("inf"), 1e-45, -1e-40, 3.0e38, -1.0])


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", TORCH_FLOATS, ids=str)
def test_every_float_dtype_round_trips_bit_exact_as_planes(dtype: torch.dtype) -> None:
    values = torch.cat([_specials(), _trained_like(20000)])
    if dtype == torch.float8_e8m0fnu:
        values = values.abs()
    tensor = values.to(dtype).reshape(-1, 1)
    loaded, chosen = _roundtrip({"w": tensor})
    assert chosen["w"] == "planes"
    assert _bytes(loaded["w"]) == _bytes(tensor)


def test_nan_payloads_and_signed_zeros_survive() -> None:
    patterns = np.array([0x7FC00001, 0xFFC12345, 0x7F800001, 0x80000000, 0x00000001, 0x807FFFFF], dtype="<u4")
    bits = np.concatenate([patterns, _trained_like(30000).numpy().view("<u4")])
    tensor = torch.from_numpy(bits.view("<f4").copy())
    loaded, chosen = _roundtrip({"w": tensor})
    assert chosen["w"] == "planes"
    assert loaded["w"].numpy().view("<u4").tolist()[:6] == patterns.tolist()
    assert _bytes(loaded["w"]) == _bytes(tensor)


def _decode(encoded: encodings.EncodedTensor, dtype: str, numel: int, budget: int = 1 << 30) -> np.ndarray:
    section = encoded.payloads["planes"]
    entry = TensorEntry("w", dtype, (numel,), "planes", {"planes": Section(len(section), zlib.crc32(section))},
                        plane_streams=encoded.plane_streams)
    return encodings.decode_planes(entry, DTYPES[dtype], encoded.payloads, DecodeBudget(budget))


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(FLOAT_DTYPES), seed=st.integers(0, 2**32 - 1),
       numel=st.integers(0, 3000), alphabet=st.sampled_from([1, 2, 5, 40, 256]))
def test_random_bit_patterns_round_trip_through_the_plane_codec(dtype: str, seed: int, numel: int,
                                                                 alphabet: int) -> None:
    row = DTYPES[dtype]
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, alphabet, numel * row.itemsize, dtype=np.uint8)
    raw[rng.random(raw.size) < 0.3] = rng.integers(0, 256, dtype=np.uint8)  # every byte value is possible
    flat = raw.view(row.storage)
    every_plane = encodings._planes_work(flat, row, [0] * row.itemsize)  # try to code every plane
    encoded = encodings._code_planes(every_plane, flat.nbytes)
    assert len(encoded.plane_streams) == row.itemsize
    assert all(0 < n <= numel - numel // 128 - 2 for n in encoded.plane_streams if n)  # W5: a coded plane saves enough
    assert _decode(encoded, dtype, numel).tobytes() == flat.tobytes()


# ----------------------------------------------------------------- the writer's choice


def test_random_bytes_stay_raw() -> None:
    bits = np.random.default_rng(1).integers(0, 2**32, 50000, dtype=np.uint32)
    _, chosen = _roundtrip({"noise": torch.from_numpy(bits.view(np.float32).copy())})
    assert chosen["noise"] == "raw"


def test_small_tensors_stay_raw() -> None:
    """Below PLANES_MIN_NUMEL elements (biases, norms) planes would save little; raw loads
    without decoding. From there on the same values are coded."""
    values = _trained_like(encodings.PLANES_MIN_NUMEL)
    _, chosen = _roundtrip({"small": values[:-1].clone(), "large": values})
    assert chosen == {"small": "raw", "large": "planes"}


def test_choice_sizes_planes_without_trial_encodings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the chosen encoding is encoded: one plane-coding call, no other stream."""
    streams, planes = [], []
    real_planes = codec.planes_encode
    monkeypatch.setattr(codec, "huffman_encode", lambda symbols, *a, **k: streams.append(symbols.size))
    monkeypatch.setattr(codec, "planes_encode", lambda e, **k: planes.append(e.size) or real_planes(e, **k))
    flat = _trained_like(100000).numpy()
    encoded = encodings.encode_tensor(flat, DTYPES["float32"])
    assert encoded.encoding == "planes"
    assert planes == [100000] and streams == []
    assert any(encoded.plane_streams)


@pytest.fixture(scope="module")
def trained_lenet() -> dict[str, torch.Tensor]:
    """LeNet-300-100 after one epoch on 10,000 MNIST images (the embedded subset): real dense trained weights."""
    from pycodec.data import load_split
    from pycodec.models import get_model

    torch.manual_seed(0)
    split = load_split("embedded", train=True).subset(10000)  # in the repository: always there
    model = get_model("lenet-300-100")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for start in range(0, len(split), 100):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(split.images[start : start + 100]),
                                                 split.labels[start : start + 100])
        loss.backward()
        optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_trained_float32_layers_become_planes_and_shrink(trained_lenet: dict[str, torch.Tensor]) -> None:
    loaded, chosen = _roundtrip(trained_lenet)
    weights = [name for name, t in trained_lenet.items() if t.numel() >= 10000]
    assert weights and all(chosen[name] == "planes" for name in weights)
    assert all(_bytes(loaded[k]) == _bytes(v) for k, v in trained_lenet.items())
    raw = sum(v.numel() * 4 for v in trained_lenet.values())
    assert len(pycodec.save_bytes(trained_lenet)) < 0.92 * raw


def test_trained_bfloat16_round_trips_and_shrinks(trained_lenet: dict[str, torch.Tensor]) -> None:
    state = {k: v.bfloat16() for k, v in trained_lenet.items()}
    loaded, _ = _roundtrip(state)
    assert all(_bytes(loaded[k]) == _bytes(v) for k, v in state.items())
    assert len(pycodec.save_bytes(state)) < 0.8 * sum(v.numel() * 2 for v in state.values())


# ----------------------------------------------------------------- malformed planes


def _generator():
    spec = importlib.util.spec_from_file_location("dcz_vectors_generate_planes", VECTORS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()


@pytest.mark.parametrize(("options", "message"), [
    ({"dtype": "int32"}, "not allowed for int32"),
    ({"coded": "hrr"}, "plane_streams has 3 entries"),
    ({"plane": (1, b"\x00\x00\x00")}, "planes section of"),
    ({"streams": [5, 0, 0, 3]}, "planes section of"),
    ({"plane": (0, codec.huffman_encode(np.zeros(2, np.uint16)))}, "16-bit symbols, expected 8"),
    ({"plane": (3, codec.huffman_encode(np.array([0x3F, 0x40, 0x40], np.uint8)))}, "3 symbols, over the limit of 2"),
    ({"plane": (3, codec.huffman_encode(np.array([0x3F], np.uint8)))}, "1 symbols for 2 elements"),
    ({"plane": (3, codec.huffman_encode(np.array([0x3F, 0x40], np.uint8))[:-1])}, "plane 3 stream"),
])  # fmt: skip
@pytest.mark.parametrize("from_file", [False, True])
def test_malformed_planes_are_rejected(options: dict, message: str, from_file: bool, tmp_path) -> None:
    data = GENERATOR.assemble([GENERATOR._planes_neg(**options)])
    (tmp_path / "bad.dcz").write_bytes(data)
    with pytest.raises(MalformedFileError, match=message):
        pycodec.load(tmp_path / "bad.dcz") if from_file else pycodec.load_bytes(data)


def test_well_formed_planes_file_loads() -> None:
    """The negative cases' builder, unbroken: the rejections above are about the breakage."""
    loaded = pycodec.load_bytes(GENERATOR.assemble([GENERATOR._planes_neg()]))
    assert loaded["w"].tolist() == [1.0, 2.0]


def test_plane_streams_outside_the_header_rules_are_rejected() -> None:
    entry, payloads = GENERATOR._planes_neg()
    for bad in ([], [0] * 9, [-1, 0, 0, 0], [0, 0, 0, 2**48 + 1], "0000", [True, 0, 0, 0]):
        data = GENERATOR.assemble([({**entry, "plane_streams": bad}, payloads)])
        with pytest.raises(MalformedFileError, match="plane_streams"):
            pycodec.load_bytes(data)


# ----------------------------------------------------------------- budget


def test_decoded_planes_count_against_the_budget() -> None:
    """Output plus every decoded plane but the first, which decodes into the output itself
    (they are joined at once): numel * (4 + coded - 1) bytes for float32; raw planes are
    read in place."""
    # bfloat16 values in float32: the two low planes are constant, coded as single symbols
    flat = (_trained_like(50000).numpy().view(np.uint32) & 0xFFFF0000).view(np.float32)
    encoded = encodings._code_planes(encodings._planes_work(flat, DTYPES["float32"], [0] * 4), flat.nbytes)
    coded = sum(1 for n in encoded.plane_streams if n)
    assert coded >= 3  # one decodes into the output, the others into buffers of their own
    need = flat.nbytes + (coded - 1) * flat.size
    data = pycodec.save_bytes({"w": torch.from_numpy(flat)})
    with pytest.raises(LimitExceededError):
        pycodec.load_bytes(data, max_decoded_bytes=need - 1)
    loaded = pycodec.load_bytes(data, max_decoded_bytes=need)
    assert _bytes(loaded["w"]) == flat.tobytes()
    with pytest.raises(LimitExceededError):
        _decode(encoded, "float32", flat.size, budget=(coded - 1) * flat.size - 1)


# ----------------------------------------------------------------- the native plane encoder


def _reference_section(elements: np.ndarray, mask: int) -> tuple[bytes, tuple[int, ...]]:
    """spec/dcz.md 5.7 written out: split into little-endian planes, Huffman-code the masked
    ones, keep a stream only where it saves at least numel // 128 + 2 bytes (W5)."""
    width = elements.dtype.itemsize
    planes = np.ascontiguousarray(elements.astype(elements.dtype.newbyteorder("<")).view(np.uint8)
                                  .reshape(-1, width).T)
    parts, lengths = [], []
    for k, plane in enumerate(planes):
        stream = codec.huffman_encode(plane) if mask >> k & 1 else None
        keep = stream is not None and len(stream) + plane.size // 128 + 2 <= plane.size
        parts.append(stream if keep else plane.tobytes())
        lengths.append(len(stream) if keep else 0)
    return b"".join(parts), tuple(lengths)


@pytest.mark.parametrize("width", [1, 2, 4, 8])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_planes_encode_matches_the_spec_written_out(width: int, threads: int) -> None:
    rng = np.random.default_rng(width * 10 + threads)
    floats = {1: None, 2: np.float16, 4: np.float32, 8: np.float64}[width]
    dense = rng.standard_normal(70_000) * 0.05
    elements = (dense.astype(floats).view(f"u{width}") if floats else rng.integers(0, 9, 70_000).astype(np.uint8))
    for mask in (0, (1 << width) - 1, 1 << (width - 1), rng.integers(0, 1 << width)):
        got = codec.planes_encode(elements, plane_mask=int(mask), threads=threads)
        assert got == _reference_section(elements, int(mask))


@pytest.mark.parametrize("width", [2, 4, 8])
@pytest.mark.parametrize("numel", [1, 15, 17, 70_003, 262_147])
def test_planes_encode_splits_every_range_and_tail_as_the_spec_says(width: int, numel: int) -> None:
    """The one-pass split (16 elements at a time, element ranges on threads, a scalar tail)
    gives the planes of the spec for raw and coded planes alike."""
    rng = np.random.default_rng(numel + width)
    floats = {2: np.float16, 4: np.float32, 8: np.float64}[width]
    weights = (rng.standard_normal(numel) * 0.05).astype(floats).view(f"u{width}")
    noise = rng.integers(0, 1 << 63, numel, dtype=np.uint64).astype(f"u{width}")
    for elements in (weights, noise):
        for threads in (1, 2, 3):
            for mask in (0, (1 << width) - 1, 1 << (width - 1), 0b101 & ((1 << width) - 1)):
                got = codec.planes_encode(elements, plane_mask=mask, threads=threads)
                assert got == _reference_section(elements, mask), (threads, mask)


def test_planes_encode_reads_big_endian_elements_as_their_values() -> None:
    values = (np.random.default_rng(3).standard_normal(5000) * 0.1).astype(np.float32).view(np.uint32)
    assert codec.planes_encode(values.astype(">u4"), plane_mask=0b1100) == codec.planes_encode(values, plane_mask=0b1100)


def test_planes_encode_of_tiny_and_constant_planes_keeps_every_spill_out_of_the_next_plane() -> None:
    # Single-symbol streams are a few bytes: a spill from one could reach two planes on.
    elements = np.full(4096, 0x3F800000, np.uint32)
    elements[::7] = 0x3F800001
    for threads in (1, 4):
        assert codec.planes_encode(elements, plane_mask=0b1111, threads=threads) == _reference_section(elements, 0b1111)


@pytest.mark.parametrize("width", [1, 2, 4, 8])
@pytest.mark.parametrize("numel", [1, 4095, 4096, 70_003])
def test_planes_encode_from_counts_taken_ahead_gives_the_same_section(width: int, numel: int) -> None:
    """The writer's statistics count 1-byte planes per encoder segment; handed those counts,
    the encoder codes from them (not counting again) and writes the same bytes."""
    rng = np.random.default_rng(numel * 10 + width)
    floats = {1: None, 2: np.float16, 4: np.float32, 8: np.float64}[width]
    elements = ((rng.standard_normal(numel) * 0.05).astype(floats).view(f"u{width}") if floats
                else rng.geometric(0.3, numel).astype(np.uint8))
    counted = codec._count_planes(elements)
    segments = 4 if numel >= 4096 else 1
    assert counted.histograms.shape == (width, segments, 256)
    assert np.array_equal(counted.histograms.sum(axis=1), codec.plane_histograms(elements))
    for threads in (1, 3):
        for mask in (0, (1 << width) - 1, 1 << (width - 1)):
            got = codec.planes_encode(elements, plane_mask=mask, threads=threads, counted=counted)
            assert got == codec.planes_encode(elements, plane_mask=mask, threads=threads), (threads, mask)


def _coder_cases() -> list[tuple[np.ndarray, int, object]]:
    """(elements, plane_mask, counted) of every width, masks and sizes, counts ahead or not."""
    rng = np.random.default_rng(40)
    cases: list[tuple[np.ndarray, int, object]] = []
    for width, floats in ((1, None), (2, np.float16), (4, np.float32), (8, np.float64)):
        for numel in (1, 4096, 70_003):
            elements = ((rng.standard_normal(numel) * 0.05).astype(floats).view(f"u{width}") if floats
                        else rng.geometric(0.3, numel).astype(np.uint8))
            counted = codec._count_planes(elements) if width == 1 else None
            cases += [(elements, (1 << width) - 1, counted), (elements, 1 << (width - 1), None)]
    return cases


def test_a_planes_coder_gives_planes_encode_sections_in_any_order_taken() -> None:
    """Queued on the coder's own thread, every section and its stream lengths are those of
    planes_encode; results are taken in another order than submitted."""
    cases = _coder_cases()
    with codec.PlanesCoder() as coder:
        jobs = [coder.submit(elements, plane_mask=mask, counted=counted) for elements, mask, counted in cases]
        for job in reversed(jobs):
            elements, mask, counted = cases[job]
            section, lengths = coder.result(job)
            assert (section.tobytes(), lengths) == codec.planes_encode(elements, plane_mask=mask, counted=counted), job


def test_a_planes_coder_refuses_what_planes_encode_refuses_and_results_taken_twice() -> None:
    elements = np.random.default_rng(41).integers(0, 9, 10_000).astype(np.uint8)
    with codec.PlanesCoder() as coder:
        with pytest.raises(CodecError, match="unsigned integer array"):
            coder.submit(elements.astype(np.float32), plane_mask=1)
        with pytest.raises(CodecError, match="plane_mask"):
            coder.submit(elements, plane_mask=2)
        with pytest.raises(CodecError, match="plane counts were made for other elements"):
            coder.submit(elements.copy(), plane_mask=1, counted=codec._count_planes(elements))
        job = coder.submit(elements, plane_mask=1)
        coder.result(job)
        with pytest.raises(CodecError, match="no such job"):
            coder.result(job)
        with pytest.raises(CodecError, match="no such job"):
            coder.result(job + 1)
    with pytest.raises(CodecError, match="closed"):
        coder.submit(elements, plane_mask=1)


def test_a_planes_coder_reports_elements_changed_after_their_counts() -> None:
    elements = np.random.default_rng(5).geometric(0.5, 20_000).astype(np.uint8)
    counted = codec._count_planes(elements)
    elements[:2000] = elements.max()
    with codec.PlanesCoder() as coder:
        job = coder.submit(elements, plane_mask=1, counted=counted)
        with pytest.raises(DataChangedError):
            coder.result(job)


def test_jobs_dropped_from_a_planes_coder_are_not_waited_on_and_it_codes_on() -> None:
    big = (np.random.default_rng(43).standard_normal(2_000_000) * 0.05).astype(np.float32).view(np.uint32)
    small = big[:50_000]
    with codec.PlanesCoder() as coder:
        jobs = [coder.submit(big, plane_mask=15) for _ in range(20)]
        for job in jobs:
            coder.drop(job)
        with pytest.raises(CodecError, match="no such job"):
            coder.result(jobs[0])
        section, lengths = coder.result(coder.submit(small, plane_mask=15))
        assert (section.tobytes(), lengths) == codec.planes_encode(small, plane_mask=15)


def test_a_planes_coder_closed_with_jobs_queued_drops_them_and_returns() -> None:
    """Closing (as after an error elsewhere in a save) waits for the job being coded only;
    dropping a coder without closing it does the same."""
    big = (np.random.default_rng(42).standard_normal(2_000_000) * 0.05).astype(np.float32).view(np.uint32)
    coder = codec.PlanesCoder()
    for _ in range(50):
        coder.submit(big, plane_mask=15)
    coder.close()
    with pytest.raises(CodecError, match="no such job|closed"):
        coder.result(49)
    dropped = codec.PlanesCoder()
    for _ in range(50):
        dropped.submit(big, plane_mask=15)
    del dropped


def test_counts_taken_ahead_are_refused_for_other_elements() -> None:
    elements = np.random.default_rng(4).integers(0, 9, 10_000).astype(np.uint8)
    counted = codec._count_planes(elements)
    for other in (elements.copy(), elements[:5000], elements.view(np.uint16)):
        with pytest.raises(CodecError, match="plane counts were made for other elements"):
            codec.planes_encode(other, plane_mask=1, counted=counted)
    with pytest.raises(CodecError, match="counted must be plane counts"):
        codec.planes_encode(elements, plane_mask=1, counted=counted.histograms)  # type: ignore[arg-type]


def test_elements_changed_after_their_counts_are_reported() -> None:
    """Counts are of the elements as they were (as when another thread writes a tensor
    while it is coded): a segment that codes to another size raises DataChangedError."""
    elements = np.random.default_rng(5).geometric(0.5, 20_000).astype(np.uint8)
    counted = codec._count_planes(elements)
    elements[:2000] = elements.max()  # the rarest symbol: the first segment codes longer
    with pytest.raises(DataChangedError):
        codec.planes_encode(elements, plane_mask=1, counted=counted)


def test_symbols_without_a_code_in_a_kept_pair_table_are_reported_not_crashed_on() -> None:
    """A thread keeps its pair table between streams and rewrites only the rows of symbols
    with a code: a symbol that turns up without one (the elements changed after counting)
    meets a stale row of an earlier code and codes to another size, which is reported."""
    rng = np.random.default_rng(6)
    earlier = rng.integers(0, 256, 50_000).astype(np.uint8)  # every row written by some code
    codec.planes_encode(earlier, plane_mask=1)
    elements = rng.geometric(0.4, 50_000).astype(np.uint8)
    alone = codec.planes_encode(elements, plane_mask=1)
    assert codec.planes_encode(elements.copy(), plane_mask=1) == alone  # stale rows are never read
    counted = codec._count_planes(elements)
    elements[::3] = 255  # no code has it: read from a stale row
    with pytest.raises(DataChangedError):
        codec.planes_encode(elements, plane_mask=1, counted=counted)


@pytest.mark.parametrize("numel", [40_000, 300_000])
def test_streams_coded_one_after_another_on_a_thread_match_fresh_ones(numel: int) -> None:
    """Each stream's pair table reuses the rows of the one before on its thread: coding
    another alphabet in between changes no byte, and every stream decodes to its symbols."""
    rng = np.random.default_rng(numel)
    narrow = rng.geometric(0.5, numel).astype(np.uint8)
    wide = (rng.standard_normal(numel) * 40 + 128).clip(0, 255).astype(np.uint8)
    first = codec.huffman_encode(narrow)
    codec.huffman_encode(wide)
    assert codec.huffman_encode(narrow) == first
    assert np.array_equal(codec.huffman_decode(first, max_symbols=numel), narrow)
    assert np.array_equal(codec.huffman_decode(codec.huffman_encode(wide), max_symbols=numel), wide)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"elements": np.zeros(8, np.float32), "plane_mask": 1}, "unsigned integer array"),
    ({"elements": np.zeros(8, np.uint32), "plane_mask": 16}, "plane_mask"),
    ({"elements": np.zeros(8, np.uint32), "plane_mask": 1, "threads": 0}, "threads"),
    ({"elements": np.zeros(8, np.uint32), "plane_mask": 1, "max_code_length": 17}, "max_code_length"),
])
def test_planes_encode_refuses_bad_arguments(arguments: dict, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        codec.planes_encode(**arguments)


@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_planes_join_is_the_inverse_of_splitting(width: int) -> None:
    data = np.random.default_rng(width).integers(0, 256, 3001 * width).astype(np.uint8)
    planes = list(np.ascontiguousarray(data.reshape(-1, width).T))
    assert np.array_equal(codec.planes_join(planes), data)


@pytest.mark.parametrize(("planes", "message"), [
    ([np.zeros(4, np.uint8)] * 3, "1, 2, 4 or 8"),
    ([np.zeros(4, np.uint8), np.zeros(5, np.uint8)], "equal length"),
    ([np.zeros(4, np.uint16)] * 2, "uint8"),
    ([], "1, 2, 4 or 8"),
])
def test_planes_join_refuses_planes_that_do_not_fit(planes: list, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        codec.planes_join(planes)


# ----------------------------------------------------------------- W5 and the native decoder


def test_a_plane_is_coded_only_when_it_saves_a_128th() -> None:
    assert codec.plane_worth_coding(1000 - 1000 // 128 - 2, 1000)
    assert not codec.plane_worth_coding(1000 - 1000 // 128 - 1, 1000)
    assert not codec.plane_worth_coding(0, 1)  # nothing is worth coding in a 1-byte plane


def test_a_plane_that_barely_shrinks_is_stored_raw() -> None:
    # like a trained float's high mantissa byte: near uniform, a few values a little more
    # frequent; Huffman saves ~0.25% of it, under the 1/128 a coded plane must save
    rng = np.random.default_rng(5)
    elements = rng.integers(0, 1 << 32, 400_000, dtype=np.uint32)
    elements[rng.random(elements.size) < 0.02] &= 0xFF00FFFF  # plane 2: 2% extra zeros
    elements &= 0x0FFFFFFF  # plane 3: 16 values, 4 bits of entropy
    plane = elements.view(np.uint8).reshape(-1, 4)[:, 2].copy()
    assert plane.size - plane.size // 128 - 2 < len(codec.huffman_encode(plane)) < plane.size
    _, lengths = codec.planes_encode(elements, plane_mask=0b1111)
    assert lengths[:3] == (0, 0, 0) and lengths[3] > 0


def _parsed_planes(section: bytes, lengths: tuple[int, ...], numel: int) -> list:
    planes, start = [], 0
    for length in lengths:
        part = np.frombuffer(section, np.uint8)[start:start + (length or numel)]
        planes.append(codec.huffman_parse(part, max_symbols=numel) if length else part)
        start += length or numel
    return planes


@pytest.mark.parametrize("width", [1, 2, 4, 8])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_planes_decode_inverts_planes_encode(width: int, threads: int) -> None:
    rng = np.random.default_rng(width + threads)
    floats = {1: None, 2: np.float16, 4: np.float32, 8: np.float64}[width]
    numel = 300_001  # odd: threads split substreams and the join unevenly
    elements = ((rng.standard_normal(numel) * 0.05).astype(floats).view(f"u{width}") if floats
                else rng.integers(0, 9, numel).astype(np.uint8))
    for mask in (0, (1 << width) - 1, 1 << (width - 1)):
        section, lengths = codec.planes_encode(elements, plane_mask=mask)
        joined = codec.planes_decode(_parsed_planes(section, lengths, numel), numel, threads=threads)
        assert joined.tobytes() == elements.astype(elements.dtype.newbyteorder("<")).tobytes()


def test_threaded_work_from_several_callers_at_once_gives_each_its_own_result() -> None:
    """The core's worker threads are kept between calls and serve one caller at a time;
    a caller that finds them busy (another Python thread's decode, or a call nested in
    one) starts threads of its own: every result is still its own."""
    rng = np.random.default_rng(12)
    cases = []
    for k in range(4):
        elements = (rng.standard_normal(200_000 + k) * 0.05).astype(np.float32).view(np.uint32)
        section, lengths = codec.planes_encode(elements, plane_mask=0b1100, threads=2)
        cases.append((elements, _parsed_planes(section, lengths, elements.size)))

    def decode_all(round_: int) -> bool:
        return all(codec.planes_decode(planes, elements.size, threads=1 + (round_ + k) % 4).tobytes() == elements.tobytes()
                   for k, (elements, planes) in enumerate(cases))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(decode_all, range(24)))


def test_planes_decode_names_the_corrupt_plane() -> None:
    numel = 100_000
    elements = (np.random.default_rng(6).standard_normal(numel) * 0.05).astype(np.float32).view(np.uint32)
    section, lengths = codec.planes_encode(elements, plane_mask=0b1000)
    corrupt = bytearray(section)
    corrupt[-1] ^= 0xFF  # the last substream's last byte: its padding or its codes break
    planes = _parsed_planes(bytes(corrupt), lengths, numel)
    with pytest.raises(CodecError, match="plane 3 stream"):
        codec.planes_decode(planes, numel, threads=2)


def test_planes_decode_rejects_mismatched_planes() -> None:
    with pytest.raises(CodecError, match="1, 2, 4 or 8"):
        codec.planes_decode([np.zeros(4, np.uint8)] * 3, 4)
    with pytest.raises(CodecError, match="count bytes"):
        codec.planes_decode([np.zeros(4, np.uint8), np.zeros(5, np.uint8)], 4)
    stream = codec.huffman_parse(np.frombuffer(codec.huffman_encode(np.zeros(9, np.uint8)), np.uint8), max_symbols=9)
    with pytest.raises(CodecError, match="8-bit symbols"):
        codec.planes_decode([stream, np.zeros(4, np.uint8)], 4)


def test_large_outputs_own_their_memory_past_the_file_and_every_other_reference(tmp_path) -> None:
    """From 4 MiB the core allocates outputs itself (plain pages, not numpy's huge-page
    advice): they stay valid, writable and alive for as long as a tensor uses them."""
    import gc

    weights = (torch.randn(1536, 1024, generator=torch.Generator().manual_seed(8)) * 0.05)  # 6 MiB
    raw = torch.randn(1200, 1024, generator=torch.Generator().manual_seed(9)).to(torch.int32)  # raw: read
    pycodec.save({"w": weights, "r": raw}, tmp_path / "m.dcz")
    expected_w, expected_r = weights.clone(), raw.clone()
    loaded = pycodec.load(tmp_path / "m.dcz")
    w, r = loaded["w"], loaded["r"]
    del loaded
    gc.collect()
    churn = [torch.empty(1 << 20) for _ in range(16)]  # reuse any memory freed too early
    del churn
    assert torch.equal(w, expected_w) and torch.equal(r, expected_r)
    w.add_(1)  # writable
    assert torch.equal(w, expected_w + 1)
    for n in (0, 1, 4 << 20, (4 << 20) + 3):
        array = codec.empty_bytes(n)
        assert array.shape == (n,) and array.dtype == np.uint8 and array.flags.writeable
        array[:] = 7
        assert int(array.sum()) == 7 * n


def _decode_section(section: bytes, lengths, count: int, threads: int) -> np.ndarray:
    planes, start = [], 0
    for length in lengths:
        stop = start + (length or count)
        chunk = np.frombuffer(section, np.uint8)[start:stop]
        planes.append(codec.huffman_parse(chunk, max_symbols=count) if length else chunk)
        start = stop
    return codec.planes_decode(planes, count, threads=threads)


@pytest.mark.parametrize("width", [2, 4, 8])
@pytest.mark.parametrize("count", [1, 2, 15, 16, 17, 31, 33, 47, 64, 1000, 70_001, 300_000])
def test_a_coded_plane_decoded_into_the_output_joins_exactly(width: int, count: int) -> None:
    """The first coded plane decodes into the output's tail and the join runs over it:
    every mask of coded planes, one thread and two (the join's parallel part stops short
    of the tail), lone and several coded planes, a constant (single-symbol) plane."""
    rng = np.random.default_rng(width * count)
    columns = [rng.geometric(0.3, count).clip(0, 255).astype(np.uint8) for _ in range(width)]
    columns[width - 1][:] = 0x3C  # a constant plane: a single-symbol stream when coded
    columns[0] = rng.integers(0, 256, count, dtype=np.uint8)  # random: coded only when forced
    elements = np.stack(columns, axis=1).reshape(-1).view(f"<u{width}")
    masks = range(1, 1 << width) if width <= 4 else (1, 2, 0x80, 0x81, 0x42, 0xFF, 0x7E)
    for mask in masks:
        section, lengths = codec.planes_encode(elements, plane_mask=mask, threads=1)
        for threads in (1, 2):
            decoded = _decode_section(section, lengths, count, threads)
            assert decoded.tobytes() == elements.tobytes(), (mask, threads)

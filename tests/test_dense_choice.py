"""The core's choice for tensors no zstd frame can win (encodings.choose_dense): where it
decides, the encoding and bytes the Python choice gives; where another encoding might
win, it leaves the tensor to the Python choice."""

from __future__ import annotations

import threading
import zlib
from concurrent.futures import Future

import numpy as np
import pytest
import torch

import pycodec
from pycodec import _core, torch_adapter
from pycodec.errors import CodecError
from pycodec.format import choice, encodings, writer
from pycodec.format.dtypes import DTYPES
from pycodec.format.encodings import EncodedTensor

SIZES = [0, 1, 100, 1023, 1024, 1025, 2047, 2048, 4095, 4096, 4097, 12_288, 32_767, 32_768, 32_769, 49_153, 70_001]
KINDS = ["trained", "pruned", "shared", "constant", "zeros", "nan", "mostly_zero", "uniform", "shared_pruned", "rounded"]
TORCH_DTYPES = ["float64", "float32", "bfloat16", "float16", "float8_e4m3fn", "float8_e5m2", "int8", "int16", "int32", "bool"]


def _values(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(n) * rng.choice([1e-3, 0.05, 1.0, 300.0])
    if kind == "pruned":
        x[rng.random(n) < rng.random()] = 0
    elif kind == "shared":
        x = rng.choice(rng.standard_normal(int(rng.integers(1, 300))), n)
    elif kind == "constant":
        x[:] = 0.37
    elif kind == "zeros":
        x[:] = 0
    elif kind == "nan":  # NaNs and negative zeros: distinct bit patterns, not zeros
        x[rng.random(n) < 0.3] = np.nan
        x[rng.random(n) < 0.1] = -0.0
    elif kind == "mostly_zero":
        x[rng.random(n) < 0.97] = 0
    elif kind == "uniform":
        x = rng.random(n)
    elif kind == "shared_pruned":
        x = rng.choice(rng.standard_normal(16), n)
        x[rng.random(n) < 0.9] = 0
    elif kind == "rounded":
        x = np.round(x * 10)
    return x


def _flat(tensor: torch.Tensor) -> tuple[np.ndarray, object]:
    stored = torch_adapter.to_stored({"t": tensor})["t"]
    dtype = DTYPES[stored.dtype]
    return np.ascontiguousarray(stored.array).reshape(-1).view(dtype.storage), dtype


def _as_dtype(values: np.ndarray, name: str) -> torch.Tensor:
    tensor = torch.from_numpy(values)
    dtype = getattr(torch, name)
    return tensor.to(dtype) if dtype.is_floating_point else tensor.nan_to_num(0).to(dtype)


def _same(a: EncodedTensor, b: EncodedTensor) -> bool:
    def raw(payload):
        return bytes(memoryview(payload).cast("B"))
    return (a.encoding, a.plane_streams, a.index_bits, sorted(a.payloads)) == \
        (b.encoding, b.plane_streams, b.index_bits, sorted(b.payloads)) and \
        all(raw(a.payloads[k]) == raw(b.payloads[k]) for k in a.payloads)


@pytest.mark.parametrize("name", TORCH_DTYPES)
def test_where_the_core_decides_it_picks_the_python_choice_byte_for_byte(name: str) -> None:
    rng = np.random.default_rng(sum(map(ord, name)))
    items = [_flat(_as_dtype(_values(n, kind, rng), name)) for n in SIZES for kind in KINDS]
    native = encodings.choose_dense(items, threads=2)
    decided = 0
    for (flat, dtype), found in zip(items, native):
        if found is None:
            continue
        decided += 1
        assert _same(found, encodings.choose_encoding(flat, dtype, probe=lambda: None).encode()), (flat.size, dtype)
    assert decided >= len(items) // 4


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16", "float8_e4m3fn", "float64"])
def test_dense_trained_weights_are_decided_natively_and_pruned_or_shared_ones_left_to_python(name: str) -> None:
    rng = np.random.default_rng(5)
    trained = _flat(_as_dtype(rng.standard_normal(40_000) * 0.05, name))
    shared = _flat(_as_dtype(rng.choice(rng.standard_normal(8), 40_000), name))
    pruned = _flat(_as_dtype(np.where(rng.random(40_000) < 0.9, 0.0, rng.standard_normal(40_000)), name))
    found = encodings.choose_dense([trained, shared, pruned], threads=1)
    assert found[0] is not None and found[0].encoding == "planes"
    assert found[2] is None  # sparse_raw (and sparse) may win: sized in Python
    if DTYPES[name].codebook_ok:
        assert found[1] is None  # a codebook may win
    else:  # float8 has no codebook: its few values are a plane's few symbols
        assert found[1].encoding == "planes"


def test_the_result_does_not_depend_on_threads_or_on_coding_big_tensors_apart() -> None:
    rng = np.random.default_rng(7)
    items = [_flat(_as_dtype(rng.standard_normal(n) * 0.05, name))
             for n in (3000, 50_000, 200_000) for name in ("float32", "bfloat16", "float8_e4m3fn")]
    jobs = [(flat.view(dtype.bits_dtype), dtype.planes_ok, dtype.codebook_ok, encodings.planes_header_bytes(dtype.itemsize))
            for flat, dtype in items]
    runs = [_core.choose_dense(jobs, encodings._dense_rules(), threads, parallel_from)
            for threads in (1, 2, 5) for parallel_from in (0, 1 << 62)]
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            assert a[0] == b[0] and a[2] == b[2] and a[3] == b[3]
            assert a[1] is None and b[1] is None or bytes(a[1]) == bytes(b[1])


def test_the_core_takes_the_python_choices_thresholds_at_each_call(monkeypatch) -> None:
    """One source for both choices: a threshold changed on the Python side moves the core's."""
    flat, dtype = _flat(torch.randn(2000) * 0.05)
    assert encodings.choose_dense([(flat, dtype)], threads=1)[0].encoding == "planes"
    monkeypatch.setattr(encodings, "PLANES_MIN_NUMEL", 4096)
    found = encodings.choose_dense([(flat, dtype)], threads=1)[0]
    assert found.encoding == "raw" and _same(found, encodings.choose_encoding(flat, dtype, probe=lambda: None).encode())


def test_elements_of_16_bytes_are_left_to_python() -> None:
    items = [_flat(torch.randn(3000, dtype=torch.complex128)), _flat(torch.randn(3000) * 0.05)]
    found = encodings.choose_dense(items, threads=1)
    assert found[0] is None and found[1].encoding == "planes"


def _a_job() -> tuple:
    return (np.zeros(10, np.uint32), True, True, 35)


@pytest.mark.parametrize("jobs, rules, threads, message", [
    ([_a_job()], encodings._dense_rules(), 0, "threads"),
    ([_a_job()[:3]], encodings._dense_rules(), 1, "each job"),
    ([(np.zeros(10, np.int32), True, True, 35)], encodings._dense_rules(), 1, "unsigned"),
    ([(np.zeros((2, 5), np.uint32), True, True, 35)], encodings._dense_rules(), 1, "1-D"),
    ([(np.zeros(20, np.uint32)[::2], True, True, 35)], encodings._dense_rules(), 1, "contiguous"),
    ([(np.zeros(3, np.dtype("V16")), True, True, 35)], encodings._dense_rules(), 1, "unsigned"),
    ([_a_job()], encodings._dense_rules()[:11], 1, "12 thresholds"),
    ([_a_job()], (*encodings._dense_rules()[:9], 17, *encodings._dense_rules()[10:]), 1, "max_code_length"),
    ([_a_job()], (*encodings._dense_rules()[:8], 70_000, *encodings._dense_rules()[9:]), 1, "max_codebook_size"),
    ([_a_job()], (*encodings._dense_rules()[:10], 0, 0.99), 1, "repeat_sample"),
])
def test_bad_arguments_are_codec_errors(jobs, rules, threads, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        _core.choose_dense(jobs, rules, threads, 1 << 24)


def _dense_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(11)
    weights = {f"w{i}": torch.randn(300 * 4 ** i) * 0.05 for i in range(5)}
    return weights | {
        "half": weights["w3"].to(torch.bfloat16), "f16": weights["w2"].to(torch.float16),
        "f8": weights["w4"].to(torch.float8_e4m3fn), "norm": 1 + torch.randn(64) * 0.01, "zeros": torch.zeros(256),
        "shared": torch.tensor([-0.5, 0.25, 1.0])[torch.randint(0, 3, (5000,))],
        "basis": torch.cos(torch.outer(torch.arange(64.0), torch.arange(256.0)) * 0.05),
        "labels": torch.randint(0, 9, (20_000,)), "tied": weights["w1"]}


@pytest.mark.parametrize("pool_from", [0, 1 << 62])
def test_a_save_through_the_core_is_the_save_of_the_python_choice(monkeypatch, pool_from: int) -> None:
    state = _dense_state()
    monkeypatch.setattr(writer, "ENCODE_PARALLEL_FROM_BYTES", pool_from)
    decided: list[str] = []
    real = writer._encode_natively
    monkeypatch.setattr(writer, "_encode_natively", lambda flats, gate: decided.extend(
        done := real(flats, gate)) or done)
    saved = pycodec.save_bytes(state)
    assert {"w1", "w2", "w3", "w4", "half", "f16", "f8", "norm"} <= set(decided)
    assert not {"shared", "basis", "labels", "tied"} & set(decided)
    monkeypatch.setattr(writer, "_encode_natively", lambda flats, gate: {})
    assert saved == pycodec.save_bytes(state)
    loaded = pycodec.load_bytes(saved)
    assert all(torch.equal(loaded[k].view(torch.uint8), v.view(torch.uint8)) for k, v in state.items())



@pytest.mark.parametrize("name", TORCH_DTYPES)
def test_the_cores_probe_gate_is_the_python_one(name: str) -> None:
    rng = np.random.default_rng(3)
    basis = np.cos(np.outer(np.arange(64.0), np.arange(256.0)) * 0.05).reshape(-1)
    rows = np.tile(rng.standard_normal(300), 40)  # repeated rows: words repeat where rows align
    items = [_flat(_as_dtype(values, name)) for values in
             [_values(n, kind, rng) for n in SIZES for kind in KINDS] + [basis, rows, basis[:600], rows[3:]]]
    expected = [bool(flat.size) and encodings.worth_probing(flat, dtype) for flat, dtype in items]
    assert encodings.worth_probing_all(items) == expected
    if DTYPES[_flat(_as_dtype(basis, name))[1].name].planes_ok:
        assert expected[-4] and not expected[0]  # a basis is probed, trained weights are not


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float8_e4m3fn"])
def test_the_cores_checksums_are_those_of_the_sections(name: str) -> None:
    rng = np.random.default_rng(4)
    items = [_flat(_as_dtype(rng.standard_normal(n) * 0.05, name)) for n in (10, 3000, 70_000)]
    for found in encodings.choose_dense(items, threads=2):
        (role, payload), = found.payloads.items()
        assert found.checksums == {role: zlib.crc32(memoryview(payload).cast("B"))}


def _dense_jobs() -> list[tuple]:
    rng = np.random.default_rng(8)
    items = [_flat(_as_dtype(rng.standard_normal(n) * 0.05, "float32")) for n in (5000, 20_000, 60_000, 3000, 800)]
    return [(flat.view(dtype.bits_dtype), dtype.planes_ok, dtype.codebook_ok, encodings.planes_header_bytes(4))
            for flat, dtype in items]


def _outcomes(found: list) -> list:
    return [(f[0], None if f[1] is None else bytes(f[1]), f[2], f[3]) for f in found]


def test_a_gate_never_opened_leaves_the_work_to_the_caller_and_one_opened_late_lets_the_others_in() -> None:
    jobs = _dense_jobs()
    expected = _outcomes(_core.choose_dense(jobs, encodings._dense_rules(), 2, 1 << 62))
    closed = _core.WorkerGate()  # never opened: the other thread gives up once the caller has taken every tensor
    assert _outcomes(_core.choose_dense(jobs, encodings._dense_rules(), 2, 1 << 62, closed)) == expected
    assert not closed.opened
    late = _core.WorkerGate()
    opener = threading.Timer(0.001, late.open)
    opener.start()
    assert _outcomes(_core.choose_dense(jobs, encodings._dense_rules(), 3, 1 << 62, late)) == expected
    opener.join()


def test_the_writers_gate_opens_when_the_last_tensor_encoded_ahead_ends_however_it_ends() -> None:
    assert writer._opened_when_done([]) is None
    futures = [Future() for _ in range(3)]
    gate = writer._opened_when_done(futures)
    jobs = _dense_jobs()
    futures[0].set_result(None)
    futures[1].cancel()
    assert not gate.opened
    futures[2].set_exception(MemoryError("failed encoding"))  # the last: the others may join in
    assert gate.opened
    assert len(_core.choose_dense(jobs, encodings._dense_rules(), 2, 1 << 62, gate)) == len(jobs)


def test_where_the_bounds_call_for_sizing_a_counted_codebook_the_core_sizes_it_and_keeps_planes() -> None:
    """A million trained bfloat16 weights hold few enough bit patterns that the codebook's
    bound falls below the planes' estimate: the core sizes the codebook from the pattern
    counts, as the Python choice does, and keeps the planes that still win."""
    flat, dtype = _flat((torch.randn(1_000_000, generator=torch.Generator().manual_seed(0)) * 0.05).to(torch.bfloat16))
    stats = choice.statistics(flat, dtype, planes_ok=True)
    assert choice.needs_exact_sizing(stats, dtype, stats.planes_size(encodings.planes_header_bytes(2)))
    found = encodings.choose_dense([(flat, dtype)], threads=1)[0]
    assert found is not None and found.encoding == "planes"
    assert _same(found, encodings.choose_encoding(flat, dtype, probe=lambda: None).encode())

"""Regression tests for the codec-side defects of issue 7 (1, 9 and 10).

Defect 1: an object-dtype codebook made scatter copy PyObject* bits (use-after-free).
Defect 9: code_lengths wrapped its 64-bit sums and returned an incomplete code.
Defect 10: out-of-range or wrong-typed arguments escaped as built-in exceptions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import varint

from pycodec import _core, codec
from pycodec.errors import CodecError, DczError, LimitExceededError

# ASan (tools/sanitize.sh) aborts on allocations past 1 TiB and reserves the address
# space that RLIMIT_AS would cap: the tests that need either skip under it.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
needs_real_allocator = pytest.mark.skipif(UNDER_ASAN, reason="ASan replaces the allocator")

# ----------------------------------------------------------------- defect 1

REFUSED_CODEBOOK_DTYPES = [
    "object",
    "V8",
    "S8",
    "U2",
    "M8[ns]",
    "m8[ns]",
    "i4,i4",  # structured
]


def run_isolated(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter, so a crash fails a test instead of pytest."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("dtype", REFUSED_CODEBOOK_DTYPES)
def test_defect01_object_dtype_codebook_is_refused_not_segfault(dtype):
    # Every call must raise CodecError: from the Python wrapper and from the core itself.
    result = run_isolated(
        f"""
        import gc
        import numpy as np
        from pycodec import _core, codec
        from pycodec.errors import CodecError

        def codebook():
            if {dtype!r} == "object":
                return np.array([object() for _ in range(4)], dtype=object)
            return np.zeros(4, dtype={dtype!r})

        idx = np.array([0, 1, 2, 3], np.uint8)
        pos = np.array([0, 2, 4, 6], np.int64)
        entries = codec.relative_index_encode(pos, 4)
        calls = {{
            "codec.scatter": lambda: codec.scatter(codebook(), idx, pos, 8),
            "codec.scatter dense": lambda: codec.scatter(codebook(), idx, None, 4),
            "codec.sparse_scatter": lambda: codec.sparse_scatter(codebook(), idx, entries, 4, 8),
            "_core.scatter": lambda: _core.scatter(codebook(), idx, pos, 8),
            "_core.gather": lambda: _core.gather(codebook(), idx, 4),
            "_core.sparse_scatter": lambda: _core.sparse_scatter(codebook(), idx, entries, 4, 8),
        }}
        for name, call in calls.items():
            try:
                out = call()
            except CodecError:
                print(name, "refused")
                continue
            del out
            gc.collect()
            print(name, "accepted")
        """
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    lines = result.stdout.splitlines()
    assert len(lines) == 6 and all(line.endswith(" refused") for line in lines), result.stdout


@pytest.mark.parametrize(
    "codebook",
    [
        np.array([True, False, True]),
        np.array([-1, 7, 3], np.int8),
        np.array([0x7FC1, 0x8000, 0x3F80], np.uint16),
        np.array([np.nan, -0.0, 1.5], np.float32),
        np.array([1 + 2j, -0.0 - 1j, np.inf], np.complex64),
        np.array([-(2**62), 5, 2**62], np.int64),
    ],
)
def test_defect01_plain_codebook_kinds_still_scatter_by_bit_pattern(codebook):
    indices = np.array([2, 0, 1, 1], np.uint8)
    positions = np.array([0, 3, 4, 9])
    expected = np.zeros(10, codebook.dtype)
    expected[positions] = codebook[indices]
    dense = codec.scatter(codebook, indices, positions, 10)
    entries = codec.relative_index_encode(positions, 2)
    sparse = codec.sparse_scatter(codebook, indices, entries, 2, 10)
    for out in (dense, sparse):
        assert out.dtype == codebook.dtype
        assert out.tobytes() == expected.tobytes()


# ----------------------------------------------------------------- defect 9


def kraft_sum_in_units(lengths: np.ndarray) -> int:
    """Kraft sum of the used lengths, in units of 2**-16 (complete code: 2**16)."""
    return sum(1 << (16 - int(length)) for length in lengths if length)


def reference_lengths(counts: list[int], limit: int) -> list[int]:
    """Package-merge on Python integers (no overflow), for small alphabets."""
    used = sorted((count, symbol) for symbol, count in enumerate(counts) if count)
    lengths = [0] * len(counts)
    if len(used) == 1:
        lengths[used[0][1]] = 1
        return lengths
    leaves = [(count, (rank,)) for rank, (count, _) in enumerate(used)]
    level = list(leaves)
    for _ in range(limit - 1):
        packages = [
            (level[k][0] + level[k + 1][0], level[k][1] + level[k + 1][1])
            for k in range(0, len(level) - 1, 2)
        ]
        level = sorted(leaves + packages, key=lambda item: item[0])
    for _, members in level[: 2 * len(used) - 2]:
        for rank in members:
            lengths[used[rank][1]] += 1
    return lengths


def coded_cost(counts: list[int], lengths: np.ndarray | list[int]) -> int:
    return sum(int(c) * int(length) for c, length in zip(counts, lengths))


HUGE = 2**64 - 1


@pytest.mark.parametrize(
    "counts",
    [
        [HUGE, 1, 1],
        [HUGE, HUGE, HUGE],
        [1, HUGE, 0, 2, HUGE - 1],
        [2**63, 2**63, 1],
        [HUGE] * 5 + [1] * 5,
    ],
)
def test_defect09_code_lengths_with_counts_summing_past_2_64_are_complete_and_optimal(counts):
    for limit in (4, 11, 16):
        lengths = codec.code_lengths(np.array(counts, np.uint64), limit)
        assert kraft_sum_in_units(lengths) == 1 << 16
        assert lengths.max() <= limit
        assert all((length > 0) == (count > 0) for count, length in zip(counts, lengths))
        assert coded_cost(counts, lengths) == coded_cost(counts, reference_lengths(counts, limit))


def test_defect09_huge_counts_small_example_gives_the_obvious_code():
    assert codec.code_lengths(np.array([HUGE, 1, 1], np.uint64)).tolist() == [1, 2, 2]


def test_defect09_random_huge_counts_match_the_exact_reference():
    rng = np.random.default_rng(9)
    for _ in range(60):
        n = int(rng.integers(2, 14))
        counts = [int(c) for c in rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)]
        counts[0] = max(counts[0], 1)
        counts[1] = max(counts[1], 1)
        limit = int(rng.integers(max(1, (n - 1).bit_length()), 17))
        lengths = codec.code_lengths(np.array(counts, np.uint64), limit)
        assert kraft_sum_in_units(lengths) == 1 << 16
        assert lengths.max() <= limit
        assert coded_cost(counts, lengths) == coded_cost(counts, reference_lengths(counts, limit))


def test_defect09_full_alphabet_of_maximal_counts_stays_complete():
    counts = np.full(65536, HUGE, np.uint64)
    counts[::3] = 1
    lengths = codec.code_lengths(counts, 16)
    assert lengths.min() >= 1 and lengths.max() <= 16
    assert kraft_sum_in_units(lengths) == 1 << 16


# ----------------------------------------------------------------- defect 10

SYMBOLS = np.array([1, 2, 2, 3, 3, 3], np.uint8)
CODE = codec.build_code(SYMBOLS)
CODED = codec.encode_with_code(SYMBOLS, CODE)
STREAM = codec.huffman_encode(SYMBOLS)
BOOK = np.array([0.5, -1.0, 2.0], np.float32)
INDICES = np.array([0, 2, 1], np.uint8)
POSITIONS = np.array([1, 4, 20])
ENTRIES = codec.relative_index_encode(POSITIONS, 4)

# Each public function with valid arguments; the audit replaces one argument at a time.
VALID_CALLS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "code_lengths": (codec.code_lengths, {"counts": np.array([3, 1, 1], np.uint64), "max_code_length": 11}),
    "build_code": (codec.build_code, {"symbols": SYMBOLS, "max_code_length": 11}),
    "serialize_code": (codec.serialize_code, {"code": CODE}),
    "parse_code": (codec.parse_code, {"data": codec.serialize_code(CODE), "symbol_bits": 8}),
    "encode_with_code": (codec.encode_with_code, {"symbols": SYMBOLS, "code": CODE}),
    "decode_with_code": (codec.decode_with_code, {"data": CODED, "code": CODE, "count": 6}),
    "huffman_encode": (codec.huffman_encode, {"symbols": SYMBOLS, "max_code_length": 11}),
    "huffman_decode": (codec.huffman_decode, {"data": STREAM, "max_symbols": 100}),
    "huffman_stream_info": (codec.huffman_stream_info, {"data": STREAM}),
    "codebook_index": (codec.codebook_index, {"values": np.array([5, 3, 5], np.uint32), "max_size": 4}),
    "nonzero_scan": (codec.nonzero_scan, {"elements": np.array([0, 3, 0, 5], np.uint32), "cap": 4}),
    "huffman_parse": (codec.huffman_parse, {"data": STREAM, "max_symbols": 100}),
    "huffman_plan_size": (codec.huffman_plan_size,
                          {"counts": np.array([3, 1, 1], np.uint64), "symbol_bits": 8, "max_code_length": 11}),
    "planes_encode": (codec.planes_encode, {"elements": np.arange(2000, dtype=np.uint32), "plane_mask": 3,
                                            "max_code_length": 11, "threads": 2}),
    "planes_join": (codec.planes_join, {"planes": [np.arange(5, dtype=np.uint8)] * 2}),
    "planes_decode": (codec.planes_decode, {"planes": [np.arange(5, dtype=np.uint8)] * 2, "count": 5, "threads": 2}),
    "read_sections": (codec.read_sections, {"source": np.frombuffer(b"abcd", np.uint8),
                                            "jobs": [(0, 4, zlib.crc32(b"abcd"), None, 0)], "threads": 2}),
    "plane_worth_coding": (codec.plane_worth_coding, {"stream_bytes": 90, "count": 100}),
    "crc32": (codec.crc32, {"data": STREAM, "value": 7}),
    "histogram": (codec.histogram, {"symbols": SYMBOLS}),
    "histogram_counts": (codec.histogram_counts, {"symbols": SYMBOLS}),
    "count_entropy": (codec.count_entropy, {"counts": np.array([3, 1, 0, 4], np.uint64)}),
    "relative_index_encode": (codec.relative_index_encode, {"positions": POSITIONS, "bits": 4}),
    "relative_index_decode": (codec.relative_index_decode, {"entries": ENTRIES, "bits": 4, "numel": 21}),
    "scatter": (codec.scatter, {"codebook": BOOK, "indices": INDICES, "positions": POSITIONS, "numel": 21}),
    "gather": (codec.scatter, {"codebook": BOOK, "indices": INDICES, "positions": None, "numel": 3}),
    "sparse_scatter": (
        codec.sparse_scatter,
        {"codebook": BOOK, "indices": INDICES, "entries": ENTRIES, "bits": 4, "numel": 21},
    ),
}

INTEGER_ARGUMENTS = {"max_code_length", "symbol_bits", "count", "max_symbols", "bits", "numel", "cap", "max_size",
                     "plane_mask", "threads", "stream_bytes", "value"}
ARRAY_ARGUMENTS = {"counts", "symbols", "positions", "entries", "codebook", "indices", "elements", "values", "planes",
                   "source"}
JOBS_ARGUMENTS = {"jobs"}
BYTES_ARGUMENTS = {"data"}
CODE_ARGUMENTS = {"code"}

OUT_OF_RANGE_INTEGERS = [-1, -(2**63), -(2**64), 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30]
WRONG_TYPE_INTEGERS = [1.5, 3.0, "3", b"3", None, True, [3], np.float64(3.0), 1j]


def wrong_type_arrays(arg: str) -> list[Any]:
    """Values no array argument accepts, plus dtypes wrong for this one in particular."""
    common = [
        np.array([1, None], dtype=object),
        np.array([object(), object()], dtype=object),
        [[1, 2], [3]],  # ragged
        np.array(["ab", "cd"]),
        np.array([b"ab"]),
        np.array(["2020-01-01"], dtype="M8[D]"),
        np.zeros(2, dtype="i4,i4"),
        "abc",
        {"a": 1},
    ]
    if arg != "positions":  # positions=None is scatter's dense form
        common.append(None)
    if arg == "codebook":  # any 1/2/4/8-byte plain number is a codebook
        return common + [np.array([1, 2], np.complex128), np.zeros(2, np.dtype("V8"))]
    wrong = [np.array([1.5, 2.5]), np.array([1, 2], np.complex64), 1.5]
    if arg in ("symbols", "entries", "indices"):  # exactly uint8 or uint16, no silent cast
        wrong += [np.array([1, 2], np.int8), np.array([1, 2], np.uint32), np.array([True, False])]
    return common + wrong


def wrong_type_buffers() -> list[Any]:
    return [
        "abc",
        None,
        12,
        1.5,
        [1, 2, 3],
        np.array([object(), object()], dtype=object),
        np.zeros(2, dtype="i4,i4"),
        np.array(["ab"]),
    ]


def wrong_codes() -> list[Any]:
    return [
        None,
        "code",
        (8, CODE.symbols),
        codec.HuffmanCode(7, CODE.symbols, CODE.lengths),
        codec.HuffmanCode(2**64, CODE.symbols, CODE.lengths),
        codec.HuffmanCode(8.0, CODE.symbols, CODE.lengths),
        codec.HuffmanCode(8, np.array([1, 2, 2**20]), CODE.lengths),
        codec.HuffmanCode(8, np.array([-1, 2, 3]), CODE.lengths),
        codec.HuffmanCode(8, CODE.symbols, np.array([300, 1, 1])),
        codec.HuffmanCode(8, CODE.symbols, np.array([0, 1, 1])),
        codec.HuffmanCode(8, np.array([object()] * 3), CODE.lengths),
        codec.HuffmanCode(8, CODE.symbols.astype(np.float64), CODE.lengths),
    ]


def wrong_jobs() -> list[Any]:
    """read_sections jobs that are not (offset, length, crc32, plane_streams, count) of
    integers in range, or whose section is not there."""
    good = (0, 4, zlib.crc32(b"abcd"), None, 0)
    jobs: list[Any] = [None, "abc", 5, {"a": 1}, [None], [(0, 4)], [good + (1,)]]
    for k, values in enumerate([[-1, 2**64, 1.5, "0"], [-1, 2**64, None], [-1, 2**32, 0.5],
                                [(0, 0, 0), "0000", (-1,), (1.5,), 3], [-1, 2**64, None]]):
        jobs += [[good[:k] + (v,) + good[k + 1:]] for v in values]
    return jobs


def audit_cases() -> list[tuple[str, str, Any, str]]:
    """(call, argument, bad value, what must happen) for every argument of every call."""
    cases = []
    for call, (_, kwargs) in VALID_CALLS.items():
        for arg in kwargs:
            if arg in INTEGER_ARGUMENTS:
                cases += [(call, arg, v, "in range or DczError") for v in OUT_OF_RANGE_INTEGERS]
                cases += [(call, arg, v, "TypeError naming it") for v in WRONG_TYPE_INTEGERS]
            elif arg in ARRAY_ARGUMENTS:
                cases += [(call, arg, v, "DczError or TypeError naming it") for v in wrong_type_arrays(arg)]
            elif arg in BYTES_ARGUMENTS:
                cases += [(call, arg, v, "DczError or TypeError naming it") for v in wrong_type_buffers()]
            elif arg in CODE_ARGUMENTS:
                cases += [(call, arg, v, "DczError or TypeError naming it") for v in wrong_codes()]
            elif arg in JOBS_ARGUMENTS:
                cases += [(call, arg, v, "DczError or TypeError naming it") for v in wrong_jobs()]
            else:
                raise AssertionError(f"audit does not know argument {arg} of {call}")
    return cases


def call_with(call: str, arg: str, value: Any) -> Any:
    func, kwargs = VALID_CALLS[call]
    return func(**{**kwargs, arg: value})


def test_defect10_audit_covers_every_public_function():
    audited = {func.__name__ for func, _ in VALID_CALLS.values()}
    public = {name for name in codec.__all__ if callable(getattr(codec, name)) and name[0].islower()}
    assert public == audited


def test_defect10_valid_calls_of_the_audit_succeed():
    for func, kwargs in VALID_CALLS.values():
        func(**kwargs)


@pytest.mark.parametrize(("call", "arg", "value", "expected"), audit_cases(), ids=repr)
def test_defect10_bad_arguments_raise_pycodec_errors(call, arg, value, expected):
    if expected == "TypeError naming it":
        with pytest.raises(TypeError, match=arg) as info:
            call_with(call, arg, value)
        assert not isinstance(info.value, DczError)
        return
    try:
        call_with(call, arg, value)
    except DczError:
        return
    except TypeError as exc:
        assert expected != "in range or DczError", f"TypeError for an integer: {exc}"
        assert arg in str(exc), f"TypeError does not name {arg}: {exc}"
        return
    # Only an in-range integer may succeed; wrong types must never be accepted silently.
    assert expected == "in range or DczError", f"{call}({arg}={value!r}) was accepted"


@pytest.mark.parametrize("numel", [-1, 2**63, 2**64, 10**30])
def test_defect10_out_of_range_numel_is_a_codec_error(numel):
    for call in ("scatter", "gather", "sparse_scatter", "relative_index_decode"):
        with pytest.raises(CodecError, match="numel"):
            call_with(call, "numel", numel)


@pytest.mark.parametrize("numel", [1.0, 21.5, "21", None])
def test_defect10_wrong_type_numel_is_a_type_error_naming_it(numel):
    with pytest.raises(TypeError, match="numel"):
        call_with("scatter", "numel", numel)


@pytest.mark.parametrize("max_symbols", [2**63, 2**64 - 1, 2**64, 10**30])
def test_defect10_huge_max_symbols_means_no_cap(max_symbols):
    assert codec.huffman_decode(STREAM, max_symbols=max_symbols).tobytes() == SYMBOLS.tobytes()


def single_symbol_stream(count: int) -> bytes:
    """A stream of `count` copies of symbol 7: flags (single mode), varint count, symbol."""
    return bytes([1 << 2]) + varint(count) + bytes([7])


@pytest.mark.parametrize("count", [pytest.param(2**50, marks=needs_real_allocator), 2**63, 2**64 - 1])
def test_defect10_unallocatable_output_is_limit_exceeded(count):
    # 2**50 bytes passes the address-space check and fails in the allocator (MemoryError
    # before); 2**63 and up do not fit a numpy size (ValueError before).
    with pytest.raises(LimitExceededError):
        codec.huffman_decode(single_symbol_stream(count), max_symbols=2**64 - 1)
    with pytest.raises(LimitExceededError):
        _core.huffman_decode(np.frombuffer(single_symbol_stream(count), np.uint8), 2**64 - 1)


@pytest.mark.parametrize("numel", [pytest.param(2**50, marks=needs_real_allocator), 2**62, 2**63 - 1])
def test_defect10_unallocatable_scatter_output_is_limit_exceeded(numel):
    with pytest.raises(LimitExceededError):
        codec.scatter(BOOK, INDICES, POSITIONS, numel)
    with pytest.raises(LimitExceededError):
        codec.sparse_scatter(BOOK, INDICES, ENTRIES, 4, numel)


@needs_real_allocator
def test_defect10_core_allocation_failure_is_limit_exceeded():
    # std::bad_alloc inside the core (package-merge's levels need about 4 MiB here) must
    # reach Python as LimitExceededError, not MemoryError.
    result = run_isolated(
        """
        import resource
        import numpy as np
        from pycodec import _core
        from pycodec.errors import LimitExceededError

        counts = np.ones(65536, np.uint64)
        size = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
                    if line.startswith("VmSize"))
        resource.setrlimit(resource.RLIMIT_AS, (size + 2**20, resource.RLIM_INFINITY))
        try:
            _core.code_lengths(counts, 16)
        except LimitExceededError:
            print("limit")
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "limit"


def test_defect10_non_contiguous_inputs_give_the_contiguous_result():
    spread = np.zeros(2 * SYMBOLS.size, np.uint8)
    spread[::2] = SYMBOLS
    assert codec.huffman_encode(spread[::2]) == STREAM
    padded = np.frombuffer(bytes(b for byte in STREAM for b in (byte, 0)), np.uint8)
    assert codec.huffman_decode(padded[::2]).tobytes() == SYMBOLS.tobytes()
    assert codec.huffman_decode(memoryview(padded.tobytes())[::2]).tobytes() == SYMBOLS.tobytes()
    book = np.repeat(BOOK, 2)[::2]
    assert codec.scatter(book, INDICES, POSITIONS, 21).tobytes() == codec.scatter(
        BOOK, INDICES, POSITIONS, 21
    ).tobytes()


def test_defect10_code_given_as_a_plain_tuple_works():
    as_tuple = (CODE.symbol_bits, CODE.symbols.tolist(), CODE.lengths.tolist())
    assert codec.serialize_code(as_tuple) == codec.serialize_code(CODE)
    assert codec.encode_with_code(SYMBOLS, as_tuple) == CODED


@pytest.mark.parametrize(
    "position",
    [
        pytest.param(2**50, marks=needs_real_allocator),
        pytest.param(2**62, marks=needs_real_allocator),
        2**63 - 1,
    ],
)
def test_defect10_gap_entries_too_many_to_allocate_are_limit_exceeded(position):
    # one filler per position skipped at bits=1: the output would be `position` bytes
    with pytest.raises(LimitExceededError):
        codec.relative_index_encode([position], 1)


# ----------------------------------------------------------------- arrays changing while encoded


def _while_changing(array: np.ndarray, states: list[np.ndarray], work: Callable[[], Any], seconds: float) -> tuple[int, int]:
    """Runs `work` over and over for `seconds` while another thread keeps copying `states`
    into `array` (numpy releases the GIL while it copies, the codec while it codes).
    Returns (calls that returned, calls that raised a DczError)."""
    import threading
    import time

    stop = threading.Event()

    def change() -> None:
        k = 0
        while not stop.is_set():
            np.copyto(array, states[k % len(states)])
            k += 1

    thread = threading.Thread(target=change)
    thread.start()
    done = failed = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                work()
                done += 1
            except DczError:
                failed += 1
    finally:
        stop.set()
        thread.join()
    return done, failed


def _skewed_states(n: int, dtype: type) -> list[np.ndarray]:
    rng = np.random.default_rng(n)
    nearly_constant = np.zeros(n, dtype)
    nearly_constant[::97] = 1
    wide = rng.integers(0, np.iinfo(dtype).max, n, dtype=np.uint64).astype(dtype)
    geometric = rng.geometric(0.5, n).clip(0, 255).astype(dtype)
    return [nearly_constant, wide, geometric]


@pytest.mark.parametrize("encoder", ["huffman_encode", "planes_encode", "planes_encode_2", "planes_encode_f32",
                                     "encode_with_code", "huffman_encode_u16"])
def test_symbols_changing_while_they_are_encoded_never_overrun(encoder: str) -> None:
    """A tensor saved while another thread trains it: the plan (sizes) and the coding see
    different symbols. The writer stays within its buffer (the ASan build checks) and
    either returns a stream or raises a CodecError, never corrupts memory."""
    n = 1 << 18
    dtype = np.uint16 if encoder == "huffman_encode_u16" else np.uint8
    array = _skewed_states(n, dtype)[2].copy()
    code = codec.build_code(np.arange(256, dtype=np.uint8))
    work = {
        "huffman_encode": lambda: codec.huffman_encode(array),
        "huffman_encode_u16": lambda: codec.huffman_encode(array),
        "planes_encode": lambda: codec.planes_encode(array, plane_mask=1, threads=1),
        "planes_encode_2": lambda: codec.planes_encode(array, plane_mask=1, threads=2),
        "planes_encode_f32": lambda: codec.planes_encode(array.view(np.uint32), plane_mask=0xF, threads=2),
        "encode_with_code": lambda: codec.encode_with_code(array, code),
    }[encoder]
    done, failed = _while_changing(array, _skewed_states(n, dtype), work, seconds=1.0)
    assert done + failed > 0


def test_positions_changing_while_they_are_encoded_never_overrun() -> None:
    n = 1 << 16
    sparse = np.arange(0, 40 * n, 40, dtype=np.int64)
    dense = np.arange(n, dtype=np.int64)
    shuffled = np.random.default_rng(1).permutation(sparse)
    positions = sparse.copy()
    done, failed = _while_changing(positions, [sparse, dense, shuffled],
                                   lambda: codec.relative_index_encode(positions, 4), seconds=1.0)
    assert done + failed > 0


@pytest.mark.parametrize("changing", ["indices", "positions", "gather"])
def test_decoding_arrays_changing_under_scatter_never_go_out_of_bounds(changing: str) -> None:
    """scatter/gather check indices and positions, then use them without the GIL: what is
    used is what was checked (positions read once, indices clamped to the codebook), so a
    caller's array changing meanwhile gives garbage or an error, never a stray access."""
    n = 1 << 18
    book = np.arange(4, dtype=np.float32)
    small = np.zeros(n, np.uint8)
    large = np.full(n, 250, np.uint8)  # past the codebook: refused when seen by the check
    indices = small.copy()
    inside = np.arange(n, dtype=np.int64)
    outside = inside + 10 * n
    positions = inside.copy()
    if changing == "indices":
        array, states = indices, [small, large]
        work = lambda: codec.scatter(book, indices, inside, n)  # noqa: E731
    elif changing == "positions":
        array, states = positions, [inside, outside]
        work = lambda: codec.scatter(book, small, positions, n)  # noqa: E731
    else:
        array, states = indices, [small, large]
        work = lambda: codec.scatter(book, indices, None, n)  # noqa: E731
    done, failed = _while_changing(array, states, work, seconds=1.0)
    assert done + failed > 0

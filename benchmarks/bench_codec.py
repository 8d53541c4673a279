"""Codec throughput: pycodec's Huffman beside bitarray's Huffman, zlib and zstandard.

Two streams of CODEC_SYMBOLS symbols (10 M by default), as a .dcz file holds them:
  kmeans: 5-bit k-means indices of magnitude-pruned weights (about 3.4 bits of entropy);
  gaps:   5-bit relative-index entries of a ~8%-dense random mask.
And the grid (issue 12), pycodec beside zstd -1 only: i.i.d. discrete-Laplace streams of
3, 4, 5 and 6 bits of entropy over alphabets of 32, 64, 128 and 256 symbols (h<H>-a<A>;
6 bits needs 64 symbols), a 5.5-bit 256-symbol one, and byte planes 3 (sign and
exponent) and 2 of LeNet-300-100's float32 weights trained here (f32-plane<k>, its
266,200 weights, not tiled: repeats would hand zstd matches).
Each benchmark records bits/symbol, the stream's entropy and symbols/s in extra_info.
Run: make bench   (or pytest benchmarks/bench_codec.py --benchmark-columns=min,median)
Side by side with zstd -1, interleaved, CPU time (for a loaded machine):
  python3 benchmarks/bench_codec.py --symbols 2000000 --rounds 21 [--mode encode]
"""

from __future__ import annotations

import statistics
import time
import zlib

import numpy as np
import pytest
from conftest import CODEC_SYMBOLS
from streams import entropy_bits, gap_entries, grid_names, grid_stream, kmeans_indices

from pycodec import codec

bitarray = pytest.importorskip("bitarray")
bitarray_util = pytest.importorskip("bitarray.util")
zstandard = pytest.importorskip("zstandard")

STREAMS = {"kmeans": kmeans_indices, "gaps": gap_entries}
ROUNDS = 5


@pytest.fixture(scope="module", params=sorted(STREAMS))
def stream(request) -> tuple[str, np.ndarray]:
    return request.param, STREAMS[request.param](CODEC_SYMBOLS)


def record(benchmark, symbols: np.ndarray, coded_bytes: int) -> None:
    benchmark.extra_info["symbols"] = int(symbols.size)
    benchmark.extra_info["entropy_bits"] = round(entropy_bits(symbols), 4)
    benchmark.extra_info["bits_per_symbol"] = round(8 * coded_bytes / symbols.size, 4)


def run(benchmark, fn):
    return benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=1)


# ----------------------------------------------------------------- pycodec


def test_pycodec_encode(benchmark, stream):
    benchmark.group = f"encode-{stream[0]}"
    symbols = stream[1]
    data = run(benchmark, lambda: codec.huffman_encode(symbols))
    record(benchmark, symbols, len(data))


def test_pycodec_decode(benchmark, stream):
    benchmark.group = f"decode-{stream[0]}"
    symbols = stream[1]
    data = codec.huffman_encode(symbols)
    decoded = run(benchmark, lambda: codec.huffman_decode(data))
    np.testing.assert_array_equal(decoded, symbols)
    record(benchmark, symbols, len(data))


# ----------------------------------------------------------------- bitarray Huffman


def bitarray_code(symbols: np.ndarray) -> dict:
    counts = np.bincount(symbols)
    return bitarray_util.huffman_code({s: int(c) for s, c in enumerate(counts) if c})


def bitarray_encode(symbols: np.ndarray, code: dict) -> bitarray.bitarray:
    bits = bitarray.bitarray()
    bits.encode(code, symbols.tobytes())  # iterating bytes yields the int symbols
    return bits


def test_bitarray_encode(benchmark, stream):
    benchmark.group = f"encode-{stream[0]}"
    symbols = stream[1]

    def encode():
        return bitarray_encode(symbols, bitarray_code(symbols))

    bits = run(benchmark, encode)
    record(benchmark, symbols, (len(bits) + 7) // 8)


def test_bitarray_decode(benchmark, stream):
    benchmark.group = f"decode-{stream[0]}"
    symbols = stream[1]
    code = bitarray_code(symbols)
    bits = bitarray_encode(symbols, code)
    tree = bitarray.decodetree(code)
    decoded = run(benchmark, lambda: np.frombuffer(bytes(bits.decode(tree)), np.uint8))
    np.testing.assert_array_equal(decoded, symbols)
    record(benchmark, symbols, (len(bits) + 7) // 8)


# ----------------------------------------------------------------- byte compressors

COMPRESSORS = {
    "zlib-6": (lambda b: zlib.compress(b, 6), zlib.decompress),
    "zstd-3": (zstandard.ZstdCompressor(level=3).compress, zstandard.ZstdDecompressor().decompress),
    "zstd-19": (zstandard.ZstdCompressor(level=19).compress, zstandard.ZstdDecompressor().decompress),
}


@pytest.mark.parametrize("name", ["zlib-6", "zstd-3"])
def test_bytes_compress(benchmark, stream, name):
    benchmark.group = f"encode-{stream[0]}"
    symbols = stream[1]
    compress, _ = COMPRESSORS[name]
    raw = symbols.tobytes()
    data = run(benchmark, lambda: compress(raw))
    record(benchmark, symbols, len(data))


@pytest.mark.parametrize("name", ["zlib-6", "zstd-3", "zstd-19"])
def test_bytes_decompress(benchmark, stream, name):
    benchmark.group = f"decode-{stream[0]}"
    symbols = stream[1]
    compress, decompress = COMPRESSORS[name]
    data = compress(symbols.tobytes())
    decoded = run(benchmark, lambda: decompress(data))
    assert decoded == symbols.tobytes()
    record(benchmark, symbols, len(data))


# ----------------------------------------------------------------- the entropy x alphabet grid

ZSTD_1 = (zstandard.ZstdCompressor(level=1).compress, zstandard.ZstdDecompressor().decompress)


@pytest.fixture(scope="module", params=grid_names())
def grid(request) -> tuple[str, np.ndarray]:
    return request.param, grid_stream(request.param, CODEC_SYMBOLS)


def test_grid_pycodec_decode(benchmark, grid):
    benchmark.group = f"grid-decode-{grid[0]}"
    data = codec.huffman_encode(grid[1])
    decoded = run(benchmark, lambda: codec.huffman_decode(data))
    np.testing.assert_array_equal(decoded, grid[1])
    record(benchmark, grid[1], len(data))


def test_grid_zstd1_decompress(benchmark, grid):
    benchmark.group = f"grid-decode-{grid[0]}"
    compress, decompress = ZSTD_1
    data = compress(grid[1].tobytes())
    decoded = run(benchmark, lambda: decompress(data))
    assert decoded == grid[1].tobytes()
    record(benchmark, grid[1], len(data))


def test_grid_pycodec_encode(benchmark, grid):
    benchmark.group = f"grid-encode-{grid[0]}"
    data = run(benchmark, lambda: codec.huffman_encode(grid[1]))
    record(benchmark, grid[1], len(data))


def test_grid_zstd1_compress(benchmark, grid):
    benchmark.group = f"grid-encode-{grid[0]}"
    raw = grid[1].tobytes()
    data = run(benchmark, lambda: ZSTD_1[0](raw))
    record(benchmark, grid[1], len(data))


# ----------------------------------------------------------------- side by side, interleaved


def _cpu_seconds(function) -> float:
    """CPU time of the calling thread: on a loaded machine, wall time mostly measures
    the other processes (both coders here run on the calling thread only)."""
    start = time.thread_time()
    function()
    return time.thread_time() - start


def side_by_side(symbols: int, rounds: int, mode: str) -> None:
    """Each grid stream: pycodec and zstd -1 timed alternately, `rounds` times; prints
    the median MB/s of decoded bytes, the range, and the median of the per-round ratios."""
    print(f"{mode}, {symbols:,} symbols, {rounds} interleaved rounds, MB/s of symbols (CPU time)")
    for name in grid_names():
        stream = grid_stream(name, symbols)
        raw = stream.tobytes()
        ours, zstd = codec.huffman_encode(stream), ZSTD_1[0](raw)
        if mode == "decode":
            calls = (lambda: codec.huffman_decode(ours), lambda: ZSTD_1[1](zstd))
        else:
            calls = (lambda: codec.huffman_encode(stream), lambda: ZSTD_1[0](raw))
        times: tuple[list[float], list[float]] = ([], [])
        for r in range(rounds + 1):
            order = (0, 1) if r % 2 else (1, 0)
            sample = {i: _cpu_seconds(calls[i]) for i in order}
            if r:  # the first round warms up
                times[0].append(sample[0])
                times[1].append(sample[1])
        mb = [[stream.nbytes / t / 1e6 for t in ts] for ts in times]
        ratio = statistics.median(z / p for p, z in zip(*times))
        print(f"{name:11s} H={entropy_bits(stream):4.2f} ours {8 * len(ours) / stream.size:4.2f} b/sym "
              f"{statistics.median(mb[0]):6.0f} [{min(mb[0]):5.0f}-{max(mb[0]):5.0f}]  zstd-1 "
              f"{8 * len(zstd) / stream.size:4.2f} b/sym {statistics.median(mb[1]):6.0f} "
              f"[{min(mb[1]):5.0f}-{max(mb[1]):5.0f}]  ours/zstd {ratio:4.2f}", flush=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="pycodec beside zstd -1 on the grid, interleaved")
    parser.add_argument("--symbols", type=int, default=CODEC_SYMBOLS)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--mode", choices=("decode", "encode"), default="decode")
    args = parser.parse_args()
    side_by_side(args.symbols, args.rounds, args.mode)

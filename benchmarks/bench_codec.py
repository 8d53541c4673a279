"""Codec throughput: pycodec's Huffman beside bitarray's Huffman, zlib and zstandard.

Two streams of CODEC_SYMBOLS symbols (10 M by default), as a .dcz file holds them:
  kmeans: 5-bit k-means indices of magnitude-pruned weights (about 3.4 bits of entropy);
  gaps:   5-bit relative-index entries of a ~8%-dense random mask.
Each benchmark records bits/symbol, the stream's entropy and symbols/s in extra_info.
Run: make bench   (or pytest benchmarks/bench_codec.py --benchmark-columns=min,median)
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from conftest import CODEC_SYMBOLS
from streams import entropy_bits, gap_entries, kmeans_indices

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

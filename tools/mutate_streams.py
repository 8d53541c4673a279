"""Mutation fuzzing of the codec's decoders: every damaged stream must decode or raise a
pycodec error, never crash. Run it under sanitizers with tools/sanitize.sh [seed].

Usage: mutate_streams.py [seed] [rounds]"""

from __future__ import annotations

import sys

import numpy as np

from pycodec import codec
from pycodec.errors import DczError

ROUNDS = 30_000


def seed_streams(rng: np.random.Generator) -> list[bytes]:
    shapes = [(0.3, 5000, 40, np.uint8), (0.1, 20000, 300, np.uint16), (0.5, 100, 3, np.uint8)]
    return [codec.huffman_encode(rng.geometric(p, n).clip(0, k).astype(dtype)) for p, n, k, dtype in shapes]


def damage(rng: np.random.Generator, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.integers(1, 4)):
        out[rng.integers(0, len(out))] ^= 1 << int(rng.integers(0, 8))
    if rng.random() < 0.2:
        out = out[: rng.integers(0, len(out) + 1)]
    return bytes(out)


def fuzz_huffman(rng: np.random.Generator, rounds: int) -> tuple[int, int]:
    streams = seed_streams(rng)
    decoded = rejected = 0
    for i in range(rounds):
        try:
            codec.huffman_decode(damage(rng, streams[i % len(streams)]))
            decoded += 1
        except DczError:
            rejected += 1
    return decoded, rejected


def rejects(call, *args) -> int:
    """1 if `call(*args)` raises a pycodec error, 0 if it returns."""
    try:
        call(*args)
    except DczError:
        return 1
    return 0


def fuzz_sparse(rng: np.random.Generator, rounds: int) -> int:
    rejected = 0
    book = np.ones(5, np.float32)
    for _ in range(rounds // 10):
        entries = rng.integers(0, 40, rng.integers(0, 200)).astype(np.uint8)
        indices = rng.integers(0, 6, rng.integers(0, 50)).astype(np.uint8)
        numel = int(rng.integers(0, 300))
        rejected += rejects(codec.sparse_scatter, book, indices, entries, 5, numel)
        rejected += rejects(codec.relative_index_decode, entries, 5, numel)
    return rejected


def main() -> None:
    rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else ROUNDS
    decoded, rejected = fuzz_huffman(rng, rounds)
    print(f"huffman: {decoded} damaged streams decoded, {rejected} rejected")
    print(f"sparse: {fuzz_sparse(rng, rounds)} malformed inputs rejected")


if __name__ == "__main__":
    main()

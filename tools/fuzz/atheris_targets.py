"""Coverage-guided fuzz targets (atheris, libFuzzer) for the reader and the codec.

    python tools/fuzz/atheris_targets.py load  CORPUS_DIR -max_total_time=60
    python tools/fuzz/atheris_targets.py codec CORPUS_DIR -max_total_time=60

`load`: the bytes are a .dcz file; the oracle (oracle.py: load, open + lazy reads,
dcz verify, the spec-only decoder) runs on it and any finding raises. libFuzzer's own
mutations are mixed with the structure-aware mutator (dcz_mutator.py) through a custom
mutator, so coverage feedback steers both. The corpus starts from the seed files.
`codec`: the first byte picks an entry point of pycodec.codec (huffman_decode,
huffman_stream_info, parse_code, decode_with_code, relative_index_decode, scatter,
sparse_scatter, code_lengths); the rest are its arguments. Anything but success or a
DczError is a crash. Python code of pycodec is instrumented; the native core is not
(it runs under the sanitizers in tools/sanitize.sh instead).

libFuzzer options apply: -timeout=10 (hangs), -rss_limit_mb=4096, -runs=N, -seed=N.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["pycodec", "oracle", "spec_decoder"]):
    import numpy as np

    import dcz_mutator
    import oracle
    import seeds
    from pycodec import codec
    from pycodec.errors import DczError

SCRATCH = Path(tempfile.mkdtemp(prefix="pycodec-atheris-"))


# ----------------------------------------------------------------- load target


def test_load(data: bytes) -> None:
    path = SCRATCH / "input.dcz"
    path.write_bytes(data)
    report = oracle.run_all(str(path), data)
    if report.findings:
        details = "\n".join(o.detail for o in report.outcomes.values() if o.kind == "exception")
        raise AssertionError("; ".join(report.findings) + "\n" + details)


def mutate_load(data: bytes, max_size: int, seed: int) -> bytes:
    """Half structure-aware, half libFuzzer's byte-level mutations."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        out, _ = dcz_mutator.mutate(data, rng)
        if len(out) <= max_size:
            return out
    return atheris.Mutate(data, max_size)


# ----------------------------------------------------------------- codec target


def _array(fdp: atheris.FuzzedDataProvider, wide: bool) -> np.ndarray:
    n = fdp.ConsumeIntInRange(0, 300)
    if wide:
        return np.array(fdp.ConsumeIntListInRange(n, 0, 65535), dtype=np.uint16)
    return np.frombuffer(fdp.ConsumeBytes(n), dtype=np.uint8)


def _count(fdp: atheris.FuzzedDataProvider) -> int:
    return fdp.PickValueInList([0, 1, 2, 7, 255, 4096, 1 << 20, 1 << 28, 1 << 40]) + fdp.ConsumeIntInRange(0, 3)


def _codebook(fdp: atheris.FuzzedDataProvider) -> np.ndarray:
    dtype = fdp.PickValueInList([np.uint8, np.uint16, np.float32, np.float64, np.bool_])
    size = np.dtype(dtype).itemsize
    raw = fdp.ConsumeBytes(size * fdp.ConsumeIntInRange(0, 40))
    return np.frombuffer(raw[: len(raw) // size * size], dtype=dtype)


def _code(fdp: atheris.FuzzedDataProvider, bits: int) -> codec.HuffmanCode:
    stream = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    try:
        return codec.parse_code(stream, bits)[0]
    except DczError:
        return codec.build_code(np.arange(fdp.ConsumeIntInRange(1, 20), dtype=np.uint8 if bits == 8 else np.uint16))


def run_codec_call(fdp: atheris.FuzzedDataProvider) -> None:
    choice = fdp.ConsumeIntInRange(0, 7)
    bits = fdp.PickValueInList([8, 16])
    if choice == 0:
        codec.huffman_decode(fdp.ConsumeBytes(fdp.remaining_bytes()), max_symbols=min(_count(fdp), 1 << 24))
    elif choice == 1:
        codec.huffman_stream_info(fdp.ConsumeBytes(fdp.remaining_bytes()))
    elif choice == 2:
        codec.parse_code(fdp.ConsumeBytes(fdp.remaining_bytes()), bits)
    elif choice == 3:
        code = _code(fdp, bits)
        codec.decode_with_code(fdp.ConsumeBytes(fdp.remaining_bytes()), code, min(_count(fdp), 1 << 20))
    elif choice == 4:
        codec.relative_index_decode(_array(fdp, bits == 16), fdp.ConsumeIntInRange(1, 16), _count(fdp) % (1 << 22))
    elif choice == 5:
        codec.scatter(_codebook(fdp), _array(fdp, bits == 16), np.array(fdp.ConsumeIntListInRange(20, -2, 100)), fdp.ConsumeIntInRange(0, 100))
    elif choice == 6:
        codec.sparse_scatter(_codebook(fdp), _array(fdp, False), _array(fdp, bits == 16), fdp.ConsumeIntInRange(1, 16),
                             fdp.ConsumeIntInRange(0, 5000))  # fmt: skip
    else:
        codec.code_lengths(np.array(fdp.ConsumeIntListInRange(fdp.ConsumeIntInRange(0, 300), 0, 2**63 - 1), dtype=np.uint64),
                           fdp.ConsumeIntInRange(1, 16))  # fmt: skip


def test_codec(data: bytes) -> None:
    try:
        run_codec_call(atheris.FuzzedDataProvider(data))
    except DczError:
        pass


# ----------------------------------------------------------------- entry point


def seed_corpus(folder: Path) -> None:
    """Fill an empty corpus folder with the seed files (the load target's start)."""
    if folder.is_dir() and any(folder.iterdir()):
        return
    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(seeds.all_seeds(SCRATCH / "seeds")):
        (folder / f"seed-{i:03d}.dcz").write_bytes(data)


def main() -> None:
    target, argv = sys.argv[1], [sys.argv[0]] + sys.argv[2:]
    if target == "load":
        corpus = [a for a in argv[1:] if not a.startswith("-")]
        if corpus:
            seed_corpus(Path(corpus[0]))
        atheris.Setup(argv, test_load, custom_mutator=mutate_load)
    elif target == "codec":
        atheris.Setup(argv, test_codec)
    else:
        raise SystemExit(f"unknown target {target!r}: use load or codec")
    atheris.Fuzz()


if __name__ == "__main__":
    main()

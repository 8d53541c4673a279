"""Dense trained weights, stored losslessly: .dcz (``planes``) beside raw, safetensors,
safetensors + zstd -3 / -19 and torch.save (+ gzip); save and load times beside
torch.save / torch.load (issue 12).

The models are trained here: LeNet-300-100 and LeNet-5 on MNIST (full MNIST in
``$PYCODEC_DATA/mnist`` or ``../shared/data/mnist`` when present, else the embedded
30,000-image subset), plus the squeezed VGG-19 baseline of
``runs/vgg/vgg19_squeezed_mnist/baseline.pt`` when it exists (read only). Each is
measured in float32, bfloat16, float16 and float8_e4m3fn (every floating tensor cast).

    python3 benchmarks/bench_dense.py                       # the table (PYCODEC_BENCH_EPOCHS, 2)
    python3 -m pytest benchmarks/bench_dense.py --benchmark-columns=min,median,max
    PYCODEC_BENCH_SMOKE=1 python3 -m pytest benchmarks/bench_dense.py --benchmark-disable   # CI, seconds
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import zstandard

from conftest import SMOKE

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
        order = torch.randperm(len(split))
        for start in range(0, len(split), 128):
            batch = order[start : start + 128]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(split.images[batch]), split.labels[batch]).backward()
            optimizer.step()
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def trained_models() -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
    """(name, state dict), each trained (or read) when its turn comes."""
    yield "lenet-300-100", train("lenet-300-100")
    if SMOKE:
        return
    yield "lenet-5", train("lenet-5")
    if VGG_BASELINE.is_file():
        state = torch.load(VGG_BASELINE, map_location="cpu", weights_only=True)
        yield "vgg-19-squeezed", {k: v.contiguous() for k, v in state.items()}


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


def sizes(state: dict[str, torch.Tensor], folder: Path) -> dict[str, int]:
    from safetensors.torch import save as safetensors_bytes

    pycodec.save(state, folder / "m.dcz")
    torch.save(state, folder / "m.pt")
    safe = safetensors_bytes(state)
    return {
        "raw": sum(v.numel() * v.element_size() for v in state.values()),
        "dcz": (folder / "m.dcz").stat().st_size,
        "safetensors": len(safe),
        "st+zstd-3": len(zstandard.ZstdCompressor(level=3).compress(safe)),
        "st+zstd-19": len(zstandard.ZstdCompressor(level=19).compress(safe)),
        "torch.save+gzip": len(gzip.compress((folder / "m.pt").read_bytes(), 6)),
    }


def times(state: dict[str, torch.Tensor], folder: Path) -> dict[str, float]:
    dcz, pt = folder / "t.dcz", folder / "t.pt"
    out = {"save dcz": _timed(lambda: pycodec.save(state, dcz)), "save torch": _timed(lambda: torch.save(state, pt))}
    out["load dcz"] = _timed(lambda: pycodec.load(dcz))
    out["load torch"] = _timed(lambda: torch.load(pt, weights_only=True))
    return out


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


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    print("| model | dtype | raw | .dcz | safetensors | st+zstd -3 | st+zstd -19 | torch.save+gzip | "
          "save dcz / torch | load dcz / torch | bit-exact |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, trained in trained_models():
        for dtype in DTYPES:
            state = cast(trained, dtype)
            s, t = sizes(state, folder), times(state, folder)
            pct = {k: f"{v:,} ({v / s['raw']:.1%})" for k, v in s.items()}
            print(f"| {model} | {str(dtype).removeprefix('torch.')} | {s['raw']:,} | {pct['dcz']} | "
                  f"{pct['safetensors']} | {pct['st+zstd-3']} | {pct['st+zstd-19']} | {pct['torch.save+gzip']} | "
                  f"{t['save dcz'] * 1e3:.1f} / {t['save torch'] * 1e3:.1f} ms | "
                  f"{t['load dcz'] * 1e3:.1f} / {t['load torch'] * 1e3:.1f} ms | {bit_exact(state, folder)} |",
                  flush=True)
        print(f"plane decode, {model} float32: {plane_decode_throughput(trained):.0f} MB/s", flush=True)


if __name__ == "__main__":
    # the files go to DIR, or to a fresh temporary folder
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="bench_dense-")))

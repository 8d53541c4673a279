"""Seed files for the fuzzers: the spec vectors, the committed results, and generated files
that cover every dtype with `raw`, every floating dtype with `codebook` and `sparse`
(8- and 16-bit index and gap streams, single-symbol and 4-substream streams), `planes`
for every floating dtype (float8 included), `zstd` (a float table, integers, bool), `alias`,
rank 0, zero elements, special float bit patterns, and both header forms.
Generation is deterministic (fixed torch seed)."""

from __future__ import annotations

from pathlib import Path

import torch

import pycodec
from pycodec.format.dtypes import DTYPES

REPO = Path(__file__).resolve().parents[2]
FLOATS = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def committed_seeds() -> list[Path]:
    return sorted((REPO / "spec" / "vectors").glob("*.dcz")) + sorted((REPO / "results").glob("*.dcz"))


def raw_tensors() -> dict[str, torch.Tensor]:
    """One small tensor per dtype of the spec's table that this torch has."""
    out = {}
    for name in DTYPES:
        dtype = getattr(torch, name, None)
        if not isinstance(dtype, torch.dtype):
            continue
        if dtype == torch.bool:
            out[name] = torch.tensor([True, False, True, True])
        elif dtype.is_complex:
            out[name] = torch.randn(3, dtype=dtype)
        else:
            out[name] = torch.arange(6, dtype=torch.int64).to(torch.float32).to(dtype).reshape(2, 3)
    out["scalar"] = torch.tensor(7)
    out["empty"] = torch.zeros(0, 3)
    return out


def codebook_tensors(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    levels = torch.tensor([-1.0, -0.0, 0.5, 2.0, float("inf"), float("nan")], dtype=dtype)
    many = torch.arange(400, dtype=torch.float32).to(dtype)  # > 256 distinct: 16-bit indices
    return {
        "dense": levels[torch.randint(0, 6, (8, 8))],
        "wide": many[torch.randint(0, 400, (1000,))] if dtype != torch.float16 else many[:300].repeat(4),
        "k4": levels[torch.randint(0, 4, (5000,))],  # >= 4096 symbols: four substreams
        "const": torch.full((33,), 0.25, dtype=dtype),  # a single-symbol stream
    }


def sparse_tensors(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    pruned = torch.zeros(40, 40, dtype=dtype)
    pruned.view(-1)[torch.randperm(1600)[:160]] = torch.tensor([-0.5, 0.25, 1.0, 3.0], dtype=dtype).repeat(40)
    far = torch.zeros(60000, dtype=dtype)
    far[torch.randperm(60000)[:12]] = 1.5  # long gaps: index_bits above 8, 16-bit gap stream
    return {"pruned": pruned, "far": far}


def sparse_raw_tensors() -> dict[str, torch.Tensor]:
    """Pruned tensors without weight sharing (distinct values): stored sparse_raw."""
    out = {}
    for dtype in (torch.float32, torch.int64, torch.bfloat16, torch.complex64):
        values = torch.zeros(2000, dtype=dtype)
        where = torch.randperm(2000)[:150]
        values[where] = (torch.arange(150) * 3 + 1).to(dtype)
        out[str(dtype).removeprefix("torch.")] = values
    far = torch.zeros(70000, dtype=torch.int16)
    far[torch.randperm(70000)[:20]] = 9  # 16-bit gap entries
    out["far"] = far
    return out


def planes_tensors() -> dict[str, torch.Tensor]:
    """Trained-like dense weights (normal, small) of every floating dtype, special values
    in front: stored `planes` (coded and raw planes; K = 4 streams for the larger ones)."""
    out = {}
    specials = torch.tensor([float("nan"), -0.0, float("inf"), -float("inf"), 1e-40, 0.0])
    for name in DTYPES:
        dtype = getattr(torch, name, None)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            continue
        weights = torch.cat([specials, torch.randn(4500) * 0.05])
        out[name] = (weights if name != "float8_e8m0fnu" else weights.abs()).to(dtype)
    return out


def zstd_tensors() -> dict[str, torch.Tensor]:
    """Tensors of repeated rows and of integers: stored zstd."""
    row = torch.randn(256)
    return {"table": row.repeat(64, 1), "positions": torch.arange(4096).repeat(2),
            "mask": torch.rand(64, 128) < 0.5}


def generated_states() -> dict[str, tuple[dict[str, torch.Tensor], bool]]:
    """name -> (state dict, compress_header)."""
    torch.manual_seed(0)
    states: dict[str, tuple[dict[str, torch.Tensor], bool]] = {"raw_all": (raw_tensors(), False)}
    for dtype in FLOATS:
        short = str(dtype).removeprefix("torch.")
        states[f"codebook_{short}"] = (codebook_tensors(dtype), short == "float32")
        states[f"sparse_{short}"] = (sparse_tensors(dtype), short == "float16")
    states["sparse_raw"] = (sparse_raw_tensors(), False)
    states["planes"] = (planes_tensors(), False)
    states["zstd"] = (zstd_tensors(), False)
    tied = torch.randn(4, 4)
    states["alias"] = ({"embed": tied, "out": tied, "bias": torch.zeros(4)}, True)
    return states


def write_generated(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (state, compress_header) in generated_states().items():
        path = folder / f"{name}.dcz"
        pycodec.save(state, path, metadata={"seed": name}, compress_header=compress_header)
        paths.append(path)
    return paths


def all_seeds(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in committed_seeds() + write_generated(folder)]


if __name__ == "__main__":
    import sys

    for path in write_generated(Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz-seeds")):
        with pycodec.open(path) as f:
            print(path.name, path.stat().st_size, sorted({f.entry(n).encoding for n in f.names()}))

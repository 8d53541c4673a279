"""Generate the .dcz test vectors of spec/dcz.md section 8 (deterministic).

Run from the repository root:  python3 spec/vectors/generate.py

Each vector NAME.dcz comes with NAME.json: the file's preamble flags, its metadata and,
per tensor, its name, dtype, shape, encoding and the hex of its decoded elements
(row-major, little-endian). The vectors store their header as plain JSON, except
``zlib-header``, whose header is zlib-compressed (flag bit 0, HEADER_ZLIB); its bytes
depend on zlib's DEFLATE output at level 9, which may differ in other zlib builds.
The expected contents are computed here from the inputs, not by decoding the file, so
the test that decodes the vectors checks the reader against an independent source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import pycodec  # noqa: E402
from pycodec.torch_adapter import dtype_row  # noqa: E402


def _hex(tensor: torch.Tensor) -> str:
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes().hex()


def _pruned_quantized() -> torch.Tensor:
    """An 8x256 layer: 12 non-zeros from a 4-entry codebook, including -0.0, with a gap
    of 1500 zeros, long enough to need filler entries at every width the writer tries."""
    values = torch.zeros(8, 256)
    flat = values.view(-1)
    positions = [0, 3, 4, 17, 40, 41, 42, 1543, 1550, 1551, 2040, 2046]
    book = [0.5, -0.25, 1.5, -0.0]
    for i, p in enumerate(positions):
        flat[p] = book[i % 4]
    return values


def _quantized_dense() -> torch.Tensor:
    """A 6x6 weight-shared dense tensor over 3 values."""
    book = torch.tensor([-1.0, 0.125, 2.0])
    return book[torch.arange(36).reshape(6, 6) * 7 % 3]


def _layered_model() -> dict[str, torch.Tensor]:
    """A small model with repetitive tensor names: its header compresses well."""
    book = torch.tensor([-0.5, 0.25, 1.0])
    state = {}
    for i in range(4):
        weight = torch.zeros(4, 8)
        weight.view(-1)[i :: 5] = book[torch.arange(len(range(i, 32, 5))) % 3]
        state[f"encoder.layers.{i}.linear.weight"] = weight
        state[f"encoder.layers.{i}.linear.bias"] = torch.full((4,), 0.125 * i)
        state[f"encoder.layers.{i}.norm.num_batches_tracked"] = torch.tensor(i)
    return state


#: A vector's tensors, metadata and extra keywords for pycodec.save.
Vector = tuple[dict[str, torch.Tensor], dict[str, str], dict[str, bool]]
PLAIN = {"compress_header": False}


def vectors() -> dict[str, Vector]:
    raw_specials = torch.tensor([1.0, -0.0, float("inf"), -float("inf")])
    nan_payload = torch.tensor([0x7FC0BEEF, 0x7F800001], dtype=torch.int32).view(torch.float32)
    tied = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    return {
        "empty": ({}, {}, PLAIN),
        "raw": (
            {
                "f32": torch.cat([raw_specials, nan_payload]),
                "scalar": torch.tensor(3.25, dtype=torch.float64),
                "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
                "i64": torch.tensor([[1, -2], [2**40, -(2**62)]]),
                "u8": torch.tensor([0, 255], dtype=torch.uint8),
                "bool": torch.tensor([True, False, True]),
                "f16": torch.tensor([1.0, -2.5, 65504.0], dtype=torch.float16),
                "bf16": torch.tensor([1.0, -3.0, 1e30], dtype=torch.bfloat16),
                "c64": torch.tensor([1 + 2j, -0.5j], dtype=torch.complex64),
                "empty": torch.zeros(0, 4),
            },
            {"purpose": "every raw dtype, specials and shapes"},
            PLAIN,
        ),
        "sparse": ({"fc.weight": _pruned_quantized()}, {"purpose": "sparse encoding with fillers"}, PLAIN),
        "codebook": ({"conv.weight": _quantized_dense(), "zeros": torch.zeros(5, 5)}, {}, PLAIN),
        "alias": ({"embed.weight": tied, "head.weight": tied, "bias": torch.zeros(2)}, {"tied": "yes"}, PLAIN),
        "zlib-header": (_layered_model(), {"purpose": "a zlib-compressed header (flag bit 0)"}, {}),
    }


def expected(state: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> dict:
    with pycodec.open(path) as file:
        encoding = {name: file.entry(name).encoding for name in file.names()}
        flags = file.preamble.flags
    return {
        "flags": flags,
        "metadata": metadata,
        "tensors": [
            {
                "name": name,
                "dtype": dtype_row(tensor.dtype).name,
                "shape": list(tensor.shape),
                "encoding": encoding[name],
                "hex": _hex(tensor),
            }
            for name, tensor in state.items()
        ],
    }


def gap_entries(path: Path, name: str) -> tuple[list[int], int]:
    """The decoded gap entries of a sparse tensor and its index width."""
    from pycodec import codec

    with pycodec.open(path) as file:
        entry = file.entry(name)
        return codec.huffman_decode(file.read_section(entry, "gaps")).tolist(), entry.index_bits or 0


def main() -> None:
    for name, (state, metadata, options) in vectors().items():
        path = HERE / f"{name}.dcz"
        pycodec.save(state, path, metadata=metadata, **options)
        document = expected(state, metadata, path)
        if document["flags"] != (0 if options == PLAIN else 1):
            raise SystemExit(f"{name}: the header is not stored as intended (flags {document['flags']})")
        if name == "sparse":
            entries, bits = gap_entries(path, "fc.weight")
            if (1 << bits) - 1 not in entries:
                raise SystemExit("the sparse vector no longer exercises filler entries")
            document["gap_entries"] = entries
            document["index_bits"] = bits
        (HERE / f"{name}.json").write_text(json.dumps(document, indent=1) + "\n")
        print(f"{path.relative_to(HERE.parents[1])}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()

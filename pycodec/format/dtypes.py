"""The dtype table of ``spec/dcz.md`` (section 4.5): names, sizes, and how each is held.

Elements are kept in numpy arrays of a *storage* dtype of the same size (the dtype itself
where numpy has it, else an unsigned integer of its width), so every value travels as its
exact bit pattern. Conversion to and from torch lives in :mod:`pycodec.torch_adapter`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

# Tensors are handed to and from torch without byte swapping.
if sys.byteorder != "little":  # pragma: no cover - no such machine to test on
    raise ImportError("pycodec's .dcz reader and writer support little-endian hosts only")


@dataclass(frozen=True)
class DType:
    """One row of the dtype table."""

    name: str  # as in the header, and the attribute of the torch module
    itemsize: int
    storage: np.dtype  # little-endian numpy dtype of the same size holding the bits
    codebook_ok: bool  # may use the codebook / sparse encodings
    numpy_native: bool  # torch.from_numpy accepts `storage` as this dtype itself
    #: may use the ``planes`` encoding (spec 4.4): the floating dtypes, float8 included
    planes_ok: bool = field(init=False, repr=False, compare=False)
    #: the unsigned integer dtype of the element's width (bit-pattern comparisons)
    bits_dtype: np.dtype = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # derived once: a save asks for them several times a tensor
        object.__setattr__(self, "planes_ok", self.name.startswith("float") or self.name == "bfloat16")
        object.__setattr__(self, "bits_dtype", np.dtype(f"<u{self.itemsize}") if self.itemsize <= 8 else np.dtype("V16"))


def _row(name: str, size: int, storage: str, codebook_ok: bool = False, native: bool = True) -> DType:
    return DType(name, size, np.dtype(storage), codebook_ok, native)


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        _row("float64", 8, "<f8", codebook_ok=True),
        _row("float32", 4, "<f4", codebook_ok=True),
        _row("float16", 2, "<f2", codebook_ok=True),
        _row("bfloat16", 2, "<u2", codebook_ok=True, native=False),
        _row("float8_e4m3fn", 1, "u1", native=False),
        _row("float8_e4m3fnuz", 1, "u1", native=False),
        _row("float8_e5m2", 1, "u1", native=False),
        _row("float8_e5m2fnuz", 1, "u1", native=False),
        _row("float8_e8m0fnu", 1, "u1", native=False),
        _row("int8", 1, "i1"),
        _row("int16", 2, "<i2"),
        _row("int32", 4, "<i4"),
        _row("int64", 8, "<i8"),
        _row("uint8", 1, "u1"),
        _row("uint16", 2, "<u2"),
        _row("uint32", 4, "<u4"),
        _row("uint64", 8, "<u8"),
        _row("bool", 1, "?"),
        _row("complex64", 8, "<c8"),
        _row("complex128", 16, "<c16"),
    )
}

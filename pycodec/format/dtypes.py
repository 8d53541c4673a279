"""The dtype table of ``spec/dcz.md`` (section 4.5): names, sizes, and how each is held.

Elements are kept in numpy arrays of a *storage* dtype of the same size (the dtype itself
where numpy has it, else an unsigned integer of its width), so every value travels as its
exact bit pattern. torch is imported only by the functions that convert to and from it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

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

    @property
    def bits_dtype(self) -> np.dtype:
        """The unsigned integer dtype of the element's width (bit-pattern comparisons)."""
        return np.dtype(f"<u{self.itemsize}") if self.itemsize <= 8 else np.dtype("V16")


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


def torch_dtype(dtype: DType) -> torch.dtype:
    """The torch dtype of a table row; an error if this torch does not have it."""
    import torch

    found: Any = getattr(torch, dtype.name, None)
    if not isinstance(found, torch.dtype):
        raise TypeError(f"this PyTorch ({torch.__version__}) has no dtype {dtype.name}")
    return found


def from_torch(dtype: torch.dtype) -> DType:
    """The table row of a torch dtype; TypeError for dtypes the format cannot store."""
    name = str(dtype).removeprefix("torch.")
    row = DTYPES.get(name)
    if row is None:
        raise TypeError(f"dtype {dtype} cannot be stored in a .dcz file")
    return row


def tensor_to_numpy(tensor: torch.Tensor, dtype: DType) -> np.ndarray:
    """A flat numpy array of `tensor`'s elements in row-major order, in the storage dtype.

    Shares memory with the tensor when it is already contiguous on the CPU. A conjugate or
    negative view is resolved first: its memory holds its base's values, not its own.
    """
    flat = tensor.detach().to("cpu").resolve_conj().resolve_neg().contiguous().reshape(-1)
    if dtype.numpy_native:
        return flat.numpy()
    import torch

    unsigned = {1: torch.uint8, 2: torch.uint16}[dtype.itemsize]
    return flat.view(unsigned).numpy()


def numpy_to_tensor(array: np.ndarray, dtype: DType, shape: tuple[int, ...]) -> torch.Tensor:
    """Wrap a flat storage-dtype array as a torch tensor of `dtype` and `shape` (no copy)."""
    import torch

    tensor = torch.from_numpy(array)
    if not dtype.numpy_native:
        tensor = tensor.view(torch_dtype(dtype))
    return tensor.reshape(shape)

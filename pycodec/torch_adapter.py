"""The one place where pycodec meets PyTorch.

:mod:`pycodec.format` reads and writes flat numpy arrays of a storage dtype, dtype names,
shapes and alias targets. This module turns a module or state dict into those
(:func:`to_stored`), turns decoded arrays back into tensors (:func:`to_tensor`), and
applies ``map_location`` as :func:`torch.load` understands it (:func:`apply_map_location`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from pycodec.errors import UnsupportedTensorError
from pycodec.format import limits
from pycodec.format.dtypes import DTYPES, DType
from pycodec.format.reader import DEFAULT_THREADS, DczReader
from pycodec.format.tensors import StoredTensor

# ----------------------------------------------------------------- dtypes


def torch_dtype(dtype: DType) -> torch.dtype:
    """The torch dtype of a dtype-table row; TypeError if this torch lacks it."""
    found: Any = getattr(torch, dtype.name, None)
    if not isinstance(found, torch.dtype):
        raise TypeError(f"this PyTorch ({torch.__version__}) has no dtype {dtype.name}")
    return found


_ROWS: dict[torch.dtype, DType] = {}


def dtype_row(dtype: torch.dtype) -> DType:
    """The dtype-table row of a torch dtype; TypeError for dtypes the format cannot store."""
    row = _ROWS.get(dtype)  # a save asks for every tensor: str() of a dtype is the slow part
    if row is None:
        row = DTYPES.get(str(dtype).removeprefix("torch."))
        if row is None:
            raise TypeError(f"dtype {dtype} cannot be stored in a .dcz file")
        _ROWS[dtype] = row
    return row


# ----------------------------------------------------------------- tensors <-> arrays


_UNSIGNED = {1: torch.uint8, 2: torch.uint16}  # the views numpy holds bfloat16/float16/float8 in


def tensor_to_numpy(tensor: torch.Tensor, dtype: DType) -> np.ndarray:
    """A flat array of `tensor`'s elements, row-major, in the storage dtype.

    Shares memory with a contiguous CPU tensor. A conjugate or negative view is resolved
    first: its memory holds its base's values, not its own.
    """
    flat = tensor.detach() if tensor.requires_grad else tensor  # numpy() refuses a tensor that requires grad
    if not flat.is_cpu or flat.is_conj() or flat.is_neg() or not flat.is_contiguous():
        flat = flat.to("cpu").resolve_conj().resolve_neg().contiguous()  # each a no-op where it can be
    if not dtype.numpy_native:
        flat = flat.view(_UNSIGNED[dtype.itemsize])
    return flat.numpy().reshape(-1)


def numpy_to_tensor(array: np.ndarray, dtype: DType, shape: tuple[int, ...]) -> torch.Tensor:
    """Wrap a flat storage-dtype array as a tensor of `dtype` and `shape` (no copy)."""
    if array.size == 0:  # torch.from_numpy gives an empty array zero strides, which view() refuses
        return torch.empty(shape, dtype=torch_dtype(dtype))
    tensor = torch.from_numpy(array)
    if not dtype.numpy_native:
        tensor = tensor.view(torch_dtype(dtype))
    return tensor.reshape(shape)


def to_tensor(array: np.ndarray, dtype_name: str, shape: tuple[int, ...]) -> torch.Tensor:
    return numpy_to_tensor(array, DTYPES[dtype_name], shape)


# ----------------------------------------------------------------- module -> state dict


def _effective_state_dict(module: torch.nn.Module) -> Mapping[str, Any]:
    """The module's state dict, through the training side's helper for parametrized or
    pruned modules (their effective weights) when that helper exists."""
    if importlib.util.find_spec("pycodec._torch_state") is not None:
        helper = importlib.import_module("pycodec._torch_state")
        return helper.effective_state_dict(module)
    return module.state_dict()


def collect_tensors(obj: Any) -> dict[str, torch.Tensor]:
    """The named tensors of an ``nn.Module`` (its state dict) or a mapping of tensors."""
    if isinstance(obj, torch.nn.Module):
        obj = _effective_state_dict(obj)
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected an nn.Module or a mapping of tensors, got {type(obj).__name__}")
    if len(obj) > limits.MAX_TENSORS:
        raise ValueError(f"{len(obj)} tensors exceed the format's limit of {limits.MAX_TENSORS}")
    tensors: dict[str, torch.Tensor] = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be strings, got {type(name).__name__}")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name!r}: expected a tensor, got {type(value).__name__}")
        _check_tensor_kind(name, value)
        tensors[name] = value
    return tensors


def _unsupported_kind(tensor: torch.Tensor) -> str | None:
    """Why `tensor` is not a plain dense tensor with data, or None if it is. Checked before
    anything reads its shape: a nested tensor's ``shape`` raises torch's internal error."""
    if tensor.is_nested:
        return "nested"
    if tensor.layout != torch.strided:
        return f"{str(tensor.layout).removeprefix('torch.')} layout"
    if tensor.is_quantized:
        return "quantized"
    if tensor.is_meta:
        return "meta (no data)"
    return None


def _check_tensor_kind(name: str, tensor: torch.Tensor) -> None:
    kind = _unsupported_kind(tensor)
    if kind is not None:
        raise UnsupportedTensorError(f"{name!r}: a {kind} tensor cannot be saved; only dense strided tensors with data")
    try:
        dtype_row(tensor.dtype)
    except TypeError as exc:
        raise UnsupportedTensorError(f"{name!r}: {exc}") from None


def find_aliases(tensors: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """Map each tensor that is exactly an earlier one (same storage, offset, shape, strides,
    dtype and conjugate/negative bits) to that earlier tensor's name. Empty tensors are
    never aliased. A conj or neg view shares its base's memory but not its values."""
    first: dict[tuple[Any, ...], str] = {}
    aliases: dict[str, str] = {}
    for name, tensor in tensors.items():
        if tensor.numel() == 0:
            continue
        key = (
            None if tensor.is_cpu else tensor.device,  # .device builds an object: 0.6 us a tensor
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tensor.stride(),
            tensor.dtype,
            tensor.is_conj(),
            tensor.is_neg(),
        )
        if key in first:
            aliases[name] = first[key]
        else:
            first[key] = name
    return aliases


def to_stored(obj: Any) -> dict[str, StoredTensor]:
    """What the format layer writes: per name, the flat array (or alias target), dtype
    name and shape. Shape limits are checked by the writer."""
    tensors = collect_tensors(obj)
    aliases = find_aliases(tensors)
    stored: dict[str, StoredTensor] = {}
    for name, tensor in tensors.items():
        dtype = dtype_row(tensor.dtype)
        shape = tuple(tensor.shape)  # torch.Size holds ints
        if name in aliases:
            stored[name] = StoredTensor(dtype.name, shape, alias_of=aliases[name])
        else:
            stored[name] = StoredTensor(dtype.name, shape, array=_array_if_valid_shape(tensor, dtype, shape))
    return stored


def _array_if_valid_shape(tensor: torch.Tensor, dtype: DType, shape: tuple[int, ...]) -> np.ndarray | None:
    """The tensor's elements, or None for a shape the format refuses anyway (the writer
    reports it; converting a huge tensor first would only waste memory)."""
    if len(shape) > limits.MAX_RANK or max(shape, default=0) > limits.MAX_DIM:
        return None
    if limits.shape_volume(shape) > limits.MAX_NUMEL:
        return None
    return tensor_to_numpy(tensor, dtype)


# ----------------------------------------------------------------- map_location


def check_map_location(map_location: Any) -> None:
    """Refuse what ``torch.load`` would not accept, and dtypes: a location never casts."""
    if isinstance(map_location, torch.dtype):
        raise TypeError(f"map_location={map_location} is a dtype; pycodec never changes a tensor's dtype")
    ok = map_location is None or isinstance(map_location, (str, torch.device, dict)) or callable(map_location)
    if not ok:
        raise TypeError(f"map_location must be a str, torch.device, dict or callable, got {type(map_location).__name__}")


def apply_map_location(tensor: torch.Tensor, map_location: Any) -> torch.Tensor:
    """Move a decoded CPU tensor where `map_location` says, as ``torch.load`` would:

    * ``None``: stay on the CPU;
    * a str or ``torch.device``: move there;
    * a dict: remap the saved location (``"cpu"``) to its value, if it has that key;
    * a callable ``f(storage, location)``: use the storage it returns (or keep it on the
      CPU when it returns None).
    """
    check_map_location(map_location)
    if map_location is None:
        return tensor
    if isinstance(map_location, dict):
        target = map_location.get("cpu")
        return tensor if target is None else _move(tensor, target)
    if isinstance(map_location, (str, torch.device)):
        return _move(tensor, map_location)
    storage = map_location(tensor.untyped_storage(), "cpu")
    if storage is None:
        return tensor
    moved = torch.empty(0, dtype=tensor.dtype, device=storage.device)
    moved.set_(storage, tensor.storage_offset(), tensor.shape, tensor.stride())
    return moved


def _move(tensor: torch.Tensor, target: str | torch.device) -> torch.Tensor:
    device = torch.device(target)
    if device.type == "cpu":
        return tensor
    return tensor.to(device)


# ----------------------------------------------------------------- lazy reader


class DczFile(DczReader):
    """A ``.dcz`` file opened lazily, handing out torch tensors. Use as a context manager.

    >>> with pycodec.open("model.dcz") as f:          # doctest: +SKIP
    ...     print(f.keys(), f.metadata())
    ...     w = f.get_tensor("fc1.weight")             # or f["fc1.weight"]
    """

    def get_tensor(self, name: str, map_location: Any = "cpu") -> torch.Tensor:
        """Decode one tensor (reading only its own sections)."""
        check_map_location(map_location)
        entry = self.entry(name)
        array = _writable(self.read_array(name))
        return apply_map_location(to_tensor(array, entry.dtype, entry.shape), map_location)

    tensor = get_tensor

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.get_tensor(name)

    def load_all(self, map_location: Any = "cpu", *, threads: int = DEFAULT_THREADS) -> dict[str, torch.Tensor]:
        """Decode every tensor, checking every byte; aliases share storage with their target."""
        check_map_location(map_location)
        arrays = self.read_all(threads=threads)
        result: dict[str, torch.Tensor] = {}
        for name in self.keys():
            entry = self.entry(name)
            if entry.encoding == "alias":
                target = result[entry.alias_of or ""]
                result[name] = target.view(target.shape)
            else:
                tensor = to_tensor(_writable(arrays.pop(name)), entry.dtype, entry.shape)
                result[name] = apply_map_location(tensor, map_location)
        return result


def _writable(array: np.ndarray) -> np.ndarray:
    """torch wants writable memory: a view of immutable bytes is copied (a private memory
    map and the reader's own buffers are writable already)."""
    return array if array.flags.writeable else array.copy()

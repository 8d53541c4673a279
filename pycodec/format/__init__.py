"""The ``.dcz`` container (``spec/dcz.md``) in numpy terms; it never imports torch.

Modules, one per concept: :mod:`~pycodec.format.syntax` (the spec's field tables, driving
both directions), :mod:`~pycodec.format.layout` (where sections lie),
:mod:`~pycodec.format.limits`, :mod:`~pycodec.format.dtypes`,
:mod:`~pycodec.format.encodings` (per-tensor choice and coding),
:mod:`~pycodec.format.source` (files, buffers, memory maps),
:mod:`~pycodec.format.reader` and :mod:`~pycodec.format.writer`. Tensors travel as
:class:`~pycodec.format.tensors.StoredTensor`; :mod:`pycodec.torch_adapter` converts.
"""

from __future__ import annotations

from pycodec.format.reader import DczReader, TensorInfo
from pycodec.format.syntax import HEADER_ZLIB, MAGIC, VERSION

__all__ = ["DczReader", "TensorInfo", "MAGIC", "VERSION", "HEADER_ZLIB"]

"""The ``.dcz`` container (``spec/dcz.md``): syntax tables, limits, encodings, reader, writer.

Modules, one per concept: :mod:`~pycodec.format.syntax` (the spec's field tables, driving
both directions), :mod:`~pycodec.format.limits`, :mod:`~pycodec.format.dtypes`,
:mod:`~pycodec.format.encodings` (per-tensor choice and coding),
:mod:`~pycodec.format.reader` and :mod:`~pycodec.format.writer`.
"""

from __future__ import annotations

from pycodec.format.reader import DczFile, TensorInfo
from pycodec.format.syntax import HEADER_ZLIB, MAGIC, VERSION

__all__ = ["DczFile", "TensorInfo", "MAGIC", "VERSION", "HEADER_ZLIB"]

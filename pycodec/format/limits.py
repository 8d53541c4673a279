"""The limits of format version 1 (``spec/dcz.md``, section 6), used by reader and writer.

The values live in one table, in the native core (``csrc/limits.hpp``), which uses them
too; this module gives them their Python names. Format limits are part of the
specification: a file beyond them is malformed. The policy limit (decoded bytes) is
pycodec's default and can be raised per call.
"""

from __future__ import annotations

from pycodec._core import LIMITS as _TABLE

PREAMBLE_SIZE: int = _TABLE["PREAMBLE_SIZE"]
MIN_HEADER_LENGTH: int = _TABLE["MIN_HEADER_LENGTH"]
MAX_HEADER_LENGTH: int = _TABLE["MAX_HEADER_LENGTH"]
MAX_HEADER_DEPTH: int = _TABLE["MAX_HEADER_DEPTH"]
MAX_FILE_LENGTH: int = _TABLE["MAX_FILE_LENGTH"]
MAX_TENSORS: int = _TABLE["MAX_TENSORS"]
MAX_METADATA_ENTRIES: int = _TABLE["MAX_METADATA_ENTRIES"]
MAX_METADATA_KEY_BYTES: int = _TABLE["MAX_METADATA_KEY_BYTES"]
MAX_METADATA_VALUE_BYTES: int = _TABLE["MAX_METADATA_VALUE_BYTES"]
MAX_NAME_BYTES: int = _TABLE["MAX_NAME_BYTES"]
MAX_RANK: int = _TABLE["MAX_RANK"]
MAX_DIM: int = _TABLE["MAX_DIM"]
MAX_NUMEL: int = _TABLE["MAX_NUMEL"]
MAX_CODEBOOK_SIZE: int = _TABLE["MAX_CODEBOOK_SIZE"]
MIN_INDEX_BITS: int = _TABLE["MIN_INDEX_BITS"]
MAX_INDEX_BITS: int = _TABLE["MAX_INDEX_BITS"]
MAX_PLANES: int = _TABLE["MAX_PLANES"]
MAX_INT_DIGITS: int = _TABLE["MAX_INT_DIGITS"]
RAW_ALIGNMENT: int = _TABLE["RAW_ALIGNMENT"]

#: Policy: the most bytes one load may allocate while decoding: every decoded tensor plus
#: the intermediates (index arrays, gap entries) of the tensors being decoded. A sparse
#: tensor's size is not bounded by the file's, so without this a file of a few hundred
#: bytes could ask for terabytes. 4 GiB is above every model this project makes (VGG-16
#: in float32 is 0.55 GB) and leaves room on a 24 GB machine for two budgets at once and
#: the rest of the process; raise it per call (``max_decoded_bytes=``) for larger models.
DEFAULT_MAX_DECODED_BYTES: int = _TABLE["DEFAULT_MAX_DECODED_BYTES"]


def shape_volume(shape: tuple[int, ...] | list[int]) -> int:
    """The product of ``max(d, 1)`` over `shape` (spec 4.3): bounded by :data:`MAX_NUMEL`.

    Bounding this rather than numel makes the rule independent of the order of the
    dimensions and keeps strides of zero-element shapes within 64 bits.
    """
    volume = 1
    for dim in shape:
        volume *= max(dim, 1)
    return volume

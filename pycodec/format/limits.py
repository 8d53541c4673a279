"""The limits of format version 1 (``spec/dcz.md``, section 6), used by reader and writer.

Format limits are part of the specification: a file beyond them is malformed. The policy
limit (decoded bytes) is pycodec's default and can be raised per call.
"""

from __future__ import annotations

PREAMBLE_SIZE = 32
MIN_HEADER_LENGTH = 2  # the shortest JSON object, "{}"
MAX_HEADER_LENGTH = 1 << 24
MAX_FILE_LENGTH = 1 << 48
MAX_TENSORS = 65536
MAX_METADATA_ENTRIES = 4096
MAX_METADATA_KEY_BYTES = 256
MAX_METADATA_VALUE_BYTES = 65536
MAX_NAME_BYTES = 1024
MAX_RANK = 16
MAX_DIM = 1 << 40
MAX_NUMEL = 1 << 40
MAX_CODEBOOK_SIZE = 65536
MIN_INDEX_BITS = 1
MAX_INDEX_BITS = 16
MAX_INT_DIGITS = 20  # JSON integers: enough for any u64
RAW_ALIGNMENT = 64

#: Policy: the most bytes one load may allocate while decoding: every decoded tensor plus
#: the intermediates (index arrays, gap entries) of the tensors being decoded. A sparse
#: tensor's size is not bounded by the file's, so without this a file of a few hundred
#: bytes could ask for terabytes. 4 GiB is above every model this project makes (VGG-16
#: in float32 is 0.55 GB) and leaves room on a 24 GB machine for two budgets at once and
#: the rest of the process; raise it per call (``max_decoded_bytes=``) for larger models.
DEFAULT_MAX_DECODED_BYTES = 1 << 32


def shape_volume(shape: tuple[int, ...] | list[int]) -> int:
    """The product of ``max(d, 1)`` over `shape` (spec 4.3): bounded by :data:`MAX_NUMEL`.

    Bounding this rather than numel makes the rule independent of the order of the
    dimensions and keeps strides of zero-element shapes within 64 bits.
    """
    volume = 1
    for dim in shape:
        volume *= max(dim, 1)
    return volume

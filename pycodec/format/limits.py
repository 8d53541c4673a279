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

#: Policy: the most bytes one load may decode; a sparse tensor's size is not bounded by
#: the file's, so without this a tiny file could ask for terabytes.
DEFAULT_MAX_DECODED_BYTES = 1 << 36

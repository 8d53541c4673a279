"""The exceptions pycodec raises.

Every error the project raises on bad input derives from :class:`DczError`, so a caller
can catch one class. ``ValueError`` is a second base of the input errors (``TypeError``
of :class:`UnsupportedTensorError`, ``OSError`` of :class:`NotRegularFileError`) so that
code written against plain Python conventions still catches them.

Not every failure is a :class:`DczError`: a path that cannot be opened at all (missing,
a symlink loop, no permission, a full disk while saving) raises the built-in ``OSError``
that the operating system reported.
"""

from __future__ import annotations

__all__ = [
    "DczError",
    "CodecError",
    "ClosedFileError",
    "CorruptStreamError",
    "DataChangedError",
    "LimitExceededError",
    "MalformedFileError",
    "NotRegularFileError",
    "UnsupportedTensorError",
]


class DczError(Exception):
    """Base class of every pycodec error."""


class CodecError(DczError, ValueError):
    """Invalid input to a codec function (wrong dtype, out-of-range symbol, bad parameter)."""


class DataChangedError(CodecError):
    """The array being encoded changed while it was read (another thread writing the
    tensor being saved, as a training loop beside a checkpoint does): nothing is written
    that would not load, and a path keeps its previous file. Save again when it is still."""


class CorruptStreamError(CodecError):
    """A coded stream is malformed, truncated or inconsistent with its declared sizes."""


class LimitExceededError(CorruptStreamError):
    """A size beyond a documented, overridable limit: a stream's symbol count over
    ``max_symbols``, a file decoding to more than ``max_decoded_bytes``, or an allocation
    the machine refused while decoding. Raise the limit to read such a file."""


class MalformedFileError(DczError, ValueError):
    """A ``.dcz`` file is malformed, truncated, corrupt or violates a limit."""


class NotRegularFileError(DczError, OSError):
    """The path names a FIFO, device, socket or directory, not a regular file.

    ``load``, ``open`` and ``save`` refuse such paths before reading or writing a byte
    (reading a FIFO would block forever; replacing a device would destroy it).
    """


class UnsupportedTensorError(DczError, TypeError):
    """A tensor ``save`` cannot store: nested, sparse, quantized, meta, or of a dtype the
    format lacks. The message names the tensor."""


class ClosedFileError(DczError, ValueError):
    """A lazy reader was used after it was closed."""

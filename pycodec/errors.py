"""The exceptions pycodec raises.

Every error the project raises on bad input derives from :class:`DczError`, so a caller
can catch one class. ``ValueError`` is a second base of the input errors so that code
written against plain Python conventions still catches them.
"""

from __future__ import annotations

__all__ = [
    "DczError",
    "CodecError",
    "CorruptStreamError",
    "LimitExceededError",
    "MalformedFileError",
]


class DczError(Exception):
    """Base class of every pycodec error."""


class CodecError(DczError, ValueError):
    """Invalid input to a codec function (wrong dtype, out-of-range symbol, bad parameter)."""


class CorruptStreamError(CodecError):
    """A coded stream is malformed, truncated or inconsistent with its declared sizes."""


class LimitExceededError(CorruptStreamError):
    """A stream declares a size beyond a documented (and overridable) limit."""


class MalformedFileError(DczError, ValueError):
    """A ``.dcz`` file is malformed, truncated, corrupt or violates a limit."""

"""The decoded-size budget (``max_decoded_bytes``, spec section 6): a policy limit.

A :class:`DecodeBudget` counts the bytes a load allocates while decoding: every decoded
tensor and, while a tensor is being decoded, its intermediates (index arrays, gap
entries). The file's own bytes are not counted; they are bounded by its length. Threads
decoding tensors of one load share one budget, so the limit holds for the whole load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pycodec.errors import LimitExceededError


class DecodeBudget:
    """Bytes still allowed; :meth:`reserve` raises :class:`LimitExceededError` past it."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def reserve(self, nbytes: int, what: str) -> None:
        """Count `nbytes` more, before they are allocated; `what` names them in the error."""
        with self._lock:
            if self.used + nbytes > self.limit:
                raise LimitExceededError(
                    f"{what}: decoding needs {nbytes} more bytes, {self.used} already in use, "
                    f"over max_decoded_bytes={self.limit} (raise max_decoded_bytes to load this file)"
                )
            self.used += nbytes

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.used -= nbytes

    @contextmanager
    def held(self, nbytes: int, what: str) -> Iterator[None]:
        """Count `nbytes` of intermediates for the duration of the block."""
        self.reserve(nbytes, what)
        try:
            yield
        finally:
            self.release(nbytes)

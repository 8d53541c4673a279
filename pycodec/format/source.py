"""Where a reader's bytes come from: a file descriptor, or a buffer (bytes, a file
object's contents, or a memory map of a file)."""

from __future__ import annotations

import mmap
import os
import stat
import threading
from typing import BinaryIO

import numpy as np

from pycodec import codec
from pycodec.errors import MalformedFileError, NotRegularFileError


def describe_file_type(mode: int) -> str:
    """What a non-regular file is, for error messages."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def open_regular_file(path: str) -> BinaryIO:
    """Open `path` for reading if it is a regular file, else :class:`NotRegularFileError`.

    The open does not block (a FIFO with no writer would block a plain open forever) and
    the check is made on the opened descriptor, so it holds for what is then read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{path!r} is {describe_file_type(mode)}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class FileSource:
    """Reads at offsets of an open regular file; each read makes a fresh writable array."""

    def __init__(self, path: str):
        self.name = path
        self._file = open_regular_file(path)
        self._lock = threading.Lock()

    def size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    def read_at(self, offset: int, length: int, into: np.ndarray | None = None) -> np.ndarray:
        """`length` bytes at `offset`, in a fresh array or in `into` (at least `length`
        bytes, for bytes the caller does not keep)."""
        buffer = codec.empty_bytes(length) if into is None else into[:length]
        got = self._pread(memoryview(buffer), offset) if length else 0
        if got != length:
            raise MalformedFileError(f"file shrank while reading: {got} of {length} bytes at {offset}")
        return buffer

    def _pread(self, view: memoryview, offset: int) -> int:
        """Bytes read into `view` from `offset` on, up to the end of the file: with pread
        where there is one (threads read at once, no shared position), else seek and read."""
        if not hasattr(os, "preadv"):
            with self._lock:
                self._file.seek(offset)
                return self._file.readinto(view) or 0
        got = 0
        while got < len(view):  # a read returns at most about 2 GiB on Linux
            step = os.preadv(self._file.fileno(), [view[got:]], offset + got)
            if step == 0:
                break
            got += step
        return got

    def native(self) -> int:
        """What :func:`codec.read_sections` reads from: the file's descriptor."""
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


class BufferSource:
    """Reads from bytes in memory. Sections come back as views, without copying: read-only
    for an immutable buffer, writable (copy-on-write) for a private memory map."""

    def __init__(self, buffer: bytes | bytearray | memoryview | mmap.mmap, name: str, owner: object = None):
        self.name = name
        self._array = np.frombuffer(buffer, dtype=np.uint8)
        self._owner = owner  # closed with the source (a memory map)
        self._closed = False

    def size(self) -> int:
        return self._array.size

    def read_at(self, offset: int, length: int, into: np.ndarray | None = None) -> np.ndarray:
        """A view of `length` bytes at `offset` (`into` is not needed: nothing is copied)."""
        del into
        if offset + length > self._array.size:
            raise MalformedFileError(f"section at {offset} runs past the end of the data")
        return self._array[offset : offset + length]

    def native(self) -> np.ndarray:
        """What :func:`codec.read_sections` reads from: the bytes themselves."""
        return self._array

    def close(self) -> None:
        self._closed = True
        self._array = np.zeros(0, np.uint8)
        # A memory map stays valid while arrays handed out still use it; it is unmapped
        # when the last of them goes (numpy holds a reference through the buffer).
        self._owner = None

    @property
    def closed(self) -> bool:
        return self._closed


def map_file(path: str) -> BufferSource:
    """A private, copy-on-write memory map of a regular file: arrays made from it can be
    written to, and the writes never reach the file."""
    with open_regular_file(path) as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            return BufferSource(b"", path)
        mapped = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY)
    return BufferSource(mapped, path, owner=mapped)

"""The canonical layout of ``spec/dcz.md`` section 3.3: where every section lies.

The header stores no offsets, only each section's length (and CRC32), so the layout
follows from the header's stored length and the section lengths alone. This one function
serves the writer (where to put the bytes), the reader's table check (the file's length)
and the padding scan (which bytes must be zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PREAMBLE_SIZE = 32
DATA_ALIGNMENT = 64  # the data area and every raw section start on a 64-byte boundary


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def section_alignment(encoding: str) -> int:
    """Raw data is 64-byte aligned so it can be memory-mapped; entropy-coded data packs."""
    return DATA_ALIGNMENT if encoding == "raw" else 1


@dataclass(frozen=True)
class Layout:
    data_start: int  # align_up(32 + H, 64)
    offsets: tuple[int, ...]  # one per section, in table order
    file_length: int

    def padding(self, lengths: Iterable[int], header_length: int) -> list[tuple[int, int]]:
        """The (start, stop) ranges of padding: after the header and between sections."""
        ranges = []
        end = PREAMBLE_SIZE + header_length
        for offset, length in zip((self.data_start, *self.offsets), (0, *lengths), strict=True):
            if offset > end:
                ranges.append((end, offset))
            end = offset + length
        return ranges


def layout(header_length: int, sections: Iterable[tuple[int, int]]) -> Layout:
    """Offsets of sections given as (alignment, length) in table order, behind a stored
    header of `header_length` bytes, and the length of the file they make."""
    data_start = align_up(PREAMBLE_SIZE + header_length, DATA_ALIGNMENT)
    end = data_start
    offsets = []
    for alignment, length in sections:
        offset = align_up(end, alignment)
        offsets.append(offset)
        end = offset + length
    return Layout(data_start, tuple(offsets), end)

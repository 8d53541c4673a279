"""Tables of ``dcz dump``: plain text fitted to a width, or a GitHub markdown table.

A table is a list of columns and rows of already-escaped cells; ``None`` in the rows is
a rule line. In text, a table too wide for its limit first leaves out its optional
columns, then shortens the columns that may shrink (tensor names, shapes) until it fits;
numbers are never cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pycodec.cli.text import elide, markdown_escape

__all__ = ["GAP", "Column", "Row", "fit", "render_markdown", "render_text"]

GAP = "  "  # between columns

Row = Sequence[str] | None  # None: a rule line


@dataclass(frozen=True)
class Column:
    """One column: its heading, alignment, whether it may be left out to save width, and
    how narrow it may be shortened (0: never) and how."""

    header: str
    numeric: bool = False  # right-aligned
    optional: bool = False  # left out first when the table is too wide
    min_width: int = 0  # > 0: may be shortened down to this many characters
    shorten: Callable[[str, int], str] = elide


def natural_widths(columns: Sequence[Column], rows: Sequence[Row]) -> list[int]:
    cells = [row for row in rows if row is not None]
    return [max([len(col.header)] + [len(row[i]) for row in cells]) for i, col in enumerate(columns)]


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + len(GAP) * (len(widths) - 1)


def shrink(columns: Sequence[Column], widths: Sequence[int], limit: int) -> list[int]:
    """Narrow the shortenable columns, the one with the most room to spare first, until
    the table is at most `limit` characters wide or none can shrink further."""
    widths = list(widths)
    excess = _total(widths) - limit
    while excess > 0:
        spare = ((widths[i] - col.min_width, i) for i, col in enumerate(columns) if col.min_width)
        room, index = max(spare, default=(0, -1))
        if room <= 0:
            break
        widths[index] -= 1
        excess -= 1
    return widths


def fit(columns: Sequence[Column], rows: Sequence[Row], limit: int | None) -> tuple[list[int], list[int]]:
    """The indices of the columns to show and their widths: all at natural width if that
    fits `limit` (``None``: no limit), else without the optional ones, shortened as needed."""
    shown = list(range(len(columns)))
    widths = natural_widths(columns, rows)
    if limit is None or _total(widths) <= limit:
        return shown, widths
    shown = [i for i in shown if not columns[i].optional]
    kept = [columns[i] for i in shown]
    return shown, shrink(kept, [widths[i] for i in shown], limit)


def _line(columns: Sequence[Column], widths: Sequence[int], cells: Sequence[str]) -> str:
    out = []
    for col, width, cell in zip(columns, widths, cells, strict=True):
        cell = col.shorten(cell, width) if col.min_width else cell
        out.append(cell.rjust(width) if col.numeric else cell.ljust(width))
    return GAP.join(out).rstrip()


def render_text(columns: Sequence[Column], rows: Sequence[Row], width: int | None) -> tuple[list[str], list[str]]:
    """The table as lines of at most `width` characters (``None``: natural width), a rule
    under the heading and wherever a row is ``None``; and the headers left out to fit."""
    shown, widths = fit(columns, rows, width)
    kept = [columns[i] for i in shown]
    rule = GAP.join("-" * w for w in widths)
    lines = [_line(kept, widths, [c.header for c in kept]), rule]
    lines += [rule if row is None else _line(kept, widths, [row[i] for i in shown]) for row in rows]
    return lines, [c.header for i, c in enumerate(columns) if i not in shown]


def _cell(text: str) -> str:
    return markdown_escape(text) or " "


def render_markdown(columns: Sequence[Column], rows: Sequence[Row]) -> list[str]:
    """A GitHub-flavoured markdown table; cells are never elided, rule rows are dropped."""
    lines = ["| " + " | ".join(_cell(c.header) for c in columns) + " |",
             "|" + "|".join("---:" if c.numeric else ":---" for c in columns) + "|"]  # fmt: skip
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows if row is not None]
    return lines

"""Text helpers of the light CLI: escaping, number formats, eliding and wrapping.

Everything here works on ``str`` and imports only the standard library, so ``dcz dump``
and ``dcz verify`` stay quick to start.
"""

from __future__ import annotations

import textwrap

__all__ = ["ELLIPSIS", "count", "elide", "markdown_escape", "printable", "shorten_name", "wrap"]

#: Marks the cut in an elided cell; ASCII, so any terminal encoding can print it.
ELLIPSIS = "..."


def printable(text: object) -> str:
    """`text` with every non-printable character (C0/C1 controls, ESC, newlines, bidi
    overrides, other format characters) written as a Python escape such as ``\\x1b``."""
    return "".join(c if c.isprintable() else _escape(c) for c in str(text))


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def count(value: int) -> str:
    """An integer with thousands separators, as the compress report prints them: ``24,360``."""
    return f"{value:,}"


def elide(text: str, width: int, tail_share: float = 0.6) -> str:
    """`text` cut to `width` characters by replacing its middle with ``...``.

    Names are dotted paths whose both ends matter (``features.11`` … ``running_var``);
    `tail_share` of the kept characters come from the end.
    """
    if len(text) <= width:
        return text
    keep = width - len(ELLIPSIS)
    if keep < 2:
        return text[:width]
    tail = max(1, round(keep * tail_share))
    return text[: keep - tail] + ELLIPSIS + text[-tail:]


def _word(part: str) -> bool:
    return len(part) > 1 and part[0].isalpha() and part.replace("_", "").isalpha()


def shorten_name(name: str, width: int) -> str:
    """A dotted tensor name in at most `width` characters. Its leading words become their
    initials, left to right, until it fits (``features.11.1.running_mean`` →
    ``f.11.1.running_mean``); numbers stay whole, since they tell layers apart. If that is
    not enough, the last part is cut in its middle, or, when the leading parts alone take
    more than half the width, the whole name is (:func:`elide`)."""
    parts = name.split(".")
    for i in range(len(parts) - 1):
        if len(name) <= width:
            return name
        if _word(parts[i]):
            parts[i] = parts[i][0]
            name = ".".join(parts)
    if len(name) <= width:
        return name
    head = name[: len(name) - len(parts[-1])]
    if len(head) <= width // 2:
        return head + elide(parts[-1], width - len(head), tail_share=0.5)
    return elide(name, width, tail_share=0.65)


def wrap(prefix: str, text: str, width: int | None, max_lines: int | None = None) -> list[str]:
    """`prefix` + `text` as lines of at most `width` characters (``None``: one line),
    continued under the text; beyond `max_lines` lines the rest is summarised."""
    if width is None or len(prefix) + len(text) <= width:
        return [prefix + text]
    indent = " " * len(prefix)
    body = max(width - len(prefix), 20)
    lines = textwrap.wrap(text, body, break_on_hyphens=False, drop_whitespace=True) or [""]
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [f"... ({count(len(text))} characters in all; --wide shows them)"]
    return [prefix + lines[0]] + [indent + line for line in lines[1:]]


# Backslash-escaped in markdown: what could start emphasis, code, a link, HTML or an
# entity, or end a table cell. An underscore between letters or digits is inert
# (CommonMark's intraword rule), so ``running_mean`` stays as it is.
_MARKDOWN_SPECIAL = frozenset("\\`*[]<>|~&")


def markdown_escape(text: str) -> str:
    """`text` (already :func:`printable`) as literal markdown text, also inside a table."""
    out = []
    for i, char in enumerate(text):
        inert = char == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        special = char in _MARKDOWN_SPECIAL or (char == "_" and not inert)
        out.append("\\" + char if special else char)
    return "".join(out)

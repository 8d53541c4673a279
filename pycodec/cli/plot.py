"""``dcz plot FILE [-o OUT]``: the weight distributions and byte breakdown of a file.

matplotlib is imported only when the command runs (``pip install "pycodec[plot]"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pycodec.cli.inspect import _add_budget, printable
from pycodec.errors import DczError

__all__ = ["add_arguments", "run"]


def add_arguments(plot: argparse.ArgumentParser) -> None:
    plot.add_argument("file", help="a .dcz file")
    plot.add_argument("-o", "--out", help="figure to write: .png, .svg or .pdf (default: FILE's name with .png)")
    plot.add_argument("--top", type=int, default=12, metavar="N",
                      help="histograms of the N layers with the most bytes; the rest fold into one bar (default 12)")
    _add_budget(plot)
    plot.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pycodec.cli import UserError
    from pycodec.plot import plot_file

    out = args.out or Path(args.file).with_suffix(".png").name
    try:
        written = plot_file(args.file, out, top=args.top, max_decoded_bytes=args.max_decoded_bytes)
    except DczError:
        raise  # a bad file: exit 1, like dump and verify
    except ValueError as exc:  # a bad output name or --top: the user's, exit 2
        raise UserError(str(exc)) from None
    print(f"wrote {printable(str(written))}")
    return 0

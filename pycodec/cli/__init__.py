"""The ``dcz`` command line: ``dump``, ``verify``, ``compress``, ``train``, ``plot``.

``dcz dump FILE...`` prints the header and a per-tensor table in the spirit of Tables 2–3
of the Deep Compression paper; ``dcz verify FILE...`` checks every byte (both: errors print
one line on stderr and exit 1). ``dcz compress`` runs Deep Compression on a built-in or
importable model; ``dcz train`` trains a baseline. Usage errors and user errors of
``compress``/``train`` (a bad value, a layer pattern that matches nothing, a missing
dataset, an unavailable device) print one line and exit 2, before any training. Every
command stops quietly with status 141 when its output pipe closes (``| head``).

Subcommands are lazy: only the chosen one's module is imported, so ``dump`` and
``verify`` never import torch's training stack or tqdm. Names, metadata and paths are
printed escaped (:func:`printable`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pycodec.cli.inspect import describe, printable, quiet_on_closed_pipe
from pycodec.errors import DczError

__all__ = ["COMMANDS", "build_parser", "main", "printable"]

PROG = "dcz"

# name → (module holding add_arguments, help line). Only the chosen module is imported.
COMMANDS = {
    "dump": ("pycodec.cli.inspect:add_dump_arguments", "print the header and per-tensor statistics"),
    "verify": ("pycodec.cli.inspect:add_verify_arguments", "check every checksum and decode every tensor"),
    "compress": ("pycodec.cli.compress:add_arguments", "prune, weight-share and save a model as .dcz"),
    "train": ("pycodec.cli.train:add_arguments", "train a baseline model (.pt or .dcz)"),
    "plot": ("pycodec.cli.plot:add_arguments", "draw weight distributions and bytes per layer (matplotlib)"),
}


class UserError(Exception):
    """A user's mistake: printed as one line, exit status 2."""


def _chosen(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _version() -> str:
    from pycodec import __version__

    return __version__


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with options only for the command named in ``argv`` (imported lazily)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Inspect, verify and make .dcz compressed-model files.")
    parser.add_argument("--version", action="version", version=f"%(prog)s (pycodec) {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen(argv)
    for name, (target, help_line) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_line, description=help_line[0].upper() + help_line[1:] + ".",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        if name == chosen:
            module_name, _, function = target.partition(":")
            getattr(importlib.import_module(module_name), function)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return quiet_on_closed_pipe(lambda: _run(argv))


def _run(argv: list[str]) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"{PROG} {args.command}: error: {printable(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # main() ends quietly
    except (DczError, OSError) as exc:
        print(f"{PROG}: error: {printable(describe(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

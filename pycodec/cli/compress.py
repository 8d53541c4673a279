"""``dcz compress``: Deep Compression of a built-in or importable model, from the shell."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pycodec.cli.options import add_config_options, config_from_args

__all__ = ["EXAMPLES", "add_arguments", "run"]

EXAMPLES = """examples:
  dcz compress                                   # LeNet-300-100 on the embedded MNIST subset
  dcz compress --model lenet-5 --dataset mnist --data-dir DIR --out lenet_5.dcz
  dcz compress --model lenet-300-100 --weights baseline.pt --baseline-epochs 0 \\
      --density fc1=0.08,fc2=0.09,fc3=0.26 --bits 5 --prune-steps 3
  dcz compress --model mypkg.nets:small_cnn --dataset mnist --density 'conv*=0.5,fc*=0.1'
  dcz compress --resume --run-dir runs/x         # continue after the last finished stage
  dcz compress --plots figures                   # + weight histograms per stage, error per stage

Patterns are fnmatch globs over layer names; a name given exactly wins over globs.
The file records its provenance: metadata pycodec.version, pycodec.compression (the
settings) and pycodec.error (the error after every stage); `dcz dump` shows them.
Data: --data-dir, else $PYCODEC_DATA/DATASET, else ./data/DATASET."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    add_config_options(parser, "compress")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the configuration (exit 2 on a user error), run it, print the report."""
    from pycodec.cli import UserError
    from pycodec.compress.config import ConfigError
    from pycodec.compress.pipeline import format_report, run_pipeline

    try:
        report = run_pipeline(config_from_args(args))
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return 0
    text = format_report(report)
    print(text)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text)
    return 0

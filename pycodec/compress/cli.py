"""The ``dcz compress`` subcommand: run the Deep Compression pipeline from the shell."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pycodec.compress.pipeline import (
    CompressConfig,
    format_report,
    parse_layer_values,
    run_pipeline,
)
from pycodec.compress.quantize import INIT_METHODS
from pycodec.data import DATASETS
from pycodec.models import MODELS

__all__ = [
    "add_compress_arguments",
    "add_compress_command",
    "config_from_args",
    "run_compress",
]


def add_compress_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dcz compress`` (defaults: LeNet-300-100 on the embedded MNIST subset)."""
    d = CompressConfig()
    io = parser.add_argument_group("model, data and files")
    io.add_argument("--model", choices=sorted(MODELS), default=d.model)
    io.add_argument(
        "--dataset",
        choices=DATASETS,
        default=d.dataset,
        help="'embedded' needs no files",
    )
    io.add_argument("--data-dir", help="folder with the dataset's files (no downloads)")
    io.add_argument(
        "--out", default=d.out, help="the .dcz file to write (default: %(default)s)"
    )
    io.add_argument(
        "--run-dir", help="stage checkpoints (default: runs/MODEL-DATASET-seedSEED)"
    )
    io.add_argument(
        "--resume", action="store_true", help="continue after the last finished stage"
    )
    io.add_argument(
        "--baseline", help="start from this state_dict file instead of training"
    )
    io.add_argument("--report", type=Path, help="also write the markdown report here")
    run = parser.add_argument_group("execution")
    run.add_argument("--device", choices=("cpu", "cuda"), default=d.device)
    run.add_argument("--seed", type=int, default=d.seed)
    run.add_argument("--threads", type=int, help="torch intra-op threads")
    run.add_argument(
        "--train-limit", type=int, help="train on the first N examples only"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    tr = parser.add_argument_group("training")
    tr.add_argument(
        "--epochs",
        type=int,
        nargs=3,
        metavar=("BASELINE", "PRUNE", "FINETUNE"),
        default=(d.baseline_epochs, d.prune_epochs, d.finetune_epochs),
        help="epochs of baseline training, of retraining per pruning step, of centroid fine-tuning",
    )
    tr.add_argument(
        "--lr",
        type=float,
        nargs=3,
        metavar=("BASELINE", "PRUNE", "FINETUNE"),
        default=(d.baseline_lr, d.prune_lr, d.finetune_lr),
    )
    tr.add_argument("--batch-size", type=int, default=d.batch_size)
    tr.add_argument("--weight-decay", type=float, default=d.weight_decay)
    tr.add_argument(
        "--shift",
        type=int,
        default=d.shift,
        help="random-translation augmentation, pixels",
    )
    cp = parser.add_argument_group("compression")
    cp.add_argument(
        "--density",
        help="fraction kept: 0.1, or per layer fc1=0.08,fc2=0.09 ('*=' for the rest)",
    )
    cp.add_argument("--prune-steps", type=int, default=d.prune_steps)
    cp.add_argument("--scope", choices=("layer", "global"), default=d.scope)
    cp.add_argument(
        "--exclude",
        default="",
        help="comma-separated layer names not to prune or quantize",
    )
    cp.add_argument("--conv-bits", type=int, default=d.conv_bits)
    cp.add_argument("--fc-bits", type=int, default=d.fc_bits)
    cp.add_argument("--bits", default="", help="per-layer bit widths, e.g. fc1=4,fc3=6")
    cp.add_argument(
        "--bias-bits", type=int, help="also weight-share biases with this many bits"
    )
    cp.add_argument(
        "--init",
        choices=INIT_METHODS,
        default=d.init,
        help="k-means centroid initialisation",
    )


def config_from_args(args: argparse.Namespace) -> CompressConfig:
    return CompressConfig(
        model=args.model, dataset=args.dataset, data_dir=args.data_dir, out=args.out,
        run_dir=args.run_dir, resume=args.resume, device=args.device, seed=args.seed,
        threads=args.threads, train_limit=args.train_limit, baseline=args.baseline,
        baseline_epochs=args.epochs[0], prune_epochs=args.epochs[1], finetune_epochs=args.epochs[2],
        baseline_lr=args.lr[0], prune_lr=args.lr[1], finetune_lr=args.lr[2],
        density=None if args.density is None else parse_layer_values(args.density, float),
        prune_steps=args.prune_steps, scope=args.scope,
        exclude=[name for name in args.exclude.split(",") if name],
        conv_bits=args.conv_bits, fc_bits=args.fc_bits,
        bits=parse_layer_values(args.bits, int) if args.bits else {},
        bias_bits=args.bias_bits, init=args.init, batch_size=args.batch_size,
        weight_decay=args.weight_decay, shift=args.shift, progress=not args.no_progress,
    )  # fmt: skip


def run_compress(args: argparse.Namespace) -> int:
    """Run the pipeline for parsed ``args``; print (and optionally save) the report."""
    report = run_pipeline(config_from_args(args))
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return 0
    text = format_report(report)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text)
    return 0


def add_compress_command(
    subparsers: argparse._SubParsersAction,
) -> argparse.ArgumentParser:
    """Add ``compress`` to a subparsers object; its ``func`` returns an exit code."""
    parser = subparsers.add_parser(
        "compress",
        help="prune, quantize and save a model as .dcz",
        description="Deep Compression pipeline: baseline, iterative pruning with retraining, "
        "k-means weight sharing with centroid fine-tuning, then a .dcz file.",
    )
    add_compress_arguments(parser)
    parser.set_defaults(func=run_compress)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m pycodec.compress.cli`` — the same as ``dcz compress``."""
    parser = argparse.ArgumentParser(prog="python -m pycodec.compress.cli")
    add_compress_arguments(parser)
    args = parser.parse_args(argv)
    return run_compress(args)


if __name__ == "__main__":
    raise SystemExit(main())

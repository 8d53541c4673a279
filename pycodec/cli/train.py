"""``dcz train``: train a baseline of a built-in or importable model, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

from pycodec.cli.options import add_config_options, config_from_args

__all__ = ["EXAMPLES", "add_arguments", "run"]

EXAMPLES = """examples:
  dcz train --model lenet-5 --dataset mnist --data-dir DIR --baseline-epochs 30 --out lenet-5.pt
  dcz train --model mypkg.nets:small_cnn --dataset mnist --out small.dcz

The state is saved after every epoch to OUT.state; rerunning the command continues."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    add_config_options(parser, "train")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pycodec.cli import UserError
    from pycodec.compress.config import ConfigError
    from pycodec.compress.prepare import prepare
    from pycodec.compress.training import TrainConfig, evaluate, train

    cfg = config_from_args(args)
    try:
        run_ = prepare(cfg, compressing=False)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    config = TrainConfig(epochs=cfg.baseline_epochs, batch_size=cfg.batch_size, lr=cfg.baseline_lr,
                         weight_decay=cfg.weight_decay, shift=cfg.shift, seed=cfg.seed, progress=cfg.progress)  # fmt: skip
    out = Path(cfg.out)
    train(run_.model, run_.train, config, device=run_.device, eval_batches=run_.test,
          checkpoint=out.with_suffix(out.suffix + ".state"), ctx=run_.ctx, desc=cfg.model)  # fmt: skip
    result = evaluate(run_.model, run_.test, run_.device)
    if run_.ctx.is_main:
        _write(run_.model, out, run_.metadata)
        print(f"{cfg.model}: test error {100 * result.error:.2f}% ({result.count - result.correct}/{result.count}) -> {out}")
    return 0


def _write(model: "torch.nn.Module", out: Path, metadata: dict[str, str]) -> None:
    import torch

    import pycodec

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".dcz":
        pycodec.save(model, out, metadata=metadata)
    else:
        torch.save(model.state_dict(), out)

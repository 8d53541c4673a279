"""Training and evaluation loops: seeded, with progress bars, optionally distributed.

One loop serves the baseline training and both retraining stages of the pipeline. The
stages differ only in which tensors the optimiser owns and in two hooks around
``optimizer.step()``: pruning re-applies its masks after each step, trained quantization
turns weight gradients into centroid gradients before it and rewrites the weights from
the codebook after it.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel` (gloo on CPU, NCCL on CUDA); each
rank trains on its shard, gradients are averaged before the hooks run, so every rank
applies identical updates. Evaluation always runs on the whole split on every rank.

Run as a module to train a baseline::

    python -m pycodec.train --model lenet-300-100 --dataset mnist --data-dir DIR --out ckpt.pt
"""

from __future__ import annotations

import argparse
import math
import os
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from pycodec.data import DATASETS, Split, iterate_batches, load_split
from pycodec.models import MODELS, get_model

__all__ = [
    "DistContext",
    "EvalResult",
    "StepHooks",
    "TrainConfig",
    "evaluate",
    "init_distributed",
    "resolve_device",
    "seed_everything",
    "shift_augment",
    "train",
]


@dataclass
class TrainConfig:
    """Hyper-parameters of one training or retraining run."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    optimizer: str = "sgd"  # "sgd" (Nesterov-free momentum) or "adam"
    schedule: str = "cosine"  # "cosine" (per step, to 0) or "constant"
    shift: int = 0  # random translation augmentation of up to ±shift pixels
    flip: bool = False  # random horizontal flips (CIFAR)
    seed: int = 0
    progress: bool = True


class StepHooks(Protocol):
    """Callbacks around ``optimizer.step()``; gradients are already averaged across ranks."""

    def before_step(self) -> None: ...

    def after_step(self) -> None: ...


@dataclass(frozen=True)
class DistContext:
    """Rank and world size of this process; ``world_size == 1`` means not distributed."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class EvalResult:
    loss: float
    correct: int
    count: int

    @property
    def error(self) -> float:
        """Top-1 error as a fraction."""
        return 1.0 - self.correct / self.count if self.count else float("nan")


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    test_error: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``cpu`` or ``cuda``; under torchrun ``cuda`` means this rank's local GPU."""
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda requested but CUDA is not available")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise ValueError(f"unknown device {name!r}; expected cpu or cuda")
    return torch.device("cpu")


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group torchrun describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size())


def shift_augment(
    images: torch.Tensor, max_shift: int, generator: torch.Generator
) -> torch.Tensor:
    """Translate each image by a random integer offset in ``[-max_shift, max_shift]``.

    Borders are filled by replicating the edge pixels (background for MNIST).
    """
    n, _, h, w = images.shape
    padded = nn.functional.pad(images, (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = (offsets[0][:, None] + torch.arange(h))[:, :, None]  # [n, h, 1]
    cols = (offsets[1][:, None] + torch.arange(w))[:, None, :]  # [n, 1, w]
    batch = torch.arange(n)[:, None, None]
    return (
        padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()
    )


def _augment(
    images: torch.Tensor, config: TrainConfig, generator: torch.Generator
) -> torch.Tensor:
    if config.shift > 0:
        images = shift_augment(images, config.shift, generator)
    if config.flip:
        flip = torch.rand(images.shape[0], generator=generator) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
    return images


def make_optimizer(
    params: Iterable[torch.Tensor], config: TrainConfig
) -> torch.optim.Optimizer:
    params = list(params)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; expected sgd or adam")


def _make_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if config.schedule == "cosine":
        steps = max(total_steps, 1)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)),
        )
    raise ValueError(
        f"unknown schedule {config.schedule!r}; expected cosine or constant"
    )


@torch.no_grad()
def evaluate(
    model: nn.Module, split: Split, device: torch.device, batch_size: int = 1000
) -> EvalResult:
    """Mean cross-entropy and number of correct top-1 predictions over the whole split."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for images, labels in iterate_batches(split, batch_size, shuffle=False):
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss_sum += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(1) == labels).sum())
    model.train(was_training)
    return EvalResult(loss_sum / max(len(split), 1), correct, len(split))


def _save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    history: list[EpochLog],
) -> None:
    """Atomically write the resumable training state (tensors and plain data only)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "epoch": epoch,
        "history": [asdict(entry) for entry in history],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train(
    model: nn.Module,
    train_split: Split,
    config: TrainConfig,
    *,
    device: torch.device,
    params: Iterable[torch.Tensor] | None = None,
    hooks: StepHooks | None = None,
    eval_split: Split | None = None,
    checkpoint: Path | None = None,
    ctx: DistContext | None = None,
    desc: str = "train",
) -> list[EpochLog]:
    """Train ``model`` in place for ``config.epochs`` epochs and return the per-epoch log.

    ``params`` are the tensors the optimiser updates (default: all model parameters).
    With ``checkpoint`` the state is saved after every epoch and a run resumes from it.
    """
    ctx = ctx or DistContext()
    model.to(device).train()
    wrapped: nn.Module = model
    if ctx.world_size > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = make_optimizer(model.parameters() if params is None else params, config)
    steps_per_epoch = math.ceil(
        math.ceil(len(train_split) / ctx.world_size) / config.batch_size
    )
    schedule = _make_schedule(optimizer, config, steps_per_epoch * config.epochs)
    history: list[EpochLog] = []
    start_epoch = 0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start_epoch = int(state["epoch"])
        history = [EpochLog(**entry) for entry in state["history"]]
    for epoch in range(start_epoch, config.epochs):
        generator = torch.Generator().manual_seed(
            config.seed * 100_003 + epoch * 1009 + ctx.rank
        )
        batches = iterate_batches(
            train_split,
            config.batch_size,
            shuffle=True,
            seed=config.seed,
            epoch=epoch,
            rank=ctx.rank,
            world_size=ctx.world_size,
        )
        bar = tqdm(
            batches,
            total=steps_per_epoch,
            desc=f"{desc} {epoch + 1}/{config.epochs}",
            # None: tqdm draws only on a terminal, so logs and CI output stay clean
            disable=None if config.progress and ctx.is_main else True,
            leave=False,
        )
        loss_sum, seen = 0.0, 0
        for images, labels in bar:
            images = _augment(images, config, generator).to(device)
            labels = labels.to(device)
            loss = nn.functional.cross_entropy(wrapped(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if hooks is not None:
                hooks.before_step()
            optimizer.step()
            schedule.step()
            if hooks is not None:
                hooks.after_step()
            loss_sum += float(loss.detach()) * labels.shape[0]
            seen += labels.shape[0]
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        entry = EpochLog(epoch + 1, loss_sum / max(seen, 1))
        if eval_split is not None:
            entry.test_error = evaluate(model, eval_split, device).error
        history.append(entry)
        if ctx.is_main:
            err = (
                ""
                if entry.test_error is None
                else f"  test error {100 * entry.test_error:.2f}%"
            )
            tqdm.write(
                f"{desc} epoch {epoch + 1}/{config.epochs}: loss {entry.train_loss:.4f}{err}"
            )
        if checkpoint is not None and ctx.is_main:
            _save_checkpoint(checkpoint, model, optimizer, schedule, epoch + 1, history)
    return history


# --------------------------------------------------------------------------- command line


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Optimiser options of ``python -m pycodec.train``."""
    defaults = TrainConfig()
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument(
        "--optimizer", choices=("sgd", "adam"), default=defaults.optimizer
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pycodec.train", description="Train a baseline model."
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="lenet-300-100")
    parser.add_argument("--dataset", choices=DATASETS, default="embedded")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument(
        "--out", type=Path, required=True, help="state_dict checkpoint to write"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--shift", type=int, default=0, help="random-translation augmentation (pixels)"
    )
    parser.add_argument(
        "--limit", type=int, help="use only the first N training examples"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--threads", type=int, help="torch intra-op threads (default: torch's choice)"
    )
    parser.add_argument("--no-progress", action="store_true")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ctx = init_distributed(device)
    seed_everything(args.seed)
    train_split = load_split(args.dataset, True, args.data_dir)
    test_split = load_split(args.dataset, False, args.data_dir)
    if args.limit:
        train_split = train_split.subset(args.limit)
    model = get_model(args.model)
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        optimizer=args.optimizer, shift=args.shift, seed=args.seed, progress=not args.no_progress,
    )  # fmt: skip
    state_path = args.out.with_suffix(args.out.suffix + ".state")
    train(
        model,
        train_split,
        config,
        device=device,
        eval_split=test_split,
        checkpoint=state_path,
        ctx=ctx,
        desc=args.model,
    )
    result = evaluate(model, test_split, device)
    if ctx.is_main:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), args.out)
        print(
            f"{args.model}: test error {100 * result.error:.2f}% ({result.count - result.correct}/{result.count}) -> {args.out}"
        )
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

``train`` and ``evaluate`` take any iterable of ``(inputs, labels)`` batches (a
``DataLoader``, a list) or a :class:`~pycodec.data.Split`, which is batched, shuffled
per epoch and sharded across ranks here. ``dcz train`` trains a baseline from the shell.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from pycodec.data import Split, iterate_batches

__all__ = [
    "DistContext",
    "Batches",
    "EvalResult",
    "StepHooks",
    "TrainConfig",
    "evaluate",
    "init_distributed",
    "seed_everything",
    "shift_augment",
    "train",
]


Batches = Iterable[tuple[torch.Tensor, torch.Tensor]] | Split


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


def _as_batches(batches: Batches, batch_size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    return iterate_batches(batches, batch_size, shuffle=False) if isinstance(batches, Split) else batches


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Batches, device: torch.device | str | None = None, batch_size: int = 1000
) -> EvalResult:
    """Mean cross-entropy and correct top-1 predictions over every batch (on ``device``,
    default: where the model's parameters are)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for inputs, labels in _as_batches(batches, batch_size):
        inputs, labels = inputs.to(device), labels.to(device)
        logits = model(inputs)
        loss_sum += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(1) == labels).sum())
        count += int(labels.shape[0])
    model.train(was_training)
    return EvalResult(loss_sum / max(count, 1), correct, count)


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


@dataclass
class _Loop:
    """What one training run holds between epochs."""

    model: nn.Module
    wrapped: nn.Module  # the DDP wrapper, or the model itself
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    steps_per_epoch: int | None
    history: list[EpochLog]


def _epoch_batches(batches: Batches, config: TrainConfig, epoch: int, ctx: DistContext) -> Iterable:
    if not isinstance(batches, Split):
        return batches  # the caller's loader shuffles and shards as it likes
    return iterate_batches(batches, config.batch_size, shuffle=True, seed=config.seed, epoch=epoch,
                           rank=ctx.rank, world_size=ctx.world_size)  # fmt: skip


def _steps_per_epoch(batches: Batches, config: TrainConfig, ctx: DistContext) -> int | None:
    if isinstance(batches, Split):
        return math.ceil(math.ceil(len(batches) / ctx.world_size) / config.batch_size)
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None  # a generator: cosine schedule needs a length


def _start(
    model: nn.Module,
    batches: Batches,
    config: TrainConfig,
    params: Iterable[torch.Tensor] | None,
    device: torch.device,
    ctx: DistContext,
) -> _Loop:
    model.to(device).train()
    wrapped: nn.Module = model
    if ctx.world_size > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
    optimizer = make_optimizer(params, config)
    steps = _steps_per_epoch(batches, config, ctx)
    if steps is None and config.schedule == "cosine":
        raise ValueError("a cosine schedule needs batches with a len(); use schedule='constant'")
    schedule = _make_schedule(optimizer, config, (steps or 0) * config.epochs)
    return _Loop(model, wrapped, optimizer, schedule, steps, [])


def _resume(loop: _Loop, checkpoint: Path | None, device: torch.device) -> int:
    if checkpoint is None or not checkpoint.is_file():
        return 0
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    loop.model.load_state_dict(state["model"])
    loop.optimizer.load_state_dict(state["optimizer"])
    loop.schedule.load_state_dict(state["schedule"])
    loop.history = [EpochLog(**entry) for entry in state["history"]]
    return int(state["epoch"])


ProgressBar = Callable[[Iterable], Iterable]


def _run_epoch(
    loop: _Loop,
    batches: Iterable,
    config: TrainConfig,
    hooks: StepHooks | None,
    device: torch.device,
    generator: torch.Generator,
    bar: ProgressBar,
) -> float:
    loss_sum, seen = 0.0, 0
    for inputs, labels in bar(batches):
        inputs = (_augment(inputs, config, generator) if inputs.dim() == 4 else inputs).to(device)
        labels = labels.to(device)
        loss = nn.functional.cross_entropy(loop.wrapped(inputs), labels)
        loop.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if hooks is not None:
            hooks.before_step()
        loop.optimizer.step()
        loop.schedule.step()
        if hooks is not None:
            hooks.after_step()
        loss_sum += float(loss.detach()) * labels.shape[0]
        seen += labels.shape[0]
    return loss_sum / max(seen, 1)


def _progress(config: TrainConfig, ctx: DistContext, total: int | None, desc: str) -> ProgressBar:
    from tqdm import tqdm  # only training draws bars; inspecting files never imports tqdm

    # disable=None: tqdm draws only on a terminal, so logs and CI output stay clean
    disable = None if config.progress and ctx.is_main else True
    return lambda batches: tqdm(batches, total=total, desc=desc, disable=disable, leave=False)


def train(
    model: nn.Module,
    batches: Batches,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    params: Iterable[torch.Tensor] | None = None,
    hooks: StepHooks | None = None,
    eval_batches: Batches | None = None,
    checkpoint: Path | None = None,
    ctx: DistContext | None = None,
    desc: str = "train",
) -> list[EpochLog]:
    """Train ``model`` in place for ``config.epochs`` epochs and return the per-epoch log.

    ``batches``: a :class:`Split` or any re-iterable of ``(inputs, labels)`` (a
    ``DataLoader``). ``params`` are the tensors the optimiser updates (default: the
    model's parameters that require a gradient). With ``checkpoint`` the state is saved
    after every epoch and a run resumes from it.
    """
    ctx, device = ctx or DistContext(), torch.device(device)
    loop = _start(model, batches, config, params, device, ctx)
    for epoch in range(_resume(loop, checkpoint, device), config.epochs):
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch * 1009 + ctx.rank)
        bar = _progress(config, ctx, loop.steps_per_epoch, f"{desc} {epoch + 1}/{config.epochs}")
        loss = _run_epoch(loop, _epoch_batches(batches, config, epoch, ctx), config, hooks, device, generator, bar)
        entry = EpochLog(epoch + 1, loss)
        if eval_batches is not None:
            entry.test_error = evaluate(model, eval_batches, device).error
        loop.history.append(entry)
        if ctx.is_main:
            err = "" if entry.test_error is None else f"  test error {100 * entry.test_error:.2f}%"
            print(f"{desc} epoch {epoch + 1}/{config.epochs}: loss {entry.train_loss:.4f}{err}", flush=True)
        if checkpoint is not None and ctx.is_main:
            _save_checkpoint(checkpoint, model, loop.optimizer, loop.schedule, epoch + 1, loop.history)
    return loop.history

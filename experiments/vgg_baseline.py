"""Train a VGG-19 (or Fire-module VGG-19) baseline on MNIST or Fashion-MNIST, resumably.

Inputs follow issue 11's convention: pixel/255, normalised with the dataset's mean and
std, zero-padded by 2 pixels to 32×32. Training uses AdamW with a one-cycle schedule,
random ±2-pixel shifts (and horizontal flips on Fashion-MNIST) and bfloat16 autocast on
the CPU (weights and evaluation stay float32). ``--polish-epochs N`` then trains N more
epochs on a cosine from ``--lr``/10 to zero, after the one-cycle schedule (a finished
one-cycle run can be polished: its checkpoint continues). A checkpoint is
written every few minutes and at each epoch end; rerunning the same command continues
from the last one, mid-epoch included.

    python experiments/vgg_baseline.py --model vgg-19 --dataset mnist --epochs 6 \
        --data-dir ../shared/data/mnist --run-dir runs/vgg/vgg19_mnist
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from pycodec.data import load_split
from pycodec.models import vgg19, vgg19_squeezed

FACTORIES = {"vgg-19": vgg19, "vgg-19-squeezed": vgg19_squeezed}
CHECKPOINT_SECONDS = 300


def padded(images: torch.Tensor) -> torch.Tensor:
    """Normalised 28×28 images → 32×32, zero-padded by 2 on each side."""
    return F.pad(images, (2, 2, 2, 2))


def augment(x: torch.Tensor, generator: torch.Generator, flip: bool) -> torch.Tensor:
    """Padded 32×32 crops shifted by up to ±2 pixels (zero fill), optionally flipped."""
    n = x.shape[0]
    big = F.pad(x, (4, 4, 4, 4))  # 28 → 36; a 32×32 crop at offset 2 is the unshifted input
    dx, dy = torch.randint(0, 5, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(32)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(32)[None, :])[:, None, None, :]
    out = big[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        out[mask] = out[mask].flip(-1)
    return out


def train_step(model, opt, sched, x: torch.Tensor, labels: torch.Tensor) -> float:
    """One bf16-autocast optimiser step on a padded batch; returns the loss."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()
    return float(loss.detach())


@torch.no_grad()
def error_rate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    wrong = 0
    for start in range(0, len(images), 500):
        x = padded(images[start : start + 500]).contiguous(memory_format=torch.channels_last)
        wrong += int((model(x).argmax(1) != labels[start : start + 500]).sum())
    return wrong / len(images)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(FACTORIES), required=True)
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--polish-epochs", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train = load_split(args.dataset, True, args.data_dir)
    test = load_split(args.dataset, False, args.data_dir)
    model = FACTORIES[args.model](in_channels=1).to(memory_format=torch.channels_last)
    # AdamW: plain SGD leaves these 16-layer plain stacks near chance for hundreds of steps.
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(train.images) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.run_dir / "checkpoint.pt"
    log = (args.run_dir / "train.log").open("a")
    step = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["schedule"])
        step = ckpt["step"]
        print(f"resumed at step {step}", file=log, flush=True)

    def save(step: int) -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "schedule": sched.state_dict(), "step": step}, tmp)
        tmp.replace(ckpt_path)

    last_save = time.monotonic()
    flip = args.dataset == "fashion-mnist"
    cycle_steps = args.epochs * steps_per_epoch
    polish_steps = args.polish_epochs * steps_per_epoch

    def schedule(step: int):
        """The one-cycle scheduler, or None after it, with the polish lr set by hand."""
        if step < cycle_steps:
            return sched
        for group in opt.param_groups:
            group["lr"] = args.lr / 10 * 0.5 * (1 + math.cos(math.pi * (step - cycle_steps) / polish_steps))
        return None

    while step < cycle_steps + polish_steps:
        epoch, offset = divmod(step, steps_per_epoch)
        order = torch.randperm(len(train.images), generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch * 7919 + offset)
        model.train()
        running, seen, t0 = 0.0, 0, time.monotonic()
        for b in range(offset, steps_per_epoch):
            idx = order[b * args.batch_size : (b + 1) * args.batch_size]
            loss = train_step(model, opt, schedule(step), augment(train.images[idx], gen, flip), train.labels[idx])
            step += 1
            running, seen = running + loss, seen + 1
            if b % 50 == 0:
                rate = (time.monotonic() - t0) / seen
                print(f"epoch {epoch} batch {b}/{steps_per_epoch} loss {running / seen:.4f} {rate:.2f} s/batch", file=log, flush=True)
            if time.monotonic() - last_save > CHECKPOINT_SECONDS:
                save(step)
                last_save = time.monotonic()
        err = error_rate(model, test.images, test.labels)
        save(step)
        print(json.dumps({"epoch": epoch, "test_error": err}), file=log, flush=True)
    torch.save(model.state_dict(), args.run_dir / "baseline.pt")
    err = error_rate(model, test.images, test.labels)
    (args.run_dir / "baseline.json").write_text(json.dumps({"model": args.model, "dataset": args.dataset, "epochs": args.epochs,
                                                                 "polish_epochs": args.polish_epochs, "test_error": err}) + "\n")
    print(f"done: test error {err:.4%}", file=log, flush=True)


if __name__ == "__main__":
    main()

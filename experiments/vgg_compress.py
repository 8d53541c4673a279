"""Deep Compression of a trained VGG-19 (or Fire-module VGG-19) baseline with the public
``pycodec.compress.compress_model`` API, fine-tuning with our own training loop.

Reads ``RUN_DIR/baseline.pt`` (from experiments/vgg_baseline.py), prunes toward the
given densities in ``--prune-steps`` steps with ``--finetune-images`` images of
retraining after each step and after weight sharing, then writes the ``.dcz`` file with
the model/dataset metadata that ``pycodec.models.model_for_file`` understands, and a
JSON summary next to it. Inputs: the 32×32 convention of experiments/vgg_baseline.py.

    python experiments/vgg_compress.py --run-dir runs/vgg/vgg19_mnist --dataset mnist \
        --data-dir ../shared/data/mnist --density conv=0.04 --bits 5 --out results/vgg19_mnist.dcz
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zlib
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vgg_baseline import FACTORIES, augment, error_rate, train_step  # noqa: E402

import pycodec  # noqa: E402
from pycodec.compress import compress_model  # noqa: E402
from pycodec.data import load_split  # noqa: E402


#: What decides a compressed model: a finished one is reused only if these match.
SETTINGS = ("model", "dataset", "density", "bits", "prune_steps", "finetune_images", "lr", "batch_size", "init")


def parse_mapping(text: str, kind: type) -> object:
    """``0.05`` or ``features.*=0.04,features.0.*=0.5,classifier=0.2``: compress_model's
    mapping, where an exact name wins, then the LAST matching glob (general patterns first)."""
    if "=" not in text:
        return kind(text)
    return {k.strip(): kind(v) for k, v in (item.split("=", 1) for item in text.split(","))}


def make_finetune(train, args, log):
    """Our training loop as compress_model's ``finetune(model, stage)``."""
    flip = args.dataset == "fashion-mnist"

    def finetune(model: torch.nn.Module, stage: object) -> None:
        steps = math.ceil(args.finetune_images / args.batch_size)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        gen = torch.Generator().manual_seed(zlib.crc32(str(stage).encode()))
        order = torch.randperm(len(train.images), generator=gen)
        model.train()
        start, total = time.monotonic(), 0.0
        for step in range(steps):
            idx = order[(step * args.batch_size) % len(order):][: args.batch_size]
            total += train_step(model, opt, sched, augment(train.images[idx], gen, flip), train.labels[idx])
            if step % 50 == 0:
                print(f"{stage} step {step}/{steps} loss {total / (step + 1):.4f} "
                      f"{(time.monotonic() - start) / (step + 1):.2f} s/step", file=log, flush=True)
        print(f"{stage} done, error {error_rate(model, args.test.images, args.test.labels):.4%}",
              file=log, flush=True)

    return finetune


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(FACTORIES), required=True)
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--density", required=True)
    p.add_argument("--bits", required=True)
    p.add_argument("--prune-steps", type=int, default=2)
    p.add_argument("--finetune-images", type=int, default=60000)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", default="linear", help="k-means initialisation (compress_model's init)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = load_split(args.dataset, True, args.data_dir)
    args.test = load_split(args.dataset, False, args.data_dir)
    model = FACTORIES[args.model](in_channels=1)
    model.load_state_dict(torch.load(args.run_dir / "baseline.pt", weights_only=True))
    model = model.to(memory_format=torch.channels_last)
    baseline_error = error_rate(model, args.test.images, args.test.labels)
    density, bits = parse_mapping(args.density, float), parse_mapping(args.bits, int)
    log = (args.run_dir / f"compress-{args.out.stem}.log").open("a")
    print(f"baseline error {baseline_error:.4%}; density {density}; bits {bits}", file=log, flush=True)
    compressed = args.run_dir / f"compressed-{args.out.stem}.pt"
    settings = {key: getattr(args, key) for key in SETTINGS} | {"baseline_error": baseline_error}
    settings_file = compressed.with_suffix(".settings.json")
    if compressed.exists():  # compression finished earlier; only the saving is redone
        stored = json.loads(settings_file.read_text()) if settings_file.exists() else None
        if stored != settings:
            sys.exit(f"{compressed} was made with other settings ({stored}); move it away or use another --out")
        model.load_state_dict(torch.load(compressed, weights_only=True))
        report = (args.run_dir / f"compressed-{args.out.stem}.txt").read_text()
    else:
        report = str(compress_model(model, density=density, bits=bits, prune_steps=args.prune_steps,
                                    init=args.init, finetune=make_finetune(train, args, log)))
        torch.save(model.state_dict(), compressed)
        settings_file.write_text(json.dumps(settings) + "\n")
        (args.run_dir / f"compressed-{args.out.stem}.txt").write_text(report)
    print(report, file=log, flush=True)
    error = error_rate(model, args.test.images, args.test.labels)
    metadata = {"model": args.model, "dataset": args.dataset, "in_channels": "1", "num_classes": "10",
                "input": "pixel/255, normalised by the dataset mean/std, zero-padded by 2 to 32x32",
                "test_error": f"{error:.6f}", "baseline_test_error": f"{baseline_error:.6f}"}
    pycodec.save(model, args.out, metadata=metadata)
    params = sum(t.numel() for t in model.parameters())
    summary = {"model": args.model, "dataset": args.dataset, "baseline_error": baseline_error, "error": error,
               "bytes": os.path.getsize(args.out), "float32_bytes": 4 * params,
               "ratio": 4 * params / os.path.getsize(args.out), "density": args.density, "bits": args.bits,
               "prune_steps": args.prune_steps, "init": args.init, "finetune_images": args.finetune_images,
               "report": report}
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "report"}), file=log, flush=True)


if __name__ == "__main__":
    main()

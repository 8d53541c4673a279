"""Measure k-means initialisations on trained layers: centroids used, convergence, error.

For a trained baseline (or a pruned and retrained model: a ``prune-N.pt`` stage checkpoint),
each setting prunes every layer by magnitude to the given density (no retraining), clusters the survivors with each initialisation, and reports per init:
the fewest and mean centroids in use per layer, the Lloyd iterations (the most over the
layers) and whether all converged, and the test error of the quantized model (no
fine-tuning: the clustering alone).

    python3 experiments/kmeans_init.py --model lenet-300-100 --weights BASELINE.pt \
        --data-dir ../shared/data/mnist --density fc1=0.08,fc2=0.09,fc3=0.26 --bits 8 5
"""

from __future__ import annotations

import argparse
import copy

import torch

from pycodec.compress.api import _keep_largest
from pycodec.compress.prepare import load_weights
from pycodec.compress.quantize import INIT_METHODS, kmeans_fit
from pycodec.compress.targets import plan_targets
from pycodec.compress.training import evaluate
from pycodec.data import load_split
from pycodec.models import get_model


def _parse_density(text: str) -> float | dict[str, float]:
    if "=" not in text:
        return float(text)
    return {k: float(v) for k, v in (item.split("=") for item in text.split(","))}


@torch.no_grad()
def measure(model: torch.nn.Module, density: object, bits: int, init: str, test) -> dict[str, float]:  # noqa: ANN001
    quantized = copy.deepcopy(model)
    used, iterations, converged = [], [], True
    for target in plan_targets(quantized, density, bits):
        weight = quantized.get_submodule(target.module_name).weight
        mask = _keep_largest(weight, weight != 0, target.density)  # zeros of a pruned model stay
        fit = kmeans_fit(weight[mask], 1 << bits, init=init)
        weight.zero_()
        weight[mask] = fit.centroids[fit.assignment]
        used.append(fit.used)
        iterations.append(fit.iterations)
        converged &= fit.converged
    error = evaluate(quantized, test).error
    return {"min used": min(used), "mean used": sum(used) / len(used), "max iter": max(iterations),
            "converged": converged, "error %": 100 * error}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--density", default="1.0")
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 5, 4])
    args = parser.parse_args()
    model = get_model(args.model)
    load_weights(model, args.weights)  # a baseline, or a pruning stage's checkpoint
    test = load_split("mnist", False, args.data_dir)
    print(f"{args.model}, density {args.density}, float32 error {100 * evaluate(model, test).error:.2f}%")
    print("| bits | init | fewest centroids used | mean used | most iterations | converged | error % |")
    print("|---:|---|---:|---:|---:|---|---:|")
    for bits in args.bits:
        for init in INIT_METHODS:
            m = measure(model, _parse_density(args.density), bits, init, test)
            print(f"| {bits} | {init} | {m['min used']} / {1 << bits} | {m['mean used']:.1f} | {m['max iter']} "
                  f"| {'yes' if m['converged'] else 'no'} | {m['error %']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

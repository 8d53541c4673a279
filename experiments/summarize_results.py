"""Evaluate every LeNet ``results/*.dcz`` on the MNIST test set and write ``results/summary.json``.

Each file is loaded with ``pycodec.load`` into a fresh model from ``pycodec.models`` (the
model name is the file's ``model`` metadata), so the numbers are those of the bytes on
disk. ``tests/test_pipeline.py`` re-checks them. The VGG files (``vgg*.dcz``) carry their
own ``.json`` and are re-checked by ``tests/test_vgg_results.py``: they are left out here.

    python3 experiments/summarize_results.py --data-dir "$PYCODEC_DATA/mnist"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import pycodec
from pycodec.data import load_split
from pycodec.compress.training import evaluate
from pycodec.models import model_for_file


def summarize(path: Path, test_split) -> dict:
    with pycodec.open(path) as f:
        model_name = f.metadata["model"]
        model = model_for_file(f.metadata)
    model.load_state_dict(pycodec.load(path))
    result = evaluate(model, test_split, torch.device("cpu"))
    parameters = sum(p.numel() for p in model.parameters())
    size = path.stat().st_size
    return {
        "model": model_name,
        "parameters": parameters,
        "float32_bytes": 4 * parameters,
        "file_bytes": size,
        "ratio": round(4 * parameters / size, 2),
        "test_errors": result.count - result.correct,
        "test_error_percent": round(100 * result.error, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    test_split = load_split("mnist", False, args.data_dir)
    summary = {
        path.name: summarize(path, test_split)
        for path in sorted(args.results.glob("*.dcz"))
        if not path.name.startswith("vgg")
    }
    (args.results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name, entry in summary.items():
        print(
            f"{name:32s} {entry['model']:18s} {entry['file_bytes']:>9,} B  {entry['ratio']:>7.1f}x  error {entry['test_error_percent']:.2f}%"
        )


if __name__ == "__main__":
    main()

"""Deep Compression on the training side: compress any PyTorch model in place.

    from pycodec.compress import compress_model
    report = compress_model(model, density=0.1, bits=5, finetune=my_training)
    pycodec.save(model, "model.dcz")

Modules, one per concept: :mod:`~pycodec.compress.api` (``compress_model``,
``normalize_zeros``), :mod:`~.targets` (which layers, which settings),
:mod:`~.parametrize` (masks and codebooks held while training), :mod:`~.prune` and
:mod:`~.quantize` (masks, k-means), :mod:`~.report`, :mod:`~.provenance` (the
``pycodec.*`` metadata), :mod:`~.plots` (figures of a run), :mod:`~.training` (the loop),
:mod:`~.config` (the CLI's one configuration), :mod:`~.prepare` (its checks),
:mod:`~.checkpoints` (run folders), :mod:`~.pipeline` (``dcz compress``).

Names are imported on first use, so ``pycodec.compress.config`` stays free of torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CompressionReport",
    "ConvergenceWarning",
    "LayerRow",
    "Pruner",
    "QuantizedTensor",
    "Stage",
    "WeightSharing",
    "compress_model",
    "density_masks",
    "evaluate",
    "iterative_prune",
    "kmeans_1d",
    "kmeans_fit",
    "normalize_zeros",
    "prunable_layers",
    "quantize_tensor",
    "std_threshold_masks",
    "train",
]

_HOMES = {
    "compress_model": "api", "normalize_zeros": "api", "Stage": "api",
    "CompressionReport": "report", "LayerRow": "report",
    "Pruner": "prune", "density_masks": "prune", "iterative_prune": "prune",
    "prunable_layers": "prune", "std_threshold_masks": "prune",
    "QuantizedTensor": "quantize", "WeightSharing": "quantize", "kmeans_1d": "quantize",
    "kmeans_fit": "quantize", "quantize_tensor": "quantize", "ConvergenceWarning": "quantize",
    "train": "training", "evaluate": "training",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'pycodec.compress' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pycodec.compress.{_HOMES[name]}"), name)

"""Deep Compression on the training side: pruning, weight sharing, the pipeline.

Nothing here touches bytes on disk except :func:`run_pipeline`'s last step, which calls
``pycodec.save``; the codec itself is never needed.
"""

from __future__ import annotations

from pycodec.compress.prune import (
    Pruner,
    density_masks,
    iterative_prune,
    prunable_layers,
    std_threshold_masks,
)
from pycodec.compress.quantize import (
    QuantizedTensor,
    WeightSharing,
    kmeans_1d,
    quantize_tensor,
)

__all__ = [
    "Pruner",
    "QuantizedTensor",
    "WeightSharing",
    "density_masks",
    "iterative_prune",
    "kmeans_1d",
    "prunable_layers",
    "quantize_tensor",
    "std_threshold_masks",
]

"""Weight sharing by 1-D k-means and trained quantization (Deep Compression, section 3).

Each quantized tensor keeps a codebook of ``2^bits`` centroids, an assignment of every
surviving weight to one centroid, and the pruning mask. Its dense form is exactly
``centroids[assignment]`` at unpruned positions and ``+0.0`` elsewhere, so a layer has at
most ``2^bits`` distinct non-zero values — the property the ``.dcz`` writer turns into a
codebook plus Huffman-coded indices.

k-means is one-dimensional, so clusters are contiguous runs of the sorted values: sort
once, then every Lloyd iteration is a ``searchsorted`` of the centroid midpoints into the
sorted values and a difference of prefix sums — O(k log n) per iteration after the
O(n log n) sort, for millions of weights in well under a second.

Trained quantization fine-tunes the centroids: each weight's gradient is summed into its
centroid's gradient (``scatter_add`` by assignment), assignments and mask stay fixed, and
after each optimiser step the weights are rewritten from the codebook.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pycodec.compress.prune import Masks, prunable_layers

__all__ = [
    "ConvergenceWarning",
    "DEFAULT_CONV_BITS",
    "DEFAULT_FC_BITS",
    "DEFAULT_INIT",
    "INIT_METHODS",
    "KMeansFit",
    "QuantizedTensor",
    "WeightSharing",
    "distinct_nonzero_count",
    "init_centroids",
    "kmeans_1d",
    "kmeans_fit",
    "quantize_tensor",
]

DEFAULT_CONV_BITS = 8
DEFAULT_FC_BITS = 5
INIT_METHODS = ("linear", "density", "random", "kmeans++")
# Chosen from measurements on trained, pruned LeNet layers (results/kmeans_init.md):
# linear leaves up to half of an 8-bit codebook unused, yet its files are the smallest
# (rare tail centroids make the Huffman-coded indices cheaper) at the same error.
DEFAULT_INIT = "linear"
DEFAULT_MAX_ITER = 1000
# Lloyd's steps in 1-D shrink slowly near the optimum: converged once no centroid moves by
# more than this fraction of the value range (exact equality took >1000 steps on layers).
DEFAULT_TOLERANCE = 1e-7


class ConvergenceWarning(UserWarning):
    """k-means stopped at its iteration cap while centroids were still moving."""


def init_centroids(
    sorted_values: torch.Tensor,
    k: int,
    method: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``k`` initial centroids (ascending) from ascending 1-D ``sorted_values``.

    ``linear``: evenly spaced between min and max (the paper's best choice, since it keeps
    centroids on the rare large weights). ``density``: evenly spaced in the CDF.
    ``random`` (Forgy): ``k`` values drawn from the data without replacement.
    ``kmeans++``: D²-weighted seeding (Arthur and Vassilvitskii).
    """
    n = sorted_values.numel()
    if n == 0:
        raise ValueError("cannot initialise centroids from zero values")
    if method == "linear":
        return torch.linspace(
            float(sorted_values[0]), float(sorted_values[-1]), k, dtype=torch.float64
        )
    if method == "density":
        positions = torch.linspace(0, n - 1, k, dtype=torch.float64).round().long()
        return sorted_values[positions].double()
    if method == "random":
        picks = torch.randperm(n, generator=generator)[:k]
        if picks.numel() < k:  # fewer values than clusters: reuse some
            picks = picks[torch.arange(k) % picks.numel()]
        return torch.sort(sorted_values[picks].double()).values
    if method == "kmeans++":
        return _kmeans_plus_plus(sorted_values.double(), k, generator)
    raise ValueError(
        f"unknown centroid init {method!r}; expected one of {', '.join(INIT_METHODS)}"
    )


def _kmeans_plus_plus(
    values: torch.Tensor, k: int, generator: torch.Generator | None
) -> torch.Tensor:
    """D²-seeding: each next centroid is drawn with probability ∝ squared distance."""
    picks = [values[torch.randint(values.numel(), (1,), generator=generator)]]
    nearest = (values - picks[0]) ** 2
    for _ in range(k - 1):
        total = float(nearest.sum())
        if total == 0.0:  # fewer distinct values than clusters: repeat one
            picks.append(picks[-1])
            continue
        index = torch.multinomial(nearest / total, 1, generator=generator)
        picks.append(values[index])
        nearest = torch.minimum(nearest, (values - picks[-1]) ** 2)
    return torch.sort(torch.cat(picks)).values


def _segment_bounds(
    sorted_values: torch.Tensor, centroids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end index (exclusive) in ``sorted_values`` of each centroid's cluster."""
    midpoints = (centroids[1:] + centroids[:-1]) / 2
    splits = torch.searchsorted(sorted_values, midpoints.to(sorted_values.dtype))
    zero = torch.zeros(1, dtype=torch.long)
    end = torch.full((1,), sorted_values.numel(), dtype=torch.long)
    return torch.cat([zero, splits]), torch.cat([splits, end])


@dataclass(frozen=True)
class KMeansFit:
    """Result of :func:`kmeans_fit`: centroids, assignment and how Lloyd's loop ended."""

    centroids: torch.Tensor  # [k] float32, ascending
    assignment: torch.Tensor  # [n] int64
    iterations: int
    converged: bool  # False: stopped by max_iter while centroids still moved

    @property
    def used(self) -> int:
        """How many centroids have at least one value assigned."""
        return int(torch.unique(self.assignment).numel())


def kmeans_fit(
    values: torch.Tensor,
    k: int,
    *,
    init: str = DEFAULT_INIT,
    max_iter: int = DEFAULT_MAX_ITER,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
) -> KMeansFit:
    """Lloyd's k-means on a 1-D tensor; empty clusters keep their previous centroid.

    Converged when no centroid moves by more than ``tolerance`` × (max − min) of the
    values; otherwise it stops after ``max_iter`` iterations with ``converged=False``.
    """
    if k < 1:
        raise ValueError(f"need at least one cluster, got k={k}")
    flat = values.detach().flatten().to("cpu", torch.float64)
    sorted_values, _ = torch.sort(flat)
    generator = torch.Generator().manual_seed(seed)
    centroids = init_centroids(sorted_values, k, init, generator)
    prefix = torch.cat(
        [torch.zeros(1, dtype=torch.float64), torch.cumsum(sorted_values, 0)]
    )
    converged, iterations = False, 0
    limit = tolerance * float(sorted_values[-1] - sorted_values[0])
    while iterations < max_iter:
        iterations += 1
        start, end = _segment_bounds(sorted_values, centroids)
        counts = end - start
        sums = prefix[end] - prefix[start]
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        updated = torch.sort(updated).values  # empty clusters may break the order
        moved = float((updated - centroids).abs().max())
        centroids = updated
        if moved <= limit:
            converged = True
            break
    midpoints = (centroids[1:] + centroids[:-1]) / 2
    assignment = torch.searchsorted(midpoints, flat, right=True)
    return KMeansFit(centroids.float(), assignment, iterations, converged)


def kmeans_1d(
    values: torch.Tensor,
    k: int,
    *,
    init: str = "linear",
    max_iter: int = 300,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(centroids [k] float32, assignment [n] int64)`` of :func:`kmeans_fit`."""
    fit = kmeans_fit(values, k, init=init, max_iter=max_iter, tolerance=0.0, seed=seed)
    return fit.centroids, fit.assignment


def distinct_nonzero_count(tensor: torch.Tensor) -> int:
    """Number of distinct non-zero values in ``tensor``."""
    values = tensor.detach().flatten()
    return int(torch.unique(values[values != 0]).numel())


@dataclass
class QuantizedTensor:
    """Codebook, per-element assignment and mask of one shared-weight tensor.

    ``assignment`` has the tensor's shape; its entries at pruned positions are 0 and
    meaningless. ``centroids`` is an ``nn.Parameter`` so an optimiser can fine-tune it.
    """

    centroids: nn.Parameter
    assignment: torch.Tensor
    mask: torch.Tensor
    bits: int

    def dense(self) -> torch.Tensor:
        """``centroids[assignment]`` where unpruned, exactly ``+0.0`` where pruned."""
        values = self.centroids.detach()[self.assignment]
        return torch.where(
            self.mask, values, torch.zeros((), dtype=values.dtype, device=values.device)
        )

    def centroid_grad(self, weight_grad: torch.Tensor) -> torch.Tensor:
        """Sum of the unpruned weights' gradients per centroid."""
        grad = torch.zeros_like(self.centroids, dtype=weight_grad.dtype)
        return grad.scatter_add_(0, self.assignment[self.mask], weight_grad[self.mask])


def quantize_tensor(
    weight: torch.Tensor,
    bits: int,
    *,
    mask: torch.Tensor | None = None,
    init: str = "linear",
    seed: int = 0,
) -> QuantizedTensor:
    """Cluster the unpruned entries of ``weight`` into ``2^bits`` shared values."""
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be within 1..16, got {bits}")
    mask = (weight.detach() != 0) if mask is None else mask.to(torch.bool)
    alive = weight.detach()[mask]
    k = 1 << bits
    if alive.numel() == 0:  # fully pruned: one dummy centroid, nothing assigned
        centroids, labels = torch.zeros(1), torch.zeros(0, dtype=torch.long)
    else:
        centroids, labels = kmeans_1d(alive, k, init=init, seed=seed)
    assignment = torch.zeros(weight.shape, dtype=torch.long)
    assignment[mask.cpu()] = labels
    device = weight.device
    return QuantizedTensor(
        nn.Parameter(centroids.to(device)), assignment.to(device), mask.to(device), bits
    )


class WeightSharing:
    """Quantized tensors of a model and the hooks that fine-tune their centroids.

    Use as :class:`pycodec.compress.training.StepHooks` with an optimiser over :meth:`trainable`.
    """

    def __init__(
        self, model: nn.Module, tensors: Mapping[str, QuantizedTensor]
    ) -> None:
        params = dict(model.named_parameters())
        missing = sorted(set(tensors) - set(params))
        if missing:
            raise KeyError(f"quantized tensors not in the model: {missing}")
        self.model = model
        self.tensors = dict(tensors)
        self.params = {name: params[name] for name in self.tensors}
        self.write_weights()

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        bits: Mapping[str, int] | None = None,
        masks: Masks | None = None,
        conv_bits: int = DEFAULT_CONV_BITS,
        fc_bits: int = DEFAULT_FC_BITS,
        bias_bits: int | None = None,
        init: str = "linear",
        exclude: Sequence[str] = (),
        seed: int = 0,
    ) -> WeightSharing:
        """k-means every Linear/Conv2d weight (and bias when ``bias_bits`` is given).

        ``bits`` overrides the width per layer name; ``masks`` (by layer name) marks pruned
        entries, defaulting to the weight's zeros.
        """
        bits = dict(bits or {})
        tensors: dict[str, QuantizedTensor] = {}
        for name, layer in prunable_layers(model, exclude).items():
            width = bits.get(
                name, conv_bits if isinstance(layer, nn.Conv2d) else fc_bits
            )
            mask = None if masks is None else masks.get(name)
            tensors[f"{name}.weight"] = quantize_tensor(
                layer.weight, width, mask=mask, init=init, seed=seed
            )
            if bias_bits is not None and layer.bias is not None:
                everything = torch.ones_like(layer.bias, dtype=torch.bool)
                tensors[f"{name}.bias"] = quantize_tensor(
                    layer.bias, bias_bits, mask=everything, init=init, seed=seed
                )
        return cls(model, tensors)

    def trainable(self) -> Iterator[nn.Parameter]:
        """Centroids plus every model parameter that is not quantized (biases, norms)."""
        for tensor in self.tensors.values():
            yield tensor.centroids
        for name, param in self.model.named_parameters():
            if name not in self.tensors and param.requires_grad:
                yield param

    @torch.no_grad()
    def before_step(self) -> None:
        """Turn weight gradients into centroid gradients; the weights get none themselves."""
        for name, tensor in self.tensors.items():
            weight = self.params[name]
            if weight.grad is not None:
                tensor.centroids.grad = tensor.centroid_grad(weight.grad)
                weight.grad = None

    @torch.no_grad()
    def write_weights(self) -> None:
        """Rewrite every quantized weight from its codebook."""
        for name, tensor in self.tensors.items():
            self.params[name].copy_(tensor.dense())

    def after_step(self) -> None:
        self.write_weights()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Flat tensor dict (centroids, assignment, mask, bits per name) for checkpoints."""
        state: dict[str, torch.Tensor] = {}
        for name, t in self.tensors.items():
            state[f"{name}/centroids"] = t.centroids.detach().clone()
            state[f"{name}/assignment"] = t.assignment.clone()
            state[f"{name}/mask"] = t.mask.clone()
            state[f"{name}/bits"] = torch.tensor(t.bits)
        return state

    @classmethod
    def from_state_dict(
        cls, model: nn.Module, state: Mapping[str, torch.Tensor]
    ) -> WeightSharing:
        names = sorted({key.rsplit("/", 1)[0] for key in state})
        tensors = {
            name: QuantizedTensor(
                nn.Parameter(state[f"{name}/centroids"].clone()),
                state[f"{name}/assignment"].long(),
                state[f"{name}/mask"].bool(),
                int(state[f"{name}/bits"]),
            )
            for name in names
        }
        return cls(model, tensors)

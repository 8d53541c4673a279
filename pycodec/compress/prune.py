"""Magnitude pruning of Linear and Conv2d weights with masks held through retraining.

Two ways to choose what survives (Han et al., "Learning both Weights and Connections"):

* :func:`std_threshold_masks` — the paper's rule: drop weights with
  ``|w| <= quality × std(layer weights)``.
* :func:`density_masks` — keep a given fraction of each layer (``scope="layer"``) or of
  all prunable weights together (``scope="global"``), largest magnitudes first.

A :class:`Pruner` holds the masks and keeps pruned entries at exactly ``+0.0`` whatever the
optimiser does: gradients of pruned entries are zeroed before each step (so momentum
buffers stay clean) and the weights are re-masked after it with ``torch.where``, which
writes ``+0.0`` bits (multiplying by the mask would leave ``-0.0`` for negative weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

__all__ = [
    "PRUNABLE_TYPES",
    "Pruner",
    "density_masks",
    "density_schedule",
    "iterative_prune",
    "prunable_layers",
    "std_threshold_masks",
]

PRUNABLE_TYPES = (nn.Linear, nn.Conv2d)

Masks = dict[str, torch.Tensor]  # module name → bool tensor shaped like its weight


def _excluded(name: str, exclude: Sequence[str]) -> bool:
    """True when ``name`` is an excluded module or lies inside one."""
    return any(name == e or name.startswith(e + ".") for e in exclude)


def prunable_layers(
    model: nn.Module, exclude: Sequence[str] = ()
) -> dict[str, nn.Module]:
    """Linear and Conv2d modules by name, in definition order, minus those excluded."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE_TYPES) and not _excluded(name, exclude)
    }


def _per_layer(value: float | Mapping[str, float], name: str) -> float:
    if isinstance(value, Mapping):
        if name not in value:
            raise KeyError(
                f"no pruning setting for layer {name!r}; have {sorted(value)}"
            )
        return float(value[name])
    return float(value)


def _surviving(weight: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The weights still alive under ``mask`` (all of them without one)."""
    return weight.detach().flatten() if mask is None else weight.detach()[mask]


def std_threshold_masks(
    model: nn.Module,
    quality: float | Mapping[str, float],
    *,
    exclude: Sequence[str] = (),
    current: Masks | None = None,
) -> Masks:
    """Masks keeping ``|w| > quality × std(w)`` per layer (the paper's threshold).

    With ``current`` masks (iterative pruning) the standard deviation is taken over the
    surviving weights and the new mask is a subset of the old one.
    """
    masks: Masks = {}
    for name, layer in prunable_layers(model, exclude).items():
        old = None if current is None else current.get(name)
        threshold = _per_layer(quality, name) * float(
            _surviving(layer.weight, old).std()
        )
        mask = layer.weight.detach().abs() > threshold
        masks[name] = mask if old is None else mask & old
    return masks


def _top_k_mask(magnitudes: torch.Tensor, keep: int) -> torch.Tensor:
    """Bool mask of the ``keep`` largest entries of a flat tensor (ties broken by order)."""
    mask = torch.zeros(magnitudes.numel(), dtype=torch.bool, device=magnitudes.device)
    if keep > 0:
        mask[torch.topk(magnitudes, keep, sorted=False).indices] = True
    return mask


def density_masks(
    model: nn.Module,
    density: float | Mapping[str, float],
    *,
    scope: str = "layer",
    exclude: Sequence[str] = (),
    current: Masks | None = None,
) -> Masks:
    """Masks keeping the largest-magnitude ``density`` fraction of weights.

    ``scope="layer"``: per layer (``density`` may be a per-layer mapping).
    ``scope="global"``: one magnitude ranking over all prunable weights (a single float).
    Entries already pruned in ``current`` rank below every survivor, so masks only shrink.
    """
    layers = prunable_layers(model, exclude)

    def magnitudes(name: str, layer: nn.Module) -> torch.Tensor:
        mag = layer.weight.detach().abs().flatten().float()
        if current is not None and name in current:
            mag = torch.where(current[name].flatten(), mag, torch.full_like(mag, -1.0))
        return mag

    if scope == "layer":
        masks: Masks = {}
        for name, layer in layers.items():
            mag = magnitudes(name, layer)
            keep = round(_per_layer(density, name) * mag.numel())
            masks[name] = _top_k_mask(mag, keep).view_as(layer.weight)
        return masks
    if scope != "global":
        raise ValueError(
            f"unknown pruning scope {scope!r}; expected 'layer' or 'global'"
        )
    if isinstance(density, Mapping):
        raise TypeError("global pruning takes one density for all layers")
    flat = [magnitudes(name, layer) for name, layer in layers.items()]
    everything = torch.cat(flat) if flat else torch.zeros(0)
    keep_all = _top_k_mask(everything, round(float(density) * everything.numel()))
    masks, offset = {}, 0
    for (name, layer), mag in zip(layers.items(), flat, strict=True):
        masks[name] = keep_all[offset : offset + mag.numel()].view_as(layer.weight)
        offset += mag.numel()
    return masks


class Pruner:
    """Holds per-layer masks of a model and enforces them.

    Use :meth:`before_step` / :meth:`after_step` as training hooks (see
    :class:`pycodec.compress.training.StepHooks`), or call :meth:`apply` after any update.
    """

    def __init__(self, model: nn.Module, masks: Masks) -> None:
        layers = dict(model.named_modules())
        self.weights: dict[str, torch.Tensor] = {}
        self.masks: Masks = {}
        for name, mask in masks.items():
            if name not in layers or not isinstance(layers[name], PRUNABLE_TYPES):
                raise KeyError(
                    f"mask for {name!r}, which is not a Linear or Conv2d layer of the model"
                )
            weight = layers[name].weight
            if mask.shape != weight.shape:
                raise ValueError(
                    f"mask for {name!r} has shape {tuple(mask.shape)}, weight {tuple(weight.shape)}"
                )
            self.weights[name] = weight
            self.masks[name] = mask.to(device=weight.device, dtype=torch.bool)
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        """Set every pruned weight to +0.0 (exact bits) in place."""
        for name, weight in self.weights.items():
            weight.copy_(
                torch.where(
                    self.masks[name],
                    weight,
                    torch.zeros((), dtype=weight.dtype, device=weight.device),
                )
            )

    @torch.no_grad()
    def zero_pruned_grads(self) -> None:
        """Zero the gradient of every pruned weight, so no optimiser state builds up there."""
        for name, weight in self.weights.items():
            if weight.grad is not None:
                weight.grad.masked_fill_(~self.masks[name], 0.0)

    def before_step(self) -> None:
        self.zero_pruned_grads()

    def after_step(self) -> None:
        self.apply()

    def densities(self) -> dict[str, float]:
        """Fraction of weights kept, per layer."""
        return {name: float(mask.float().mean()) for name, mask in self.masks.items()}

    def overall_density(self) -> float:
        kept = sum(int(mask.sum()) for mask in self.masks.values())
        total = sum(mask.numel() for mask in self.masks.values())
        return kept / total if total else 1.0

    def state_dict(self) -> Masks:
        """Masks by layer name, for checkpoints."""
        return {name: mask.clone() for name, mask in self.masks.items()}


def density_schedule(
    target: float | Mapping[str, float], steps: int
) -> list[float | dict[str, float]]:
    """Geometric steps from density 1 down to ``target`` (the last entry is ``target``).

    Each step removes the same fraction of the survivors, which the iterative-pruning
    papers found gentler than equal absolute steps.
    """
    if steps < 1:
        raise ValueError(f"need at least one pruning step, got {steps}")

    def at(value: float, step: int) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"density must be within [0, 1], got {value}")
        return 0.0 if value == 0.0 else math.exp(math.log(value) * step / steps)

    if isinstance(target, Mapping):
        return [
            {name: at(v, s) for name, v in target.items()} for s in range(1, steps + 1)
        ]
    return [at(float(target), s) for s in range(1, steps + 1)]


def iterative_prune(
    model: nn.Module,
    target: float | Mapping[str, float],
    steps: int,
    retrain: Callable[[Pruner, int], None],
    *,
    scope: str = "layer",
    exclude: Sequence[str] = (),
    pruner: Pruner | None = None,
    start_step: int = 1,
) -> Pruner:
    """Prune toward ``target`` density in ``steps`` geometric steps, retraining after each.

    ``retrain(pruner, step)`` retrains the model with the pruner's hooks active. Pass
    ``pruner`` and ``start_step`` to resume a schedule from a checkpoint.
    """
    schedule = density_schedule(target, steps)
    for step in range(start_step, steps + 1):
        current = None if pruner is None else pruner.masks
        masks = density_masks(
            model, schedule[step - 1], scope=scope, exclude=exclude, current=current
        )
        pruner = Pruner(model, masks)
        retrain(pruner, step)
    if pruner is None:
        raise ValueError("start_step is past the last step and no pruner was given")
    return pruner

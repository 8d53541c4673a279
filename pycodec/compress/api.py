"""``compress_model``: Deep Compression applied in place to any PyTorch model.

    report = compress_model(model, density=0.1, bits=5, finetune=my_training, prune_steps=3)
    pycodec.save(model, "model.dcz")

The model is pruned toward ``density`` in ``prune_steps`` geometric steps (each keeps the
largest-magnitude survivors of every layer), its surviving weights are clustered into
``2^bits`` shared values per layer by 1-D k-means, and ``finetune(model, stage)`` — the
caller's own training code — runs after every pruning step and after weight sharing.
During those calls masks and codebooks are held by parametrizations
(:mod:`pycodec.compress.parametrize`); when ``compress_model`` returns they are folded
away and the model holds plain parameters with the compressed values.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pycodec.compress import parametrize as pz
from pycodec.compress import quantize
from pycodec.compress.prune import density_schedule
from pycodec.compress.quantize import DEFAULT_INIT, INIT_METHODS, ConvergenceWarning, KMeansFit, kmeans_fit
from pycodec.compress.report import CompressionReport, LayerRow
from pycodec.compress.targets import Target, plan_targets, skipped_parameters

__all__ = ["Stage", "compress_model", "normalize_zeros"]


@dataclass(frozen=True)
class Stage:
    """Which fine-tuning call this is: ``prune`` step ``step`` of ``steps``, or ``share``."""

    kind: str  # "prune" or "share"
    step: int = 1
    steps: int = 1

    @property
    def name(self) -> str:
        return f"prune-{self.step}" if self.kind == "prune" else "share"

    def __str__(self) -> str:
        return self.name


Finetune = Callable[[nn.Module, Stage], object]


def _check_arguments(model: object, finetune: object, prune_steps: object, init: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if finetune is not None and not callable(finetune):
        raise TypeError(f"finetune must be callable as finetune(model, stage), got {finetune!r}")
    if isinstance(prune_steps, bool) or not isinstance(prune_steps, int) or prune_steps < 1:
        raise ValueError(f"prune_steps must be an int >= 1, got {prune_steps!r}")
    if init not in INIT_METHODS:
        raise ValueError(f"unknown k-means init {init!r}; expected one of {', '.join(INIT_METHODS)}")


def _keep_largest(weight: torch.Tensor, mask: torch.Tensor, density: float) -> torch.Tensor:
    """Subset of ``mask`` holding the ``density`` fraction of largest magnitudes."""
    magnitude = torch.where(mask, weight.abs().float(), torch.full_like(weight, -1.0, dtype=torch.float32))
    keep = min(round(density * weight.numel()), int(mask.sum()))
    chosen = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
    if keep > 0:
        chosen[torch.topk(magnitude.flatten(), keep, sorted=False).indices] = True
    return chosen.view_as(weight)


def _prune_step(model: nn.Module, targets: list[Target], step: int, steps: int) -> None:
    for target in targets:
        if target.density >= 1.0:
            continue
        density = density_schedule(target.density, steps)[step - 1]
        weight = pz.effective(model, target)
        mask = _keep_largest(weight, pz.current_mask(model, target), float(density))
        pz.attach(model, target, pz.PruningMask(mask))


def _share(model: nn.Module, target: Target, init: str, seed: int) -> KMeansFit | None:
    weight = pz.effective(model, target)
    mask = pz.current_mask(model, target)
    alive = weight[mask]
    if alive.numel() == 0:
        return None  # fully pruned: nothing to share
    fit = kmeans_fit(alive, 1 << target.bits, init=init, max_iter=quantize.DEFAULT_MAX_ITER, seed=seed)
    assignment = torch.zeros(weight.shape, dtype=torch.long, device=weight.device)
    assignment[mask] = fit.assignment.to(weight.device)
    centroids = fit.centroids.to(device=weight.device, dtype=weight.dtype)
    pz.attach(model, target, pz.SharedWeights(centroids, assignment, mask))
    return fit


def _row(model: nn.Module, target: Target, fit: KMeansFit | None) -> LayerRow:
    weight = pz.effective(model, target)
    nonzero = weight[weight != 0]
    return LayerRow(
        target.name, weight.numel(), int(nonzero.numel()), target.bits, int(torch.unique(nonzero).numel()),
        kmeans_iterations=0 if fit is None else fit.iterations, converged=fit is None or fit.converged,
    )  # fmt: skip


def _convergence_warnings(rows: list[LayerRow]) -> list[str]:
    messages = [
        f"k-means on {row.name} stopped after {row.kmeans_iterations} iterations without converging"
        for row in rows
        if not row.converged
    ]
    for message in messages:
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return messages


def _run_stages(
    model: nn.Module, targets: list[Target], finetune: Finetune | None, prune_steps: int, init: str, seed: int
) -> dict[str, KMeansFit | None]:
    if any(t.density < 1.0 for t in targets):
        for step in range(1, prune_steps + 1):
            _prune_step(model, targets, step, prune_steps)
            if finetune is not None:
                finetune(model, Stage("prune", step, prune_steps))
    fits = {t.name: _share(model, t, init, seed) for t in targets}
    if finetune is not None:
        finetune(model, Stage("share"))
    return fits


def compress_model(
    model: nn.Module,
    *,
    density: float | Mapping[str, float],
    bits: int | Mapping[str, int],
    finetune: Finetune | None = None,
    prune_steps: int = 1,
    exclude: Sequence[str] = (),
    init: str = DEFAULT_INIT,
    seed: int = 0,
) -> CompressionReport:
    """Prune, weight-share and (through ``finetune``) retrain ``model`` in place.

    ``density``: the fraction of weights kept, one float or a mapping of fnmatch patterns
    over module names (``{"features.*": 0.3, "fc1": 0.08}``); layers a mapping leaves out
    are not pruned. ``bits``: the codebook width, an int or a mapping of the same kind;
    layers a mapping leaves out get 8 bits (conv) or 5 (linear, embedding, recurrent);
    patterns ending in ``.bias`` also weight-share those biases. ``exclude``: patterns of
    layers to leave alone. ``finetune(model, stage)`` is called after each pruning step
    and after weight sharing (``stage.name``: ``prune-1`` .. ``share``); inside it pruned
    weights stay exactly ``+0.0`` and shared weights on their centroids, under any
    optimiser over ``model.parameters()``.

    Raises ``ValueError``/``TypeError`` for bad arguments (a pattern matching nothing, a
    density outside (0, 1], bits outside 1..16, no compressible layer) before any work.
    k-means that stops before converging warns (:class:`ConvergenceWarning`) and is
    recorded in the report's ``warnings`` and rows.
    """
    _check_arguments(model, finetune, prune_steps, init)
    targets = plan_targets(model, density, bits, exclude)
    _refuse_torch_pruned(model, targets)
    try:
        fits = _run_stages(model, targets, finetune, prune_steps, init, seed)
        rows = [_row(model, t, fits[t.name]) for t in targets]
    finally:
        pz.detach_all(model, targets)
    return CompressionReport(rows, skipped_parameters(model, targets), _convergence_warnings(rows))


def _refuse_torch_pruned(model: nn.Module, targets: list[Target]) -> None:
    """A ``torch.nn.utils.prune`` mask would fight ours: ask for ``prune.remove`` first."""
    for target in targets:
        module = model.get_submodule(target.module_name)
        if hasattr(module, f"{target.param_name}_orig"):
            raise ValueError(
                f"{target.name} is pruned with torch.nn.utils.prune; call "
                f"prune.remove(module, {target.param_name!r}) and pycodec.compress.normalize_zeros(model) first"
            )


@torch.no_grad()
def normalize_zeros(model: nn.Module) -> int:
    """Turn every ``-0.0`` in the model's floating parameters into ``+0.0``; returns the count.

    ``torch.nn.utils.prune`` multiplies by its mask, so after ``prune.remove`` pruned
    negative weights are ``-0.0``: equal to zero, but different bits, which a bit-exact
    file keeps. Call this once after ``prune.remove`` to store them as plain zeros.
    """
    changed = 0
    for param in model.parameters():
        if not param.is_floating_point():
            continue
        negative_zero = (param == 0) & torch.signbit(param)
        changed += int(negative_zero.sum())
        param.masked_fill_(negative_zero, 0.0)
    return changed

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

``evaluate(model) -> error`` (optional) is measured before and after every stage; the
errors go into the report, the file's provenance and the plots. ``plots=DIR`` draws the
weight distribution of each layer before pruning, after retraining and after sharing
(:mod:`pycodec.compress.plots`). The model keeps its provenance (:mod:`~.provenance`) for
``pycodec.save(model, path)`` to write.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pycodec.compress import parametrize as pz
from pycodec.compress import provenance, quantize
from pycodec.compress.plots import WeightRecorder, check_plots, draw_errors
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
Evaluate = Callable[[nn.Module], float]


def _check_arguments(model: object, finetune: object, prune_steps: object, init: str, evaluate: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if finetune is not None and not callable(finetune):
        raise TypeError(f"finetune must be callable as finetune(model, stage), got {finetune!r}")
    if evaluate is not None and not callable(evaluate):
        raise TypeError(f"evaluate must be callable as evaluate(model) -> error, got {evaluate!r}")
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


@dataclass
class _Observer:
    """Measures ``evaluate`` after each stage and samples weights for the plots."""

    model: nn.Module
    targets: list[Target]
    evaluate: Evaluate | None
    recorder: WeightRecorder | None
    errors: dict[str, float] = field(default_factory=dict)

    def measure(self, label: str) -> None:
        if self.evaluate is None:
            return
        was_training = self.model.training
        result = self.evaluate(self.model)
        self.model.train(was_training)
        if isinstance(result, bool) or not isinstance(result, numbers.Real) and not _is_scalar_tensor(result):
            raise TypeError(f"evaluate(model) must return a number (the error), got {result!r}")
        self.errors[label] = float(result)

    def sample(self, moment: str) -> None:
        if self.recorder is None:
            return
        for target in self.targets:
            weight = pz.effective(self.model, target)
            if moment == "before":
                self.recorder.before(target.name, weight)
            elif moment == "pruned":
                self.recorder.pruned(target.name, weight, pz.current_mask(self.model, target))
            else:
                self.recorder.shared(target.name, weight, target.bits)


def _is_scalar_tensor(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex


def _run_stages(
    model: nn.Module, targets: list[Target], finetune: Finetune | None, prune_steps: int, init: str, seed: int,
    observer: _Observer,
) -> dict[str, KMeansFit | None]:  # fmt: skip
    observer.measure("baseline")
    observer.sample("before")
    if any(t.density < 1.0 for t in targets):
        for step in range(1, prune_steps + 1):
            _prune_step(model, targets, step, prune_steps)
            if finetune is not None:
                observer.measure(f"prune-{step} (before retraining)")
                finetune(model, Stage("prune", step, prune_steps))
            observer.measure(f"prune-{step}")
        observer.sample("pruned")
    fits = {t.name: _share(model, t, init, seed) for t in targets}
    observer.measure("quantized")
    if finetune is not None:
        finetune(model, Stage("share"))
        observer.measure("finetuned")
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
    evaluate: Evaluate | None = None,
    plots: str | os.PathLike[str] | None = None,
    plot_format: str = "png",
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

    ``evaluate(model) -> float`` (your error measure, lower is better) is called on the
    untouched model (``baseline``), after each pruning step (``prune-1 (before
    retraining)`` when a ``finetune`` follows, ``prune-1`` after it), after sharing
    (``quantized``) and after its fine-tuning (``finetuned``); the model's train/eval mode
    is restored after each call. ``plots``: a folder (created) for one figure per layer
    (the 12 largest) and, with ``evaluate``, ``errors.<plot_format>``; needs matplotlib
    (``pycodec[plot]``). The returned report holds the rows, ``errors`` and ``plots``;
    ``report.metadata()`` is the provenance (``pycodec.*`` keys), which the model also
    keeps so that ``pycodec.save(model, path)`` records it.

    Raises ``ValueError``/``TypeError`` for bad arguments (a pattern matching nothing, a
    density outside (0, 1], bits outside 1..16, no compressible layer, an ``evaluate``
    that is not callable, a bad plot folder or format) and
    :class:`~pycodec.plot.MissingDependencyError` for plots without matplotlib, before
    any work. k-means that stops before converging warns (:class:`ConvergenceWarning`)
    and is recorded in the report's ``warnings`` and rows.
    """
    _check_arguments(model, finetune, prune_steps, init, evaluate)
    targets = plan_targets(model, density, bits, exclude)
    _refuse_torch_pruned(model, targets)
    folder = None if plots is None else check_plots(plots, plot_format)
    observer = _Observer(model, targets, evaluate, None if folder is None else WeightRecorder(seed))
    try:
        fits = _run_stages(model, targets, finetune, prune_steps, init, seed, observer)
        rows = [_row(model, t, fits[t.name]) for t in targets]
    finally:
        pz.detach_all(model, targets)
    warned = _convergence_warnings(rows)
    settings = {"density": _plain(density), "bits": _plain(bits), "prune_steps": prune_steps, "init": init,
                "exclude": list(exclude), "seed": seed}  # fmt: skip
    report = CompressionReport(rows, skipped_parameters(model, targets), warned, errors=observer.errors,
                               settings=_record(settings, finetune, evaluate, rows))  # fmt: skip
    if folder is not None:
        _draw(report, observer, folder, plot_format)
    provenance.attach(model, report.metadata())
    return report


def _record(settings: dict[str, object], finetune: object, evaluate: object, rows: list[LayerRow]) -> dict[str, object]:
    """``pycodec.compression``: the settings as given, who retrained and measured, k-means."""
    record: dict[str, object] = {"via": "compress_model", **settings,
                                 "finetune": provenance.callable_name(finetune),  # type: ignore[arg-type]
                                 "evaluate": provenance.callable_name(evaluate)}  # type: ignore[arg-type]  # fmt: skip
    unconverged = sum(not row.converged for row in rows)
    if unconverged:
        record["kmeans_unconverged"] = unconverged
    return record


def _plain(setting: object) -> object:
    """A mapping as a plain dict, so any ``Mapping`` is recorded as a JSON object."""
    return dict(setting) if isinstance(setting, Mapping) else setting


def _draw(report: CompressionReport, observer: _Observer, folder: Path, plot_format: str) -> None:
    """The layer figures (final weights sampled now, as stored) and the error figure."""
    observer.sample("shared")
    report.plots, note = observer.recorder.draw(folder, plot_format)  # type: ignore[union-attr]
    if report.errors:
        report.plots.append(draw_errors(report.errors, folder / f"errors.{plot_format}", f"error ({report.settings['evaluate']})"))
        note += ", the error after every stage"
    report.plot_note = f"{folder}: {note}"


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

"""Pictures of a compression run (``compress_model(plots=DIR)``, ``dcz compress --plots DIR``).

Per compressed layer, one figure of three panels sharing the weight axis, in the spirit of
the Deep Compression paper's figures: the weights before pruning, the survivors after
pruning and retraining, and the values after weight sharing (each shared value a stem as
tall as the weights holding it). Plus one figure of the error after every stage, when
errors were measured. With more than :data:`TOP_LAYERS` layers only the largest are drawn
(the report says so).

Weights are recorded as samples of at most :data:`SAMPLE` values per layer and stage, so
a large model is not copied. Drawing uses ``matplotlib.figure.Figure`` directly: no
pyplot, so the caller's backend (a notebook's) is left alone. matplotlib is imported only
when plots are asked for; without it :class:`~pycodec.plot.MissingDependencyError` is
raised before any work.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["FORMATS", "SAMPLE", "TOP_LAYERS", "LayerSamples", "WeightRecorder", "check_plots", "draw_errors"]

FORMATS = ("png", "svg", "pdf")
SAMPLE = 100_000  # values kept per layer and stage for the histograms
TOP_LAYERS = 12  # layer figures drawn at most: the largest layers
_COLOURS = {"before": "#7f8c8d", "pruned": "#2e86c1", "shared": "#c0392b"}


def _figure_class() -> Any:
    """matplotlib's ``Figure``, or the one-line :class:`MissingDependencyError`."""
    from pycodec.plot import MissingDependencyError

    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError('plotting needs matplotlib: pip install "pycodec[plot]"') from None
    return Figure


def check_plots(plots: str | os.PathLike[str], plot_format: str) -> Path:
    """Check a plot request before any work: the format, matplotlib, a usable folder.

    Creates the folder (and its parents) when missing; raises ``ValueError`` for a bad
    format or a folder that cannot be made, :class:`MissingDependencyError` without
    matplotlib.
    """
    if not isinstance(plots, (str, os.PathLike)) or not str(plots):
        raise TypeError(f"plots must be a folder path, got {plots!r}")
    if plot_format not in FORMATS:
        raise ValueError(f"plot format must be one of {', '.join(FORMATS)}, got {plot_format!r}")
    _figure_class()
    folder = Path(plots)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"plots folder {str(folder)!r}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"plots folder {str(folder)!r} is not writable")
    return folder


def _sample(values: torch.Tensor, generator: torch.Generator) -> np.ndarray:
    """At most :data:`SAMPLE` of ``values`` (uniformly at random), as float64 on the CPU."""
    flat = values.detach().reshape(-1)
    if flat.numel() > SAMPLE:
        picks = torch.randint(flat.numel(), (SAMPLE,), generator=generator).to(flat.device)
        flat = flat[picks]
    return flat.float().cpu().numpy().astype(np.float64)


@dataclass
class LayerSamples:
    """One layer's weights at the three moments the figure shows."""

    name: str
    weights: int
    before: np.ndarray | None = None  # all weights (zeros included), sampled
    pruned: np.ndarray | None = None  # survivors after pruning and retraining, sampled
    kept: int | None = None
    shared: np.ndarray | None = None  # the distinct non-zero values after sharing
    shared_counts: np.ndarray | None = None  # how many weights hold each of them
    bits: int = 0


@dataclass
class WeightRecorder:
    """Samples of each target's weights before pruning, after retraining, after sharing."""

    seed: int = 0
    layers: dict[str, LayerSamples] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._generator = torch.Generator().manual_seed(self.seed)

    def before(self, name: str, weight: torch.Tensor) -> None:
        self.layers[name] = LayerSamples(name, weight.numel(), before=_sample(weight, self._generator))

    def pruned(self, name: str, weight: torch.Tensor, mask: torch.Tensor) -> None:
        layer = self.layers[name]
        layer.pruned, layer.kept = _sample(weight[mask], self._generator), int(mask.sum())

    @torch.no_grad()
    def shared(self, name: str, weight: torch.Tensor, bits: int) -> None:
        values, counts = torch.unique(weight[weight != 0], return_counts=True)
        layer = self.layers[name]
        layer.shared, layer.shared_counts = values.float().cpu().numpy(), counts.cpu().numpy()
        layer.bits = bits

    def draw(self, folder: Path, plot_format: str) -> tuple[list[Path], str]:
        """One figure per layer (the :data:`TOP_LAYERS` largest); the files and a note."""
        Figure = _figure_class()
        layers = list(self.layers.values())
        largest = sorted(layers, key=lambda layer: -layer.weights)[:TOP_LAYERS]
        shown = [layer for layer in layers if layer in largest]  # model order
        paths = [_draw_layer(Figure, layer, folder / f"weights-{_file_stem(layer.name)}.{plot_format}")
                 for layer in shown]  # fmt: skip
        note = f"{len(shown)} layer figures"
        if len(shown) < len(layers):
            note += f" (the {len(shown)} largest of {len(layers)} layers)"
        return paths, note


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120]


def _percent_weights(values: np.ndarray, population: int, total: int) -> np.ndarray:
    """Histogram weights making bar heights "% of the layer's weights" from a sample."""
    return np.full(values.size, 100.0 * population / (values.size * total)) if values.size else values


def _draw_layer(Figure: Any, layer: LayerSamples, path: Path) -> Path:
    figure = Figure(figsize=(12, 3.6), layout="constrained")
    axes = figure.subplots(1, 3, sharex=True)
    before = layer.before if layer.before is not None else np.empty(0)
    _histogram(axes[0], before, layer.weights, layer.weights, _COLOURS["before"], "before pruning")
    if layer.pruned is not None and layer.kept is not None:
        title = f"after pruning + retraining: {100 * layer.kept / layer.weights:.2f}% kept\n(pruned zeros not shown)"
        _histogram(axes[1], layer.pruned, layer.kept, layer.weights, _COLOURS["pruned"], title)
    else:
        axes[1].text(0.5, 0.5, "not pruned", ha="center", va="center", transform=axes[1].transAxes)
        axes[1].set_title("after pruning + retraining", fontsize=9)
    _stems(axes[2], layer)
    for ax in axes:
        ax.set_xlabel("weight value", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("% of the layer's weights", fontsize=8)
    figure.suptitle(f"{layer.name}: {layer.weights:,} weights", fontsize=10)
    figure.savefig(path, dpi=110)
    return path


def _histogram(ax: Any, values: np.ndarray, population: int, total: int, colour: str, title: str) -> None:
    finite = values[np.isfinite(values)]
    if finite.size:
        ax.hist(finite, bins=80, weights=_percent_weights(finite, population, total), color=colour)
    sampled = f", a sample of {finite.size:,}" if finite.size < population else ""
    ax.set_title(f"{title}\n{population:,} values{sampled}", fontsize=8)


def _stems(ax: Any, layer: LayerSamples) -> None:
    """Each shared value as a stem as tall as the share of weights holding it."""
    if layer.shared is None or not layer.shared.size:
        ax.text(0.5, 0.5, "all weights pruned", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("after weight sharing", fontsize=9)
        return
    heights = 100.0 * layer.shared_counts / layer.weights
    ax.vlines(layer.shared, 0, heights, color=_COLOURS["shared"], linewidth=1.0)
    ax.plot(layer.shared, heights, "o", color=_COLOURS["shared"], markersize=3)
    ax.set_ylim(bottom=0)
    ax.set_title(f"after weight sharing ({layer.bits} bits)\n{layer.shared.size} shared values marked", fontsize=8)


def draw_errors(errors: dict[str, float], path: Path, ylabel: str) -> Path:
    """The error after every stage, in stage order, each point labelled with its value."""
    Figure = _figure_class()
    stages, values = list(errors), [float(v) for v in errors.values()]
    figure = Figure(figsize=(max(6.0, 0.9 * len(stages) + 2), 4.0), layout="constrained")
    ax = figure.subplots()
    ax.plot(range(len(stages)), values, "o-", color=_COLOURS["pruned"])
    for x, value in enumerate(values):
        ax.annotate(f"{value:.4g}", (x, value), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xticks(range(len(stages)), stages, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=9)
    finite = [v for v in values if np.isfinite(v)] or [0.0]
    ax.set_ylim(bottom=min(0.0, min(finite)), top=max(finite) * 1.15 if max(finite) > 0 else 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("error after every stage", fontsize=10)
    figure.savefig(path, dpi=110)
    return path

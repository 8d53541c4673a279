"""Pictures of what compression did to a ``.dcz`` file (``dcz plot``), in the spirit of
the Deep Compression paper's figures: per layer, the distribution of the non-zero
weights with the shared values marked, and where the bytes go.

matplotlib is an optional extra (``pip install "pycodec[plot]"``), imported only here::

    from pycodec.plot import plot_file
    plot_file("model.dcz", "model.png")          # .png, .svg or .pdf

Large models: the histograms show the ``top`` layers with the most stored bytes (the
figure says how many were left out); the byte chart lists the same layers and folds the
rest into one "other layers" bar, so a figure stays readable at 8 layers or 800.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pycodec.errors import DczError
from pycodec.format.dtypes import DTYPES

if TYPE_CHECKING:
    from pycodec.format.reader import DczReader

__all__ = ["LayerBytes", "MissingDependencyError", "layer_bytes", "plot_file", "FORMATS"]

FORMATS = (".png", ".svg", ".pdf")
DEFAULT_TOP = 12
#: Above this many weights a histogram is drawn from an even sample (exact counts
#: are kept for shared values, which are few).
HISTOGRAM_SAMPLE = 1 << 20
# Colours of the byte parts, fixed so figures of different files compare.
PART_COLOURS = {
    "header": "#9e9e9e",
    "codebook": "#8e44ad",
    "indices": "#2e86c1",
    "gaps": "#e67e22",
    "values": "#27ae60",
    "raw": "#c0392b",
}


class MissingDependencyError(DczError, ImportError):
    """An optional dependency (here: matplotlib) is not installed."""


@dataclass
class LayerBytes:
    """Where one stored tensor's bytes go, and how many weights they carry."""

    name: str
    numel: int
    nnz: int
    parts: dict[str, int]  # part -> bytes, header share included
    dtype: str = ""

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def bits_per_nonzero(self) -> float | None:
        return self.total * 8 / self.nnz if self.nnz else None


def _import_pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend, or a one-line error."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            'plotting needs matplotlib: pip install "pycodec[plot]"'
        ) from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _check_output(out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(
            f"output {str(path)!r}: expected a file name ending in {', '.join(FORMATS)}"
        )
    if not path.parent.is_dir():
        raise ValueError(f"output folder {str(path.parent)!r} does not exist")
    return path


def _section_part(role: str, encoding: str) -> str:
    """The byte part a section belongs to, in the figure's vocabulary."""
    if role in ("codebook", "indices", "gaps"):
        return role
    return "raw" if encoding == "raw" else "values"


def _nonzero_count(array: np.ndarray, dtype_name: str) -> int:
    """Elements whose bit pattern is not all zero (-0.0 counts as stored)."""
    itemsize = DTYPES[dtype_name].itemsize
    if itemsize > 8:  # complex128: non-zero if any of its 16 bytes is
        return int(np.count_nonzero(array.view(np.uint8).reshape(-1, itemsize).any(axis=1)))
    return int(np.count_nonzero(array.view(DTYPES[dtype_name].bits_dtype)))


def layer_bytes(file: DczReader) -> list[LayerBytes]:
    """Bytes by part for every stored tensor; the header is shared by stored size."""
    rows: list[LayerBytes] = []
    for name in file.names():
        info = file.info(name)
        if info.alias_of is not None:
            continue
        parts: dict[str, int] = {}
        for role, length in info.section_bytes.items():
            part = _section_part(role, info.encoding)
            parts[part] = parts.get(part, 0) + length
        nnz = info.nnz if info.nnz is not None else _nonzero_count(file.read_array(name), info.dtype)
        rows.append(LayerBytes(name, info.numel, nnz, parts, info.dtype))
    stored = sum(r.total for r in rows) or 1
    overhead = file.preamble.file_length - stored  # preamble, header and padding
    for row in rows:
        row.parts["header"] = round(overhead * row.total / stored)
    return rows


def _weights(array: np.ndarray, dtype_name: str) -> np.ndarray:
    """The non-zero values of a floating tensor as float64 (other kinds: empty)."""
    if dtype_name == "bfloat16":  # stored as its uint16 bit patterns
        values = (array.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif DTYPES[dtype_name].storage.kind == "f":
        values = array.view(DTYPES[dtype_name].storage)
    else:
        return np.empty(0)
    values = values.astype(np.float64)
    return values[(values != 0) & np.isfinite(values)]


def _draw_histogram(ax: Any, name: str, values: np.ndarray) -> None:
    """Counts of each shared value as stems when there are few, else a histogram."""
    shared, counts = np.unique(values, return_counts=True) if values.size else (values, values)
    if 0 < shared.size <= 256:
        ax.vlines(shared, 0, counts, color=PART_COLOURS["indices"], linewidth=1.2)
        ax.plot(shared, counts, "o", color=PART_COLOURS["codebook"], markersize=2.5)
        ax.set_title(f"{name}\n{shared.size} shared values", fontsize=8)
    else:
        sample = values[:: max(1, values.size // HISTOGRAM_SAMPLE)]
        ax.hist(sample, bins=100, color=PART_COLOURS["raw"], alpha=0.8)
        ax.set_title(f"{name}\n{shared.size:,} distinct values", fontsize=8)
    ax.set_xlabel("weight value", fontsize=7)
    ax.set_ylabel("count (non-zero weights)", fontsize=7)
    ax.xaxis.set_major_locator(_locator(ax, 5))
    ax.tick_params(labelsize=6)


def _locator(ax: Any, count: int) -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(count)


def _draw_bytes(ax: Any, rows: list[LayerBytes], hidden: list[LayerBytes]) -> None:
    """Stacked horizontal bars of bytes by part, labelled with bits per non-zero."""
    bars = list(rows)
    if hidden:
        folded: dict[str, int] = {}
        for row in hidden:
            for part, size in row.parts.items():
                folded[part] = folded.get(part, 0) + size
        bars.append(LayerBytes(f"other {len(hidden)} layers", sum(r.numel for r in hidden),
                               sum(r.nnz for r in hidden), folded))
    labels = [b.name for b in bars]
    left = np.zeros(len(bars))
    for part, colour in PART_COLOURS.items():
        widths = np.array([b.parts.get(part, 0) for b in bars], dtype=float) / 1024
        if widths.any():
            ax.barh(labels, widths, left=left, color=colour, label=part)
            left += widths
    for y, bar in enumerate(bars):
        bits = bar.bits_per_nonzero
        note = f" {bits:.1f} bits/nz" if bits is not None else " all zero"
        ax.text(left[y], y, note, va="center", fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("stored KiB (header share included)", fontsize=8)
    ax.set_title("bytes by part per layer", fontsize=9)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xlim(0, left.max() * 1.25 if left.size and left.max() > 0 else 1)


def plot_file(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    top: int = DEFAULT_TOP,
    max_decoded_bytes: int | None = None,
) -> Path:
    """Draw `path`'s weight distributions and byte breakdown into `out` (PNG/SVG/PDF)."""
    if not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    target = _check_output(out)
    plt = _import_pyplot()
    from pycodec.format.reader import DczReader

    kwargs = {} if max_decoded_bytes is None else {"max_decoded_bytes": max_decoded_bytes}
    with DczReader(path, **kwargs) as file:
        rows = sorted(layer_bytes(file), key=lambda r: -r.total)
        shown, hidden = rows[:top], rows[top:]
        weights = {r.name: _weights(file.read_array(r.name), r.dtype) for r in shown}
    figure = _compose(plt, Path(path).name, shown, hidden, weights)
    try:
        figure.savefig(target, dpi=120)
    finally:
        plt.close(figure)
    return target


def _compose(plt: Any, title: str, shown: list[LayerBytes], hidden: list[LayerBytes],
             weights: dict[str, np.ndarray]) -> Any:
    """One figure: a grid of per-layer histograms above the byte chart."""
    plotted = [r for r in shown if weights[r.name].size]
    columns = min(4, max(1, len(plotted)))
    grid_rows = math.ceil(len(plotted) / columns) if plotted else 0
    bar_height = max(2.5, 0.28 * (len(shown) + (1 if hidden else 0)) + 1)
    figure = plt.figure(figsize=(3.2 * max(columns, 3), 2.4 * grid_rows + bar_height + 0.8))
    spec = figure.add_gridspec(grid_rows + 1, columns,
                               height_ratios=[2.4] * grid_rows + [bar_height])
    for i, row in enumerate(plotted):
        _draw_histogram(figure.add_subplot(spec[i // columns, i % columns]), row.name, weights[row.name])
    _draw_bytes(figure.add_subplot(spec[grid_rows, :]), shown, hidden)
    total = sum(r.total for r in shown + hidden)
    left_out = f"; {len(hidden)} smaller layers folded" if hidden else ""
    figure.suptitle(f"{title}: {total:,} bytes in {len(shown) + len(hidden)} tensors{left_out}",
                    fontsize=10)
    figure.tight_layout()
    return figure

"""What compression did to each layer, as data and as the table ``dcz compress`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CompressionReport", "LayerRow", "format_layer_table"]


@dataclass
class LayerRow:
    """One compressed tensor: size, what pruning kept, bits, what sharing left."""

    name: str  # state-dict key, e.g. "fc1.weight"
    weights: int
    kept: int
    bits: int | None
    distinct: int  # distinct non-zero values
    kmeans_iterations: int = 0
    converged: bool = True
    stored_bytes: int | None = None  # the tensor's bytes in the .dcz, once written

    @property
    def kept_percent(self) -> float:
        return 100.0 * self.kept / self.weights if self.weights else 0.0


@dataclass
class CompressionReport:
    """Returned by :func:`pycodec.compress.compress_model`; ``str()`` is the table."""

    layers: list[LayerRow]
    skipped: list[str] = field(default_factory=list)  # parameters left as they were
    warnings: list[str] = field(default_factory=list)  # e.g. k-means not converged
    errors: dict[str, float] = field(default_factory=dict)  # stage -> evaluate(model), in stage order
    settings: dict[str, Any] = field(default_factory=dict)  # the configuration, as recorded
    plots: list[Path] = field(default_factory=list)  # figures written (plots=DIR)
    plot_note: str = ""  # which figures, where

    def metadata(self) -> dict[str, str]:
        """The provenance entries (``pycodec.version``, ``pycodec.compression``, and
        ``pycodec.error`` when errors were measured) to pass as ``pycodec.save(...,
        metadata=...)``, e.g. when saving a state dict rather than the module."""
        from pycodec.compress.provenance import provenance_metadata

        return provenance_metadata(self.settings, self.errors)

    def __str__(self) -> str:
        lines = format_layer_table(self.layers)
        if self.skipped:
            lines.append(f"left alone: {', '.join(self.skipped)}")
        if self.errors:
            lines += ["", "| stage | error |", "|---|---:|", *(f"| {s} | {e:.4g} |" for s, e in self.errors.items())]
        if self.plot_note:
            lines.append(f"plots: {self.plot_note}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


def _row_cells(row: LayerRow) -> str:
    bits = "float32" if row.bits is None else str(row.bits)
    stored = "" if row.stored_bytes is None else f"{row.stored_bytes:,}"
    per_weight = "" if row.stored_bytes is None or not row.kept else f"{8 * row.stored_bytes / row.kept:.2f}"
    return f"| {row.name} | {row.weights:,} | {row.kept_percent:.2f}% | {bits} | {row.distinct} | {stored} | {per_weight} |"


def format_layer_table(rows: list[LayerRow]) -> list[str]:
    """Markdown rows in the style of the Deep Compression paper's Tables 2-3."""
    lines = [
        "| layer | #weights | weights% (P) | bits (Q) | distinct non-zero values | stored bytes (P+Q+H) | bits per non-zero |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_row_cells(row) for row in rows]
    total = sum(r.weights for r in rows)
    kept = sum(r.kept for r in rows)
    stored = sum(r.stored_bytes or 0 for r in rows)
    per_weight = f"{8 * stored / kept:.2f}" if stored and kept else ""
    stored_cell = f"{stored:,}" if stored else ""
    lines.append(f"| **total** | {total:,} | {100 * kept / max(total, 1):.2f}% | | | {stored_cell} | {per_weight} |")
    return lines

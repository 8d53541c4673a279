"""A run folder: stage checkpoints, the configuration that made them, the metrics.

``metrics.json`` records the run's configuration. A run only ever removes stage files of a
run with the same configuration: ``--resume`` with a different configuration, or a fresh
run in a folder holding another configuration's checkpoints, is refused naming the
fields that differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pycodec.compress.config import ConfigError, stage_differences

__all__ = ["StageStore"]

_STAGE_PATTERNS = ("*.pt", "*.state")


class StageStore:
    """Stage checkpoints and metrics of one run folder (written by rank 0 only)."""

    def __init__(self, root: Path, config: dict[str, Any], *, resume: bool, writer: bool) -> None:
        self.root, self.writer = root, writer
        stored = self._stored_metrics()
        self._check_owner(stored, config, resume)
        self.metrics: dict[str, Any] = stored if resume and stored else {}
        self.metrics["config"] = config
        self.metrics.setdefault("errors", {})
        if writer:
            root.mkdir(parents=True, exist_ok=True)
            if not resume:  # a fresh start of this same run: drop its own stage files only
                for stale in self._stage_files():
                    stale.unlink(missing_ok=True)
            self.save_metrics()  # claims the folder for this configuration

    def _stored_metrics(self) -> dict[str, Any] | None:
        path = self.root / "metrics.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable run record ({exc}); use another --run-dir") from None

    def _stage_files(self) -> list[Path]:
        return [p for pattern in _STAGE_PATTERNS for p in self.root.glob(pattern)] if self.root.is_dir() else []

    def _check_owner(self, stored: dict[str, Any] | None, config: dict[str, Any], resume: bool) -> None:
        if stored is None:
            if self._stage_files():
                raise ConfigError(f"{self.root} holds checkpoints of an unknown run; use another --run-dir")
            if resume:
                raise ConfigError(f"--resume: {self.root} holds no run to resume")
            return
        changed = stage_differences(stored.get("config", {}), config)
        if changed and resume:
            raise ConfigError(f"--resume: the configuration changed since this run started ({', '.join(changed)})")
        if changed and self._stage_files():
            raise ConfigError(
                f"{self.root} holds checkpoints of a run with other settings ({', '.join(changed)}); "
                "use another --run-dir, or --resume with the same settings"
            )

    def path(self, stage: str) -> Path:
        return self.root / f"{stage}.pt"

    def has(self, stage: str) -> bool:
        return self.path(stage).is_file()

    def load(self, stage: str) -> dict[str, Any]:
        return torch.load(self.path(stage), map_location="cpu", weights_only=True)

    def save(self, stage: str, state: dict[str, Any]) -> None:
        if not self.writer:
            return
        tmp = self.path(stage).with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.path(stage))
        self.save_metrics()

    def record_error(self, stage: str, error: float) -> None:
        self.metrics["errors"][stage] = error
        self.save_metrics()

    def save_metrics(self) -> None:
        if self.writer:  # atomically: under torchrun the other ranks may be reading it
            tmp = self.root / "metrics.json.tmp"
            tmp.write_text(json.dumps(self.metrics, indent=2) + "\n")
            tmp.replace(self.root / "metrics.json")

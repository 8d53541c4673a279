"""The one configuration of ``dcz compress`` and ``dcz train``.

Each field of :class:`CompressConfig` is declared once, with its default, its help text
and the commands it belongs to; the command line options, the ``--resume`` comparison and
the checks all iterate over these fields. This module imports no torch: building the
parser stays cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "BOTH",
    "CompressConfig",
    "ConfigError",
    "RUN_ONLY",
    "check_values",
    "parse_layer_values",
    "result_fields",
    "stage_differences",
]


class ConfigError(ValueError):
    """A user's choice that cannot work; the CLI prints it as one line and exits 2."""


COMPRESS, TRAIN = ("compress",), ("train",)
BOTH = ("compress", "train")
# Fields that change how a run executes, not what it computes: --resume ignores them.
RUN_ONLY = frozenset({"resume", "progress", "threads", "out", "report", "device", "run_dir", "plots", "plot_format",
                      "provenance"})
PLOT_FORMATS = ("png", "svg", "pdf")


def option(default: Any, help: str, commands: tuple[str, ...] = BOTH, **extra: Any) -> Any:  # noqa: A002
    """A config field with its CLI help (``kind``: how the option's text is parsed)."""
    metadata = {"help": help, "commands": commands, **extra}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class CompressConfig:
    """Everything a run depends on (stored in the run's ``metrics.json``)."""

    model: str = option("lenet-300-100", "a built-in model name, or MODULE:FACTORY returning an nn.Module")
    weights: str | None = option(None, "start from these weights (.pt state dict or .dcz) instead of training")
    dataset: str = option("embedded", "embedded (shipped MNIST subset), mnist, fashion-mnist or cifar10")
    data_dir: str | None = option(None, "folder with the dataset's files (default: $PYCODEC_DATA/DATASET)")
    out: str = option("model.dcz", "the file to write (.dcz for compress, .pt for train)")
    report: str | None = option(None, "also write the markdown report here", COMPRESS)
    provenance: bool = option(True, "provenance in the file's metadata (pycodec.* keys: the version, these settings, "
                              "the error after each stage; about 300-400 bytes)", COMPRESS)  # fmt: skip
    plots: str | None = option(None, "also draw each layer's weights before pruning, after retraining and after "
                               "sharing, and the error after every stage, into this folder (needs pycodec[plot])",
                               COMPRESS)  # fmt: skip
    plot_format: str = option("png", "format of the --plots figures: png, svg or pdf", COMPRESS)
    run_dir: str | None = option(None, "stage checkpoints (default: runs/MODEL-DATASET-seedSEED)", COMPRESS)
    resume: bool = option(False, "continue after the last finished stage of --run-dir", COMPRESS)
    device: str = option("cpu", "cpu or cuda")
    seed: int = option(0, "seed of initialisation, shuffling and k-means")
    threads: int | None = option(None, "torch intra-op threads (default: torch's choice)")
    train_limit: int | None = option(None, "train on the first N examples only")
    baseline_epochs: int = option(20, "epochs of baseline training (0 with --weights)")
    baseline_lr: float = option(0.05, "learning rate of baseline training (SGD, cosine decay)")
    density: Any = option(None, "fraction kept: 0.1, or per layer fc1=0.08,'conv*'=0.5 (default: the model's)",
                          COMPRESS, kind="layer-float")  # fmt: skip
    prune_steps: int = option(2, "pruning steps toward the density, retraining after each", COMPRESS)
    prune_epochs: int = option(6, "retraining epochs after each pruning step", COMPRESS)
    prune_lr: float = option(0.01, "retraining learning rate (SGD)", COMPRESS)
    bits: Any = option(None, "codebook bits: 5, or per layer conv*=8,fc*=4,*.bias=5 (default: conv 8, others 5)",
                       COMPRESS, kind="layer-int")  # fmt: skip
    exclude: list[str] = option([], "comma-separated layer patterns left uncompressed", COMPRESS, kind="list")
    init: str = option("linear", "k-means initialisation: linear, density, random or kmeans++", COMPRESS)
    finetune_epochs: int = option(4, "centroid fine-tuning epochs", COMPRESS)
    finetune_lr: float = option(1e-4, "centroid fine-tuning learning rate (Adam)", COMPRESS)
    batch_size: int = option(128, "training batch size")
    weight_decay: float = option(1e-4, "weight decay of baseline training and retraining")
    shift: int = option(0, "random-translation augmentation in every training stage, pixels")
    progress: bool = option(True, "progress bars on a terminal")

    def differences(self, other: CompressConfig) -> list[str]:
        """Names of the fields (``RUN_ONLY`` aside) whose values differ."""
        return stage_differences(dataclasses.asdict(self), dataclasses.asdict(other))


def result_fields() -> list[str]:
    """Names of the fields that decide a run's results (all but ``RUN_ONLY``), in order."""
    return [f.name for f in fields(CompressConfig) if f.name not in RUN_ONLY]


def stage_differences(stored: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """Fields that decide a run's results and differ between two stored configurations."""
    return [name for name in result_fields() if stored.get(name) != requested.get(name)]


def parse_layer_values(text: str, kind: type = float) -> dict[str, Any] | Any:
    """``"0.1"`` → 0.1; ``"fc1=0.08,conv*=0.5"`` → ``{"fc1": 0.08, "conv*": 0.5}``."""
    if "=" not in text:
        return _number(text, kind)
    values: dict[str, Any] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if not name.strip() or not value.strip():
            raise ConfigError(f"expected PATTERN=VALUE, got {item!r}")
        values[name.strip()] = _number(value, kind)
    return values


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        raise ConfigError(f"expected {'an integer' if kind is int else 'a number'}, got {text.strip()!r}") from None


_POSITIVE = ("baseline_lr", "prune_lr", "finetune_lr", "batch_size", "prune_steps")
_NON_NEGATIVE = ("baseline_epochs", "prune_epochs", "finetune_epochs", "weight_decay", "shift", "seed")


def check_values(cfg: CompressConfig) -> None:
    """Range checks that need no model or data; :class:`ConfigError` names the option."""
    for name in _POSITIVE:
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(cfg, name)}")
    for name in _NON_NEGATIVE:
        if getattr(cfg, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must not be negative, got {getattr(cfg, name)}")
    for name in ("threads", "train_limit"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    if cfg.plot_format not in PLOT_FORMATS:
        raise ConfigError(f"--plot-format must be one of {', '.join(PLOT_FORMATS)}, got {cfg.plot_format!r}")
    if cfg.device not in ("cpu", "cuda") and not cfg.device.startswith("cuda:"):
        raise ConfigError(f"--device must be cpu or cuda, got {cfg.device!r}")

"""Deep Compression end to end: baseline → iterative pruning → weight sharing → ``.dcz``.

:func:`run_pipeline` trains (or loads) a baseline, prunes it toward per-layer target
densities in geometric steps with retraining after each, clusters every layer's
surviving weights with k-means, fine-tunes the centroids, and writes the result with
``pycodec.save``. It then reloads the file into a fresh model and measures its error,
so the reported numbers are those of the bytes on disk.

Every stage is checkpointed under the run directory (``baseline.pt``, ``prune-1.pt`` ..,
``quantized.pt``, ``finetuned.pt``, plus ``metrics.json``); with ``resume`` a run picks up
after the last finished stage (and within a training stage, after the last epoch).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from pycodec.compress.prune import Pruner, iterative_prune, prunable_layers
from pycodec.compress.quantize import (
    DEFAULT_CONV_BITS,
    DEFAULT_FC_BITS,
    WeightSharing,
    distinct_nonzero_count,
)
from pycodec.data import Split, load_split
from pycodec.models import get_model
from pycodec.train import (
    DistContext,
    TrainConfig,
    evaluate,
    init_distributed,
    resolve_device,
    seed_everything,
    train,
)

__all__ = [
    "DEFAULT_DENSITIES",
    "CompressConfig",
    "LayerRow",
    "PipelineReport",
    "format_report",
    "run_pipeline",
]

# Target fraction of weights kept per layer: the Deep Compression paper's (Tables 2-3)
# for the LeNets; a uniform guess elsewhere.
DEFAULT_DENSITIES: dict[str, dict[str, float] | float] = {
    "lenet-300-100": {"fc1": 0.08, "fc2": 0.09, "fc3": 0.26},
    "lenet-5": {"conv1": 0.66, "conv2": 0.12, "fc1": 0.08, "fc2": 0.19},
    "lenet-5-squeezed": 0.25,
    "vgg-19": 0.1,
    "vgg-19-squeezed": 0.3,
}


@dataclass
class CompressConfig:
    """Everything one pipeline run depends on (stored in the run's ``metrics.json``)."""

    model: str = "lenet-300-100"
    dataset: str = "embedded"
    data_dir: str | None = None
    out: str = "model.dcz"
    run_dir: str | None = None  # default: runs/<model>-<dataset>-seed<seed>
    resume: bool = False
    device: str = "cpu"
    seed: int = 0
    threads: int | None = None
    train_limit: int | None = None  # use only the first N training examples
    baseline: str | None = None  # a state_dict file to start from instead of training
    baseline_epochs: int = 20
    baseline_lr: float = 0.05
    prune_steps: int = 2
    prune_epochs: int = 6  # retraining epochs after each pruning step
    prune_lr: float = 0.01
    density: dict[str, float] | float | None = None  # None: DEFAULT_DENSITIES[model]
    exclude: list[str] = field(default_factory=list)
    scope: str = "layer"
    conv_bits: int = DEFAULT_CONV_BITS
    fc_bits: int = DEFAULT_FC_BITS
    bits: dict[str, int] = field(default_factory=dict)  # per-layer overrides
    bias_bits: int | None = None  # None: biases stay float32
    init: str = "linear"
    finetune_epochs: int = 4
    finetune_lr: float = 1e-4
    finetune_optimizer: str = "adam"
    batch_size: int = 128
    weight_decay: float = 1e-4
    shift: int = 0  # random-translation augmentation (pixels) in every training stage
    progress: bool = True

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir or f"runs/{self.model}-{self.dataset}-seed{self.seed}")

    def resolved_density(self) -> dict[str, float] | float:
        return (
            DEFAULT_DENSITIES.get(self.model, 0.1)
            if self.density is None
            else self.density
        )


@dataclass
class LayerRow:
    name: str
    weights: int
    kept: int
    bits: int | None
    distinct: int
    stored_bytes: int | None = (
        None  # the weight tensor's bytes in the .dcz (all its sections)
    )

    @property
    def kept_percent(self) -> float:
        return 100.0 * self.kept / self.weights


@dataclass
class PipelineReport:
    model: str
    dataset: str
    layers: list[LayerRow]
    errors: dict[str, float]  # stage → top-1 error (fraction), in stage order
    parameters: int
    float32_bytes: int
    file_bytes: int
    out: str

    @property
    def ratio(self) -> float | None:
        return None if not self.file_bytes else self.float32_bytes / self.file_bytes


# --------------------------------------------------------------------------- checkpoints


class StageStore:
    """Stage checkpoints and metrics of one run directory (written by rank 0 only)."""

    def __init__(self, root: Path, *, resume: bool, writer: bool) -> None:
        self.root = root
        self.writer = writer
        if writer:
            root.mkdir(parents=True, exist_ok=True)
            if not resume:  # a fresh run: drop this pipeline's own files, nothing else
                for stale in [*root.glob("*.pt"), *root.glob("*.state"), root / "metrics.json"]:
                    stale.unlink(missing_ok=True)
        metrics_path = root / "metrics.json"
        self.metrics: dict[str, Any] = (
            json.loads(metrics_path.read_text())
            if resume and metrics_path.is_file()
            else {}
        )
        self.metrics.setdefault("errors", {})

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
        if self.writer:
            (self.root / "metrics.json").write_text(
                json.dumps(self.metrics, indent=2) + "\n"
            )


# --------------------------------------------------------------------------- stages


def _train_config(
    cfg: CompressConfig,
    epochs: int,
    lr: float,
    optimizer: str = "sgd",
    weight_decay: float | None = None,
) -> TrainConfig:
    return TrainConfig(
        epochs=epochs, batch_size=cfg.batch_size, lr=lr, optimizer=optimizer,
        weight_decay=cfg.weight_decay if weight_decay is None else weight_decay,
        shift=cfg.shift, seed=cfg.seed, progress=cfg.progress,
    )  # fmt: skip


def _log(ctx: DistContext, message: str) -> None:
    if ctx.is_main:
        print(message, flush=True)


def _baseline(
    cfg: CompressConfig,
    model: nn.Module,
    store: StageStore,
    data: tuple[Split, Split],
    device: torch.device,
    ctx: DistContext,
) -> None:
    if store.has("baseline"):
        model.load_state_dict(store.load("baseline")["model"])
        return
    if cfg.baseline:
        model.load_state_dict(
            torch.load(cfg.baseline, map_location="cpu", weights_only=True)
        )
    else:
        config = _train_config(cfg, cfg.baseline_epochs, cfg.baseline_lr)
        train(
            model,
            data[0],
            config,
            device=device,
            checkpoint=store.root / "baseline.state",
            ctx=ctx,
            desc="baseline",
        )
    store.save("baseline", {"model": model.state_dict()})


def _prune(
    cfg: CompressConfig,
    model: nn.Module,
    store: StageStore,
    data: tuple[Split, Split],
    device: torch.device,
    ctx: DistContext,
) -> Pruner:
    done = [s for s in range(1, cfg.prune_steps + 1) if store.has(f"prune-{s}")]
    pruner = None
    if done:
        state = store.load(f"prune-{done[-1]}")
        model.load_state_dict(state["model"])
        pruner = Pruner(model, state["masks"])
        if done[-1] == cfg.prune_steps:
            return pruner

    def retrain(step_pruner: Pruner, step: int) -> None:
        stage = f"prune-{step}"
        store.record_error(
            f"{stage} (before retraining)", evaluate(model, data[1], device).error
        )
        config = _train_config(cfg, cfg.prune_epochs, cfg.prune_lr)
        train(
            model,
            data[0],
            config,
            device=device,
            hooks=step_pruner,
            checkpoint=store.root / f"{stage}.state",
            ctx=ctx,
            desc=stage,
        )
        error = evaluate(model, data[1], device).error
        store.record_error(stage, error)
        _log(
            ctx,
            f"{stage}: density {100 * step_pruner.overall_density():.2f}%, error {100 * error:.2f}%",
        )
        store.save(
            stage, {"model": model.state_dict(), "masks": step_pruner.state_dict()}
        )

    return iterative_prune(
        model, density_with_default(cfg.resolved_density(), model, cfg.exclude), cfg.prune_steps, retrain,
        scope=cfg.scope, exclude=cfg.exclude, pruner=pruner, start_step=len(done) + 1,
    )  # fmt: skip


def _quantize(
    cfg: CompressConfig,
    model: nn.Module,
    pruner: Pruner,
    store: StageStore,
    data: tuple[Split, Split],
    device: torch.device,
    ctx: DistContext,
) -> WeightSharing:
    if store.has("finetuned"):
        state = store.load("finetuned")
        model.load_state_dict(state["model"])
        return WeightSharing.from_state_dict(
            model, {k: v.to(device) for k, v in state["sharing"].items()}
        )
    if store.has("quantized"):
        sharing = WeightSharing.from_state_dict(
            model,
            {k: v.to(device) for k, v in store.load("quantized")["sharing"].items()},
        )
    else:
        sharing = WeightSharing.from_model(
            model, bits=cfg.bits, masks=pruner.masks, conv_bits=cfg.conv_bits, fc_bits=cfg.fc_bits,
            bias_bits=cfg.bias_bits, init=cfg.init, exclude=cfg.exclude, seed=cfg.seed,
        )  # fmt: skip
        store.record_error("quantized", evaluate(model, data[1], device).error)
        store.save(
            "quantized", {"model": model.state_dict(), "sharing": sharing.state_dict()}
        )
    config = _train_config(
        cfg,
        cfg.finetune_epochs,
        cfg.finetune_lr,
        cfg.finetune_optimizer,
        weight_decay=0.0,
    )
    train(
        model,
        data[0],
        config,
        device=device,
        params=sharing.trainable(),
        hooks=sharing,
        ctx=ctx,
        desc="finetune",
    )
    error = evaluate(model, data[1], device).error
    store.record_error("finetuned", error)
    _log(ctx, f"finetuned: error {100 * error:.2f}%")
    store.save(
        "finetuned", {"model": model.state_dict(), "sharing": sharing.state_dict()}
    )
    return sharing


def _layer_rows(
    model: nn.Module, sharing: WeightSharing, exclude: list[str]
) -> list[LayerRow]:
    rows = []
    for name, layer in prunable_layers(model, exclude).items():
        tensor = sharing.tensors.get(f"{name}.weight")
        weight = layer.weight.detach()
        rows.append(
            LayerRow(
                name,
                weight.numel(),
                int((weight != 0).sum()),
                None if tensor is None else tensor.bits,
                distinct_nonzero_count(weight),
            )
        )
    return rows


def _add_stored_bytes(rows: list[LayerRow], path: Path) -> None:
    """Fill each row's ``stored_bytes`` from the written file's tensor table."""
    pycodec = _container()
    with pycodec.open(path) as f:
        for row in rows:
            row.stored_bytes = f.info(f"{row.name}.weight").stored_bytes


def export_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies of the model's state (what goes into the ``.dcz``)."""
    return {
        name: value.detach().to("cpu").contiguous().clone()
        for name, value in model.state_dict().items()
    }


def _container() -> Any | None:
    """The ``pycodec`` package if it provides ``save``/``load`` (the container), else None."""
    try:
        import pycodec  # imported late: the training side works without the container
    except ImportError:
        return None
    return pycodec if hasattr(pycodec, "save") and hasattr(pycodec, "load") else None


def _write_and_verify(
    cfg: CompressConfig,
    model: nn.Module,
    test_split: Split,
    device: torch.device,
    ctx: DistContext,
) -> tuple[int, float]:
    """Save the ``.dcz``, reload it into a fresh model and measure that model's error."""
    pycodec = _container()
    if (
        pycodec is None
    ):  # every stage is checkpointed: rerun with --resume once it imports
        raise RuntimeError(
            "pycodec.save / pycodec.load are not importable; cannot write the .dcz"
        )
    out = Path(cfg.out)
    if ctx.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)
        pycodec.save(export_state_dict(model), out, metadata={"model": cfg.model})
    if ctx.world_size > 1:
        dist.barrier()
    fresh = get_model(cfg.model)
    fresh.load_state_dict(pycodec.load(out))
    fresh.to(device)
    return out.stat().st_size, evaluate(fresh, test_split, device).error


def run_pipeline(cfg: CompressConfig) -> PipelineReport:
    """Run (or resume) every stage for ``cfg`` and return the report."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    ctx = init_distributed(device)
    seed_everything(cfg.seed)
    train_split = load_split(cfg.dataset, True, cfg.data_dir)
    if cfg.train_limit:
        train_split = train_split.subset(cfg.train_limit)
    data = (train_split, load_split(cfg.dataset, False, cfg.data_dir))
    store = StageStore(cfg.resolved_run_dir(), resume=cfg.resume, writer=ctx.is_main)
    store.metrics["config"] = asdict(cfg)
    if ctx.world_size > 1:
        dist.barrier()  # rank 0 has cleared or created the run directory
    model = get_model(cfg.model).to(device)

    _baseline(cfg, model, store, data, device, ctx)
    store.record_error("baseline", evaluate(model, data[1], device).error)
    _log(ctx, f"baseline: error {100 * store.metrics['errors']['baseline']:.2f}%")
    pruner = _prune(cfg, model, store, data, device, ctx)
    sharing = _quantize(cfg, model, pruner, store, data, device, ctx)

    file_bytes, file_error = _write_and_verify(cfg, model, data[1], device, ctx)
    store.record_error("loaded from .dcz", file_error)
    parameters = sum(p.numel() for p in model.parameters())
    report = PipelineReport(
        cfg.model, cfg.dataset, _layer_rows(model, sharing, cfg.exclude), dict(store.metrics["errors"]),
        parameters, 4 * parameters, file_bytes, str(cfg.out),
    )  # fmt: skip
    _add_stored_bytes(report.layers, Path(cfg.out))
    store.metrics["report"] = {
        "file_bytes": file_bytes,
        "float32_bytes": 4 * parameters,
        "parameters": parameters,
    }
    store.save_metrics()
    if ctx.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
    return report


# --------------------------------------------------------------------------- report


def format_report(report: PipelineReport) -> str:
    """Markdown tables in the style of the Deep Compression paper's Tables 2-3."""
    lines = [
        f"## {report.model} on {report.dataset}",
        "",
        "| layer | #weights | weights% (P) | bits (Q) | distinct non-zero values | stored bytes (P+Q+H) | bits per non-zero |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report.layers:
        bits = "float32" if row.bits is None else str(row.bits)
        stored = "" if row.stored_bytes is None else f"{row.stored_bytes:,}"
        per_weight = (
            ""
            if row.stored_bytes is None or not row.kept
            else f"{8 * row.stored_bytes / row.kept:.2f}"
        )
        lines.append(
            f"| {row.name} | {row.weights:,} | {row.kept_percent:.2f}% | {bits} | {row.distinct} | {stored} | {per_weight} |"
        )
    total = sum(r.weights for r in report.layers)
    kept = sum(r.kept for r in report.layers)
    stored_total = sum(r.stored_bytes or 0 for r in report.layers)
    per_weight_total = f"{8 * stored_total / kept:.2f}" if stored_total and kept else ""
    stored_cell = f"{stored_total:,}" if stored_total else ""
    lines.append(
        f"| **total** | {total:,} | {100 * kept / max(total, 1):.2f}% | | | {stored_cell} | {per_weight_total} |"
    )
    lines += ["", "| stage | top-1 error |", "|---|---:|"]
    lines += [
        f"| {stage} | {100 * error:.2f}% |" for stage, error in report.errors.items()
    ]
    lines += [
        "",
        f"- parameters: {report.parameters:,} (float32: {report.float32_bytes:,} bytes)",
    ]
    if report.file_bytes:
        lines.append(
            f"- `{report.out}`: {report.file_bytes:,} bytes in all (weights above, biases, header), "
            f"**{report.ratio:.1f}×** smaller than float32"
        )
    return "\n".join(lines) + "\n"


def parse_layer_values(text: str, kind: type = float) -> dict[str, Any] | Any:
    """``"0.1"`` → 0.1; ``"fc1=0.08,fc2=0.09"`` → ``{"fc1": 0.08, "fc2": 0.09}``."""
    if "=" not in text:
        return kind(text)
    values: dict[str, Any] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if not name or not value:
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        values[name.strip()] = kind(value)
    return values


def density_with_default(
    density: Mapping[str, float] | float, model: nn.Module, exclude: list[str]
) -> dict[str, float] | float:
    """Fill layers a per-layer mapping leaves out with its ``*`` entry (if any)."""
    if not isinstance(density, Mapping) or "*" not in density:
        return density
    rest = float(density["*"])
    return {
        name: float(density.get(name, rest)) for name in prunable_layers(model, exclude)
    }

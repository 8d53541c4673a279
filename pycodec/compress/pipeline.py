"""``dcz compress`` end to end: check everything, baseline, :func:`compress_model`, ``.dcz``.

The built-in models and datasets are clients of the public API: :func:`run_pipeline`
trains (or loads) a baseline, then calls :func:`~pycodec.compress.compress_model` with a
``finetune`` that retrains with :func:`~pycodec.compress.training.train` and checkpoints
every stage, writes the ``.dcz``, reloads it into a fresh model and measures that
model's error, so the reported numbers are those of the bytes on disk.

With ``resume`` a finished stage is loaded instead of retrained: masks and codebooks are
buffers and parameters of the parametrized model, so a stage's state dict restores them.

The file records its provenance (:mod:`~pycodec.compress.provenance`): the configuration
that decides the results and the error after every stage. ``--plots DIR`` adds the
weight figures of :func:`compress_model` and the error after every stage, the reloaded
file's included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from pycodec.compress.api import Stage, compress_model
from pycodec.compress.checkpoints import StageStore
from pycodec.compress.config import CompressConfig, result_fields
from pycodec.compress.provenance import provenance_metadata
from pycodec.compress.prepare import Prepared, prepare
from pycodec.compress.report import CompressionReport, LayerRow, format_layer_table
from pycodec.compress.training import TrainConfig, evaluate, train

__all__ = ["PipelineReport", "format_report", "run_pipeline"]


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
    warnings: list[str] = dataclasses.field(default_factory=list)
    plots: list[str] = dataclasses.field(default_factory=list)  # figures written (--plots)
    plot_note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.file_bytes else self.float32_bytes / self.file_bytes


def _train_config(
    cfg: CompressConfig, epochs: int, lr: float, optimizer: str = "sgd", decay: float | None = None
) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=cfg.batch_size, lr=lr, optimizer=optimizer,
                       weight_decay=cfg.weight_decay if decay is None else decay, shift=cfg.shift,
                       seed=cfg.seed, progress=cfg.progress)  # fmt: skip


def _log(run: Prepared, message: str) -> None:
    if run.ctx.is_main:
        print(message, flush=True)


def _baseline(run: Prepared, store: StageStore) -> None:
    cfg, model = run.cfg, run.model
    if store.has("baseline"):
        model.load_state_dict(store.load("baseline")["model"])
    elif cfg.baseline_epochs:
        train(model, run.train, _train_config(cfg, cfg.baseline_epochs, cfg.baseline_lr), device=run.device,
              checkpoint=store.root / "baseline.state", ctx=run.ctx, desc="baseline")  # fmt: skip
    store.save("baseline", {"model": model.state_dict()})
    store.record_error("baseline", evaluate(model, run.test, run.device).error)
    _log(run, f"baseline: error {100 * store.metrics['errors']['baseline']:.2f}%")


def _stage_trainer(run: Prepared, store: StageStore) -> Callable[[nn.Module, Stage], None]:
    cfg = run.cfg

    def finetune(model: nn.Module, stage: Stage) -> None:
        if store.has(stage.name):  # resume: this stage is done, its state holds masks/codebooks
            model.load_state_dict(store.load(stage.name)["model"])
            return
        if stage.kind == "prune":
            store.record_error(f"{stage.name} (before retraining)", evaluate(model, run.test, run.device).error)
            config = _train_config(cfg, cfg.prune_epochs, cfg.prune_lr)
        else:
            store.record_error("quantized", evaluate(model, run.test, run.device).error)
            config = _train_config(cfg, cfg.finetune_epochs, cfg.finetune_lr, "adam", decay=0.0)
        train(model, run.train, config, device=run.device, checkpoint=store.root / f"{stage.name}.state",
              ctx=run.ctx, desc=stage.name)  # fmt: skip
        label = stage.name if stage.kind == "prune" else "finetuned"
        store.record_error(label, evaluate(model, run.test, run.device).error)
        _log(run, f"{label}: error {100 * store.metrics['errors'][label]:.2f}%")
        store.save(stage.name, {"model": model.state_dict()})

    return finetune


_RELOADED = "loaded from .dcz"


def _provenance(run: Prepared, store: StageStore, report: CompressionReport) -> dict[str, str]:
    """``model``/``dataset`` plus ``pycodec.*``: the result-deciding settings and errors
    (``--no-provenance``: ``model``/``dataset`` only)."""
    cfg = run.cfg
    if not cfg.provenance:
        return dict(run.metadata)
    record: dict[str, object] = {"via": "dcz compress"}
    record.update({name: getattr(cfg, name) for name in result_fields() if name != "data_dir"})
    record["weights"] = Path(cfg.weights).name if cfg.weights else None  # a name, not a machine's path
    record["density"] = run.density  # the model's default when --density was not given
    record["measure"] = f"top-1 error on the {cfg.dataset} test split (fraction)"
    unconverged = sum(not row.converged for row in report.layers)
    if unconverged:
        record["kmeans_unconverged"] = unconverged
    errors = {stage: e for stage, e in store.metrics["errors"].items() if stage != _RELOADED}
    return {**run.metadata, **provenance_metadata(record, errors)}


def _write_and_verify(run: Prepared, report: CompressionReport, metadata: dict[str, str]) -> tuple[int, float]:
    """Save the ``.dcz``, reload it into a fresh model and measure that model's error."""
    import pycodec

    out = Path(run.cfg.out)
    if run.ctx.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()}
        pycodec.save(state, out, metadata=metadata)
    if run.ctx.world_size > 1:
        dist.barrier()
    fresh = run.fresh_model()
    fresh.load_state_dict(pycodec.load(out))
    with pycodec.open(out) as f:
        for row in report.layers:
            row.stored_bytes = f.info(row.name).stored_bytes
    return out.stat().st_size, evaluate(fresh.to(run.device), run.test, run.device).error


def run_pipeline(cfg: CompressConfig) -> PipelineReport:
    """Check ``cfg`` against the model, data and machine, then run (or resume) every stage."""
    run = prepare(cfg)  # every user error is raised here, before any training
    store = StageStore(run.run_dir, dataclasses.asdict(cfg), resume=cfg.resume, writer=run.ctx.is_main)
    if run.ctx.world_size > 1:
        dist.barrier()  # rank 0 has checked or created the run folder
    _baseline(run, store)
    plots = cfg.plots if run.ctx.is_main else None
    report = compress_model(run.model, density=run.density, bits=run.bits, finetune=_stage_trainer(run, store),
                            prune_steps=cfg.prune_steps, exclude=cfg.exclude, init=cfg.init, seed=cfg.seed,
                            plots=plots, plot_format=cfg.plot_format)  # fmt: skip
    file_bytes, file_error = _write_and_verify(run, report, _provenance(run, store, report))
    store.record_error(_RELOADED, file_error)
    if plots is not None:
        _plot_errors(run, store, report)
    parameters = sum(p.numel() for p in run.model.parameters())
    store.metrics["report"] = {"file_bytes": file_bytes, "float32_bytes": 4 * parameters, "parameters": parameters}
    store.save_metrics()
    if run.ctx.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
    return PipelineReport(cfg.model, cfg.dataset, report.layers, dict(store.metrics["errors"]), parameters,
                          4 * parameters, file_bytes, str(cfg.out), report.warnings,
                          [str(p) for p in report.plots], report.plot_note)  # fmt: skip


def _plot_errors(run: Prepared, store: StageStore, report: CompressionReport) -> None:
    """The error after every stage, the reloaded file's last, beside the layer figures."""
    from pycodec.compress.plots import draw_errors

    percent = {stage: 100 * error for stage, error in store.metrics["errors"].items()}
    folder = Path(run.cfg.plots)  # type: ignore[arg-type]
    path = draw_errors(percent, folder / f"errors.{run.cfg.plot_format}", f"top-1 error on {run.cfg.dataset} test (%)")
    report.plots.append(path)
    report.plot_note += ", the error after every stage"


def format_report(report: PipelineReport) -> str:
    """The per-layer table, the error after every stage, and the file's ratio."""
    lines = [f"## {report.model} on {report.dataset}", "", *format_layer_table(report.layers)]
    lines += ["", "| stage | top-1 error |", "|---|---:|"]
    lines += [f"| {stage} | {100 * error:.2f}% |" for stage, error in report.errors.items()]
    lines += ["", f"- parameters: {report.parameters:,} (float32: {report.float32_bytes:,} bytes)"]
    if report.file_bytes:
        lines.append(f"- `{report.out}`: {report.file_bytes:,} bytes in all (weights above, biases, header), "
                     f"**{report.ratio:.1f}×** smaller than float32")  # fmt: skip
    if report.plot_note:
        lines.append(f"- plots: {report.plot_note}")
    lines += [f"- warning: {w}" for w in report.warnings]
    return "\n".join(lines) + "\n"

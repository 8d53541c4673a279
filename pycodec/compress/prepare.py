"""Check every choice of a run against the model, the data and the machine, before training.

:func:`prepare` turns a :class:`CompressConfig` into what the stages need, or raises
:class:`ConfigError` with one line naming the problem: a bad value, an unknown or
unimportable model, weights that do not fit it, a layer pattern that matches nothing, a
dataset the model cannot take, a device this machine lacks.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pycodec.compress.config import CompressConfig, ConfigError, check_values
from pycodec.compress.quantize import INIT_METHODS
from pycodec.compress.targets import plan_targets
from pycodec.compress.training import DistContext, init_distributed, seed_everything
from pycodec.data import DATASETS, Split, load_split, resolve_data_dir
from pycodec.errors import DczError
from pycodec.models import MODELS, get_model

__all__ = [
    "DEFAULT_DENSITIES",
    "Prepared",
    "build_model",
    "fold_stage_state",
    "load_weights",
    "prepare",
    "resolve_device",
]

# Fraction of weights kept per layer: the Deep Compression paper's (Tables 2-3) for the
# LeNets; a uniform guess elsewhere (and for a user's own model).
DEFAULT_DENSITIES: dict[str, dict[str, float] | float] = {
    "lenet-300-100": {"fc1": 0.08, "fc2": 0.09, "fc3": 0.26},
    "lenet-5": {"conv1": 0.66, "conv2": 0.12, "fc1": 0.08, "fc2": 0.19},
    "lenet-5-squeezed": 0.25,
    "vgg-19": 0.1,
    "vgg-19-squeezed": 0.3,
}


@dataclass
class Prepared:
    """A checked run: the model (weights loaded), data, device and per-layer settings."""

    cfg: CompressConfig
    model: nn.Module
    fresh_model: Callable[[], nn.Module]
    train: Split
    test: Split
    device: torch.device
    ctx: DistContext
    run_dir: Path
    density: Any
    bits: Any
    metadata: dict[str, str]


def resolve_device(name: str) -> torch.device:
    """``cpu`` or ``cuda[:N]``; under torchrun ``cuda`` means this rank's local GPU."""
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    index = int(name.partition(":")[2] or os.environ.get("LOCAL_RANK", "0"))
    if index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def build_model(spec: str) -> nn.Module:
    """A built-in model by name, or ``MODULE:FACTORY`` called with no arguments."""
    if ":" not in spec:
        if spec not in MODELS:
            raise ConfigError(f"unknown model {spec!r}; expected one of {', '.join(MODELS)} or MODULE:FACTORY")
        return get_model(spec)
    module_name, _, factory_name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--model {spec}: cannot import it ({exc})") from None
    model = factory()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"--model {spec}: the factory returned a {type(model).__name__}, not an nn.Module")
    return model


def fold_stage_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A stage checkpoint's state dict with each masked or shared weight folded to its values.

    ``fc1.parametrizations.weight.original`` + ``...weight.0.mask`` (+ ``.0.centroids``,
    ``.0.assignment`` once shared) become ``fc1.weight``, pruned entries ``+0.0``, so
    ``--weights runs/RUN/prune-3.pt`` starts a new run from another run's pruned model.
    """
    folded: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        head, marker, tail = key.partition(".parametrizations.")
        if not marker:
            folded[key] = value
        elif tail.endswith(".original"):
            name = tail.removesuffix(".original")
            inner = f"{head}.parametrizations.{name}.0."
            values = state[inner + "centroids"][state[inner + "assignment"]] if inner + "centroids" in state else value
            zero = torch.zeros((), dtype=value.dtype)
            folded[f"{head}.{name}"] = torch.where(state[inner + "mask"], values.to(value.dtype), zero)
    return folded


def load_weights(model: nn.Module, path: str) -> None:
    """Load a ``.pt`` state dict (``{"model": state}`` and stage checkpoints too) or a
    ``.dcz`` file into ``model``, strictly."""
    import pycodec

    try:
        if Path(path).suffix == ".dcz":
            state = pycodec.load(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = fold_stage_state(state.get("model", state)) if isinstance(state, dict) else state
        model.load_state_dict(state)
    except (OSError, DczError, RuntimeError, TypeError, AttributeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--weights {path}: {first}") from None


def _check_fit(model: nn.Module, spec: str, data: Split, dataset: str) -> None:
    """One forward pass of two test examples: catches a model/dataset mismatch in seconds."""
    shape = "×".join(map(str, data.images.shape[1:]))
    try:
        with torch.no_grad():
            was_training = model.training
            logits = model.eval()(data.images[:2])
            model.train(was_training)
    except RuntimeError as exc:
        raise ConfigError(f"model {spec} cannot take {dataset} inputs ({shape}): {str(exc).splitlines()[0]}") from None
    classes = int(data.labels.max()) + 1
    if logits.dim() != 2 or logits.shape[1] < classes:
        raise ConfigError(f"model {spec} gives outputs {tuple(logits.shape)} for {dataset}, which has {classes} classes")


def _data(cfg: CompressConfig) -> tuple[Split, Split]:
    if cfg.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {cfg.dataset!r}; expected one of {', '.join(DATASETS)}")
    folder = resolve_data_dir(cfg.dataset, cfg.data_dir)
    try:
        train, test = load_split(cfg.dataset, True, folder), load_split(cfg.dataset, False, folder)
    except DczError as exc:
        raise ConfigError(f"dataset {cfg.dataset}: {exc}") from None
    return (train.subset(cfg.train_limit) if cfg.train_limit else train), test


def _layer_settings(cfg: CompressConfig, model: nn.Module) -> tuple[Any, Any]:
    density = DEFAULT_DENSITIES.get(cfg.model, 0.1) if cfg.density is None else cfg.density
    bits = {} if cfg.bits is None else cfg.bits  # an empty mapping: 8 bits conv, 5 the rest
    try:
        plan_targets(model, density, bits, cfg.exclude)
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from None
    return density, bits


def _check_plots(cfg: CompressConfig) -> None:
    """matplotlib present and the --plots folder usable (created), or one line."""
    if cfg.plots is None:
        return
    from pycodec.compress.plots import check_plots
    from pycodec.plot import MissingDependencyError

    try:
        check_plots(cfg.plots, cfg.plot_format)
    except (ValueError, TypeError, MissingDependencyError) as exc:
        raise ConfigError(f"--plots: {exc}") from None


def prepare(cfg: CompressConfig, *, compressing: bool = True) -> Prepared:
    """Everything checked and loaded; raises :class:`ConfigError` before any training."""
    check_values(cfg)
    seed_everything(cfg.seed)  # before the model is built: its initialisation is seeded
    if cfg.init not in INIT_METHODS:
        raise ConfigError(f"--init must be one of {', '.join(INIT_METHODS)}, got {cfg.init!r}")
    device = resolve_device(cfg.device)
    model = build_model(cfg.model)
    if cfg.weights:
        load_weights(model, cfg.weights)
    density, bits = _layer_settings(cfg, model) if compressing else (None, None)
    train, test = _data(cfg)
    _check_fit(model, cfg.model, test, cfg.dataset)
    _check_plots(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ctx = init_distributed(device)
    run_dir = Path(cfg.run_dir or f"runs/{cfg.model.replace(':', '-')}-{cfg.dataset}-seed{cfg.seed}")
    metadata = {"model": cfg.model, "dataset": cfg.dataset}
    return Prepared(cfg, model.to(device), lambda: build_model(cfg.model), train, test, device, ctx,
                    run_dir, density, bits, metadata)  # fmt: skip

"""Provenance: compress_model's ``evaluate`` and the ``pycodec.*`` metadata a compressed file records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import pycodec
from pycodec.compress import compress_model
from pycodec.compress.provenance import COMPRESSION_KEY, ERROR_KEY, VERSION_KEY


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(128, 12, generator=g), torch.randint(0, 3, (128,), generator=g)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 40), nn.ReLU(), nn.Linear(40, 3))


def finetune(model: nn.Module, stage: object) -> None:
    x, y = _data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def error(model: nn.Module) -> float:
    x, y = _data()
    model.eval()  # compress_model puts the mode back
    with torch.no_grad():
        return float((model(x).argmax(1) != y).float().mean())


PRUNE_AND_TRAIN = ["baseline", "prune-1 (before retraining)", "prune-1", "prune-2 (before retraining)", "prune-2",
                   "quantized", "finetuned"]  # fmt: skip


def test_evaluate_runs_after_every_stage_and_lands_in_the_report() -> None:
    model = _model()
    report = compress_model(model, density=0.3, bits=3, finetune=finetune, prune_steps=2, evaluate=error)
    assert list(report.errors) == PRUNE_AND_TRAIN
    assert all(0.0 <= e <= 1.0 for e in report.errors.values())
    assert model.training  # evaluate's model.eval() was undone
    assert report.errors["finetuned"] == error(model)  # the last stage is the model returned
    assert "| baseline |" in str(report) and "| finetuned |" in str(report)


def test_without_finetune_each_stage_is_measured_once() -> None:
    report = compress_model(_model(), density=0.5, bits=4, prune_steps=2, evaluate=error)
    assert list(report.errors) == ["baseline", "prune-1", "prune-2", "quantized"]
    unpruned = compress_model(_model(), density=1.0, bits=4, evaluate=lambda m: torch.tensor(0.25))
    assert unpruned.errors == {"baseline": 0.25, "quantized": 0.25}  # a 0-dim tensor counts as a number
    numpy_scalar = compress_model(_model(), density=1.0, bits=4, evaluate=lambda m: np.float32(0.5))
    assert numpy_scalar.errors == {"baseline": 0.5, "quantized": 0.5}


def test_save_of_the_module_records_provenance_and_loads_bit_exactly(tmp_path: Path) -> None:
    model = _model()
    report = compress_model(model, density={"0": 0.25, "2": 0.5}, bits={"0": 3}, finetune=finetune,
                            prune_steps=2, exclude=(), seed=3, evaluate=error)  # fmt: skip
    path = tmp_path / "m.dcz"
    pycodec.save(model, path)
    with pycodec.open(path) as f:
        metadata = dict(f.metadata())
    assert metadata == report.metadata()
    assert metadata[VERSION_KEY] == pycodec.__version__
    compression = json.loads(metadata[COMPRESSION_KEY])
    assert compression == {
        "via": "compress_model", "density": {"0": 0.25, "2": 0.5}, "bits": {"0": 3}, "prune_steps": 2,
        "init": "linear", "exclude": [], "seed": 3, "finetune": "test_provenance.finetune",
        "evaluate": "test_provenance.error",
    }  # fmt: skip
    errors = json.loads(metadata[ERROR_KEY])
    assert list(errors) == PRUNE_AND_TRAIN
    assert errors == pytest.approx(report.errors, rel=1e-9)
    fresh = _model()
    pycodec.load_into(fresh, path)
    for name, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name].view(torch.int32), value.view(torch.int32)), name


def test_explicit_metadata_wins_and_a_state_dict_carries_none(tmp_path: Path) -> None:
    model = _model()
    report = compress_model(model, density=0.5, bits=4)
    assert ERROR_KEY not in report.metadata()  # nothing was measured
    pycodec.save(model, tmp_path / "mine.dcz", metadata={VERSION_KEY: "mine", "arch": "mlp"})
    with pycodec.open(tmp_path / "mine.dcz") as f:
        metadata = dict(f.metadata())
    assert metadata[VERSION_KEY] == "mine" and metadata["arch"] == "mlp" and COMPRESSION_KEY in metadata
    pycodec.save(model.state_dict(), tmp_path / "state.dcz")
    with pycodec.open(tmp_path / "state.dcz") as f:
        assert dict(f.metadata()) == {}
    pycodec.save(model.state_dict(), tmp_path / "explicit.dcz", metadata=report.metadata())
    assert pycodec.save_bytes(model) == (tmp_path / "explicit.dcz").read_bytes()


def test_an_error_that_is_not_finite_is_stored_as_null() -> None:
    report = compress_model(_model(), density=1.0, bits=4, evaluate=lambda m: float("nan"))
    assert json.loads(report.metadata()[ERROR_KEY]) == {"baseline": None, "quantized": None}


@pytest.mark.parametrize("evaluate,message", [
    ("error", "evaluate must be callable"),
    (42, "evaluate must be callable"),
    (lambda m: None, "must return a number"),
    (lambda m: "0.1", "must return a number"),
    (lambda m: True, "must return a number"),
    (lambda m: torch.zeros(2), "must return a number"),
])  # fmt: skip
def test_a_bad_evaluate_is_refused_before_the_model_changes(evaluate: object, message: str) -> None:
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls: list[object] = []
    with pytest.raises(TypeError, match=message):
        compress_model(model, density=0.5, bits=4, finetune=lambda m, s: calls.append(s), evaluate=evaluate)
    assert not calls
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not hasattr(model, pycodec.MODULE_METADATA_ATTRIBUTE)

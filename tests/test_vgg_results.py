"""The committed VGG-19 results (issue 11) reproduce their recorded test error.

Each ``results/vgg*.dcz`` names its model and dataset in its metadata; the module comes
from ``pycodec.models.model_for_file`` and the inputs follow the files' own convention:
pixel/255, normalised by the dataset's mean and std, zero-padded by 2 pixels to 32×32.
Skips only when the dataset's folder is absent (see conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO, require_idx_dataset

import pycodec
from pycodec.data import load_split
from pycodec.models import model_for_file

RESULTS = REPO / "results"
FILES = sorted(p.name for p in RESULTS.glob("vgg*.dcz"))


def test_every_vgg_result_has_its_summary() -> None:
    for name in FILES:
        summary = json.loads((RESULTS / name).with_suffix(".json").read_text())
        assert summary["bytes"] == (RESULTS / name).stat().st_size


@torch.no_grad()
def _errors(model: torch.nn.Module, dataset: str, folder: Path) -> int:
    test = load_split(dataset, False, folder)
    model.eval()
    wrong = 0
    for start in range(0, len(test.images), 500):
        x = F.pad(test.images[start : start + 500], (2, 2, 2, 2))
        wrong += int((model(x).argmax(1) != test.labels[start : start + 500]).sum())
    return wrong


@pytest.mark.slow
@pytest.mark.parametrize("name", FILES or ["none"])
def test_vgg_result_reproduces_its_error(name: str) -> None:
    if name == "none":
        pytest.skip("no VGG results committed yet")
    path = RESULTS / name
    with pycodec.open(path) as file:
        metadata = file.metadata()
    folder = require_idx_dataset(metadata["dataset"])
    model = model_for_file(metadata)
    pycodec.load_into(model, path)
    summary = json.loads(path.with_suffix(".json").read_text())
    assert _errors(model, metadata["dataset"], folder) == round(float(metadata["test_error"]) * 10_000)
    assert summary["error"] == pytest.approx(float(metadata["test_error"]), abs=1e-6)
    parameters = sum(p.numel() for p in model.parameters())
    assert summary["ratio"] == pytest.approx(4 * parameters / path.stat().st_size)

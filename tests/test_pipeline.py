"""The compression pipeline end to end on a tiny dataset, its CLI, and the shipped results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from pycodec.compress import pipeline
from pycodec.compress.cli import add_compress_command, config_from_args
from pycodec.compress.pipeline import (
    CompressConfig,
    format_report,
    parse_layer_values,
    run_pipeline,
)
from pycodec.data import load_split
from pycodec.models import get_model
from pycodec.train import evaluate

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "results"

pycodec = pytest.importorskip("pycodec")
HAVE_CONTAINER = hasattr(pycodec, "save") and hasattr(pycodec, "load")


def _tiny_config(tmp_path: Path, **overrides: object) -> CompressConfig:
    settings: dict[str, object] = {
        "model": "lenet-300-100", "dataset": "embedded", "out": str(tmp_path / "tiny.dcz"),
        "run_dir": str(tmp_path / "run"), "train_limit": 256, "baseline_epochs": 1, "prune_epochs": 1,
        "finetune_epochs": 1, "prune_steps": 2, "density": {"fc1": 0.05, "fc2": 0.1, "fc3": 0.5},
        "fc_bits": 3, "bits": {"fc3": 4}, "bias_bits": 4, "batch_size": 64, "progress": False,
    }  # fmt: skip
    settings.update(overrides)
    return CompressConfig(**settings)  # type: ignore[arg-type]


@pytest.mark.skipif(
    not HAVE_CONTAINER, reason="pycodec.save / pycodec.load not available"
)
def test_pipeline_end_to_end_and_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("not the pipeline's")
    (tmp_path / "run" / "prune-9.pt").write_bytes(b"stale")
    report = run_pipeline(_tiny_config(tmp_path))
    assert (tmp_path / "run" / "notes.txt").is_file()  # a fresh run removes only its own files
    assert not (tmp_path / "run" / "prune-9.pt").exists()
    out = tmp_path / "tiny.dcz"
    assert report.file_bytes == out.stat().st_size
    assert report.ratio is not None and report.ratio > 30
    assert next(iter(report.errors)) == "baseline" and "finetuned" in report.errors
    assert report.errors["loaded from .dcz"] == report.errors["finetuned"]
    rows = {row.name: row for row in report.layers}
    assert rows["fc1"].kept == round(0.05 * 235_200) and rows["fc3"].kept == 500
    assert rows["fc1"].distinct <= 8 and rows["fc3"].distinct <= 16
    state = pycodec.load(out)
    assert len(torch.unique(state["fc1.bias"])) <= 16
    assert bool(
        (
            (state["fc1.weight"] == 0)
            == ~torch.load(tmp_path / "run" / "prune-2.pt", weights_only=True)["masks"][
                "fc1"
            ]
        ).all()
    )
    text = format_report(report)
    assert "| fc1 | 235,200 | 5.00% | 3 |" in text and "smaller than float32" in text
    with pycodec.open(out) as f:
        assert rows["fc1"].stored_bytes == f.info("fc1.weight").stored_bytes

    # Resuming a finished run retrains nothing and reproduces the same file.
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("resume retrained a finished stage")

    monkeypatch.setattr(pipeline, "train", no_training)
    first = out.read_bytes()
    again = run_pipeline(_tiny_config(tmp_path, resume=True))
    assert out.read_bytes() == first and again.errors == report.errors
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["report"][
        "file_bytes"
    ] == len(first)


def test_compress_command_parses_into_a_config() -> None:
    parser = argparse.ArgumentParser(prog="dcz")
    add_compress_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compress"])
    assert callable(args.func)
    defaults = config_from_args(args)
    assert (defaults.model, defaults.dataset) == ("lenet-300-100", "embedded")
    args = parser.parse_args([
        "compress", "--model", "lenet-5", "--dataset", "mnist", "--data-dir", "d", "--out", "x.dcz",
        "--epochs", "1", "2", "3", "--density", "conv1=0.5,*=0.1", "--bits", "fc1=4", "--seed", "7",
        "--device", "cpu", "--resume", "--run-dir", "r",
    ])  # fmt: skip
    cfg = config_from_args(args)
    assert (cfg.baseline_epochs, cfg.prune_epochs, cfg.finetune_epochs) == (1, 2, 3)
    assert cfg.density == {"conv1": 0.5, "*": 0.1} and cfg.bits == {"fc1": 4}
    assert cfg.resume and cfg.run_dir == "r" and cfg.seed == 7
    filled = pipeline.density_with_default(cfg.density, get_model("lenet-5"), [])
    assert filled == {"conv1": 0.5, "conv2": 0.1, "fc1": 0.1, "fc2": 0.1}


def test_parse_layer_values() -> None:
    assert parse_layer_values("0.25") == 0.25
    assert parse_layer_values("a=1,b=2", int) == {"a": 1, "b": 2}
    with pytest.raises(ValueError):
        parse_layer_values("a=", float)


def _result_files() -> list[tuple[str, dict]]:
    summary = RESULTS / "summary.json"
    if not summary.is_file():
        return []
    return sorted(json.loads(summary.read_text()).items())


def test_results_summary_lists_every_shipped_file() -> None:
    # the reproduction test below is parametrised by summary.json: it must exist and cover
    # every committed .dcz, or that test would quietly run on nothing
    assert _result_files(), "results/summary.json is missing or empty"
    assert {name for name, _ in _result_files()} == {p.name for p in RESULTS.glob("*.dcz")}


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_CONTAINER, reason="pycodec.save / pycodec.load not available")
@pytest.mark.parametrize(("name", "entry"), _result_files() or [("none", {})])
def test_shipped_result_reproduces_its_reported_error(
    name: str, entry: dict, mnist: Path
) -> None:
    # `mnist` skips only when the data folder is absent; when it exists this must run
    path = RESULTS / name
    assert path.stat().st_size == entry["file_bytes"]
    model = get_model(entry["model"])
    model.load_state_dict(pycodec.load(path))
    result = evaluate(model, load_split("mnist", False, mnist), torch.device("cpu"))
    assert result.count - result.correct == entry["test_errors"]
    parameters = sum(p.numel() for p in model.parameters())
    assert entry["ratio"] == pytest.approx(
        4 * parameters / entry["file_bytes"], rel=1e-3
    )

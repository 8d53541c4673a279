"""The compression pipeline end to end on a tiny dataset, its CLI, and the shipped results."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from pycodec.cli import build_parser
from pycodec.cli.options import config_from_args
from pycodec.compress import pipeline
from pycodec.compress.config import CompressConfig, ConfigError, parse_layer_values
from pycodec.compress.pipeline import format_report, run_pipeline
from pycodec.compress.prepare import load_weights
from pycodec.compress.quantize import DEFAULT_INIT
from pycodec.compress.training import evaluate
from pycodec.data import load_split
from pycodec.models import get_model, model_for_file

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "results"

pycodec = pytest.importorskip("pycodec")
HAVE_CONTAINER = hasattr(pycodec, "save") and hasattr(pycodec, "load")


def _tiny_config(tmp_path: Path, **overrides: object) -> CompressConfig:
    settings: dict[str, object] = {
        "model": "lenet-300-100", "dataset": "embedded", "out": str(tmp_path / "tiny.dcz"),
        "run_dir": str(tmp_path / "run"), "train_limit": 256, "baseline_epochs": 1, "prune_epochs": 1,
        "finetune_epochs": 1, "prune_steps": 2, "density": {"fc1": 0.05, "fc2": 0.1, "fc3": 0.5},
        "bits": {"fc*": 3, "fc3": 4, "*.bias": 4}, "batch_size": 64, "progress": False,
    }  # fmt: skip
    settings.update(overrides)
    return CompressConfig(**settings)  # type: ignore[arg-type]


@pytest.mark.skipif(not HAVE_CONTAINER, reason="pycodec.save / pycodec.load not available")
def test_pipeline_end_to_end_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("not the pipeline's")
    report = run_pipeline(_tiny_config(tmp_path))
    assert (tmp_path / "run" / "notes.txt").is_file()
    out = tmp_path / "tiny.dcz"
    assert report.file_bytes == out.stat().st_size
    assert report.ratio is not None and report.ratio > 30
    assert next(iter(report.errors)) == "baseline" and "finetuned" in report.errors
    assert report.errors["loaded from .dcz"] == report.errors["finetuned"]
    rows = {row.name: row for row in report.layers}
    assert rows["fc1.weight"].kept == round(0.05 * 235_200) and rows["fc3.weight"].kept == 500
    assert rows["fc1.weight"].distinct <= 8 and rows["fc3.weight"].distinct <= 16
    state = pycodec.load(out)
    assert len(torch.unique(state["fc1.bias"])) <= 16
    stage = torch.load(tmp_path / "run" / "prune-2.pt", weights_only=True)["model"]
    assert torch.equal(state["fc1.weight"] != 0, stage["fc1.parametrizations.weight.0.mask"])
    pruned = get_model("lenet-300-100")  # a stage checkpoint serves as --weights, folded
    load_weights(pruned, str(tmp_path / "run" / "prune-2.pt"))
    assert torch.equal(pruned.fc1.weight != 0, stage["fc1.parametrizations.weight.0.mask"])
    text = format_report(report)
    assert "| fc1.weight | 235,200 | 5.00% | 3 |" in text and "smaller than float32" in text
    with pycodec.open(out) as f:
        assert rows["fc1.weight"].stored_bytes == f.info("fc1.weight").stored_bytes
        own = {k: v for k, v in f.metadata.items() if not k.startswith("pycodec.")}  # provenance: test_provenance.py
        assert own == {"model": "lenet-300-100", "dataset": "embedded"}
        model_for_file(f.metadata).load_state_dict(state)  # the metadata names the module

    # Resuming a finished run retrains nothing and reproduces the same file.
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("resume retrained a finished stage")

    monkeypatch.setattr(pipeline, "train", no_training)
    first = out.read_bytes()
    again = run_pipeline(_tiny_config(tmp_path, resume=True))
    assert out.read_bytes() == first and again.errors == report.errors
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["report"]["file_bytes"] == len(first)

    # --no-provenance only changes the saving: the same tensors, model/dataset kept.
    bare = run_pipeline(_tiny_config(tmp_path, resume=True, provenance=False))
    with pycodec.open(out) as f:
        assert dict(f.metadata) == {"model": "lenet-300-100", "dataset": "embedded"}
    assert bare.file_bytes == out.stat().st_size < len(first)
    assert all(torch.equal(a, b) for a, b in zip(pycodec.load(out).values(), state.values(), strict=True))

    # A changed configuration neither resumes nor replaces this run's checkpoints.
    with pytest.raises(ConfigError, match=r"changed since this run started \(bits, finetune_lr\)"):
        run_pipeline(_tiny_config(tmp_path, resume=True, bits=5, finetune_lr=0.1))
    with pytest.raises(ConfigError, match=r"other settings \(prune_steps\)"):
        run_pipeline(_tiny_config(tmp_path, prune_steps=3))
    assert (tmp_path / "run" / "prune-2.pt").is_file()


def test_checks_fail_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained before checking")

    monkeypatch.setattr(pipeline, "train", no_training)
    cases = [
        ({"bits": {"fc1": 17}}, "1..16"), ({"density": {"fc9": 0.1}}, "'fc9'"), ({"exclude": ["fc9"]}, "'fc9'"),
        ({"bits": {"fc9": 2}}, "'fc9'"), ({"density": 1.5}, r"\(0, 1\]"), ({"model": "vgg-19", "density": 0.1, "bits": 5}, "cannot take embedded"),
        ({"model": "nope"}, "unknown model"), ({"model": "no_such_module:f"}, "cannot import"),
        ({"dataset": "mnist", "data_dir": str(tmp_path / "none")}, "dataset mnist"),
        ({"weights": str(tmp_path / "none.pt")}, "--weights"), ({"init": "best"}, "--init"),
        ({"baseline_lr": 0.0}, "--baseline-lr"),
    ]  # fmt: skip
    if not torch.cuda.is_available():
        cases.append(({"device": "cuda"}, "CUDA is not available"))
    for overrides, message in cases:
        with pytest.raises(ConfigError, match=message):
            run_pipeline(_tiny_config(tmp_path, **overrides))
    assert not (tmp_path / "run").exists()


def test_weights_from_a_pt_or_dcz_file_and_a_factory_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = get_model("lenet-300-100")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    pycodec.save(model, tmp_path / "w.dcz")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "user_nets.py").write_text("from torch import nn\ndef mlp():\n"
                                           "    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))\n")
    for n, overrides in enumerate([{"weights": str(tmp_path / "w.pt")}, {"weights": str(tmp_path / "w.dcz")},
                                   {"model": "user_nets:mlp", "density": 0.2, "bits": 4}]):  # fmt: skip
        cfg = _tiny_config(tmp_path, baseline_epochs=0, prune_steps=1, run_dir=str(tmp_path / f"r{n}"), **overrides)
        report = run_pipeline(cfg)
        assert report.file_bytes and report.errors["loaded from .dcz"] == report.errors["finetuned"]
    assert [row.name for row in report.layers] == ["1.weight", "3.weight"]


def test_compress_options_are_generated_from_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compress"]
    defaults = config_from_args(build_parser(argv).parse_args(argv))
    assert defaults == CompressConfig()
    argv = [
        "compress", "--model", "lenet-5", "--dataset", "mnist", "--data-dir", "d", "--out", "x.dcz",
        "--baseline-epochs", "1", "--prune-epochs", "2", "--finetune-epochs", "3", "--density", "conv1=0.5,*=0.1",
        "--bits", "fc1=4", "--exclude", "fc2", "--seed", "7", "--resume", "--run-dir", "r", "--no-progress",
    ]  # fmt: skip
    cfg = config_from_args(build_parser(argv).parse_args(argv))
    assert (cfg.baseline_epochs, cfg.prune_epochs, cfg.finetune_epochs) == (1, 2, 3)
    assert cfg.density == {"conv1": 0.5, "*": 0.1} and cfg.bits == {"fc1": 4} and cfg.exclude == ["fc2"]
    assert cfg.resume and cfg.run_dir == "r" and cfg.seed == 7 and not cfg.progress
    with pytest.raises(SystemExit):
        build_parser(["compress", "--help"]).parse_args(["compress", "--help"])
    help_text = capsys.readouterr().out
    assert "(default: lenet-300-100)" in help_text and "examples:" in help_text
    for field in dataclasses.fields(CompressConfig):  # every field is an option, defaults shown
        if "compress" in field.metadata["commands"]:
            assert field.name.replace("_", "-") in help_text


def test_cli_default_init_is_the_measured_default() -> None:
    assert CompressConfig().init == DEFAULT_INIT


def test_parse_layer_values() -> None:
    assert parse_layer_values("0.25") == 0.25
    assert parse_layer_values("a=1,b*=2", int) == {"a": 1, "b*": 2}
    with pytest.raises(ConfigError):
        parse_layer_values("a=", float)
    with pytest.raises(ConfigError, match="integer"):
        parse_layer_values("a=1.5", int)


def _result_files() -> list[tuple[str, dict]]:
    summary = RESULTS / "summary.json"
    if not summary.is_file():
        return []
    return sorted(json.loads(summary.read_text()).items())


def test_results_summary_lists_every_shipped_file() -> None:
    # the reproduction test below is parametrised by summary.json: it must exist and cover
    # every committed LeNet .dcz, or that test would quietly run on nothing (the VGG files
    # carry their own .json and are reloaded by test_vgg_results.py)
    assert _result_files(), "results/summary.json is missing or empty"
    lenet_files = {p.name for p in RESULTS.glob("*.dcz") if not p.name.startswith("vgg")}
    assert {name for name, _ in _result_files()} == lenet_files


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

"""``compress_model(plots=DIR)`` and ``dcz compress --plots DIR``: figures written, valid,
not blank, checked before any work; the CLI's file records its provenance."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import pycodec
from pycodec import cli
from pycodec.compress import compress_model
from pycodec.compress.plots import TOP_LAYERS
from pycodec.compress.provenance import COMPRESSION_KEY, ERROR_KEY, VERSION_KEY
from pycodec.plot import MissingDependencyError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def _model(layers: int = 2) -> nn.Module:
    torch.manual_seed(0)
    widths = [12, 64, *[24] * (layers - 1)]
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks += [nn.Linear(widths[i], widths[i + 1] if i + 1 < layers else 3), nn.ReLU()]
    return nn.Sequential(*blocks[:-1])


def _finetune(model: nn.Module, stage: object) -> None:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 12, generator=g), torch.randint(0, 3, (64,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _error(model: nn.Module) -> float:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 12, generator=g), torch.randint(0, 3, (64,), generator=g)
    with torch.no_grad():
        return float((model(x).argmax(1) != y).float().mean())


def _assert_png_drawn(path: Path) -> None:
    from matplotlib import image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(path)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500
    assert pixels[..., :3].std() > 0.05  # a white page has std 0
    spread = pixels[..., :3].max(axis=-1) - pixels[..., :3].min(axis=-1)
    assert (spread > 0.3).mean() > 0.002  # coloured bars or stems, not only black text


def test_plots_show_every_layer_and_the_error_after_every_stage(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "plots"  # created, parents too
    report = compress_model(_model(), density=0.3, bits=3, finetune=_finetune, prune_steps=2,
                            evaluate=_error, plots=folder)  # fmt: skip
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["errors.png", "weights-0.weight.png", "weights-2.weight.png"]
    assert sorted(p.name for p in report.plots) == names
    for path in report.plots:
        _assert_png_drawn(path)
    assert "2 layer figures, the error after every stage" in str(report)


@pytest.mark.parametrize("plot_format", ["svg", "pdf"])
def test_svg_and_pdf(tmp_path: Path, plot_format: str) -> None:
    report = compress_model(_model(), density=0.5, bits=2, evaluate=_error, plots=tmp_path, plot_format=plot_format)
    assert len(report.plots) == 3
    for path in report.plots:
        data = path.read_bytes()
        if plot_format == "svg":
            assert ET.fromstring(data).tag.endswith("svg")
            text = data.decode()
            assert "weight sharing" in text or "every stage" in text
        else:
            assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]


def test_without_evaluate_there_is_no_error_figure(tmp_path: Path) -> None:
    report = compress_model(_model(), density=1.0, bits=3, plots=tmp_path)
    assert [p.name for p in report.plots] == ["weights-0.weight.png", "weights-2.weight.png"]
    _assert_png_drawn(report.plots[0])  # "not pruned" middle panel


def test_many_layers_draw_the_largest_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pycodec.compress import plots

    assert TOP_LAYERS == 12
    monkeypatch.setattr(plots, "TOP_LAYERS", 3)  # the rule, with fewer figures to draw
    model = _model(5)
    report = compress_model(model, density=0.5, bits=2, plots=tmp_path, plot_format="svg")
    sizes = {f"{i}.weight": m.weight.numel() for i, m in enumerate(model) if isinstance(m, nn.Linear)}
    drawn = {p.name.removeprefix("weights-").removesuffix(".svg") for p in report.plots}
    assert len(drawn) == 3 and "2.weight" in drawn  # 64x24, the largest
    assert min(sizes[n] for n in drawn) >= max(sizes[n] for n in set(sizes) - drawn)
    assert "(the 3 largest of 5 layers)" in report.plot_note


def test_weight_samples_are_bounded(tmp_path: Path) -> None:
    from pycodec.compress import plots

    big = nn.Sequential(nn.Linear(1000, 300))
    recorder = plots.WeightRecorder()
    recorder.before("w", big[0].weight)
    assert recorder.layers["w"].before.size == plots.SAMPLE < big[0].weight.numel()
    assert np.isin(recorder.layers["w"].before, big[0].weight.detach().numpy().astype(np.float64)).all()


def _refused(tmp_path: Path, exception: type[Exception], message: str, **kwargs: object) -> None:
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls: list[object] = []
    with pytest.raises(exception, match=message):
        compress_model(model, density=0.5, bits=3, finetune=lambda m, s: calls.append(s), evaluate=_error, **kwargs)
    assert not calls and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bad_plot_arguments_are_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    _refused(tmp_path, ValueError, "plot format must be one of png, svg, pdf", plots=tmp_path, plot_format="jpg")
    _refused(tmp_path, ValueError, "plots folder", plots=tmp_path / "a-file")
    _refused(tmp_path, ValueError, "plots folder", plots=tmp_path / "a-file" / "below")
    _refused(tmp_path, TypeError, "plots must be a folder path", plots=3)
    _refused(tmp_path, TypeError, "plots must be a folder path", plots="")


def test_missing_matplotlib_is_one_line_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    _refused(tmp_path, MissingDependencyError, r'plotting needs matplotlib: pip install "pycodec\[plot\]"',
             plots=tmp_path / "p")  # fmt: skip
    assert not (tmp_path / "p").exists()
    report = compress_model(_model(), density=0.5, bits=3)  # no plots asked: no matplotlib needed
    assert report.plots == []


TINY = ["--train-limit", "256", "--baseline-epochs", "1", "--prune-epochs", "1", "--finetune-epochs", "1",
        "--prune-steps", "1", "--batch-size", "64", "--no-progress"]  # fmt: skip


def test_dcz_compress_plots_and_provenance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, figures = tmp_path / "tiny.dcz", tmp_path / "figures"
    code = cli.main(["compress", *TINY, "--out", str(out), "--run-dir", str(tmp_path / "run"),
                     "--plots", str(figures), "--plot-format", "png"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    names = sorted(p.name for p in figures.iterdir())
    assert names == ["errors.png", "weights-fc1.weight.png", "weights-fc2.weight.png", "weights-fc3.weight.png"]
    for name in names:
        _assert_png_drawn(figures / name)
    assert "3 layer figures, the error after every stage" in printed
    with pycodec.open(out) as f:
        metadata = dict(f.metadata())
    assert metadata["model"] == "lenet-300-100" and metadata[VERSION_KEY] == pycodec.__version__
    compression = json.loads(metadata[COMPRESSION_KEY])
    assert compression["via"] == "dcz compress" and compression["prune_steps"] == 1 and compression["seed"] == 0
    assert compression["density"] == {"fc1": 0.08, "fc2": 0.09, "fc3": 0.26} and compression["bits"] is None
    assert "plots" not in compression and "out" not in compression and "data_dir" not in compression
    errors = json.loads(metadata[ERROR_KEY])
    assert list(errors) == ["baseline", "prune-1 (before retraining)", "prune-1", "quantized", "finetuned"]
    stage_table = {line.split("|")[1].strip(): line for line in printed.splitlines() if line.startswith("| ")}
    assert f"{100 * errors['finetuned']:.2f}%" in stage_table["loaded from .dcz"]


@pytest.mark.parametrize("args,message", [
    (["--plot-format", "jpg"], "--plot-format must be one of png, svg, pdf"),
    (["--plots", "{file}"], "--plots: plots folder"),
])  # fmt: skip
def test_dcz_compress_plot_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    from pycodec.compress import pipeline

    monkeypatch.setattr(pipeline, "train", lambda *a, **k: pytest.fail("trained before checking"))
    (tmp_path / "file").write_text("x")
    argv = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    code = cli.main(["compress", *TINY, "--out", str(tmp_path / "x.dcz"), "--run-dir", str(tmp_path / "run"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_dcz_compress_without_matplotlib_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code = cli.main(["compress", *TINY, "--out", str(tmp_path / "x.dcz"), "--run-dir", str(tmp_path / "run"),
                     "--plots", str(tmp_path / "figures")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert 'plotting needs matplotlib: pip install "pycodec[plot]"' in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "figures").exists()

"""``pycodec.plot``: figures are written, valid and not blank, for small and large models."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch

import pycodec

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from pycodec.plot import MissingDependencyError, layer_bytes, plot_file  # noqa: E402


def _compressed_state(layers: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Pruned, weight-shared layers plus a raw one, like a compressed model."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for i in range(layers):
        weight = torch.randn(64, 32, generator=generator)
        weight[weight.abs() < 1.2] = 0.0  # about 23% kept
        state[f"layer{i}.weight"] = torch.round(weight * 4) / 4  # shared values
        state[f"layer{i}.bias"] = torch.randn(64, generator=generator)  # raw
    return state


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.dcz"
    pycodec.save(_compressed_state(3), path)
    return path


def _png_pixels(path: Path) -> np.ndarray:
    from matplotlib import image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return image.imread(path)


def test_png_is_written_and_not_blank(small_file: Path, tmp_path: Path) -> None:
    out = plot_file(small_file, tmp_path / "small.png")
    pixels = _png_pixels(out)
    assert pixels.shape[0] > 400 and pixels.shape[1] > 400
    assert pixels[..., :3].std() > 0.05  # a white page has std 0
    # Coloured bars are drawn: some pixels are far from grey.
    spread = pixels[..., :3].max(axis=-1) - pixels[..., :3].min(axis=-1)
    assert (spread > 0.3).mean() > 0.005


def test_svg_and_pdf_are_valid(small_file: Path, tmp_path: Path) -> None:
    svg = plot_file(small_file, tmp_path / "small.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert "layer0.weight" in svg.read_text()
    pdf = plot_file(small_file, tmp_path / "small.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]


def test_bytes_by_part_add_up_to_the_file(small_file: Path) -> None:
    with pycodec.open(small_file) as file:
        rows = layer_bytes(file)
        expected_nnz = {name: int(torch.count_nonzero(t)) for name, t in pycodec.load(small_file).items()}
    assert sum(r.total for r in rows) == pytest.approx(small_file.stat().st_size, abs=len(rows))
    for row in rows:
        assert row.nnz == expected_nnz[row.name]
        if row.name.endswith("weight"):
            assert {"indices", "codebook"} <= set(row.parts)
        else:
            assert "raw" in row.parts


def test_many_layers_fold_into_one_bar(tmp_path: Path) -> None:
    path = tmp_path / "many.dcz"
    pycodec.save(_compressed_state(40), path)
    svg = plot_file(path, tmp_path / "many.svg", top=6)
    text = svg.read_text()
    assert "other 74 layers" in text and "74 smaller layers folded" in text


@pytest.mark.parametrize("bad", ["out.jpg", "out", "missing-folder/out.png"])
def test_bad_output_names_are_refused_before_reading(small_file: Path, tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="expected a file name ending|does not exist"):
        plot_file(small_file, tmp_path / bad)


def test_top_must_be_positive(small_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="top must be a positive integer"):
        plot_file(small_file, tmp_path / "x.png", top=0)


def test_missing_matplotlib_is_one_clear_error(small_file: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from pycodec.plot import plot_file, MissingDependencyError\n"
        f"try:\n    plot_file({str(small_file)!r}, {str(tmp_path / 'x.png')!r})\n"
        "except MissingDependencyError as e:\n    print('missing:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'missing: plotting needs matplotlib: pip install "pycodec[plot]"' in out.stdout
    assert issubclass(MissingDependencyError, pycodec.DczError)


def test_importing_pycodec_does_not_import_matplotlib() -> None:
    code = "import sys, pycodec, pycodec.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _dcz(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pycodec", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_plot_writes_the_figure(small_file: Path, tmp_path: Path) -> None:
    done = _dcz("plot", str(small_file), "-o", str(tmp_path / "fig.svg"), "--top", "2")
    assert done.returncode == 0, done.stderr
    assert ET.parse(tmp_path / "fig.svg").getroot().tag.endswith("svg")
    default = _dcz("plot", str(small_file), cwd=tmp_path)
    assert default.returncode == 0 and (tmp_path / "small.png").exists()


@pytest.mark.parametrize("args,status,message", [
    (["-o", "fig.jpg"], 2, "expected a file name ending in .png, .svg, .pdf"),
    (["--top", "0"], 2, "top must be a positive integer"),
])  # fmt: skip
def test_cli_plot_user_errors_are_one_line(small_file: Path, tmp_path: Path, args, status, message) -> None:
    done = _dcz("plot", str(small_file), *args, cwd=tmp_path)
    assert done.returncode == status
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cli_plot_of_a_corrupt_file_is_one_line_exit_1(small_file: Path, tmp_path: Path) -> None:
    data = bytearray(small_file.read_bytes())
    data[-5] ^= 0xFF
    bad = tmp_path / "bad.dcz"
    bad.write_bytes(bytes(data))
    done = _dcz("plot", str(bad), "-o", str(tmp_path / "bad.png"))
    assert done.returncode == 1 and "checksum" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad.png").exists()


def test_cli_version() -> None:
    done = _dcz("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"dcz (pycodec) {pycodec.__version__}"

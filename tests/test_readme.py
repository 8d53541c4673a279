"""The README's "Compress your own model" example runs as written and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import pycodec

README = Path(__file__).resolve().parent.parent / "README.md"


def _section_code(heading: str) -> str:
    text = README.read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_compress_your_own_model_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    code = _section_code("Compress your own model")
    assert len(code.strip().splitlines()) < 15
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the documented example
    printed = capsys.readouterr().out
    assert "| 4.weight | 23,040 | 10.00% | 4 |" in printed and "| 0.weight | 400 | 50.00% | 4 |" in printed
    model = namespace["model"]
    path = tmp_path / "my_model.dcz"
    state = pycodec.load(path)
    assert set(state) == set(model.state_dict())  # plain names, no masks
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name])
    ratio = 4 * sum(p.numel() for p in model.parameters()) / path.stat().st_size
    print(f"README example: {path.stat().st_size} bytes, {ratio:.1f}x smaller than float32")
    assert ratio > 8


def test_quick_start_snippet_uses_only_what_dczfile_offers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = README.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"model": torch.nn.ModuleDict({"fc1": torch.nn.Linear(4, 3)})}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    assert isinstance(namespace["w"], torch.Tensor)

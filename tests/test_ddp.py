"""The (re)training loops under torchrun: 2 CPU processes, gloo, the whole pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

pycodec = pytest.importorskip("pycodec")


@pytest.mark.slow
@pytest.mark.skipif(
    not torch.distributed.is_available() or not hasattr(pycodec, "load"),
    reason="needs torch.distributed and the container",
)
def test_pipeline_runs_under_torchrun_with_two_gloo_processes(tmp_path: Path) -> None:
    out = tmp_path / "ddp.dcz"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "pycodec.compress.cli", "--train-limit", "256", "--epochs", "1", "1", "1",
        "--prune-steps", "1", "--batch-size", "64", "--no-progress", "--threads", "1",
        "--run-dir", str(tmp_path / "run"), "--out", str(out),
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("| fc1 |") == 1  # rank 0 reports once
    assert "loaded from .dcz" in done.stdout
    state = pycodec.load(out)
    assert set(state) == {
        f"fc{i}.{kind}" for i in (1, 2, 3) for kind in ("weight", "bias")
    }
    assert int((state["fc1.weight"] != 0).sum()) == round(0.08 * 235_200)

"""The (re)training loops under torchrun: 2 CPU processes, gloo, the whole pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pycodec.data import iterate_batches, load_split
from pycodec.models import get_model

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
        "-m", "pycodec", "compress", "--train-limit", "256", "--baseline-epochs", "1", "--prune-epochs", "1",
        "--finetune-epochs", "1",
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
    assert done.stdout.count("| fc1.weight |") == 1  # rank 0 reports once
    assert "loaded from .dcz" in done.stdout
    state = pycodec.load(out)
    assert set(state) == {
        f"fc{i}.{kind}" for i in (1, 2, 3) for kind in ("weight", "bias")
    }
    assert int((state["fc1.weight"] != 0).sum()) == round(0.08 * 235_200)


# ----------------------------------------------------------------- ranks agree with one process

_TRAIN_SCRIPT = r"""
import sys
import torch
from pycodec.data import load_split
from pycodec.models import get_model
from pycodec.compress.training import TrainConfig, init_distributed, seed_everything, train

torch.set_num_threads(1)
device = torch.device("cpu")
ctx = init_distributed(device)
seed_everything(0)
model = get_model("lenet-300-100")
split = load_split("embedded", True).subset(int(sys.argv[2]))
config = TrainConfig(**eval(sys.argv[3]))
train(model, split, config, device=device, ctx=ctx)
torch.save(model.state_dict(), f"{sys.argv[1]}/rank{ctx.rank}.pt")
torch.distributed.destroy_process_group()
"""

# 2 epochs of 4 steps: per rank 32 examples a step, so 64 a step in all
EXAMPLES = 512
CONFIGS = {
    "sgd": {"epochs": 2, "batch_size": 32, "lr": 0.05, "progress": False},
    "adam": {"epochs": 2, "batch_size": 32, "lr": 0.002, "optimizer": "adam", "progress": False},
}


def _one_process_over_the_same_global_batches(
    config: dict, monkeypatch: pytest.MonkeyPatch
) -> dict[str, torch.Tensor]:
    """train() in this process on batches that join both ranks' shards, twice the size."""
    from pycodec.compress import training as train_module

    def joined(split, batch_size, **kwargs):
        kwargs.update(world_size=2)
        shards = [
            iterate_batches(split, batch_size // 2, **{**kwargs, "rank": rank})
            for rank in (0, 1)
        ]
        for (x0, y0), (x1, y1) in zip(*shards, strict=True):
            yield torch.cat([x0, x1]), torch.cat([y0, y1])

    monkeypatch.setattr(train_module, "iterate_batches", joined)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_module.seed_everything(0)
        model = get_model("lenet-300-100")
        settings = {**config, "batch_size": 2 * config["batch_size"]}
        split = load_split("embedded", True).subset(EXAMPLES)
        train_module.train(model, split, train_module.TrainConfig(**settings), device=torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    return model.state_dict()


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="needs torch.distributed")
@pytest.mark.parametrize("optimizer", sorted(CONFIGS))
def test_two_ranks_hold_identical_weights_equal_to_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, optimizer: str
) -> None:
    """DistributedDataParallel averages the gradients: without it each rank would train
    on its own shard, and the ranks would disagree with each other and with this."""
    config = CONFIGS[optimizer]
    script = tmp_path / "train_ranks.py"
    script.write_text(_TRAIN_SCRIPT)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(script), str(tmp_path), str(EXAMPLES), repr(config),
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    reference = _one_process_over_the_same_global_batches(config, monkeypatch)
    torch.manual_seed(0)
    start = get_model("lenet-300-100").state_dict()
    for name, expected in reference.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # bit for bit
        torch.testing.assert_close(ranks[0][name], expected, rtol=1e-4, atol=1e-5, msg=name)
        assert (expected - start[name]).abs().max() > 1e-3, name  # it trained

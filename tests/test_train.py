"""Training loop: learning, determinism, exact resume, augmentation, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pycodec.data import Split, load_split
from pycodec.models import get_model
from pycodec.compress.training import (
    TrainConfig,
    evaluate,
    seed_everything,
    shift_augment,
    train,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny() -> tuple[Split, Split]:
    return load_split("embedded", True).subset(384), load_split(
        "embedded", False
    ).subset(200)


def _trained(tiny: tuple[Split, Split], epochs: int) -> nn.Module:
    seed_everything(0)
    model = get_model("lenet-300-100")
    train(model, tiny[0], _config(epochs), device=CPU)
    return model


def _config(epochs: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=64, lr=0.05, shift=1, progress=False)


class Crash(Exception):
    pass


class CrashAfter:
    """Step hooks that abort training after ``steps`` optimiser steps."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        self.left -= 1
        if self.left == 0:
            raise Crash


def test_training_lowers_loss(tiny: tuple[Split, Split]) -> None:
    seed_everything(0)
    model = get_model("lenet-300-100")
    before = evaluate(model, tiny[0], CPU)
    history = train(
        model,
        tiny[0],
        TrainConfig(epochs=3, batch_size=64, progress=False),
        device=CPU,
        eval_batches=tiny[1],
    )
    after = evaluate(model, tiny[0], CPU)
    assert after.loss < 0.7 * before.loss
    assert (
        len(history) == 3
        and history[-1].test_error is not None
        and history[-1].test_error < 0.6
    )


def test_training_is_deterministic(tiny: tuple[Split, Split]) -> None:
    a, b = _trained(tiny, 2), _trained(tiny, 2)
    for (name, x), y in zip(
        a.state_dict().items(), b.state_dict().values(), strict=True
    ):
        assert torch.equal(x, y), name


def test_resume_after_a_crash_matches_an_uninterrupted_run(
    tiny: tuple[Split, Split], tmp_path: Path
) -> None:
    straight = _trained(tiny, 2)
    ckpt = tmp_path / "run.state"
    seed_everything(0)
    crashed = get_model("lenet-300-100")
    with pytest.raises(
        Crash
    ):  # 6 steps per epoch: dies in epoch 2, checkpoint holds epoch 1
        train(
            crashed,
            tiny[0],
            _config(2),
            device=CPU,
            hooks=CrashAfter(8),
            checkpoint=ckpt,
        )
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    seed_everything(123)  # a different init: everything must come from the checkpoint
    resumed = get_model("lenet-300-100")
    history = train(resumed, tiny[0], _config(2), device=CPU, checkpoint=ckpt)
    assert [entry.epoch for entry in history] == [1, 2]
    for (name, x), y in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(x, y), name


def test_shift_augment_moves_a_pixel_within_range() -> None:
    images = torch.zeros(50, 1, 9, 9)
    images[:, 0, 4, 4] = 1.0
    out = shift_augment(images, 2, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    positions = out[:, 0].flatten(1).argmax(1)
    rows, cols = positions // 9, positions % 9
    assert bool(((rows - 4).abs() <= 2).all() and ((cols - 4).abs() <= 2).all())
    assert torch.equal(out.flatten(1).sum(1), torch.ones(50))
    assert len(set(positions.tolist())) > 5  # really random


def test_evaluate_counts_correct_predictions() -> None:
    class Constant(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot(torch.full((x.shape[0],), 3), 10).float()

    split = Split(torch.zeros(5, 1, 2, 2), torch.tensor([3, 3, 1, 3, 0]))
    result = evaluate(Constant(), split, CPU, batch_size=2)
    assert (result.correct, result.count) == (3, 5)
    assert result.error == pytest.approx(0.4)


def test_resolve_device() -> None:
    from pycodec.compress.config import ConfigError
    from pycodec.compress.prepare import resolve_device

    assert resolve_device("cpu") == CPU
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def test_train_and_evaluate_take_a_dataloader(tiny: tuple[Split, Split]) -> None:
    from torch.utils.data import DataLoader, TensorDataset

    seed_everything(0)
    model = get_model("lenet-300-100")
    loader = DataLoader(TensorDataset(tiny[0].images, tiny[0].labels), batch_size=64, shuffle=True)
    before = evaluate(model, loader)
    history = train(model, loader, TrainConfig(epochs=3, progress=False), eval_batches=[(tiny[1].images, tiny[1].labels)])
    after = evaluate(model, loader)
    assert after.count == len(tiny[0]) and after.loss < 0.7 * before.loss
    assert history[-1].test_error is not None and history[-1].test_error < 0.6


def test_a_generator_of_batches_needs_a_constant_schedule(tiny: tuple[Split, Split]) -> None:
    batches = ((x, y) for x, y in [(tiny[0].images[:64], tiny[0].labels[:64])])
    with pytest.raises(ValueError, match="constant"):
        train(get_model("lenet-300-100"), batches, TrainConfig(epochs=1, progress=False))
    batches = ((x, y) for x, y in [(tiny[0].images[:64], tiny[0].labels[:64])])
    history = train(get_model("lenet-300-100"), batches, TrainConfig(epochs=1, schedule="constant", progress=False))
    assert len(history) == 1

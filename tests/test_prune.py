"""Magnitude pruning: mask selection, +0.0 bits through optimiser steps, schedules."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from pycodec.compress.prune import (
    Pruner,
    density_masks,
    density_schedule,
    iterative_prune,
    prunable_layers,
    std_threshold_masks,
)


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc1 = nn.Linear(4 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x)).flatten(1)
        return self.fc2(torch.relu(self.fc1(x)))


def _net() -> SmallNet:
    torch.manual_seed(0)
    return SmallNet()


def _is_positive_zero(t: torch.Tensor) -> torch.Tensor:
    """Element-wise: the float32 bit pattern is exactly that of +0.0."""
    return t.detach().contiguous().view(torch.int32) == 0


def test_prunable_layers_skips_excluded() -> None:
    assert list(prunable_layers(_net())) == ["conv", "fc1", "fc2"]
    assert list(prunable_layers(_net(), exclude=["fc2"])) == ["conv", "fc1"]


def test_std_threshold_keeps_weights_above_quality_times_std() -> None:
    net = _net()
    masks = std_threshold_masks(net, 1.0)
    for name, layer in prunable_layers(net).items():
        w = layer.weight.detach()
        assert torch.equal(masks[name], w.abs() > w.std())


def test_density_masks_per_layer_keep_exact_counts_of_largest() -> None:
    net = _net()
    masks = density_masks(net, {"conv": 0.5, "fc1": 0.1, "fc2": 0.25})
    for name, frac in {"conv": 0.5, "fc1": 0.1, "fc2": 0.25}.items():
        weight = dict(prunable_layers(net))[name].weight.detach()
        mask = masks[name]
        assert int(mask.sum()) == round(frac * weight.numel())
        assert weight[mask].abs().min() >= weight[~mask].abs().max()


def test_global_density_ranks_all_layers_together() -> None:
    net = _net()
    masks = density_masks(net, 0.2, scope="global")
    kept = torch.cat(
        [
            net.conv.weight[masks["conv"]],
            net.fc1.weight[masks["fc1"]],
            net.fc2.weight[masks["fc2"]],
        ]
    )
    dropped = torch.cat(
        [
            net.conv.weight[~masks["conv"]],
            net.fc1.weight[~masks["fc1"]],
            net.fc2.weight[~masks["fc2"]],
        ]
    )
    total = sum(m.numel() for m in masks.values())
    assert kept.numel() == round(0.2 * total)
    assert kept.abs().min() >= dropped.abs().max()
    with pytest.raises(TypeError):
        density_masks(net, {"conv": 0.5}, scope="global")


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-2),
        lambda p: torch.optim.AdamW(p, lr=0.01),
    ],
    ids=["sgd-momentum-wd", "adam-wd", "adamw"],
)
def test_pruned_weights_stay_positive_zero_through_optimizer_steps(
    make_optimizer,
) -> None:
    net = _net()
    # Momentum built up before pruning must not revive pruned weights either.
    optimizer = make_optimizer(net.parameters())
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    pruner = Pruner(net, density_masks(net, 0.3))
    for _ in range(5):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        pruner.before_step()
        optimizer.step()
        pruner.after_step()
    for name, weight in pruner.weights.items():
        mask = pruner.masks[name]
        assert bool(_is_positive_zero(weight[~mask]).all()), name
        assert bool((weight[mask] != 0).all()), name


def test_apply_writes_positive_zero_for_negative_weights() -> None:
    net = _net()
    with torch.no_grad():
        net.fc2.weight.fill_(-1.0)
    masks = {"fc2": torch.zeros_like(net.fc2.weight, dtype=torch.bool)}
    Pruner(net, masks)
    assert bool(_is_positive_zero(net.fc2.weight).all())
    assert not bool(torch.signbit(net.fc2.weight).any())


def test_pruner_rejects_bad_masks() -> None:
    net = _net()
    with pytest.raises(ValueError):
        Pruner(net, {"fc1": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(KeyError):
        Pruner(net, {"nope": torch.ones(3, dtype=torch.bool)})


def test_density_schedule_is_geometric_and_ends_at_target() -> None:
    steps = density_schedule(0.08, 3)
    assert steps[-1] == pytest.approx(0.08)
    assert steps[0] == pytest.approx(0.08 ** (1 / 3))
    per_layer = density_schedule({"a": 0.5, "b": 0.1}, 2)
    assert per_layer[-1] == pytest.approx({"a": 0.5, "b": 0.1})
    with pytest.raises(ValueError):
        density_schedule(0.5, 0)


def test_iterative_prune_masks_only_shrink_and_reach_target() -> None:
    net = _net()
    seen: list[dict[str, torch.Tensor]] = []

    def retrain(pruner: Pruner, step: int) -> None:
        seen.append(pruner.state_dict())
        with torch.no_grad():  # stand-in for retraining: perturb the weights, re-mask
            for layer in prunable_layers(net).values():
                layer.weight.add_(0.05 * torch.randn_like(layer.weight))
        pruner.apply()
        if step < 3:
            # Then make the pruned entries the largest of all, without re-masking: only
            # the previous masks (not the magnitudes) can keep them out of the next step.
            with torch.no_grad():
                for name, weight in pruner.weights.items():
                    weight.masked_fill_(~pruner.masks[name], 10.0)

    pruner = iterative_prune(
        net, {"conv": 0.5, "fc1": 0.1, "fc2": 0.3}, 3, retrain, exclude=[]
    )
    assert len(seen) == 3
    for before, after in itertools.pairwise(seen):
        for name in before:
            assert not bool((after[name] & ~before[name]).any())
            assert int(after[name].sum()) < int(before[name].sum())
    assert pruner.densities()["fc1"] == pytest.approx(
        0.1, abs=1 / net.fc1.weight.numel()
    )
    assert int((net.fc1.weight != 0).sum()) == int(pruner.masks["fc1"].sum())


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-2),
    ],
    ids=["sgd-momentum-wd", "adam-wd"],
)
def test_retraining_a_pruned_model_trains_the_kept_weights(make_optimizer) -> None:
    """The hooks must mask the pruned gradients only: the kept weights still learn.

    Masking the wrong entries (the kept ones) leaves the +0.0 checks above green, so this
    checks training itself: the gradient the optimiser sees, where the kept weights go, and
    that the loss on a fixed batch falls far below what the biases alone could reach.
    """
    net = _net()
    torch.manual_seed(1)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 3, (32,))
    pruner = Pruner(net, density_masks(net, 0.3))
    kept_before = {
        name: weight.detach()[pruner.masks[name]].clone()
        for name, weight in pruner.weights.items()
    }
    optimizer = make_optimizer(net.parameters())

    def loss() -> torch.Tensor:
        return nn.functional.cross_entropy(net(x), y)

    initial = float(loss().detach())
    for step in range(30):
        optimizer.zero_grad()
        loss().backward()
        full = {name: w.grad.clone() for name, w in pruner.weights.items()}
        pruner.before_step()
        if step == 0:  # the optimiser sees the true gradient of every kept weight
            for name, weight in pruner.weights.items():
                mask = pruner.masks[name]
                assert torch.equal(weight.grad[mask], full[name][mask]), name
                assert bool((full[name][mask] != 0).any()), name
                assert bool(_is_positive_zero(weight.grad[~mask]).all()), name
        optimizer.step()
        pruner.after_step()
        if step == 0:  # every layer's first move is downhill along its own gradient
            for name, weight in pruner.weights.items():
                mask = pruner.masks[name]
                delta = weight.detach()[mask] - kept_before[name]
                cosine = nn.functional.cosine_similarity(
                    delta, -full[name][mask], dim=0
                )
                assert float(cosine) > 0.5, (name, float(cosine))
    final = float(loss().detach())
    for name, weight in pruner.weights.items():
        mask = pruner.masks[name]
        moved = weight.detach()[mask] != kept_before[name]
        assert float(moved.float().mean()) > 0.9, name
        assert bool(_is_positive_zero(weight[~mask]).all()), name
        assert bool((weight[mask] != 0).all()), name
    assert final < 0.5 * initial, (initial, final)  # with the bug: about 0.97x

    # what the biases alone reach from the same start: far less than the kept weights do
    alone = _net()
    Pruner(alone, density_masks(alone, 0.3))
    biases = [p for n, p in alone.named_parameters() if n.endswith("bias")]
    bias_optimizer = make_optimizer(biases)
    for _ in range(30):
        bias_optimizer.zero_grad()
        nn.functional.cross_entropy(alone(x), y).backward()
        bias_optimizer.step()
    biases_only = float(nn.functional.cross_entropy(alone(x), y).detach())
    assert final < 0.5 * biases_only, (final, biases_only)

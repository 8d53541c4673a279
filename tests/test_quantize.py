"""k-means weight sharing and trained quantization."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from pycodec.compress.prune import Pruner, density_masks
from pycodec.compress.quantize import (
    kmeans_fit,
    WeightSharing,
    distinct_nonzero_count,
    init_centroids,
    kmeans_1d,
    quantize_tensor,
)


@pytest.mark.parametrize("init", ["linear", "density", "random"])
@pytest.mark.parametrize("bits", [1, 3, 5, 8])
def test_quantized_tensor_has_at_most_2_to_the_bits_distinct_nonzeros(
    init: str, bits: int
) -> None:
    torch.manual_seed(bits)
    weight = torch.randn(64, 300)
    mask = weight.abs() > 0.8
    q = quantize_tensor(weight, bits, mask=mask, init=init)
    dense = q.dense()
    centroids = q.centroids.detach()
    assert centroids.numel() == 2**bits
    assert distinct_nonzero_count(dense) <= 2**bits
    # every kept weight becomes its own centroid, the nearest one
    assert torch.equal(dense[mask], centroids[q.assignment[mask]])
    nearest = (weight[mask][:, None] - centroids[None, :]).abs().min(1).values
    assert torch.allclose((weight[mask] - dense[mask]).abs(), nearest, atol=1e-6)
    used = q.assignment[mask].unique()
    assert distinct_nonzero_count(dense) == used.numel()
    if init != "linear":  # data-spread inits leave no cluster empty on 8,000 values
        assert used.numel() == 2**bits
    assert torch.equal(dense != 0, mask)
    assert bool((dense[~mask].view(torch.int32) == 0).all())  # +0.0 bits


def test_kmeans_recovers_well_separated_clusters() -> None:
    torch.manual_seed(0)
    centres = torch.tensor([-3.0, -1.0, 0.5, 2.0])
    values = centres[torch.randint(0, 4, (4000,))] + 0.01 * torch.randn(4000)
    for init in ("linear", "density", "random"):
        centroids, assignment = kmeans_1d(values, 4, init=init, seed=1)
        assert torch.allclose(centroids, centres, atol=0.01), init
        assert torch.equal(assignment, (values[:, None] - centres).abs().argmin(1))


def test_kmeans_assigns_every_value_to_its_nearest_centroid() -> None:
    torch.manual_seed(0)
    values = torch.randn(10_000) ** 3
    centroids, assignment = kmeans_1d(values, 16)
    nearest = (values[:, None] - centroids[None, :]).abs().min(1).values
    assert torch.allclose((values - centroids[assignment]).abs(), nearest, atol=1e-6)
    # Lloyd fixed point: each non-empty centroid is the mean of its members.
    for j in assignment.unique():
        assert float(centroids[j]) == pytest.approx(
            float(values[assignment == j].double().mean()), abs=1e-5
        )


def test_kmeans_handles_fewer_values_than_clusters() -> None:
    centroids, assignment = kmeans_1d(torch.tensor([1.0, 2.0, 2.0]), 8, init="random")
    assert torch.equal(centroids[assignment], torch.tensor([1.0, 2.0, 2.0]))


def test_init_methods() -> None:
    data = torch.sort(
        torch.tensor([0.0, 1.0, 1.5, 2.0, 10.0], dtype=torch.float64)
    ).values
    assert torch.allclose(
        init_centroids(data, 3, "linear"),
        torch.tensor([0.0, 5.0, 10.0], dtype=torch.float64),
    )
    assert torch.allclose(
        init_centroids(data, 3, "density"),
        torch.tensor([0.0, 1.5, 10.0], dtype=torch.float64),
    )
    plus = init_centroids(data, 3, "kmeans++", torch.Generator().manual_seed(0))
    assert plus.shape == (3,) and bool((plus[1:] >= plus[:-1]).all())
    assert set(plus.tolist()) <= set(data.tolist())  # seeds are data points
    with pytest.raises(ValueError, match="unknown centroid init"):
        init_centroids(data, 3, "nonsense")


@pytest.mark.parametrize("init", ["linear", "density", "random", "kmeans++"])
def test_kmeans_fit_reports_convergence_and_centroids_in_use(init: str) -> None:
    values = torch.randn(5000, generator=torch.Generator().manual_seed(1)) ** 3  # heavy tails
    fit = kmeans_fit(values, 16, init=init)
    assert fit.converged and 1 <= fit.iterations <= 1000
    assert 1 <= fit.used <= 16
    cut_short = kmeans_fit(values, 16, init=init, max_iter=1)
    assert not cut_short.converged and cut_short.iterations == 1


def test_density_init_uses_every_centroid_where_linear_wastes_them() -> None:
    # heavy-tailed weights leave linear's outer
    # centroids empty (results/kmeans_init.md measures it on trained LeNet layers)
    values = torch.randn(20000, generator=torch.Generator().manual_seed(2)) ** 3
    assert kmeans_fit(values, 256, init="density").used == 256
    assert kmeans_fit(values, 256, init="linear").used < 200


def _reference_lloyd_step(values: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """One plain Lloyd step in float64: nearest centroid per value, then cluster means."""
    midpoints = (centroids[1:] + centroids[:-1]) / 2
    nearest = torch.bucketize(values, midpoints)
    counts = torch.bincount(nearest, minlength=centroids.numel())
    sums = torch.zeros_like(centroids).index_add_(0, nearest, values)
    return torch.where(counts > 0, sums / counts.clamp(min=1), centroids)


def test_kmeans_on_a_million_values_improves_on_its_initialisation() -> None:
    # speed at VGG scale is measured in benchmarks/bench_quantize.py
    values = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0))
    centroids, assignment = kmeans_1d(values, 256)
    assert assignment.shape == values.shape and centroids.numel() == 256
    assert torch.all(centroids[1:] >= centroids[:-1])  # 1-D clusters stay ordered
    # each value sits in its nearest cluster: no closer neighbour on either side
    error = (values - centroids[assignment]).abs()
    for side in (-1, 1):
        neighbour = centroids[(assignment + side).clamp(0, 255)]
        assert bool((error <= (values - neighbour).abs() + 1e-6).all())

    def mse(max_iter: int) -> float:
        c, a = kmeans_1d(values, 256, max_iter=max_iter)
        return float((values - c[a]).pow(2).mean())

    # the first iterations are exactly Lloyd's, from the linear initialisation
    reference = torch.linspace(float(values.min()), float(values.max()), 256, dtype=torch.float64)
    for _ in range(3):
        reference = _reference_lloyd_step(values.double(), reference)
    got, _ = kmeans_1d(values, 256, max_iter=3)
    assert torch.allclose(got, reference.float(), atol=1e-6)
    # ... and the default run keeps going: Lloyd from a linear start is slow in the tails
    final = float(error.pow(2).mean())
    assert final < mse(30) < mse(3) < mse(0)
    assert final < 0.97 * mse(0)


def test_bits_out_of_range() -> None:
    with pytest.raises(ValueError):
        quantize_tensor(torch.randn(10), 0)


def _regression_problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    teacher = nn.Linear(20, 5)
    x = torch.randn(256, 20)
    with torch.no_grad():
        y = teacher(x)
    student = nn.Sequential(nn.Linear(20, 5))
    with torch.no_grad():
        student[0].weight.copy_(teacher.weight + 0.3 * torch.randn_like(teacher.weight))
        student[0].bias.copy_(teacher.bias)
    return student, x, y


def test_trained_quantization_lowers_loss_and_keeps_weights_on_codebook() -> None:
    model, x, y = _regression_problem()
    pruner = Pruner(model, density_masks(model, 0.6))
    sharing = WeightSharing.from_model(model, masks=pruner.masks, fc_bits=2)
    optimizer = torch.optim.SGD(list(sharing.trainable()), lr=0.01)
    weight = model[0].weight
    tensor = sharing.tensors["0.weight"]

    def loss() -> torch.Tensor:
        return nn.functional.mse_loss(model(x), y)

    before = float(loss().detach())
    for _ in range(50):
        optimizer.zero_grad()
        loss().backward()
        sharing.before_step()
        optimizer.step()
        sharing.after_step()
        assert torch.equal(weight.detach(), tensor.dense())
    assert float(loss().detach()) < 0.8 * before
    assert distinct_nonzero_count(weight) <= 4
    assert torch.equal(weight != 0, pruner.masks["0"])
    assert bool((weight.detach()[~pruner.masks["0"]].view(torch.int32) == 0).all())


def test_centroid_gradient_is_the_sum_of_member_gradients() -> None:
    weight = torch.tensor([[0.1, 0.2, 0.0], [1.0, 1.1, 0.15]])
    q = quantize_tensor(weight, 1, init="linear")
    grad = torch.tensor([[1.0, 2.0, 100.0], [3.0, 4.0, 5.0]])
    small, large = q.assignment[0, 0], q.assignment[1, 0]
    expected = torch.zeros(2)
    expected[small] = 1.0 + 2.0 + 5.0  # the pruned 100 is ignored
    expected[large] = 3.0 + 4.0
    assert torch.equal(q.centroid_grad(grad), expected)


def test_weight_sharing_state_dict_round_trip() -> None:
    model, _, _ = _regression_problem()
    sharing = WeightSharing.from_model(model, fc_bits=3, bias_bits=2)
    assert set(sharing.tensors) == {"0.weight", "0.bias"}
    restored = WeightSharing.from_state_dict(model, sharing.state_dict())
    for name, tensor in sharing.tensors.items():
        assert torch.equal(restored.tensors[name].dense(), tensor.dense())
        assert restored.tensors[name].bits == tensor.bits

"""compress_model on models of every compressible kind, inside the caller's own training."""

from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

import pycodec
from pycodec.compress import ConvergenceWarning, compress_model, normalize_zeros, quantize
from pycodec._torch_state import effective_state_dict


class Mixed(nn.Module):
    """Embedding, conv + BatchNorm, depthwise conv, transposed conv, LSTM, GRU cell, head."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(40, 16)
        self.conv = nn.Conv1d(16, 32, 3, padding=1)
        self.bn = nn.BatchNorm1d(32)
        self.dw = nn.Conv1d(32, 32, 3, padding=1, groups=32)
        self.up = nn.ConvTranspose1d(32, 16, 2, stride=2)
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.cell = nn.GRUCell(24, 24)
        self.head = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(self.emb(x).transpose(1, 2))))
        h = self.up(h + self.dw(h)).transpose(1, 2)
        out, _ = self.lstm(h)
        return self.head(self.cell(out[:, -1]))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 40, (64, 6), generator=g), torch.randint(0, 5, (64,), generator=g)


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view(torch.int32)


class Trainer:
    """SGD with momentum and weight decay while pruning, Adam while sharing; checks each step."""

    def __init__(self, bits: int) -> None:
        self.bits, self.stages, self.losses = bits, [], []

    def __call__(self, model: nn.Module, stage) -> None:  # noqa: ANN001
        self.stages.append(stage.name)
        x, y = _data()
        params = model.parameters()
        opt = (torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-2) if stage.kind == "prune"
               else torch.optim.Adam(params, lr=1e-2, weight_decay=1e-2))  # fmt: skip
        zeros = {n: _bits(w) == 0 for n, w in self._weights(model).items()}
        first = None
        for _ in range(15):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            first = float(loss.detach()) if first is None else first
            for name, w in self._weights(model).items():
                assert bool((_bits(w)[zeros[name]] == 0).all()), f"{name}: a pruned weight moved off +0.0"
                if stage.kind == "share":
                    assert torch.unique(w[w != 0]).numel() <= 2**self.bits
        self.losses.append((first, float(loss.detach())))

    @staticmethod
    def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
        return {"emb": model.emb.weight, "conv": model.conv.weight, "lstm": model.lstm.weight_hh_l0,
                "head": model.head.weight, "cell": model.cell.weight_ih}  # fmt: skip


def test_compress_model_holds_masks_and_codebooks_and_saves_plain(tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    model, trainer = Mixed(), Trainer(bits=4)
    report = compress_model(model, density={"*": 0.3, "head": 0.5}, bits=4, finetune=trainer, prune_steps=2)
    assert trainer.stages == ["prune-1", "prune-2", "share"]
    assert trainer.losses[-1][1] < trainer.losses[-1][0]  # the centroids learned
    rows = {row.name: row for row in report.layers}
    assert set(rows) == {"emb.weight", "conv.weight", "dw.weight", "up.weight", "lstm.weight_ih_l0",
                         "lstm.weight_hh_l0", "cell.weight_ih", "cell.weight_hh", "head.weight"}  # fmt: skip
    assert rows["head.weight"].kept == 60 and rows["conv.weight"].kept == round(0.3 * 1536)
    assert all(row.distinct <= 16 and row.bits == 4 for row in rows.values())
    assert "bn.weight" in report.skipped and "head.bias" in report.skipped
    assert "| conv.weight | 1,536 | 30.01% | 4 |" in str(report)
    assert not any("parametrizations" in key for key in model.state_dict())
    path = tmp_path / "m.dcz"
    pycodec.save(model, path)
    float32 = 4 * sum(p.numel() for p in model.parameters())
    assert float32 / path.stat().st_size > 3
    fresh = Mixed()
    pycodec.load_into(fresh, path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[key]), key
        if value.is_floating_point():
            assert torch.equal(_bits(value), _bits(fresh.state_dict()[key])), key


def test_bits_mapping_defaults_by_kind_and_shares_biases_when_asked() -> None:
    model = Mixed()
    report = compress_model(model, density=1.0, bits={"head": 3, "*.bias": 2})
    rows = {row.name: row for row in report.layers}
    assert rows["conv.weight"].bits == 8 and rows["emb.weight"].bits == 5 and rows["head.weight"].bits == 3
    assert rows["conv.bias"].bits == 2 and torch.unique(model.conv.bias).numel() <= 4
    assert rows["emb.weight"].kept == 640  # density 1: nothing pruned


def _refuses(model: nn.Module, match: str, **kwargs) -> None:  # noqa: ANN003
    def never(model: nn.Module, stage) -> None:  # noqa: ANN001
        raise AssertionError("work started before the arguments were checked")

    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises((ValueError, TypeError), match=match):
        compress_model(model, finetune=never, **{"density": 0.5, "bits": 4, **kwargs})
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_bad_arguments_are_refused_before_any_work() -> None:
    _refuses(Mixed(), "'fc9'", density={"fc9": 0.1})
    _refuses(Mixed(), "'fc9'", bits={"fc9": 2})
    _refuses(Mixed(), "'fc9'", exclude=["fc9"])
    _refuses(Mixed(), r"\(0, 1\]", density=1.5)
    _refuses(Mixed(), r"\(0, 1\]", density={"conv": 0.0})
    _refuses(Mixed(), "1..16", bits=17)
    _refuses(Mixed(), "1..16", bits={"head": 0})
    _refuses(Mixed(), "prune_steps", prune_steps=0)
    _refuses(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)), "no compressible layer")


def test_exclude_leaves_a_layer_alone() -> None:
    model = Mixed()
    before = model.head.weight.detach().clone()
    report = compress_model(model, density=0.5, bits=3, exclude=["head", "lstm"])
    assert torch.equal(model.head.weight, before)
    assert "head.weight" in report.skipped and "lstm.weight_hh_l0" in report.skipped


def test_non_convergence_warns_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quantize, "DEFAULT_MAX_ITER", 1)
    with pytest.warns(ConvergenceWarning, match="without converging"):
        report = compress_model(nn.Sequential(nn.Linear(50, 40)), density=1.0, bits=4)
    assert report.warnings and not report.layers[0].converged


def test_torch_prune_interop_saves_effective_weights_and_zeros_normalise(tmp_path) -> None:  # noqa: ANN001
    model = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 4))
    prune.l1_unstructured(model[0], "weight", amount=0.7)
    state = effective_state_dict(model)
    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    zeros = state["0.weight"] == 0
    assert int(zeros.sum()) == 420 and not bool(torch.signbit(state["0.weight"][zeros]).any())
    with pytest.raises(ValueError, match="prune.remove"):
        compress_model(model, density=0.5, bits=4)
    prune.remove(model[0], "weight")
    negative = int(((model[0].weight == 0) & torch.signbit(model[0].weight)).sum())
    assert negative > 0  # what prune.remove leaves: -0.0 where negative weights were pruned
    assert normalize_zeros(model) == negative
    assert not bool(torch.signbit(model[0].weight[model[0].weight == 0]).any())
    pycodec.save(state, tmp_path / "p.dcz")
    fresh = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 4))
    pycodec.load_into(fresh, tmp_path / "p.dcz")
    assert torch.equal(_bits(fresh[0].weight), _bits(model[0].weight))


@pytest.mark.xfail(
    importlib.util.find_spec("pycodec.torch_adapter") is None,
    reason="needs the writer calling pycodec._torch_state.effective_state_dict (issue 9's torch adapter)",
)
def test_save_of_a_torch_pruned_module_uses_plain_names(tmp_path) -> None:  # noqa: ANN001
    model = nn.Sequential(nn.Linear(30, 20))
    prune.l1_unstructured(model[0], "weight", amount=0.7)
    pycodec.save(model, tmp_path / "p.dcz")
    assert set(pycodec.load(tmp_path / "p.dcz")) == {"0.weight", "0.bias"}


def test_no_warning_on_a_normal_run() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compress_model(nn.Sequential(nn.Linear(50, 40)), density=0.5, bits=4)


def test_a_pattern_overridden_on_every_layer_it_matches_is_refused() -> None:
    # The later glob wins, so "features.0.*" written before "features.*" would never apply.
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 4, 3)), nn.Sequential(nn.Conv2d(4, 4, 3)))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"density pattern '0\.\*' decides no layer: the later '\*' overrides"):
        compress_model(model, density={"0.*": 0.6, "*": 0.1}, bits=4)
    with pytest.raises(ValueError, match=r"bits pattern '1\.\*' decides no layer: the later '1\.0'"):
        compress_model(model, density=0.5, bits={"1.*": 3, "1.0": 4})  # an exact name wins anyway
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    report = compress_model(model, density={"*": 0.1, "0.*": 0.6}, bits=4)  # general first: both apply
    assert [row.kept_percent for row in report.layers] == pytest.approx([60, 10], abs=2)

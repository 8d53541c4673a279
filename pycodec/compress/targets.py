"""Which tensors of a model get compressed, and with which density and bits.

A *target* is one weight tensor of a compressible module: the weight of a ``Linear``,
``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d`` or ``Embedding``, or a weight matrix
(``weight_ih_l0``, ``weight_hh_l0`` ...) of an ``RNN``/``LSTM``/``GRU`` or their cells.
Biases become targets only when a ``bits`` pattern ending in ``.bias`` names them
(they are weight-shared, never pruned). Everything else is left alone and listed as
skipped.

Patterns are fnmatch globs matched against a target's module name (``"fc1"``,
``"features.*"``) or its parameter name (``"lstm.weight_hh_l0"``). A name given exactly
wins over globs; among globs the later one in the mapping wins, so general patterns come
first (``{"features.*": 0.1, "features.0.*": 0.6}``). Every pattern must match something
and decide at least one layer (a pattern overridden everywhere is refused), and every
value is checked, before any work is done.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn

__all__ = [
    "DEFAULT_BITS",
    "Target",
    "compressible_targets",
    "plan_targets",
    "skipped_parameters",
]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_MATRIX = (nn.Linear, nn.Embedding)
_RECURRENT = (nn.RNNBase, nn.RNNCellBase)  # RNN, LSTM, GRU and their cells

# Bits per kind when a ``bits`` mapping leaves a layer out (the paper's choice).
DEFAULT_BITS = {"conv": 8, "linear": 5, "embedding": 5, "recurrent": 5, "bias": 8}


@dataclass(frozen=True)
class Target:
    """One tensor to compress: where it lives and, once planned, its density and bits."""

    module_name: str
    param_name: str  # attribute on the module: "weight", "weight_hh_l0", "bias"
    kind: str  # a key of DEFAULT_BITS
    density: float = 1.0
    bits: int = 0

    @property
    def name(self) -> str:
        """The state-dict key: ``fc1.weight``."""
        return f"{self.module_name}.{self.param_name}" if self.module_name else self.param_name

    def matches(self, pattern: str) -> bool:
        return fnmatch.fnmatchcase(self.module_name, pattern) or fnmatch.fnmatchcase(self.name, pattern)


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, _CONV):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Embedding):
        return "embedding"
    return "recurrent" if isinstance(module, _RECURRENT) else None


def _weight_names(module: nn.Module) -> list[str]:
    if isinstance(module, _RECURRENT):
        return [n for n, _ in module.named_parameters(recurse=False) if n.startswith("weight")]
    return ["weight"] if getattr(module, "weight", None) is not None else []


def compressible_targets(model: nn.Module, *, biases: bool = False) -> list[Target]:
    """Every compressible weight (and bias, when asked) of ``model``, in definition order."""
    targets = []
    for module_name, module in model.named_modules():
        kind = _kind(module)
        if kind is None:
            continue
        targets += [Target(module_name, name, kind) for name in _weight_names(module)]
        if biases:
            targets += [
                Target(module_name, name, "bias")
                for name, _ in module.named_parameters(recurse=False)
                if name.startswith("bias")
            ]
    return targets


def skipped_parameters(model: nn.Module, targets: Sequence[Target]) -> list[str]:
    """Parameter names left alone (norms, biases not asked for, excluded layers)."""
    chosen = {t.name for t in targets}
    return [name for name, _ in model.named_parameters() if name not in chosen]


def _deciding_pattern(target: Target, patterns: Sequence[str]) -> str | None:
    """The pattern that gives ``target`` its value: an exact name first, else the last glob."""
    for exact in (target.name, target.module_name):
        if exact in patterns:
            return exact
    return next((p for p in reversed(patterns) if target.matches(p)), None)


def _lookup(target: Target, mapping: Mapping[str, float | int]) -> float | int | None:
    pattern = _deciding_pattern(target, list(mapping))
    return None if pattern is None else mapping[pattern]


def _check_no_shadowed_pattern(what: str, patterns: Sequence[str], targets: Sequence[Target]) -> None:
    """A pattern overridden on every layer it matches is a mistake (say ``features.0.*``
    written before ``features.*``): refuse it rather than silently ignore it."""
    decided = {_deciding_pattern(t, patterns) for t in targets}
    for index, pattern in enumerate(patterns):
        if pattern not in decided:
            winner = next((p for p in patterns[index + 1:] if any(t.matches(p) and t.matches(pattern)
                                                               for t in targets)), "an exact name")
            raise ValueError(f"{what} pattern {pattern!r} decides no layer: the later {winner!r} overrides it "
                             "on every layer it matches (an exact name wins, then the last matching glob; "
                             "put general patterns first)")


def _check_patterns(what: str, patterns: Sequence[str], targets: Sequence[Target]) -> None:
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"{what} pattern {pattern!r} is not a str")
        if not any(t.matches(pattern) for t in targets):
            names = ", ".join(t.name for t in targets) or "none"
            raise ValueError(f"{what} pattern {pattern!r} matches no compressible layer (have: {names})")
    if what != "exclude":
        _check_no_shadowed_pattern(what, list(patterns), targets)


def _check_density(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"density {where}must be a float in (0, 1], got {value!r}")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"density {where}must be in (0, 1], got {value!r}")
    return float(value)


def _check_bits(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"bits {where}must be an int in 1..16, got {value!r}")
    if not 1 <= value <= 16:
        raise ValueError(f"bits {where}must be in 1..16, got {value!r}")
    return value


def _check_values(density: object, bits: object) -> None:
    for label, value, check in (("density", density, _check_density), ("bits", bits, _check_bits)):
        if isinstance(value, Mapping):
            for pattern, item in value.items():
                check(item, f"for {pattern!r} ")
        else:
            check(value, "")


def plan_targets(
    model: nn.Module,
    density: float | Mapping[str, float],
    bits: int | Mapping[str, int],
    exclude: Sequence[str] = (),
) -> list[Target]:
    """The targets of ``model`` with their density and bits; raises before any work.

    ``ValueError`` names a pattern that matches nothing, a density outside (0, 1] or bits
    outside 1..16; ``TypeError`` a value of the wrong type. A model with nothing
    compressible is a ``ValueError`` too.
    """
    if isinstance(exclude, str):
        exclude = [exclude]
    _check_values(density, bits)
    every = compressible_targets(model, biases=True)
    weights = [t for t in every if t.kind != "bias"]
    if not weights:
        raise ValueError(f"{type(model).__name__} has no compressible layer (Linear, Conv, Embedding, RNN)")
    bias_patterns = [p for p in bits if p.endswith(".bias")] if isinstance(bits, Mapping) else []
    biases = [t for t in every if t.kind == "bias" and any(t.matches(p) for p in bias_patterns)]
    _check_patterns("exclude", list(exclude), every)
    if isinstance(density, Mapping):
        _check_patterns("density", list(density), weights)
    if isinstance(bits, Mapping):
        _check_patterns("bits", list(bits), every)
    chosen = [t for t in weights + biases if not any(t.matches(p) for p in exclude)]
    return [_planned(t, density, bits) for t in chosen]


def _planned(target: Target, density: float | Mapping[str, float], bits: int | Mapping[str, int]) -> Target:
    if isinstance(density, Mapping):
        found = None if target.kind == "bias" else _lookup(target, density)
        layer_density = 1.0 if found is None else float(found)
    else:
        layer_density = 1.0 if target.kind == "bias" else float(density)
    if isinstance(bits, Mapping) and target.kind == "bias":  # only ".bias" patterns apply
        bits = {p: b for p, b in bits.items() if p.endswith(".bias")}
    found_bits = _lookup(target, bits) if isinstance(bits, Mapping) else bits
    layer_bits = DEFAULT_BITS[target.kind] if found_bits is None else int(found_bits)
    return Target(target.module_name, target.param_name, target.kind, layer_density, layer_bits)

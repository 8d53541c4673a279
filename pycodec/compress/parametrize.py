"""Masks and shared weights held through any optimiser, with ``torch.nn.utils.parametrize``.

While a model is being fine-tuned each target weight is a *parametrized* tensor: the
module computes it on every access from the parametrization below, so no optimiser
(momentum, weight decay, Adam) can move a pruned weight off ``+0.0`` or a shared weight
off its centroid, whatever it does to the underlying tensors.

* :class:`PruningMask` — ``where(mask, w, +0.0)``: pruned entries get no gradient and
  read as exactly ``+0.0`` (``where`` writes ``+0.0``; multiplying by the mask would give
  ``-0.0`` for negative weights).
* :class:`SharedWeights` — ``where(mask, centroids[assignment], +0.0)``: the centroids are
  the trainable parameter; autograd sums each weight's gradient into its centroid (the
  paper's grouped gradient). The original weight is frozen and unused.

:func:`detach_all` folds the parametrizations away, leaving plain parameters holding the
effective values, so the model saves under its usual names.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from pycodec.compress.targets import Target

__all__ = ["PruningMask", "SharedWeights", "attach", "current_mask", "detach_all", "effective"]


class PruningMask(nn.Module):
    """Parametrization keeping only the entries where ``mask`` is True."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.to(torch.bool))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, weight, torch.zeros((), dtype=weight.dtype, device=weight.device))


class SharedWeights(nn.Module):
    """Parametrization rebuilding a weight from a trainable codebook."""

    def __init__(self, centroids: torch.Tensor, assignment: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        self.centroids = nn.Parameter(centroids)
        self.register_buffer("assignment", assignment.to(torch.long))
        self.register_buffer("mask", mask.to(torch.bool))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        values = self.centroids[self.assignment].to(weight.dtype)
        return torch.where(self.mask, values, torch.zeros((), dtype=weight.dtype, device=weight.device))


def _module(model: nn.Module, target: Target) -> nn.Module:
    return model.get_submodule(target.module_name)


def effective(model: nn.Module, target: Target) -> torch.Tensor:
    """The target's current value (its parametrization applied), detached."""
    return getattr(_module(model, target), target.param_name).detach()


def current_mask(model: nn.Module, target: Target) -> torch.Tensor:
    """The mask a parametrization holds, else the weight's non-zero entries."""
    module = _module(model, target)
    if parametrize.is_parametrized(module, target.param_name):
        return module.parametrizations[target.param_name][0].mask.clone()
    return effective(model, target) != 0


def attach(model: nn.Module, target: Target, parametrization: nn.Module) -> None:
    """Make ``parametrization`` the only one on the target (replacing any earlier one)."""
    module = _module(model, target)
    if parametrize.is_parametrized(module, target.param_name):
        # fold the previous stage in: its effective values become the new original
        parametrize.remove_parametrizations(module, target.param_name, leave_parametrized=True)
    original = getattr(module, target.param_name)
    parametrize.register_parametrization(module, target.param_name, parametrization)
    # a shared weight reads only its codebook: keep optimisers and DDP off the original
    original_param = module.parametrizations[target.param_name].original
    original_param.requires_grad_(not isinstance(parametrization, SharedWeights))
    del original


def detach_all(model: nn.Module, targets: list[Target]) -> None:
    """Fold every target's parametrization into a plain parameter of its effective value."""
    for target in targets:
        module = _module(model, target)
        if parametrize.is_parametrized(module, target.param_name):
            parametrize.remove_parametrizations(module, target.param_name, leave_parametrized=True)
            getattr(module, target.param_name).requires_grad_(True)

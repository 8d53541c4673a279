"""A module's state dict as the tensors its forward pass uses, under plain names.

Two PyTorch mechanisms store a weight as something else:

* ``torch.nn.utils.parametrize``: ``fc.parametrizations.weight.original`` plus the
  parametrization's own tensors; the module computes ``fc.weight`` from them.
* ``torch.nn.utils.prune``: ``fc.weight_orig`` and a float ``fc.weight_mask``.

:func:`effective_state_dict` replaces each by the effective tensor under the plain name
(``fc.weight``), masked positions as ``+0.0``, so a saved file loads into a fresh,
unparametrized instance of the model. Everything else is the ordinary ``state_dict()``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

__all__ = ["effective_state_dict"]


def _pruned_names(module: nn.Module) -> list[str]:
    """Tensor names ``torch.nn.utils.prune`` manages on ``module`` (it keeps a forward pre-hook)."""
    from torch.nn.utils.prune import BasePruningMethod

    return [hook._tensor_name for hook in module._forward_pre_hooks.values() if isinstance(hook, BasePruningMethod)]


def _replacements(model: nn.Module) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Keys to drop (→ the plain key they stand for) and the effective tensors by plain key."""
    from torch.nn.utils import parametrize

    dropped: dict[str, str] = {}
    effective: dict[str, torch.Tensor] = {}
    state_keys = list(model.state_dict().keys())
    for prefix, module in model.named_modules():
        prefix = f"{prefix}." if prefix else ""
        if parametrize.is_parametrized(module):
            for name in module.parametrizations:
                plain = prefix + name
                effective[plain] = getattr(module, name).detach()
                inner = f"{prefix}parametrizations.{name}."
                dropped.update({key: plain for key in state_keys if key.startswith(inner)})
        for name in _pruned_names(module):
            plain = prefix + name
            original, mask = getattr(module, name + "_orig"), getattr(module, name + "_mask")
            zero = torch.zeros((), dtype=original.dtype, device=original.device)
            effective[plain] = torch.where(mask != 0, original.detach(), zero)
            dropped.update({plain + "_orig": plain, plain + "_mask": plain})
    return dropped, effective


def effective_state_dict(model: nn.Module) -> OrderedDict[str, torch.Tensor]:
    """``model.state_dict()`` with parametrized and pruned tensors folded to their values."""
    state = model.state_dict()
    dropped, effective = _replacements(model)
    if not dropped:
        return state
    result: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state.items():
        plain = dropped.get(key)
        if plain is None:
            result[key] = value
        elif plain not in result:  # the first of its keys places the plain one
            result[plain] = effective[plain]
    return result

"""What the format layer stores per tensor, in numpy terms only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StoredTensor:
    """A tensor as the container sees it: a dtype-table name, a shape, and either a flat
    row-major array of the dtype's storage type or the name of an earlier tensor it is."""

    dtype: str
    shape: tuple[int, ...]
    array: np.ndarray | None = None
    alias_of: str | None = None

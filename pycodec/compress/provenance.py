"""Provenance: what wrote a compressed file, with which settings, and the error it measured.

Three metadata keys under the prefix reserved for pycodec's writers (``spec/dcz.md``,
"Reserved metadata keys"); values are strings, the structured ones JSON:

* ``pycodec.version`` — the writer's pycodec version, e.g. ``"0.1.0"``;
* ``pycodec.compression`` — the configuration as the user gave it: ``via``
  (``compress_model`` or ``dcz compress``), ``density``, ``bits``, ``prune_steps``,
  ``init``, ``exclude``, ``seed``, and what retrained and measured the model;
* ``pycodec.error`` — the error measured after every stage, in stage order (present only
  when an ``evaluate`` was given, or always for ``dcz compress``).

:func:`~pycodec.compress.compress_model` leaves these on the module it compressed, and
``pycodec.save(model, path)`` writes them; keys the caller passes in ``metadata=`` win.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "COMPRESSION_KEY",
    "ERROR_KEY",
    "PREFIX",
    "VERSION_KEY",
    "attach",
    "callable_name",
    "provenance_metadata",
]

PREFIX = "pycodec."
VERSION_KEY = PREFIX + "version"
COMPRESSION_KEY = PREFIX + "compression"
ERROR_KEY = PREFIX + "error"


def _jsonable(value: Any) -> Any:
    """numpy and torch scalars as numbers, anything else by its ``str``."""
    try:
        return value.item()
    except (AttributeError, TypeError, ValueError):
        return str(value)


def _number_or_null(value: float) -> float | None:
    """10 significant digits (``0.7635``, not ``0.7635000000000001``); JSON has no NaN or
    infinity, so an error that is not finite is stored as ``null``."""
    return float(f"{value:.10g}") if math.isfinite(value) else None


def callable_name(function: Callable[..., Any] | None) -> str | None:
    """``module.qualname`` of the user's function, for the record (None when absent)."""
    if function is None:
        return None
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    module = getattr(function, "__module__", None)
    return f"{module}.{name}" if module and module != "__main__" else name


def provenance_metadata(compression: Mapping[str, Any], errors: Mapping[str, float] | None) -> dict[str, str]:
    """The ``pycodec.*`` metadata entries for ``compression`` settings and measured errors."""
    from pycodec import __version__

    metadata = {
        VERSION_KEY: __version__,
        COMPRESSION_KEY: json.dumps(dict(compression), default=_jsonable, allow_nan=False),
    }
    if errors:
        stages = {stage: _number_or_null(float(error)) for stage, error in errors.items()}
        metadata[ERROR_KEY] = json.dumps(stages, allow_nan=False)
    return metadata


def attach(model: Any, metadata: Mapping[str, str]) -> None:
    """Leave ``metadata`` on ``model`` for :func:`pycodec.save` to write (replacing any)."""
    from pycodec import MODULE_METADATA_ATTRIBUTE

    object.__setattr__(model, MODULE_METADATA_ATTRIBUTE, dict(metadata))

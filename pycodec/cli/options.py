"""Command-line options generated from :class:`~pycodec.compress.config.CompressConfig`.

Every field tagged with a command becomes ``--field-name`` with the field's help and
default; booleans that default to True become ``--no-field-name``. No torch here.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from pycodec.compress.config import CompressConfig, ConfigError, parse_layer_values

__all__ = ["add_config_options", "config_from_args"]

_TYPES = {"int": int, "float": float, "str": str}


def _flag(field: dataclasses.Field) -> str:
    return "--" + field.name.replace("_", "-")


def _value_type(field: dataclasses.Field) -> type:
    """``int``, ``float`` or ``str`` from the field's annotation (``"int | None"`` → int)."""
    return _TYPES.get(str(field.type).split("|")[0].strip(), str)


def _add(group: argparse._ArgumentGroup, field: dataclasses.Field) -> None:
    help_text = field.metadata["help"]
    if field.type == "bool":
        if field.default:
            group.add_argument("--no-" + field.name.replace("_", "-"), dest=field.name, action="store_false",
                               help=f"no {help_text}")  # fmt: skip
        else:
            group.add_argument(_flag(field), action="store_true", help=help_text)
        return
    kind = field.metadata.get("kind")
    default = [] if kind == "list" else field.default
    shown = "" if default in (None, []) else " (default: %(default)s)"
    value_type = str if kind else _value_type(field)
    group.add_argument(_flag(field), type=value_type, default=default, help=help_text + shown)


def add_config_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the options of ``command`` ("compress" or "train"), one per config field."""
    group = parser.add_argument_group("settings (one per configuration field)")
    for field in dataclasses.fields(CompressConfig):
        if command in field.metadata["commands"]:
            _add(group, field)


def _convert(field: dataclasses.Field, value: Any) -> Any:
    kind = field.metadata.get("kind")
    if kind == "list":
        return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value
    if kind in ("layer-float", "layer-int") and isinstance(value, str):
        return parse_layer_values(value, float if kind == "layer-float" else int)
    return value


def config_from_args(args: argparse.Namespace) -> CompressConfig:
    """The configuration the parsed options describe; :class:`ConfigError` for bad text."""
    values = {}
    for field in dataclasses.fields(CompressConfig):
        if hasattr(args, field.name):
            try:
                values[field.name] = _convert(field, getattr(args, field.name))
            except ConfigError as exc:
                raise ConfigError(f"{_flag(field)}: {exc}") from None
    return CompressConfig(**values)

"""Typed access to ``params.yaml``, the single home of every default.

Each pipeline stage reads one section of ``params.yaml`` into a dataclass it
defines next to its code. Dataclasses here carry *no* defaults: a value that is
missing, unknown or of the wrong type is a :class:`ConfigError` naming the key
path (``data.synthetic.ids_per_type``) and the type that was expected. Numbers must be finite
(``.nan``, ``.inf`` are errors), a key given twice in one mapping is an error naming the file and
line (plain YAML keeps the last silently), and keys listed in :data:`MUST_EQUAL` that exist in
two sections must agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import re
import types
import typing
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")

PARAMS_FILE = Path("params.yaml")

MUST_EQUAL: tuple[tuple[str, str], ...] = (
    ("features.sample_rate", "data.sample_rate"),
    ("features.clip_samples", "data.clip_samples"),
)
"""(key, must-equal key) pairs of dotted keys, checked by :func:`read_params` when both exist."""


class ConfigError(ValueError):
    """A bad, missing or unknown key in ``params.yaml``."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that reads floats as YAML 1.2 does and refuses a key given twice in one
    mapping (at any depth)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor`` keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):  # the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise ConfigError(
                    f"{key_node.start_mark.name}: duplicate key {key!r} at line {line} "
                    f"(first given at line {first_line[key]})"
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


# PyYAML follows YAML 1.1, whose floats need a dot and a signed exponent: ``1e-05`` (what DVC's
# YAML 1.2 writer puts into params.yaml for ``dvc exp run -S lr=1e-5``), ``1e-3`` and ``1E5`` would
# load as strings. YAML 1.2's core schema reads them as floats; so does this loader.
_YAML12_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _YAML12_EXPONENT_FLOAT, list("-+.0123456789"))


def read_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Read the whole params file as a plain mapping (checked against :data:`MUST_EQUAL`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    with path.open() as handle:
        try:
            data = yaml.load(handle, Loader=_UniqueKeyLoader) or {}  # a SafeLoader
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    check_equal_keys(data, path)
    return data


def check_equal_keys(data: dict[str, Any], where: str | Path = "params") -> None:
    """Raise :class:`ConfigError` when a :data:`MUST_EQUAL` pair exists in ``data`` and differs."""
    flat = flatten(data)
    for key, other in MUST_EQUAL:
        if key in flat and other in flat and flat[key] != flat[other]:
            raise ConfigError(
                f"{where}: '{key}' ({flat[key]!r}) must equal '{other}' ({flat[other]!r})"
            )


def load_section(section: str, cls: type[T], path: str | Path = PARAMS_FILE) -> T:
    """Load ``section`` (dotted, e.g. ``models.proposed``) of the params file into ``cls``."""
    node: Any = read_params(path)
    walked: list[str] = []
    for key in section.split("."):
        walked.append(key)
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(f"{path}: missing section '{'.'.join(walked)}'")
        node = node[key]
    return from_dict(cls, node, section)


def stage_params(section: str, cls: type[T], description: str,
                 argv: list[str] | None = None) -> T:
    """The thin ``main()`` of a stage: parse ``--params FILE``, set up logging, load ``section``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--params", default=str(PARAMS_FILE), help="params file (default: %(default)s)"
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one error: line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return load_section(section, cls, args.params)


def from_dict(cls: type[T], data: Any, where: str = "params") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types recursively."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, dict):
        raise ConfigError(f"'{where}' must be a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key '{where}.{unknown[0]}' (valid keys: {', '.join(sorted(fields))})"
        )
    values = {}
    for name, field in fields.items():
        key = f"{where}.{name}"
        if name not in data:
            if field.default is not dataclasses.MISSING:
                continue
            if field.default_factory is not dataclasses.MISSING:
                continue
            raise ConfigError(f"missing key '{key}' (expected {_type_name(hints[name])})")
        values[name] = _coerce(hints[name], data[name], key)
    instance = cls(**values)
    validate = getattr(instance, "validate", None)
    if callable(validate):
        validate()
    return instance


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ConfigError as error:
                errors.append(error)
        raise ConfigError(f"'{key}' must be {_type_name(tp)}, got {_describe(value)}")
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"'{key}' must be one of {choices}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"'{key}' must be {_type_name(tp)}, got {_describe(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"'{key}' must have {len(args)} items, got {len(value)}")
            pairs = enumerate(zip(args, value, strict=True))
            return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in pairs)
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}' must be {_type_name(tp)}, got {_describe(value)}")
        vt = args[1] if args else Any
        return {str(k): _coerce(vt, v, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"'{key}' must be float, got {_describe(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"'{key}' must be a finite float, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{key}' must be int, got {_describe(value)}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"'{key}' must be {tp.__name__}, got {_describe(value)}")
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"'{key}' must be null, got {_describe(value)}")
        return None
    raise TypeError(f"unsupported config type {tp!r} for '{key}'")


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in get_args(tp))
        return f"{origin.__name__}[{inner}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:120]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys (for MLflow params)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat

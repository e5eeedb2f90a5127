"""Profiles: one command switches the whole pipeline to a protocol (``profiles/<name>.yaml``).

A profile is an overlay of ``params.yaml``: only the keys it changes. ``python -m benchmark
profile NAME`` checks that the overlay, merged onto ``params.yaml``, is a valid params file
(every section loads into its dataclass) and prints it as ``-S key=value`` arguments of
``dvc exp run``, so the profile runs as one DVC experiment whose changed params ``dvc exp show``
lists, and ``params.yaml`` (the smoke profile) stays as it is::

    dvc exp run -n paper $(python -m benchmark profile paper)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from benchmark.config import ConfigError, flatten, from_dict, read_params

PROFILES_DIR = Path("profiles")


def read_profile(name: str, folder: str | Path = PROFILES_DIR) -> dict[str, Any]:
    """The overlay ``<folder>/<name>.yaml``; errors name the file and the known profiles."""
    path = Path(folder) / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in Path(folder).glob("*.yaml"))
        raise ConfigError(f"profile {name!r} not found: {path} (profiles: {', '.join(known)})")
    return read_params(path)


def merge(base: dict[str, Any], overlay: dict[str, Any], where: str = "") -> dict[str, Any]:
    """``overlay`` merged onto ``base``; a key the base does not have is an error naming it."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        name = f"{where}{key}"
        if key not in out and not name.startswith("models."):
            raise ConfigError(f"profile key '{name}' is not in params.yaml")
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, f"{name}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def check(params: dict[str, Any]) -> None:
    """Load every section of a merged params mapping into its dataclass (raises ConfigError)."""
    from benchmark.complexity import ComplexityParams
    from benchmark.data.params import DataParams
    from benchmark.features.cache import FeaturesParams
    from benchmark.report import ReportParams
    from benchmark.training.params import ModelParams, TrainParams

    sections = {"data": DataParams, "features": FeaturesParams, "train": TrainParams,
                "complexity": ComplexityParams, "report": ReportParams}
    for section, cls in sections.items():
        from_dict(cls, params[section], section)
    for name, values in params["models"].items():
        try:
            from_dict(ModelParams, values, f"models.{name}")
        except ConfigError as error:  # validate() says models.*: name the model
            raise ConfigError(str(error).replace("models.*", f"models.{name}")) from None
    seeds = params.get("seeds")
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0
                                                       for s in seeds)):
        raise ConfigError(f"'seeds' must be a non-empty list of integers >= 0, got {seeds!r}")


def set_args(overlay: dict[str, Any]) -> list[str]:
    """``-S key=value`` arguments of ``dvc exp run`` for every leaf of the overlay."""
    args = []
    for key, value in flatten(overlay).items():
        plain = isinstance(value, str) and yaml.safe_load(value) == value and " " not in value
        text = value if plain else json.dumps(value, separators=(",", ":"))
        args += ["-S", f"{key}={text}"]
    return args


def profile_args(name: str, params_file: str | Path = "params.yaml",
                 folder: str | Path = PROFILES_DIR) -> list[str]:
    """Check profile ``name`` against ``params_file``; its ``dvc exp run -S`` arguments."""
    overlay = read_profile(name, folder)
    check(merge(read_params(params_file), overlay))
    return set_args(overlay)

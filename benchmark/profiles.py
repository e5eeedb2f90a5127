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
import difflib
import json
from pathlib import Path
from typing import Any

import yaml

from benchmark.config import ConfigError, flatten, from_dict, read_params
from benchmark.io import atomic_path

PROFILES_DIR = Path("profiles")


EXTENDS = "extends"
"""A profile's key naming the profile it builds on (its overlay goes on top of that one's)."""


def read_profile(name: str, folder: str | Path = PROFILES_DIR,
                 _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The overlay ``<folder>/<name>.yaml``, on top of the profile its ``extends:`` names (the
    DCASE 2021-2025 profiles extend ``paper``: the same recipes on another year's data); errors
    name the file and the known profiles, or the cycle."""
    path = Path(folder) / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in Path(folder).glob("*.yaml"))
        raise ConfigError(f"profile {name!r} not found: {path} (profiles: {', '.join(known)})")
    if name in _seen:
        raise ConfigError(f"profile {name!r} extends itself: {' -> '.join((*_seen, name))}")
    overlay = read_params(path)
    base = overlay.pop(EXTENDS, None)
    if base is None:
        return overlay
    if not isinstance(base, str):
        raise ConfigError(f"{path}: '{EXTENDS}' must name a profile, got {base!r}")
    return merge(read_profile(base, folder, (*_seen, name)), overlay, strict=False)


def merge(base: dict[str, Any], overlay: dict[str, Any], where: str = "",
          strict: bool = True) -> dict[str, Any]:
    """``overlay`` merged onto ``base``; with ``strict`` (params.yaml as the base), a key the
    base does not have is an error naming it (new models excepted)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        name = f"{where}{key}"
        if strict and key not in out and not name.startswith("models."):
            raise ConfigError(f"profile key '{name}' is not in params.yaml")
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, f"{name}.", strict)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check(params: dict[str, Any]) -> None:
    """Load every section of a merged params mapping into its dataclass (raises ConfigError)."""
    from benchmark.complexity import ComplexityParams
    from benchmark.data.params import DataParams
    from benchmark.features.cache import FeaturesParams
    from benchmark.grid.params import GridParams
    from benchmark.report import ReportParams
    from benchmark.scoring.params import ScoringParams
    from benchmark.training.params import ModelParams, TrainParams

    sections = {"data": DataParams, "features": FeaturesParams, "train": TrainParams,
                "scoring": ScoringParams, "complexity": ComplexityParams,
                "report": ReportParams, "grid": GridParams}
    for section, cls in sections.items():
        from_dict(cls, params[section], section)
    _check_model_names(params["models"])
    for name, values in params["models"].items():
        try:
            from_dict(ModelParams, values, f"models.{name}")
        except ConfigError as error:  # validate() says models.*: name the model
            raise ConfigError(str(error).replace("models.*", f"models.{name}")) from None
    check_seeds(params.get("seeds"))


def check_seeds(seeds: Any) -> None:
    """``seeds``: a non-empty list of distinct integers >= 0 (a bool is not an integer here)."""
    if not (isinstance(seeds, list) and seeds
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ConfigError(f"'seeds' must be a non-empty list of integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"'seeds' lists a seed twice: {seeds!r}")


def _check_model_names(models: Any) -> None:
    """Every key of ``models`` is a registered model (a misspelt one would silently train
    nothing under the recipe meant for it)."""
    from benchmark.architectures import list_models

    if not isinstance(models, dict) or not models:
        raise ConfigError(f"'models' must be a non-empty mapping, got {models!r}")
    known = list_models()
    unknown = [name for name in models if name not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown model 'models.{unknown[0]}'{hint}; registered models: "
                          f"{', '.join(known)}")


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


def apply_profile(name: str, params_file: str | Path = "params.yaml",
                  folder: str | Path = PROFILES_DIR) -> int:
    """Write profile ``name`` into ``params_file`` (checked first), keeping its comments and
    layout as ``dvc exp run -S`` does (ruamel.yaml round trip); returns the values set."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedSeq

    overlay = read_profile(name, folder)
    check(merge(read_params(params_file), overlay))
    yaml_rt = YAML()  # round trip
    yaml_rt.preserve_quotes = True
    yaml_rt.width = 4096
    yaml_rt.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    path = Path(params_file)
    document = yaml_rt.load(path.read_text())
    changed = 0
    for key, value in flatten(overlay).items():
        node = document
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, list):  # [0, 1, 2] stays on one line
            value = CommentedSeq(value)
            value.fa.set_flow_style()
        changed += node.get(last) != value
        node[last] = value
    with atomic_path(path) as tmp, tmp.open("w") as handle:
        yaml_rt.dump(document, handle)
    return changed

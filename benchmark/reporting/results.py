"""Reading what the tables are built from: the paper's figures, our metrics, fvcore counts.

- :func:`load_paper` reads ``paper_results.yaml`` (the paper's Tables 1-4 as data, in %).
- :func:`load_runs` reads every ``reports/metrics/NAME.json`` the train stage wrote
  (fractions 0..1, see the contract in README/contracts) into :class:`Run` records.
- :func:`load_complexity` reads ``reports/complexity.json`` (complexity stage).

A malformed file is a ``ValueError`` naming the file and the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.data.layout import MACHINE_TYPES

PAPER_RESULTS = Path(__file__).with_name("paper_results.yaml")


@dataclass(frozen=True)
class Run:
    """One trained model's evaluation (``reports/metrics/NAME.json``); values in % here."""

    model: str
    data_source: str
    epochs: int
    seed: int
    num_train_clips: int
    mean: dict[str, float]  # auc, pauc, auc_hmean, pauc_hmean (%)
    per_type: dict[str, dict[str, float]]  # machine type -> {auc, pauc} (%)
    path: Path = field(compare=False)

    @property
    def provenance(self) -> str:
        """``synthetic, 2 ep`` (what a reader must know before comparing the numbers)."""
        return f"{self.data_source}, {self.epochs} ep"


@dataclass(frozen=True)
class Complexity:
    """fvcore counts of ``reports/complexity.json``."""

    flop_convention: str
    models: dict[str, dict[str, Any]]


def load_paper(path: str | Path = PAPER_RESULTS) -> dict[str, Any]:
    """The paper's reported figures (%): ``methods``, ``features_study``, ``ablation``."""
    path = Path(path)
    with path.open() as handle:
        data = yaml.safe_load(handle)
    for key in ("methods", "features_study", "ablation"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: '{key}' must be a list")
    for method in data["methods"]:
        missing = set(MACHINE_TYPES) - set(method.get("per_type", {}))
        if missing:
            raise ValueError(f"{path}: method {method.get('name')!r} lacks {sorted(missing)}")
    return data


def load_run(path: str | Path) -> Run:
    """Read one metrics JSON (fractions) into a :class:`Run` (percent)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        mean = {key: 100.0 * float(value) for key, value in data["mean"].items()}
        per_type = {
            machine: {key: 100.0 * float(value) for key, value in values.items()}
            for machine, values in data["per_type"].items()
        }
        return Run(
            model=str(data["model"]),
            data_source=str(data["data_source"]),
            epochs=int(data["epochs"]),
            seed=int(data["seed"]),
            num_train_clips=int(data["num_train_clips"]),
            mean=mean,
            per_type=per_type,
            path=path,
        )
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    except KeyError as error:
        raise ValueError(f"{path}: missing key {error}") from error
    except (TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path}: malformed metrics ({error})") from error


def load_runs(metrics_dir: str | Path) -> dict[str, Run]:
    """Every ``*.json`` of ``metrics_dir`` keyed by model name (empty when the folder is absent)."""
    folder = Path(metrics_dir)
    if not folder.is_dir():
        return {}
    runs = [load_run(path) for path in sorted(folder.glob("*.json"))]
    return {run.model: run for run in runs}


def load_complexity(path: str | Path) -> Complexity | None:
    """``reports/complexity.json`` or ``None`` when it has not been computed yet."""
    path = Path(path)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if not isinstance(data.get("models"), dict):
        raise ValueError(f"{path}: 'models' must be a mapping of model name -> counts")
    return Complexity(
        flop_convention=str(data.get("flop_convention", "fvcore (1 multiply-add = 1 FLOP)")),
        models=data["models"],
    )

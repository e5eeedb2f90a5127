"""Reading what the tables are built from: the paper's figures, our metrics, fvcore counts, CIs.

- :func:`load_paper` reads ``paper_results.yaml`` (the paper's Tables 1-4 as data, in %).
- :func:`load_runs` reads every ``reports/metrics/*.json`` the train stage wrote (fractions 0..1,
  see the contract in README/contracts) into :class:`Run` records, one per file, grouped per
  model into :class:`ModelRuns` (several files of one model = several seeds: mean and std).
- :func:`load_complexity` reads ``reports/complexity.json`` (complexity stage).
- :func:`compute_uncertainty` bootstraps ``models/NAME/scores.csv`` (95 % intervals, paired test
  against a reference model, :mod:`benchmark.evaluation.uncertainty`) into the git-tracked
  ``reports/uncertainty.json``; :func:`load_uncertainty` reads it back (in %). The tables are
  built from that file, never from ``models/`` (DVC-tracked, absent from a git checkout), so the
  committed tables can be regenerated from git-tracked files alone.

A malformed file is a ``ValueError`` naming the file and the key.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmark.data.layout import MACHINE_TYPES
from benchmark.evaluation import uncertainty as unc
from benchmark.training.checkpoint import run_dir

log = logging.getLogger(__name__)

PAPER_RESULTS = Path(__file__).with_name("paper_results.yaml")
SCORES_FILE = "scores.csv"  # models/NAME/seed-K/scores.csv (train stage)
DCASE = "dcase2020"  # the only data source whose runs are comparable with the paper
CI_METHOD = (
    "percentile bootstrap over test clips, stratified by machine ID and by label within ID "
    "(normal and anomalous clips of each ID resampled separately, with replacement); each "
    "resample is averaged as the point estimate (per ID, mean per type, mean over types)"
)


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


@dataclass(frozen=True)
class ModelRuns:
    """Every run of one model (one per seed, same data and epochs): what a table row shows.

    ``mean`` / ``per_type``: the mean over seeds; ``std``: their sample standard deviation
    (``None`` for a single seed, which is shown without "±").
    """

    runs: tuple[Run, ...]

    def __post_init__(self) -> None:
        first = self.runs[0]
        for run in self.runs[1:]:
            for key in ("model", "data_source", "epochs", "num_train_clips"):
                if getattr(run, key) != getattr(first, key):
                    raise ValueError(
                        f"{run.path} and {first.path}: runs of one model differ in '{key}' "
                        f"({getattr(run, key)!r} vs {getattr(first, key)!r}): cannot average them"
                    )
        if len(set(self.seeds)) != len(self.seeds):
            paths = ", ".join(str(r.path) for r in self.runs)
            raise ValueError(f"{paths}: two runs of {first.model} share a seed")

    @property
    def model(self) -> str:
        return self.runs[0].model

    @property
    def data_source(self) -> str:
        return self.runs[0].data_source

    @property
    def epochs(self) -> int:
        return self.runs[0].epochs

    @property
    def num_train_clips(self) -> int:
        return self.runs[0].num_train_clips

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(run.seed for run in self.runs)

    @property
    def comparable(self) -> bool:
        """Trained and tested on the real DCASE 2020 data (may be marked best in a table)."""
        return self.data_source == DCASE

    @property
    def mean(self) -> dict[str, float]:
        keys = self.runs[0].mean.keys()
        return {key: statistics.fmean(r.mean[key] for r in self.runs) for key in keys}

    @property
    def std(self) -> dict[str, float] | None:
        if len(self.runs) < 2:
            return None
        return {key: statistics.stdev(r.mean[key] for r in self.runs) for key in self.mean}

    @property
    def per_type(self) -> dict[str, dict[str, float]]:
        types = [t for t in self.runs[0].per_type if all(t in r.per_type for r in self.runs)]
        return {
            t: {k: statistics.fmean(r.per_type[t][k] for r in self.runs)
                for k in self.runs[0].per_type[t]}
            for t in types
        }

    def per_type_std(self, machine_type: str, key: str) -> float | None:
        if len(self.runs) < 2:
            return None
        return statistics.stdev(r.per_type[machine_type][key] for r in self.runs)

    @property
    def seeds_text(self) -> str:
        """``1 seed (0)`` / ``3 seeds (0, 1, 2)``."""
        return f"{_count(len(self.seeds), 'seed')} ({', '.join(map(str, self.seeds))})"

    @property
    def provenance(self) -> str:
        """``synthetic, 2 ep, 1 seed`` (what a reader must know before comparing the numbers)."""
        return f"{self.data_source}, {self.epochs} ep, {_count(len(self.seeds), 'seed')}"

    @property
    def description(self) -> str:
        """``synthetic data, 2 epochs, seed 0`` (figure titles and legends)."""
        seeds = ", ".join(map(str, self.seeds))
        word = "seeds" if len(self.seeds) > 1 else "seed"
        return f"{self.data_source} data, {self.epochs} epochs, {word} {seeds}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


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


def load_runs(metrics_dir: str | Path) -> dict[str, ModelRuns]:
    """Every ``*.json`` of ``metrics_dir`` grouped by model name (empty when the folder is absent).

    Several files of one model are its runs with different seeds (same data source and epochs).
    """
    folder = Path(metrics_dir)
    if not folder.is_dir():
        return {}
    grouped: dict[str, list[Run]] = {}
    for path in sorted(folder.glob("*.json")):
        run = load_run(path)
        grouped.setdefault(run.model, []).append(run)
    return {
        model: ModelRuns(tuple(sorted(runs, key=lambda r: r.seed)))
        for model, runs in grouped.items()
    }


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


# --- uncertainty: computed from models/NAME/scores.csv, kept in reports/uncertainty.json --------


@dataclass(frozen=True)
class ModelUncertainty:
    """95 % intervals of one model's mean AUC / pAUC and its paired test (all in %)."""

    seed: int  # the run whose scores were resampled
    test_clips: int
    min_normal_per_id: int  # the fewest normal test clips of a machine ID
    auc: unc.Interval
    pauc: unc.Interval
    vs_reference: unc.Difference | None  # model - reference; None for the reference itself

    @property
    def pauc_reliable(self) -> bool:
        """Enough normal clips per ID for the pAUC interval to mean something (see
        :data:`benchmark.evaluation.uncertainty.PAUC_MIN_NORMAL`)."""
        return self.min_normal_per_id >= unc.PAUC_MIN_NORMAL


@dataclass(frozen=True)
class Uncertainty:
    """``reports/uncertainty.json`` in %: how it was computed and one entry per model."""

    level: float
    resamples: int
    seed: int
    reference: str
    models: dict[str, ModelUncertainty]
    notes: tuple[str, ...]  # models without an interval or a paired test, and why

    @property
    def level_text(self) -> str:
        return f"{100 * self.level:g} %"


def _matching_seed(boot: unc.Bootstrap, runs: ModelRuns) -> int | None:
    """The seed of the run whose metrics the scores reproduce (``None``: stale scores)."""
    for run in runs.runs:
        if math.isclose(100 * boot.auc, run.mean["auc"], abs_tol=1e-7) and math.isclose(
            100 * boot.pauc, run.mean["pauc"], abs_tol=1e-7
        ):
            return run.seed
    return None


def _scores_path(models_dir: str | Path, model: str, runs: ModelRuns) -> Path:
    """``models/NAME/seed-K/scores.csv`` of the model's lowest seed with scores.

    (``models/NAME/scores.csv`` for a folder written before runs were kept per seed.)
    """
    for run in runs.runs:
        path = run_dir(models_dir, model, run.seed) / SCORES_FILE
        if path.is_file():
            return path
    return Path(models_dir) / model / SCORES_FILE


def compute_uncertainty(
    runs: Mapping[str, ModelRuns],
    models_dir: str | Path,
    reference: str,
    resamples: int,
    seed: int,
    level: float = unc.LEVEL,
) -> dict[str, Any]:
    """The ``reports/uncertainty.json`` document (fractions) from ``models/NAME/scores.csv``.

    A model gets an entry only when its scores reproduce its metrics JSON (same mean AUC and
    pAUC), so an interval never belongs to another run than the row it is printed in.
    """
    boots: dict[str, unc.Bootstrap] = {}
    seeds: dict[str, int] = {}
    clips: dict[str, int] = {}
    notes: list[str] = []
    for model in sorted(runs):
        path = _scores_path(models_dir, model, runs[model])
        if not path.is_file():
            notes.append(f"`{model}`: no interval, {path} not found")
            continue
        scores = pd.read_csv(path)
        boot = unc.bootstrap(scores, resamples, seed)
        matched = _matching_seed(boot, runs[model])
        if matched is None:
            notes.append(f"`{model}`: no interval, {path} does not match its metrics JSON (stale)")
            continue
        boots[model], seeds[model], clips[model] = boot, matched, len(scores)
    if runs and reference not in boots:
        notes.append(f"no paired test: no scores of the reference model `{reference}`")
    entries = {}
    for model, boot in boots.items():
        difference = None
        if model != reference and reference in boots:
            if boot.clips_key == boots[reference].clips_key:
                difference = unc.paired_difference(boot, boots[reference], level)
            else:
                notes.append(
                    f"`{model}`: no paired test, scored on other test clips than `{reference}`"
                )
        entries[model] = {
            "seed": seeds[model],
            "data_source": runs[model].data_source,
            "test_clips": clips[model],
            "min_normal_per_id": boot.min_normal,
            "auc": _interval_json(unc.interval(boot.auc, boot.auc_samples, level)),
            "pauc": _interval_json(unc.interval(boot.pauc, boot.pauc_samples, level)),
            "vs_reference": None if difference is None else {
                **_interval_json(difference.interval), "p_value": difference.p_value
            },
        }
    return {
        "method": CI_METHOD,
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "max_fpr": unc.MAX_FPR,
        "reference": reference,
        "models": entries,
        "notes": notes,
    }


def _interval_json(interval: unc.Interval) -> dict[str, float]:
    return {"estimate": interval.estimate, "low": interval.low, "high": interval.high}


def write_uncertainty(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write the :func:`compute_uncertainty` document (stable key order, ends with a newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def load_uncertainty(path: str | Path) -> Uncertainty | None:
    """``reports/uncertainty.json`` in % (``None`` when the report stage has not written it)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        level, resamples = float(data["level"]), int(data["resamples"])
        models = {}
        for model, entry in data["models"].items():
            paired = entry["vs_reference"]
            models[model] = ModelUncertainty(
                seed=int(entry["seed"]),
                test_clips=int(entry["test_clips"]),
                min_normal_per_id=int(entry["min_normal_per_id"]),
                auc=_interval_percent(entry["auc"], level),
                pauc=_interval_percent(entry["pauc"], level),
                vs_reference=None if paired is None else unc.Difference(
                    _interval_percent(paired, level), float(paired["p_value"]), resamples
                ),
            )
        return Uncertainty(level, resamples, int(data["seed"]), str(data["reference"]), models,
                           tuple(str(n) for n in data["notes"]))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    except KeyError as error:
        raise ValueError(f"{path}: missing key {error}") from error
    except (TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path}: malformed uncertainty file ({error})") from error


def _interval_percent(entry: Mapping[str, Any], level: float) -> unc.Interval:
    return unc.Interval(*(100.0 * float(entry[k]) for k in ("estimate", "low", "high")), level)

"""Reading what the tables are built from: the paper's figures, our metrics, fvcore counts, CIs.

- :func:`load_paper` reads ``paper_results.yaml`` (the paper's Tables 1-4 as data, in %).
- :func:`load_runs` reads every ``reports/metrics/*.json`` the train stage wrote (fractions 0..1,
  see the contract in README/contracts) into :class:`Run` records, one per file, grouped per
  model into :class:`ModelRuns` (several files of one model = several seeds: mean and std). The
  optional ``eval`` section (the DCASE 2020 evaluation set: ``clips``, ``mean`` with the
  ``official`` score, ``per_type``) becomes :class:`EvalMetrics`; either every seed of a model
  has one or none does.
- :func:`load_complexity` reads ``reports/complexity.json`` (complexity stage).
- :func:`compute_uncertainty` bootstraps ``models/NAME/scores.csv`` (95 % intervals, paired test
  against a reference model, :mod:`benchmark.evaluation.uncertainty`) into the git-tracked
  ``reports/uncertainty.json``, with every model's ``cells``: two-level (clips and seeds)
  intervals of the mean and each machine type, for the test set and, when scored, the evaluation
  set (:func:`model_cells`); :func:`load_uncertainty` reads it back (in %). The tables are
  built from that file, never from ``models/`` (DVC-tracked, absent from a git checkout), so the
  committed tables can be regenerated from git-tracked files alone. Its parts serve the scoring
  backends' ``reports/backends.json`` too (:mod:`benchmark.reporting.backends`):
  :class:`ScoreBootstraps` (any score column of a scores file), :func:`model_bootstrap` (the run
  of a model's row), :func:`reproducing_seeds` (the seeds a pooled interval may use).

A malformed file is a ``ValueError`` naming the file and the key.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
EVAL_SCORES_FILE = "eval_scores.csv"  # models/NAME/seed-K/eval_scores.csv (evaluation set, if any)
SPLIT_FILES = {"test": SCORES_FILE, "eval": EVAL_SCORES_FILE}  # cells of uncertainty.json
DCASE = "dcase2020"  # the only data source whose runs are comparable with the paper
CI_METHOD = (
    "percentile bootstrap over test clips, stratified by machine ID and by label within ID "
    "(normal and anomalous clips of each ID resampled separately, with replacement); each "
    "resample is averaged as the point estimate (per ID, mean per type, mean over types)"
)
CELLS_METHOD = (
    "two-level percentile bootstrap over test clips and seeds: the scores of every seed whose "
    "scores file reproduces its metrics JSON (models/NAME/seed-K/scores.csv, eval_scores.csv for "
    "the evaluation set) are resampled as the single-run intervals are (stratified by machine ID "
    "and label), with the same resamples for every seed (same "
    "clips, same seed); for each resample, as many seeds as there are are drawn with replacement "
    "from them and their resampled values averaged; the interval is the percentiles of those "
    "averages, the estimate the mean over seeds of the unresampled values; per machine type "
    "(mean over its IDs) and for the mean over types. One seed: the plain clip bootstrap"
)


@dataclass(frozen=True)
class EvalMetrics:
    """The optional ``eval`` section of a metrics JSON: the DCASE 2020 evaluation set (in %)."""

    clips: int
    mean: dict[str, float]  # auc, pauc, auc_hmean, pauc_hmean, official (%)
    per_type: dict[str, dict[str, float]]  # machine type -> {auc, pauc} (%)


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
    eval: EvalMetrics | None  # the evaluation set; None without one (no ``eval`` section)
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
        with_eval = [str(r.path) for r in self.runs if r.eval is not None]
        if with_eval and len(with_eval) < len(self.runs):
            without = ", ".join(str(r.path) for r in self.runs if r.eval is None)
            raise ValueError(
                f"{without}: no 'eval' section, but {', '.join(with_eval)} of {first.model} "
                "have one: runs of one model were evaluated on different data (re-run them)"
            )

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
        return mean_over_seeds([r.mean for r in self.runs])

    @property
    def std(self) -> dict[str, float] | None:
        return std_over_seeds([r.mean for r in self.runs])

    @property
    def per_type(self) -> dict[str, dict[str, float]]:
        return _per_type_over_seeds([r.per_type for r in self.runs])

    def per_type_std(self, machine_type: str, key: str) -> float | None:
        if len(self.runs) < 2:
            return None
        return statistics.stdev(r.per_type[machine_type][key] for r in self.runs)

    @property
    def has_eval(self) -> bool:
        """Every run (so all of them, see ``__post_init__``) has an evaluation-set section."""
        return self.runs[0].eval is not None

    @property
    def eval_clips(self) -> int | None:
        return self.runs[0].eval.clips if self.has_eval else None

    @property
    def eval_mean(self) -> dict[str, float] | None:
        """The evaluation set's mean figures, mean over seeds (``None`` without an eval set)."""
        return mean_over_seeds([r.eval.mean for r in self.runs]) if self.has_eval else None

    @property
    def eval_std(self) -> dict[str, float] | None:
        """Their standard deviation over seeds (``None``: no eval set or a single seed)."""
        return std_over_seeds([r.eval.mean for r in self.runs]) if self.has_eval else None

    @property
    def eval_per_type(self) -> dict[str, dict[str, float]] | None:
        """The evaluation set's per-type figures, mean over seeds (``None`` without one)."""
        if not self.has_eval:
            return None
        return _per_type_over_seeds([r.eval.per_type for r in self.runs])

    def eval_per_type_std(self, machine_type: str, key: str) -> float | None:
        if len(self.runs) < 2 or not self.has_eval:
            return None
        return statistics.stdev(r.eval.per_type[machine_type][key] for r in self.runs)

    @property
    def seeds_text(self) -> str:
        """``1 seed (0)`` / ``3 seeds (0, 1, 2)``."""
        return seeds_text(self.seeds)

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


def seeds_text(seeds: Sequence[int]) -> str:
    """``1 seed (0)`` / ``3 seeds (0, 1, 2)``."""
    return f"{_count(len(seeds), 'seed')} ({', '.join(map(str, seeds))})"


def mean_over_seeds(means: list[dict[str, float]]) -> dict[str, float]:
    """Key-wise mean of one dict of figures per seed (the keys of the first)."""
    return {key: statistics.fmean(m[key] for m in means) for key in means[0]}


def std_over_seeds(means: list[dict[str, float]]) -> dict[str, float] | None:
    """Key-wise sample standard deviation over seeds; ``None`` for a single seed."""
    if len(means) < 2:
        return None
    return {key: statistics.stdev(m[key] for m in means) for key in means[0]}


def _per_type_over_seeds(
    per_type: list[dict[str, dict[str, float]]],
) -> dict[str, dict[str, float]]:
    """Per machine type present in every seed: the key-wise mean over seeds."""
    types = [t for t in per_type[0] if all(t in p for p in per_type)]
    return {t: mean_over_seeds([p[t] for p in per_type]) for t in types}


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
    with named_errors(path, "metrics"):
        data = json.loads(path.read_text())
        return Run(
            model=str(data["model"]),
            data_source=str(data["data_source"]),
            epochs=int(data["epochs"]),
            seed=int(data["seed"]),
            num_train_clips=int(data["num_train_clips"]),
            mean=percent(data["mean"]),
            per_type=percent_per_type(data["per_type"]),
            eval=eval_metrics(data["eval"], path) if "eval" in data else None,
            path=path,
        )


@contextmanager
def named_errors(path: Path, what: str) -> Iterator[None]:
    """Errors of reading the JSON file ``path`` as ``ValueError`` naming it (and the key)."""
    try:
        yield
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    except KeyError as error:
        raise ValueError(f"{path}: missing key {error}") from error
    except (TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path}: malformed {what} ({error})") from error


def percent(values: Mapping[str, Any]) -> dict[str, float]:
    """Fractions (0..1) of a JSON mapping in %."""
    return {key: 100.0 * float(value) for key, value in values.items()}


def percent_per_type(per_type: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{machine type: {auc, pauc}}`` fractions in %."""
    return {machine: percent(values) for machine, values in per_type.items()}


def eval_metrics(section: Any, path: Path) -> EvalMetrics:
    """The ``eval`` section of a metrics JSON (fractions) in %; errors name the file and key."""
    if not isinstance(section, dict):
        raise ValueError(f"{path}: 'eval' must be a mapping, got {type(section).__name__}")
    for key in ("clips", "mean", "per_type"):
        if key not in section:
            raise ValueError(f"{path}: missing key 'eval.{key}'")
    missing = [k for k in ("auc", "pauc", "auc_hmean", "pauc_hmean", "official")
               if k not in section["mean"]]
    if missing:
        raise ValueError(f"{path}: missing key 'eval.mean.{missing[0]}'")
    return EvalMetrics(int(section["clips"]), percent(section["mean"]),
                       percent_per_type(section["per_type"]))


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
class CellIntervals:
    """The two-level (clips and seeds) intervals of every cell of one split (all in %)."""

    seeds: tuple[int, ...]  # the seeds whose scores reproduce their metrics JSON
    min_normal_per_id: int  # the fewest normal clips of a machine ID
    mean: dict[str, unc.Interval]  # auc, pauc of the mean over machine types
    per_type: dict[str, dict[str, unc.Interval]]  # machine type -> {auc, pauc}

    @property
    def pauc_reliable(self) -> bool:
        """Enough normal clips per ID for a pAUC interval (:data:`unc.PAUC_MIN_NORMAL`)."""
        return self.min_normal_per_id >= unc.PAUC_MIN_NORMAL

    def interval(self, cell: str, metric: str) -> unc.Interval | None:
        """The interval of ``cell`` (``"mean"`` or a machine type) and ``metric`` (auc, pauc)."""
        values = self.mean if cell == unc.MEAN_CELL else self.per_type.get(cell, {})
        return values.get(metric)


@dataclass(frozen=True)
class ModelUncertainty:
    """95 % intervals of one model's mean AUC / pAUC and its paired test (all in %)."""

    seed: int  # the run whose scores were resampled
    test_clips: int
    min_normal_per_id: int  # the fewest normal test clips of a machine ID
    auc: unc.Interval
    pauc: unc.Interval
    vs_reference: unc.Difference | None  # model - reference; None for the reference itself
    cells: dict[str, CellIntervals]  # "test" (and "eval"): pooled over seeds; {} in older files

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
    cells_method: str | None  # how the cells' intervals were made (None in older files)

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
    pAUC), so an interval never belongs to another run than the row it is printed in. Its
    ``cells`` (:func:`model_cells`) pool every seed whose scores reproduce that seed's metrics.
    """
    boots: dict[str, unc.Bootstrap] = {}
    seeds: dict[str, int] = {}
    clips: dict[str, int] = {}
    notes: list[str] = []
    files = ScoreBootstraps(resamples, seed)
    for model in sorted(runs):
        try:
            found = model_bootstrap(model, runs[model], models_dir, files)
        except NoScores as why:
            notes.append(str(why))
            continue
        boots[model], seeds[model], clips[model] = found.mean, found.seed, found.cells.clips
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
            "auc": interval_json(unc.interval(boot.auc, boot.auc_samples, level)),
            "pauc": interval_json(unc.interval(boot.pauc, boot.pauc_samples, level)),
            "vs_reference": None if difference is None else {
                **interval_json(difference.interval), "p_value": difference.p_value
            },
            "cells": model_cells(model, runs[model], models_dir, files, level, notes),
        }
    return {
        "method": CI_METHOD,
        "cells_method": CELLS_METHOD,
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "max_fpr": unc.MAX_FPR,
        "reference": reference,
        "models": entries,
        "notes": notes,
    }


class NoScores(Exception):
    """Why a model gets no interval (its note in ``reports/uncertainty.json``)."""


@dataclass(frozen=True)
class RunBootstrap:
    """The bootstrap of the run a model's interval and paired test come from."""

    seed: int  # the run whose scores reproduce its metrics JSON
    cells: unc.CellBootstrap

    @property
    def mean(self) -> unc.Bootstrap:
        return self.cells.mean_bootstrap()


def model_bootstrap(
    model: str, runs: ModelRuns, models_dir: str | Path, files: ScoreBootstraps
) -> RunBootstrap:
    """The bootstrap of ``models/NAME/seed-K/scores.csv`` of the model's lowest seed with scores,
    when they reproduce the metrics JSON of one of its runs (else :class:`NoScores`, the note)."""
    path = _scores_path(models_dir, model, runs)
    if not path.is_file():
        raise NoScores(f"`{model}`: no interval, {path} not found")
    cells = files.bootstrap(path)
    matched = _matching_seed(cells.mean_bootstrap(), runs)
    if matched is None:
        raise NoScores(f"`{model}`: no interval, {path} does not match its metrics JSON (stale)")
    return RunBootstrap(matched, cells)


class ScoreBootstraps:
    """:func:`~benchmark.evaluation.uncertainty.bootstrap_cells` of each score column of each
    scores file, computed once (each file read once): the interval of a model's row and its
    pooled cells resample the same files."""

    def __init__(self, resamples: int, seed: int) -> None:
        self.resamples, self.seed = resamples, seed
        self._frames: dict[Path, pd.DataFrame] = {}
        self._done: dict[tuple[Path, str], unc.CellBootstrap] = {}

    def columns(self, path: Path) -> list[str]:
        """The columns of a scores file."""
        return list(self._frame(path).columns)

    def bootstrap(self, path: Path, column: str = unc.SCORE_COLUMN) -> unc.CellBootstrap:
        """The bootstrap of the scores of ``column`` (``score``, or a scoring backend's name)."""
        key = (path, column)
        if key not in self._done:
            self._done[key] = unc.bootstrap_cells(self._frame(path), self.resamples, self.seed,
                                                  column)
        return self._done[key]

    def _frame(self, path: Path) -> pd.DataFrame:
        if path not in self._frames:
            self._frames[path] = pd.read_csv(path)
        return self._frames[path]


def model_cells(
    model: str,
    runs: ModelRuns,
    models_dir: str | Path,
    files: ScoreBootstraps,
    level: float,
    notes: list[str],
) -> dict[str, Any]:
    """``{"test": {...}, "eval": {...}}``: the pooled intervals of every cell of one model.

    A split gets an entry from every seed whose scores file (:data:`SPLIT_FILES`) reproduces
    that seed's metrics (mean and per type; ``eval``: its ``eval`` section); a seed left out is a
    note naming the file. ``eval`` only for runs with an evaluation set.
    """
    cells: dict[str, Any] = {}
    for split, name in SPLIT_FILES.items():
        candidates = [
            SeedScores(run.seed, _seed_scores_path(models_dir, model, run.seed, name),
                       unc.SCORE_COLUMN, *expected, run.path)
            for run in runs.runs if (expected := _expected(run, split)) is not None
        ]
        seeds, boots = reproducing_seeds(candidates, files, f"`{model}`", f"the {split} cells",
                                         notes)
        if boots:
            cells[split] = cells_json(seeds, boots, files.seed, level)
    return cells


@dataclass(frozen=True)
class SeedScores:
    """One seed's score column of one split and the figures it must reproduce (in %)."""

    seed: int
    path: Path  # the scores file
    column: str  # its score column
    mean: Mapping[str, float]  # auc, pauc of the mean over types (%)
    per_type: Mapping[str, Mapping[str, float]]  # machine type -> {auc, pauc} (%)
    source: Path  # the JSON those figures come from


def reproducing_seeds(
    candidates: Iterable[SeedScores],
    files: ScoreBootstraps,
    owner: str,
    cells: str,
    notes: list[str],
) -> tuple[list[int], list[unc.CellBootstrap]]:
    """The seeds (and bootstraps) whose scores reproduce their figures, all on the clips of the
    first of them: what a two-level interval pools. Every other seed is a note
    ``<owner>: seed K left out of <cells>, <why>`` (file or column missing, stale, other clips).
    """
    seeds: list[int] = []
    boots: list[unc.CellBootstrap] = []
    for candidate in candidates:
        path, why = candidate.path, None
        if not path.is_file():
            why = f"{path} not found"
        elif candidate.column not in files.columns(path):
            why = f"{path} has no column `{candidate.column}`"
        else:
            boot = files.bootstrap(path, candidate.column)
            if not reproduces(boot, candidate.mean, candidate.per_type):
                why = f"{path} does not match {candidate.source} (stale)"
            elif boots and boot.clips_key != boots[0].clips_key:
                why = f"{path} holds other clips than seed {seeds[0]}'s"
        if why is not None:
            notes.append(f"{owner}: seed {candidate.seed} left out of {cells}, {why}")
            continue
        seeds.append(candidate.seed)
        boots.append(boot)
    return seeds, boots


def _expected(run: Run, split: str) -> tuple[dict[str, float], dict[str, dict[str, float]]] | None:
    """The (mean, per type) figures in % the scores of ``split`` must reproduce."""
    if split == "test":
        return run.mean, run.per_type
    return None if run.eval is None else (run.eval.mean, run.eval.per_type)


def _seed_scores_path(models_dir: str | Path, model: str, seed: int, name: str) -> Path:
    """``models/NAME/seed-K/<name>``, or ``models/NAME/<name>`` of a folder written before runs
    were kept per seed when only that one exists."""
    path = run_dir(models_dir, model, seed) / name
    legacy = Path(models_dir) / model / name
    return legacy if not path.is_file() and legacy.is_file() else path


def reproduces(
    boot: unc.CellBootstrap, mean: Mapping[str, float], per_type: Mapping[str, Mapping[str, float]]
) -> bool:
    """The scores give the metrics JSON's mean and per-type AUC / pAUC (in %)."""
    types = set(boot.estimates) - {unc.MEAN_CELL}
    if types != set(per_type):
        return False
    expected = {unc.MEAN_CELL: mean, **per_type}
    return all(
        math.isclose(100 * boot.estimates[cell][key], expected[cell][key], abs_tol=1e-7)
        for cell in expected for key in ("auc", "pauc")
    )


def cells_json(
    seeds: list[int], boots: list[unc.CellBootstrap], seed: int, level: float
) -> dict[str, Any]:
    """One split of ``cells`` (fractions): the seeds, then the mean and per-type intervals."""
    pooled = unc.pooled_intervals(boots, seed, level)
    types = [t for t in pooled if t != unc.MEAN_CELL]
    ordered = [t for t in MACHINE_TYPES if t in types] + sorted(set(types) - set(MACHINE_TYPES))
    return {
        "seeds": seeds,
        "min_normal_per_id": min(b.min_normal for b in boots),
        "mean": {k: interval_json(v) for k, v in pooled[unc.MEAN_CELL].items()},
        "per_type": {
            cell: {k: interval_json(v) for k, v in pooled[cell].items()} for cell in ordered
        },
    }


def interval_json(interval: unc.Interval) -> dict[str, float]:
    return {"estimate": interval.estimate, "low": interval.low, "high": interval.high}


def write_uncertainty(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write the :func:`compute_uncertainty` document (stable key order, ends with a newline)."""
    return write_json(document, path)


def write_json(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write a git-tracked JSON document (stable key order, indented, ends with a newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def load_uncertainty(path: str | Path) -> Uncertainty | None:
    """``reports/uncertainty.json`` in % (``None`` when the report stage has not written it)."""
    path = Path(path)
    if not path.is_file():
        return None
    with named_errors(path, "uncertainty file"):
        data = json.loads(path.read_text())
        level, resamples = float(data["level"]), int(data["resamples"])
        models = {}
        for model, entry in data["models"].items():
            paired = entry["vs_reference"]
            models[model] = ModelUncertainty(
                seed=int(entry["seed"]),
                test_clips=int(entry["test_clips"]),
                min_normal_per_id=int(entry["min_normal_per_id"]),
                auc=interval_percent(entry["auc"], level),
                pauc=interval_percent(entry["pauc"], level),
                vs_reference=None if paired is None else unc.Difference(
                    interval_percent(paired, level), float(paired["p_value"]), resamples
                ),
                cells={split: cells_percent(cells, level)
                       for split, cells in entry.get("cells", {}).items()},
            )
        method = data.get("cells_method")
        return Uncertainty(level, resamples, int(data["seed"]), str(data["reference"]), models,
                           tuple(str(n) for n in data["notes"]),
                           None if method is None else str(method))


def cells_percent(entry: Mapping[str, Any], level: float) -> CellIntervals:
    def metrics(values: Mapping[str, Any]) -> dict[str, unc.Interval]:
        return {key: interval_percent(ci, level) for key, ci in values.items()}

    return CellIntervals(
        seeds=tuple(int(s) for s in entry["seeds"]),
        min_normal_per_id=int(entry["min_normal_per_id"]),
        mean=metrics(entry["mean"]),
        per_type={cell: metrics(values) for cell, values in entry["per_type"].items()},
    )


def interval_percent(entry: Mapping[str, Any], level: float) -> unc.Interval:
    return unc.Interval(*(100.0 * float(entry[k]) for k in ("estimate", "low", "high")), level)

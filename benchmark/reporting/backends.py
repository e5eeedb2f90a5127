"""Scoring backends in the report: every run scored several ways, with intervals and paired tests.

The ``score@NAME-K`` stage scores each trained run with the scoring backends of
``scoring.backends`` in params.yaml (``loss``, the model's own score, first) and writes

- ``<models_dir>/NAME/scores-seed-K/test.csv`` (:func:`backend_scores_path`): the test clips
  (``path, machine_type, machine_id, label``), then one score column per backend that applies to
  the model (higher = more anomalous; ``loss`` equals ``scores.csv``'s ``score``);
- ``<out_dir>/backends/NAME-seedK.json`` (:data:`BACKENDS_DIR`): per backend its registered name,
  input, params and figures (``mean``, ``per_type``, optionally ``eval``: fractions, as
  :func:`benchmark.evaluation.metrics.summarise` gives them), and the backends ``skipped``.

Both folders are derived from the ``report`` section (``out_dir``, ``models_dir``): it needs no
key of its own. :func:`compute_backends` turns them into the git-tracked ``reports/backends.json``
(fractions), :func:`load_backends` reads it back (in %), and :func:`render_backends` makes
``reports/backends.md`` from it and the metrics JSONs alone; the leaderboard gets one row per
(model, backend other than ``loss``) from it (:func:`benchmark.reporting.tables.leaderboard`).

Statistics, the same as ``reports/uncertainty.json``'s (:mod:`benchmark.reporting.results`):

- every backend's mean AUC / pAUC interval: the stratified clip bootstrap of its column, pooled
  over the seeds whose column reproduces their backends JSON (two-level, :data:`CELLS_METHOD`),
  with ``report.bootstrap_resamples`` and ``report.bootstrap_seed``;
- ``vs_loss``: the backend minus the same model's ``loss``, paired: the same resampled clips
  (resamples depend on the clips only) and, with several seeds, the same seeds drawn at every
  resample (:func:`benchmark.evaluation.uncertainty.pool_runs`); ``loss`` against itself is 0;
- ``vs_reference``: the backend minus the reference model's ``loss`` on the same resampled clips,
  one run each (the backend's lowest reproducing seed; the reference's run of
  ``reports/uncertainty.json``), as the leaderboard's ΔAUC of the loss rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.evaluation import uncertainty as unc
from benchmark.reporting import tables
from benchmark.reporting.results import (
    CELLS_METHOD,
    CI_METHOD,
    DCASE,
    CellIntervals,
    ModelRuns,
    NoScores,
    ScoreBootstraps,
    SeedScores,
    cells_json,
    cells_percent,
    eval_metrics,
    interval_json,
    interval_percent,
    mean_over_seeds,
    model_bootstrap,
    named_errors,
    percent,
    percent_per_type,
    reproducing_seeds,
    seeds_text,
    std_over_seeds,
)
from benchmark.scoring.stage import SPLIT_FILE, scores_folder
from benchmark.training.checkpoint import run_stem

log = logging.getLogger(__name__)

LOSS = tables.BACKEND_LOSS  # the model's own score: the rows of Tables 1-4
BACKENDS_DIR = "backends"  # <out_dir>/backends/NAME-seedK.json (score stage, DVC metrics)
BACKENDS_FILE = "backends.json"  # <out_dir>/backends.json (git-tracked, like uncertainty.json)
BACKENDS_DOCUMENT = "backends.md"  # <out_dir>/backends.md
SKIPPED = "skipped"  # a backend that does not apply to the model
MEAN_KEYS = ("auc", "pauc", "auc_hmean", "pauc_hmean")
PAIRED_METHOD = (
    "paired two-level bootstrap of the backend's mean AUC minus that of the same model's `loss`, "
    "both from models/NAME/scores-seed-K/test.csv: the same resampled clips and, with several "
    "seeds, the same seeds drawn at every resample"
)
REFERENCE_METHOD = (
    "paired bootstrap of the backend's mean AUC minus that of the reference model's `loss` "
    "(its run of reports/uncertainty.json) on the same resampled test clips, one run each (the "
    "backend's lowest seed whose scores reproduce its backends JSON)"
)
TITLE = "Scoring backends: every run scored several ways"
WARNING = (
    "**Our own runs only, not the paper's figures.** Each trained run is scored with several "
    "scoring backends; runs whose data source is `synthetic` are quick pipeline checks on "
    "generated machine sounds: they are NOT DCASE 2020 Task 2 results and must not be compared "
    "with published numbers. One section per data source."
)
NO_BACKENDS = (
    "_No scoring-backend results: reports/backends/ holds no NAME-seedK.json. `dvc repro` runs "
    "the score@NAME-K stages (every trained run scored with each backend of `scoring.backends` "
    "in params.yaml: models/NAME/scores-seed-K/test.csv and reports/backends/NAME-seedK.json); "
    "the report stage then fills this page and adds their rows to reports/leaderboard.md._"
)


def backend_scores_path(models_dir: str | Path, model: str, seed: int) -> Path:
    """``<models_dir>/NAME/scores-seed-K/test.csv``: one run's test scores, a column per backend."""
    return scores_folder(models_dir, model, seed) / SPLIT_FILE.format(split="test")


def backends_json_path(backends_dir: str | Path, model: str, seed: int) -> Path:
    """``<out_dir>/backends/NAME-seedK.json``: one run's backend figures (score stage)."""
    return Path(backends_dir) / f"{run_stem(model, seed)}.json"


# --- reports/backends/NAME-seedK.json: what the score stage wrote (fractions) -------------------


@dataclass(frozen=True)
class BackendRun:
    """One run's ``reports/backends/NAME-seedK.json`` (fractions, as written)."""

    model: str
    seed: int
    data_source: str
    epochs: int
    backends: dict[str, dict[str, Any]]  # name -> {backend, input, params, mean, per_type[, eval]}
    skipped: dict[str, str]  # name -> why the backend does not apply
    path: Path


def load_backend_run(path: str | Path) -> BackendRun:
    """Read one backends JSON; a malformed one is a ``ValueError`` naming the file and key."""
    path = Path(path)
    with named_errors(path, "backends file"):
        data = json.loads(path.read_text())
        return BackendRun(
            model=str(data["model"]),
            seed=int(data["seed"]),
            data_source=str(data["data_source"]),
            epochs=int(data["epochs"]),
            backends={str(name): _checked_backend(str(name), entry, path)
                      for name, entry in data["backends"].items()},
            skipped={str(name): str(why) for name, why in data.get("skipped", {}).items()},
            path=path,
        )


def _checked_backend(name: str, entry: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """One ``backends.NAME`` entry with every key the report reads (``KeyError`` naming it)."""
    for key in ("backend", "input", "params", "mean", "per_type"):
        if key not in entry:
            raise KeyError(f"backends.{name}.{key}")
    for key in MEAN_KEYS:
        if key not in entry["mean"]:
            raise KeyError(f"backends.{name}.mean.{key}")
    if "eval" in entry:
        eval_metrics(entry["eval"], path)
    return dict(entry)


def load_backend_runs(backends_dir: str | Path) -> dict[str, tuple[BackendRun, ...]]:
    """Every ``*.json`` of ``backends_dir`` grouped by model, by seed (empty without the folder).

    The runs of one model must share data source and epochs and differ in seed.
    """
    folder = Path(backends_dir)
    grouped: dict[str, list[BackendRun]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        run = load_backend_run(path)
        grouped.setdefault(run.model, []).append(run)
    for runs in grouped.values():
        _check_same_runs(runs)
    return {model: tuple(sorted(runs, key=lambda r: r.seed)) for model, runs in grouped.items()}


def _check_same_runs(runs: Sequence[BackendRun]) -> None:
    first = runs[0]
    for run in runs[1:]:
        for key in ("data_source", "epochs"):
            if getattr(run, key) != getattr(first, key):
                raise ValueError(
                    f"{run.path} and {first.path}: runs of {first.model} differ in '{key}' "
                    f"({getattr(run, key)!r} vs {getattr(first, key)!r}): re-run the score stage"
                )
    if len({r.seed for r in runs}) != len(runs):
        raise ValueError(f"{', '.join(str(r.path) for r in runs)}: two runs share a seed")


# --- reports/backends.json: computed from the per-clip scores ----------------------------------


def compute_backends(
    runs: Mapping[str, ModelRuns],
    backends_dir: str | Path,
    models_dir: str | Path,
    reference: str,
    resamples: int,
    seed: int,
    level: float = unc.LEVEL,
) -> dict[str, Any]:
    """The ``reports/backends.json`` document (fractions).

    ``backends_dir``: ``<out_dir>/backends`` (the score stage's JSONs); the per-clip scores are
    read from ``<models_dir>/NAME/scores-seed-K/test.csv`` and the reference model's ``loss``
    from its ``models/NAME/seed-K/scores.csv``. ``runs``: the metrics JSONs (the reference's run,
    and a note when a model's backends were scored from other runs than its metrics).
    """
    grouped = load_backend_runs(backends_dir)
    files = ScoreBootstraps(resamples, seed)
    notes: list[str] = []
    reference_loss = _reference_loss(runs, models_dir, reference, files, notes) if grouped else None
    models = {}
    for model in sorted(grouped):
        _note_other_runs(model, grouped[model], runs.get(model), notes)
        models[model] = _model_entry(model, grouped[model], models_dir, files, reference_loss,
                                     level, notes)
    return {
        "method": CI_METHOD,
        "cells_method": CELLS_METHOD,
        "vs_loss_method": PAIRED_METHOD,
        "vs_reference_method": REFERENCE_METHOD,
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "max_fpr": unc.MAX_FPR,
        "reference": reference,
        "models": models,
        "notes": notes,
    }


def _reference_loss(
    runs: Mapping[str, ModelRuns],
    models_dir: str | Path,
    reference: str,
    files: ScoreBootstraps,
    notes: list[str],
) -> unc.Bootstrap | None:
    """The reference model's ``loss`` bootstrap: the run of its uncertainty.json entry."""
    if reference not in runs:
        notes.append(f"no ΔAUC vs `{reference}`: the reference model has no metrics JSON")
        return None
    try:
        return model_bootstrap(reference, runs[reference], models_dir, files).mean
    except NoScores as why:
        notes.append(f"no ΔAUC vs `{reference}` ({why})")
        return None


def _note_other_runs(
    model: str, scored: Sequence[BackendRun], ours: ModelRuns | None, notes: list[str]
) -> None:
    """A note when the backends were scored from runs the metrics JSONs do not describe."""
    if ours is None:
        notes.append(f"`{model}`: backend results but no metrics JSON (reports/metrics/)")
    elif (scored[0].data_source, scored[0].epochs) != (ours.data_source, ours.epochs):
        notes.append(
            f"`{model}`: backends scored from a run on {scored[0].data_source} data, "
            f"{scored[0].epochs} epochs, its metrics JSON says {ours.data_source}, {ours.epochs} "
            "(stale: re-run the score stage)"
        )


Usable = tuple[list[int], list[unc.CellBootstrap]]  # the reproducing seeds and their bootstraps


def _model_entry(
    model: str,
    scored: Sequence[BackendRun],
    models_dir: str | Path,
    files: ScoreBootstraps,
    reference_loss: unc.Bootstrap | None,
    level: float,
    notes: list[str],
) -> dict[str, Any]:
    """One model of ``reports/backends.json``: provenance, each backend, the skipped ones."""
    names = list(dict.fromkeys(name for run in scored for name in run.backends))
    present = _with_scores(model, scored, models_dir, notes)
    usable = {name: _usable(model, name, present, models_dir, files, notes) for name in names}
    if LOSS not in usable:
        notes.append(f"`{model}`: no ΔAUC vs `{LOSS}`, its backends JSON has no `{LOSS}`")
    backends = {}
    for name in names:
        entry = _figures(model, name, scored, notes)
        seeds, boots = usable[name]
        entry["cells"] = cells_json(seeds, boots, files.seed, level) if boots else None
        entry["vs_loss"] = _vs_loss(model, name, usable, files.seed, level, notes)
        entry["vs_reference"] = _vs_reference(model, name, usable[name], reference_loss, level,
                                              notes)
        backends[name] = entry
    skipped = {name: why for run in scored for name, why in run.skipped.items()}
    return {
        "data_source": scored[0].data_source,
        "epochs": scored[0].epochs,
        "seeds": [run.seed for run in scored],
        "backends": backends,
        "skipped": skipped,
    }


def _with_scores(
    model: str, scored: Sequence[BackendRun], models_dir: str | Path, notes: list[str]
) -> list[BackendRun]:
    """The runs whose ``test.csv`` exists (one note for each other: not one per backend)."""
    present = []
    for run in scored:
        path = backend_scores_path(models_dir, model, run.seed)
        if path.is_file():
            present.append(run)
        else:
            notes.append(f"`{model}`: seed {run.seed} left out of every backend's intervals, "
                         f"{path} not found")
    return present


def _usable(
    model: str,
    name: str,
    scored: Sequence[BackendRun],
    models_dir: str | Path,
    files: ScoreBootstraps,
    notes: list[str],
) -> Usable:
    """The seeds whose ``test.csv`` column ``name`` reproduces their backends JSON."""
    candidates = [
        SeedScores(run.seed, backend_scores_path(models_dir, model, run.seed), name,
                   percent(run.backends[name]["mean"]),
                   percent_per_type(run.backends[name]["per_type"]), run.path)
        for run in scored if name in run.backends
    ]
    return reproducing_seeds(candidates, files, f"`{model}` `{name}`", "its intervals", notes)


def _figures(
    model: str, name: str, scored: Sequence[BackendRun], notes: list[str]
) -> dict[str, Any]:
    """The backend's configuration and its figures, mean (and std) over the seeds that have it."""
    having = [run for run in scored if name in run.backends]
    entries = [run.backends[name] for run in having]
    config = {key: entries[0][key] for key in ("backend", "input", "params")}
    if any({key: e[key] for key in config} != config for e in entries[1:]):
        notes.append(f"`{model}` `{name}`: configured differently in its seeds; shown: seed "
                     f"{having[0].seed}'s")
    means = [{key: float(e["mean"][key]) for key in MEAN_KEYS} for e in entries]
    figures = config | {"seeds": [run.seed for run in having], "mean": mean_over_seeds(means),
                        "std": std_over_seeds(means)}
    if all("eval" in e for e in entries):
        evals = [{key: float(v) for key, v in e["eval"]["mean"].items()} for e in entries]
        figures["eval"] = {"clips": int(entries[0]["eval"]["clips"]),
                           "mean": mean_over_seeds(evals), "std": std_over_seeds(evals)}
    return figures


def _vs_loss(
    model: str, name: str, usable: Mapping[str, Usable], seed: int, level: float,
    notes: list[str],
) -> dict[str, Any] | None:
    """The paired two-level test of ``name`` against the model's ``loss`` over their common
    seeds (``loss`` against itself: 0, p = 1)."""
    if LOSS not in usable:
        return None
    (seeds, boots), (loss_seeds, loss_boots) = usable[name], usable[LOSS]
    common = [s for s in seeds if s in loss_seeds]
    if not common:
        return None
    mine = unc.pool_runs([boots[seeds.index(s)] for s in common], seed).mean_bootstrap()
    loss = unc.pool_runs([loss_boots[loss_seeds.index(s)] for s in common], seed).mean_bootstrap()
    if mine.clips_key != loss.clips_key:
        notes.append(f"`{model}` `{name}`: no ΔAUC vs `{LOSS}`, other clips than its `{LOSS}`")
        return None
    return _difference_json(unc.paired_difference(mine, loss, level)) | {"seeds": common}


def _vs_reference(
    model: str, name: str, usable: Usable, reference_loss: unc.Bootstrap | None, level: float,
    notes: list[str],
) -> dict[str, Any] | None:
    """The paired test of the backend's lowest reproducing seed against the reference's loss."""
    seeds, boots = usable
    if reference_loss is None or not boots:
        return None
    mine = boots[0].mean_bootstrap()
    if mine.clips_key != reference_loss.clips_key:
        notes.append(f"`{model}` `{name}`: no ΔAUC vs the reference, scored on other test clips")
        return None
    return _difference_json(unc.paired_difference(mine, reference_loss, level)) | {
        "seed": seeds[0]}


def _difference_json(difference: unc.Difference) -> dict[str, Any]:
    return {**interval_json(difference.interval), "p_value": difference.p_value}


# --- reading reports/backends.json (in %) ------------------------------------------------------


@dataclass(frozen=True)
class BackendResult:
    """One backend of one model in ``reports/backends.json``, figures in %."""

    name: str  # its name in params.yaml (the CSV column)
    backend: str  # the registered backend
    input: str  # score | embedding | residual
    params: dict[str, Any]
    seeds: tuple[int, ...]  # the runs scored with it
    mean: dict[str, float]  # auc, pauc, auc_hmean, pauc_hmean: mean over seeds
    std: dict[str, float] | None  # their std over seeds (None: one seed)
    eval_mean: dict[str, float] | None  # the evaluation set's auc, pauc, ..., official
    eval_std: dict[str, float] | None
    cells: CellIntervals | None  # the pooled intervals (None: no reproducing scores)
    vs_loss: unc.Difference | None  # this backend minus the model's loss
    vs_reference: unc.Difference | None  # this backend minus the reference model's loss

    def interval(self, key: str) -> unc.Interval | None:
        """The interval of the mean ``auc`` / ``pauc`` (``None``: no scores, or a pAUC
        interval with too few normal clips)."""
        if self.cells is None or (key == "pauc" and not self.cells.pauc_reliable):
            return None
        return self.cells.interval(unc.MEAN_CELL, key)

    def interval_text(self, key: str) -> str:
        """``[52.10, 62.40]``, ``... (seed 0)`` when not every seed's scores are behind it."""
        ci = self.interval(key)
        if ci is None:
            return tables.MISSING
        used = self.cells.seeds
        suffix = "" if len(used) == len(self.seeds) else \
            f" ({'seed' if len(used) == 1 else 'seeds'} {', '.join(map(str, used))})"
        return tables.interval_text(ci.low, ci.high) + suffix


@dataclass(frozen=True)
class ModelBackends:
    """Every backend of one model (in params.yaml's order) and the ones skipped."""

    model: str
    data_source: str
    epochs: int
    seeds: tuple[int, ...]
    results: dict[str, BackendResult]
    skipped: dict[str, str]  # name -> why it does not apply


@dataclass(frozen=True)
class Backends:
    """``reports/backends.json`` in %: how it was computed and one entry per model."""

    level: float
    resamples: int
    seed: int
    reference: str
    models: dict[str, ModelBackends]
    notes: tuple[str, ...]

    @property
    def level_text(self) -> str:
        return f"{100 * self.level:g} %"


def load_backends(path: str | Path) -> Backends | None:
    """``reports/backends.json`` in % (``None`` when the report stage has not written it)."""
    path = Path(path)
    if not path.is_file():
        return None
    with named_errors(path, "backends file"):
        data = json.loads(path.read_text())
        level, resamples = float(data["level"]), int(data["resamples"])
        models = {model: _model_percent(model, entry, level, resamples)
                  for model, entry in data["models"].items()}
        return Backends(level, resamples, int(data["seed"]), str(data["reference"]), models,
                        tuple(str(n) for n in data["notes"]))


def _model_percent(
    model: str, entry: Mapping[str, Any], level: float, resamples: int
) -> ModelBackends:
    results = {name: _result_percent(name, result, level, resamples)
               for name, result in entry["backends"].items()}
    return ModelBackends(model, str(entry["data_source"]), int(entry["epochs"]),
                         tuple(int(s) for s in entry["seeds"]), results,
                         {str(k): str(v) for k, v in entry["skipped"].items()})


def _result_percent(
    name: str, entry: Mapping[str, Any], level: float, resamples: int
) -> BackendResult:
    evaluation = entry.get("eval")
    return BackendResult(
        name=name, backend=str(entry["backend"]), input=str(entry["input"]),
        params=dict(entry["params"]), seeds=tuple(int(s) for s in entry["seeds"]),
        mean=percent(entry["mean"]), std=_percent_or_none(entry["std"]),
        eval_mean=None if evaluation is None else percent(evaluation["mean"]),
        eval_std=None if evaluation is None else _percent_or_none(evaluation["std"]),
        cells=None if entry["cells"] is None else cells_percent(entry["cells"], level),
        vs_loss=_difference_percent(entry["vs_loss"], level, resamples),
        vs_reference=_difference_percent(entry["vs_reference"], level, resamples),
    )


def _percent_or_none(values: Mapping[str, Any] | None) -> dict[str, float] | None:
    return None if values is None else percent(values)


def _difference_percent(
    entry: Mapping[str, Any] | None, level: float, resamples: int
) -> unc.Difference | None:
    if entry is None:
        return None
    return unc.Difference(interval_percent(entry, level), float(entry["p_value"]), resamples)


# --- reports/backends.md -----------------------------------------------------------------------


def render_backends(
    backends: Backends | None, runs: Mapping[str, ModelRuns], table_models: Sequence[str]
) -> str:
    """``reports/backends.md``: per data source, the mean AUC of every (model, backend), then
    each one's intervals and paired test against the model's ``loss``; the notes say what every
    backend is and which were skipped. Models with metrics but no backend results show "–"."""
    if backends is None or not backends.models:
        return "\n".join([tables.HEADER, "", f"# {TITLE}", "", NO_BACKENDS]) + "\n"
    models = _ordered(set(backends.models) | set(runs), table_models)
    source = {m: backends.models[m].data_source if m in backends.models else runs[m].data_source
              for m in models}
    lines = [tables.HEADER, "", f"# {TITLE}", "", WARNING, ""]
    for data_source in sorted(set(source.values()), key=lambda s: (s != DCASE, s)):
        shown = [m for m in models if source[m] == data_source]
        lines += [f"## Data source: `{data_source}`", ""]
        if data_source != DCASE:
            lines += [f"_Not DCASE 2020 results: `{data_source}` runs check the pipeline "
                      "only._", ""]
        lines += ["### Mean AUC (%) per backend", "", _auc_table(shown, backends), ""]
        lines += [f"### Intervals and the paired test against `{LOSS}`", "",
                  _detail_table(shown, backends), ""]
    lines += [f"- {note}" for note in _notes(backends, models)]
    return "\n".join(lines) + "\n"


def _ordered(models: set[str], table_models: Sequence[str]) -> list[str]:
    """``report.table_models`` first (in that order), then the other models alphabetically."""
    first = [m for m in table_models if m in models]
    return first + sorted(models - set(first))


def _names(models: Sequence[str], backends: Backends) -> list[str]:
    """Every backend name of ``models``, in their order (params.yaml's), skipped ones included."""
    scored = [backends.models[m] for m in models if m in backends.models]
    return list(dict.fromkeys(n for s in scored for n in [*s.results, *s.skipped]))


def _figure(result: BackendResult, key: str) -> str:
    std = None if result.std is None else result.std[key]
    return tables.cell_text(tables.Num(result.mean[key], std))


def _auc_table(models: Sequence[str], backends: Backends) -> str:
    """Rows: models; columns: backends; cells: the mean AUC ("skipped", "–")."""
    names = _names(models, backends)
    rows = []
    for model in models:
        scored = backends.models.get(model)
        row = {"Model": f"`{model}`"}
        for name in names:
            if scored is not None and name in scored.results:
                row[name] = _figure(scored.results[name], "auc")
            else:
                row[name] = SKIPPED if scored is not None and name in scored.skipped \
                    else tables.MISSING
        rows.append(row)
    return tables.to_markdown(pd.DataFrame(rows), names)


DETAIL_TEXT_COLUMNS = ("Model", "Backend", "Seeds")


def _detail_table(models: Sequence[str], backends: Backends) -> str:
    """One row per (model, backend): AUC / pAUC [CI], ΔAUC vs loss [CI], p, epochs, seeds."""
    rows = []
    for model in models:
        scored = backends.models.get(model)
        if scored is None:
            rows.append({"Model": f"`{model}`", "Backend": tables.MISSING})
            continue
        rows += [_detail_row(scored, result, backends.level_text)
                 for result in scored.results.values()]
    frame = pd.DataFrame(rows).fillna(tables.MISSING)
    return tables.to_markdown(frame, [c for c in frame.columns if c not in DETAIL_TEXT_COLUMNS])


def _detail_row(scored: ModelBackends, result: BackendResult, level_text: str) -> dict[str, str]:
    row = {"Model": f"`{scored.model}`", "Backend": result.name}
    for key, title in (("auc", "AUC"), ("pauc", "pAUC")):
        row |= {title: _figure(result, key), f"{title} {level_text} CI": result.interval_text(key)}
    row |= tables.delta_cells(result.vs_loss, result.name == LOSS, f"ΔAUC vs {LOSS}", level_text)
    return row | {"Epochs": str(scored.epochs), "Seeds": seeds_text(result.seeds)}


def _notes(backends: Backends, models: Sequence[str]) -> list[str]:
    scored = [backends.models[m] for m in models if m in backends.models]
    notes = [
        "Mean over machine types of the per-type AUC / pAUC (max FPR 0.1), in %, from "
        "reports/backends/NAME-seedK.json (the score stage); with several seeds the mean ± "
        "standard deviation over seeds.",
        f"{tables.LOSS_TEXT}; its rows are those of Tables 1-4 and of the leaderboard. Every "
        "other backend is fitted per machine ID on the run's normal training clips (their "
        "embeddings, or the autoencoders' reconstruction residuals) and scores the test clips; "
        "higher = more anomalous (benchmark/scoring/backends.py).",
        *_configuration_notes(scored),
        tables.ci_note(backends),
    ]
    few = [r.cells.min_normal_per_id for s in scored for r in s.results.values()
           if r.cells is not None and not r.cells.pauc_reliable]
    if few:
        notes.append(tables.pauc_note(min(few)))
    notes += [
        f"ΔAUC vs {LOSS}: mean AUC of the backend minus that of the same model's `{LOSS}` "
        f"({tables.REFERENCE} in its own row), in percentage points, on the same test clips and "
        f"seeds (paired bootstrap: the same {backends.resamples} resamples of the clips, and "
        "with several seeds the same seeds drawn at each, for both); "
        + tables.p_note(backends.level_text, backends.resamples),
        "reports/leaderboard.md ranks every backend row with the loss rows and gives its ΔAUC "
        f"vs `{backends.reference}`'s `{LOSS}`.",
        *_skipped_notes(scored),
    ]
    missing = [m for m in models if m not in backends.models]
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        notes.append(f"{tables.MISSING}: no backend results (no reports/backends/NAME-seedK.json) "
                     f"for {names}; `dvc repro` runs their score@NAME-K stages.")
    return notes + list(backends.notes)


def _configuration_notes(scored: Sequence[ModelBackends]) -> list[str]:
    """One note per backend name: its registered backend, input and params (and the models of
    each configuration when they differ)."""
    configs: dict[str, dict[str, list[str]]] = {}
    for model in scored:
        for name, result in model.results.items():
            text = f"backend `{result.backend}`, input `{result.input}`, " + _params(result.params)
            configs.setdefault(name, {}).setdefault(text, []).append(model.model)
    notes = []
    for name, variants in configs.items():
        if len(variants) == 1:
            notes.append(f"`{name}`: {next(iter(variants))}.")
            continue
        parts = [f"{text} ({', '.join(f'`{m}`' for m in users)})"
                 for text, users in variants.items()]
        notes.append(f"`{name}`: " + "; ".join(parts) + ".")
    return notes


def _params(params: Mapping[str, Any]) -> str:
    if not params:
        return "no parameters"
    return ", ".join(f"{key} = {json.dumps(value)}" for key, value in params.items())


def _skipped_notes(scored: Sequence[ModelBackends]) -> list[str]:
    """``skipped``: which backends do not apply to which models, and why."""
    reasons: dict[tuple[str, str], list[str]] = {}
    for model in scored:
        for name, why in model.skipped.items():
            reasons.setdefault((name, why), []).append(model.model)
    return [f"`{name}` {SKIPPED} for {', '.join(f'`{m}`' for m in users)}: {why}."
            for (name, why), users in reasons.items()]

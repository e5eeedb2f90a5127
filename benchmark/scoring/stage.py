"""Stage ``score@NAME-K``: every configured backend scores one training run.

``python -m benchmark.scoring --model NAME --seed K [--params FILE]`` reads the ``scoring``
section (and ``train.mlflow*``, to log into the run's MLflow run) and what the training stage
``train@NAME-K`` wrote into ``models/NAME/seed-K/``: the model's own scores
(``train_scores.csv``, ``scores.csv``, ``eval_scores.csv``) and ``embeddings.npz`` (the same
clips' embeddings and, for the frame models, residuals). It never loads the model, so a new
scoring rule re-runs this stage only, never a training. Per backend it fits on the run's
normal training clips of each machine ID (the reference set: ``train.train_score_clips_per_class``
clips per ID, all with 0) and scores the test (and eval) clips. It writes:

- ``models/NAME/scores-seed-K/``: ``test.csv`` (and ``eval.csv``): ``path, machine_type,
  machine_id, label`` and one column per backend, in the order of the training stage's score
  files (the ``loss`` column is ``scores.csv``'s ``score``, unchanged); ``train.csv``: the
  reference clips' cross-fitted scores (``scoring.threshold_folds``: each fold scored by the
  backend fitted on the other folds of its ID), the decision thresholds of ``benchmark score
  --backend``; ``backends.json``: what scored (backend, input, parameters) and what was
  skipped, and why;
- ``reports/backends/NAME-seedK.json`` (a DVC metrics file): per backend its configuration,
  ``mean`` (AUC, pAUC, harmonic means), ``per_type`` and, with an eval split, ``eval``;
- ``reports/backends/per_id/NAME-seedK.json`` (AUC / pAUC per machine ID) and
  ``reports/backends/roc/NAME-seedK.csv`` (``backend, machine_type, fpr, tpr``).

A backend whose input the model lacks (``input: residual`` of a classifier) is skipped and the
reason recorded; any other failure stops the stage with an error naming the backend's params
key and the run.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.cli import entry_point
from benchmark.config import ConfigError, load_section
from benchmark.evaluation.metrics import eval_section, roc_table, summarise
from benchmark.io import atomic_path, write_json_atomic
from benchmark.scoring.params import BackendConfig, ScoringParams
from benchmark.training.params import TrainParams
from benchmark.training.tracking import RUN_FILE, Tracker

log = logging.getLogger("benchmark.scoring")

EMBEDDINGS = "embeddings.npz"  # benchmark.train.EMBEDDINGS (not imported: that pulls in torch)
SCORE_FILES = {"train": "train_scores.csv", "test": "scores.csv", "eval": "eval_scores.csv"}
KEY_COLUMNS = ["path", "machine_type", "machine_id", "label"]
SPLIT_FILE = "{split}.csv"  # models/NAME/scores-seed-K/{train,test,eval}.csv: a column per backend
BACKENDS_FILE = "backends.json"  # models/NAME/scores-seed-K/: what scored the run, what skipped


def run_folder(models_dir: str | Path, model: str, seed: int) -> Path:
    """``models/NAME/seed-K``: the training run."""
    return Path(models_dir) / model / f"seed-{seed}"


def scores_folder(models_dir: str | Path, model: str, seed: int) -> Path:
    """``models/NAME/scores-seed-K``: this stage's per-clip scores."""
    return Path(models_dir) / model / f"scores-seed-{seed}"


@dataclass
class RunInputs:
    """What a training run wrote, per split: its score table (:data:`KEY_COLUMNS` + ``score``)
    and the backends' inputs ``{"score": (N, 1), "embedding": (N, D)[, "residual": (N, R)]}``."""

    folder: Path
    scores: dict[str, pd.DataFrame]
    inputs: dict[str, dict[str, np.ndarray]]


def read_run(folder: Path) -> RunInputs:
    """The score files and ``embeddings.npz`` of ``folder``, checked to list the same clips."""
    path = folder / EMBEDDINGS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing; the run was trained before embeddings were written. Run its "
            f"training stage again (dvc repro --force train@{folder.parent.name}-"
            f"{folder.name.removeprefix('seed-')}): it resumes from last.pt and only re-scores")
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    scores, inputs = {}, {}
    for split, name in SCORE_FILES.items():
        if not (folder / name).is_file():
            if split == "eval":
                continue
            raise FileNotFoundError(f"{folder / name}: missing (written by the training stage)")
        frame = pd.read_csv(folder / name,
                            dtype={"machine_id": str, "path": str})
        _check_same_clips(frame, arrays.get(f"{split}_path"), folder / name, path)
        scores[split] = frame
        inputs[split] = {"score": frame[["score"]].to_numpy(np.float64),
                         "embedding": arrays[f"{split}_embedding"]}
        if f"{split}_residual" in arrays:
            inputs[split]["residual"] = arrays[f"{split}_residual"]
    return RunInputs(folder, scores, inputs)


def _check_same_clips(frame: pd.DataFrame, paths: np.ndarray | None, csv: Path,
                      npz: Path) -> None:
    if paths is None or len(paths) != len(frame) or not (frame["path"].to_numpy(str)
                                                         == paths).all():
        raise ValueError(f"{npz} and {csv} list different clips (an interrupted training "
                         "stage?): run the training stage again")


def id_groups(frame: pd.DataFrame) -> np.ndarray:
    """``(N,)`` the clips' machine IDs as ``type/id``: a backend is fitted per ID."""
    return (frame["machine_type"].astype(str) + "/" + frame["machine_id"].astype(str)).to_numpy()


@dataclass
class BackendScores:
    """Per split, :data:`KEY_COLUMNS` and one score column per backend that scored; the
    backends that did not and why."""

    tables: dict[str, pd.DataFrame]
    scored: list[BackendConfig]
    skipped: dict[str, str]


def score_run(run: RunInputs, configs: list[BackendConfig], folds: int) -> BackendScores:
    """Fit every backend on the run's training clips, per machine ID, and score every split
    (the training clips cross-fitted over ``folds``; none with 0)."""
    tables = {split: frame[KEY_COLUMNS].copy() for split, frame in run.scores.items()
              if split != "train" or folds > 0}
    reference = run.inputs["train"]
    train_groups = id_groups(run.scores["train"])
    scored, skipped = [], {}
    for config in configs:
        if config.input not in reference:
            skipped[config.name] = (f"input {config.input!r}: the model has none (a residual "
                                    "is a frame model's, AE / IDNN)")
            continue
        tic = time.perf_counter()
        backend = _fitted(config, reference[config.input], train_groups, run.folder)
        for split in tables.keys() - {"train"}:
            tables[split][config.name] = backend.score(run.inputs[split][config.input],
                                                       id_groups(run.scores[split]))
        if "train" in tables:
            tables["train"][config.name] = cross_fitted(config, reference[config.input],
                                                        train_groups, folds, run.folder)
        scored.append(config)
        log.info("%s: %s (%s) in %.2f s", run.folder, config.name, config.backend,
                 time.perf_counter() - tic)
    return BackendScores(tables, scored, skipped)


def _fitted(config: BackendConfig, x: np.ndarray, groups: np.ndarray, folder: Path):
    try:
        return config.create().fit(x, groups)
    except ValueError as error:
        raise ConfigError(f"scoring.backends.{config.name} cannot be fitted on {folder} "
                          f"({len(x)} reference clips): {error}") from None


def cross_fitted(config: BackendConfig, x: np.ndarray, groups: np.ndarray, folds: int,
                 folder: Path) -> np.ndarray:
    """``(N,)`` each clip's score by the backend fitted on the other ``folds - 1`` folds of the
    reference set (fold = the clip's position within its ID, modulo ``folds``), so that a
    clip is never its own reference (a kNN distance of 0)."""
    fold = pd.Series(groups).groupby(groups).cumcount().to_numpy() % folds  # (N,)
    out = np.empty(len(x), dtype=np.float64)
    for k in range(folds):
        held = fold == k
        try:
            backend = config.create().fit(x[~held], groups[~held])
            out[held] = backend.score(x[held], groups[held])
        except ValueError as error:
            raise ConfigError(
                f"scoring.threshold_folds: {folds} folds leave too few reference clips per ID "
                f"for scoring.backends.{config.name} on {folder}: {error} (lower "
                "scoring.threshold_folds, or score more training clips: "
                "train.train_score_clips_per_class)") from None
    return out


def backend_metrics(result: BackendScores) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per backend ``{backend, input, params, mean, per_type[, eval]}`` and the per-ID detail
    ``{per_id[, eval: {per_id}]}``."""
    metrics, detail = {}, {}
    for config in result.scored:
        summary = summarise(_as_scores(result.tables["test"], config.name))
        per_id = summary.pop("per_id")
        metrics[config.name] = {**config.describe(), **summary}
        detail[config.name] = {"per_id": per_id}
        if "eval" in result.tables:
            section, eval_detail = eval_section(_as_scores(result.tables["eval"], config.name))
            metrics[config.name]["eval"] = section
            detail[config.name]["eval"] = eval_detail
    return metrics, detail


def _as_scores(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """:data:`KEY_COLUMNS` + ``score``: the one backend's scores as the metrics expect them."""
    return table[KEY_COLUMNS].assign(score=table[name].to_numpy())


def roc_curves(result: BackendScores) -> pd.DataFrame:
    """``backend, machine_type, fpr, tpr`` of every backend on the test split."""
    parts = [roc_table(_as_scores(result.tables["test"], c.name)).assign(backend=c.name)
             for c in result.scored]
    return pd.concat(parts, ignore_index=True)[["backend", "machine_type", "fpr", "tpr"]]


@dataclass
class StageOutputs:
    scores_dir: Path
    metrics_path: Path
    metrics: dict[str, Any]


def score_stage(model: str, seed: int, params: ScoringParams) -> tuple[StageOutputs,
                                                                         BackendScores]:
    """Score run ``model``/``seed`` with every backend of ``params``; write every output."""
    run = read_run(run_folder(params.models_dir, model, seed))
    result = score_run(run, params.configs(), params.threshold_folds)
    out_dir = scores_folder(params.models_dir, model, seed)
    _write_tables(result, out_dir, params.threshold_folds)
    metrics, detail = backend_metrics(result)
    summary = _run_summary(params.reports_dir, model, seed)
    document = {**summary, "backends": metrics, "skipped": result.skipped}
    reports = Path(params.reports_dir) / "backends"
    stem = f"{model}-seed{seed}"
    metrics_path = write_json_atomic(reports / f"{stem}.json", document)
    write_json_atomic(reports / "per_id" / f"{stem}.json",
                      {"model": model, "seed": seed, "backends": detail})
    _write_csv(roc_curves(result), reports / "roc" / f"{stem}.csv")
    for config in result.scored:
        mean = metrics[config.name]["mean"]
        log.info("%s seed %d, %s: mean AUC %.4f, pAUC %.4f", model, seed, config.name,
                 mean["auc"], mean["pauc"])
    return StageOutputs(out_dir, Path(metrics_path), document), result


def _run_summary(reports_dir: str, model: str, seed: int) -> dict[str, Any]:
    """``model, seed, data_source, epochs`` from the training stage's metrics file."""
    path = Path(reports_dir) / "metrics" / f"{model}-seed{seed}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise FileNotFoundError(f"{path}: cannot read the training stage's metrics "
                                f"({error})") from None
    return {"model": model, "seed": seed, "data_source": data.get("data_source"),
            "epochs": data.get("epochs")}


def _write_tables(result: BackendScores, out_dir: Path, folds: int) -> None:
    """Replace ``out_dir`` with this run's tables (no file of an earlier run stays)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for split, table in result.tables.items():
        _write_csv(table, out_dir / SPLIT_FILE.format(split=split))
    write_json_atomic(out_dir / BACKENDS_FILE, {
        "backends": {c.name: c.describe() for c in result.scored},
        "skipped": result.skipped, "threshold_folds": folds})


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def track(outputs: StageOutputs, run_dir: Path, enabled: bool, uri: str,
          experiment: str) -> None:
    """Log every backend's metrics (``knn_auc_mean``, ``knn_pauc_ToyCar``, ``eval_knn_auc_mean``
    ...) and the per-clip scores into the MLflow run that trained ``run_dir``; nothing when
    tracking is off or the run recorded none."""
    try:
        run_id = json.loads((run_dir / RUN_FILE).read_text())["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        if enabled:
            log.info("%s: no MLflow run recorded; backend metrics not tracked", run_dir)
        return
    tracker = Tracker(enabled, uri, experiment)
    if tracker.start(run_name=f"{outputs.metrics['model']} seed {outputs.metrics['seed']}",
                     params={}, tags={"scoring_backends": ",".join(outputs.metrics["backends"])},
                     resume_run_id=run_id) is None:
        return
    tracker.log_metrics(mlflow_metrics(outputs.metrics["backends"]))
    for path in (outputs.metrics_path, outputs.scores_dir / SPLIT_FILE.format(split="test")):
        tracker.log_artifact(path, "backends")
    tracker.end()


def mlflow_metrics(backends: dict[str, Any]) -> dict[str, float]:
    """``NAME_auc_mean``, ``NAME_pauc_mean``, ``NAME_auc_hmean``, ``NAME_pauc_hmean``,
    ``NAME_auc_<type>``, ``NAME_pauc_<type>`` per backend (``eval_NAME_...`` for the eval
    split, with ``eval_NAME_official``)."""
    out: dict[str, float] = {}
    for name, entry in backends.items():
        out |= _named(name, entry)
        if "eval" in entry:
            out |= {f"eval_{k}": v for k, v in _named(name, entry["eval"]).items()}
            out[f"eval_{name}_official"] = entry["eval"]["mean"]["official"]
    return out


def _named(name: str, entry: dict[str, Any]) -> dict[str, float]:
    mean = entry["mean"]
    out = {f"{name}_{k}_mean": mean[k] for k in ("auc", "pauc")}
    out |= {f"{name}_{k}": mean[k] for k in ("auc_hmean", "pauc_hmean")}
    for machine_type, values in entry["per_type"].items():
        out |= {f"{name}_{k}_{machine_type}": values[k] for k in ("auc", "pauc")}
    return out


@entry_point
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a key of models: in params.yaml")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    parser.add_argument("--params", default="params.yaml",
                        help="params file (default: %(default)s)")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one error: line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = load_section("scoring", ScoringParams, args.params)
    train = load_section("train", TrainParams, args.params)
    tic = time.perf_counter()
    outputs, _ = score_stage(args.model, args.seed, params)
    track(outputs, run_folder(params.models_dir, args.model, args.seed), train.mlflow,
          train.mlflow_tracking_uri, train.mlflow_experiment)
    log.info("%s seed %d scored in %.1f s: %s", args.model, args.seed,
             time.perf_counter() - tic, outputs.metrics_path)

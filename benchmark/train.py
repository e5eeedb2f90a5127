"""Stage ``train@NAME-K``: ``python -m benchmark.train --model NAME --seed K [--params FILE]``.

Reads ``train`` (shared) and ``models.NAME`` only; the seed comes from the command line (the
``seeds:`` list of ``params.yaml`` is expanded by DVC's ``matrix``). Trains the registered model
NAME with seed K on the train split of the feature cache (checkpointing
``models/NAME/seed-K/last.pt`` every epoch and resuming from it), keeps the last epoch (no model
selection on the test set), scores the train and test clips and writes
``models/NAME/seed-K/{final.pt,scores.csv,train_scores.csv,roc.png}``,
``reports/metrics/NAME-seedK.json`` (summary: a DVC metric), ``reports/per_id/NAME-seedK.json``
and ``reports/roc/NAME-seedK.csv``. Every run is tracked in MLflow, tagged with its seed (see
:mod:`benchmark.training.tracking`).

When the feature cache has an ``eval`` split (the DCASE 2020 evaluation test set), its clips are
scored like the test clips into ``models/NAME/seed-K/eval_scores.csv``, and the metrics JSON gets
an ``eval`` section (``clips``, ``mean`` with the DCASE 2020 ``official`` score, ``per_type``; the
per-ID figures go to the per-ID JSON's ``eval``). Without one, the outputs are exactly those above.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from benchmark.architectures.per_type import PerTypeModel
from benchmark.cli import entry_point
from benchmark.config import ConfigError, flatten, load_section
from benchmark.data.index import check_scorable
from benchmark.device import claim_gpu, resolve_device
from benchmark.evaluation.metrics import eval_section, roc_table, summarise
from benchmark.evaluation.scores import ClipOutputs, clip_outputs, frame_outputs
from benchmark.features.cache import FeatureCache, open_cache
from benchmark.io import atomic_path, write_json_atomic
from benchmark.training.checkpoint import FINAL, run_dir, run_stem, save_atomic
from benchmark.training.loop import (
    EpochHook,
    EpochResult,
    StepSettings,
    TrainData,
    autocast,
    fit,
    resume_state,
)
from benchmark.training.losses import LOSSES, loss_objective
from benchmark.training.params import ModelParams, TrainParams
from benchmark.training.tracking import (
    Tracker,
    dvc_tags,
    git_commit,
    remember_run,
    remembered_run,
)

log = logging.getLogger("benchmark.train")

SCORE_COLUMNS = ["path", "machine_type", "machine_id", "label", "score"]
DOMAIN_COLUMNS = ["section", "domain"]
"""Written after ``score`` for the DCASE 2021+ data sets (what their official metrics group by)."""
EVAL_SCORES = "eval_scores.csv"
"""Scores of the evaluation clips (split ``eval``) beside ``scores.csv``, same columns."""
EMBEDDINGS = "embeddings.npz"
"""What the scoring backends read, beside ``scores.csv`` (:func:`write_embeddings`)."""


@dataclass
class TrainOutputs:
    model_dir: Path
    metrics_path: Path
    roc_path: Path
    metrics: dict[str, Any]
    history: list[EpochResult]
    mlflow_run_id: str | None


def _device(name: str) -> torch.device:
    """``train.device`` as the device to train on: ``cpu``; ``cuda:N`` (that GPU, as given);
    ``cuda`` or ``auto`` (CUDA when available, else the CPU), which on a machine with several
    GPUs visible claims a free one for this process (:func:`claim_gpu`, waiting while all are
    taken) so parallel trainings do not share a GPU."""
    return claim_gpu(resolve_device(name, "train.device"), "train.device")


def _registry():
    import benchmark.architectures  # noqa: F401  (registers the models)
    from benchmark.architectures import registry

    return registry


@dataclass
class TrainingUnit:
    """One model to fit: all machine types (``machine_type`` None) or one type's clips."""

    machine_type: str | None
    data: TrainData
    model_dir: Path  # last.pt of this unit
    model: nn.Module
    identity: dict[str, Any]


def train_model(name: str, train: TrainParams, params: ModelParams, seed: int = 0,
                on_epoch_end: EpochHook | None = None) -> TrainOutputs:
    """Train, score and evaluate model ``name`` with ``seed``; writes every output (module doc).

    ``params.scope == "per_type"`` trains one model per machine type on that type's clips (each in
    ``models/NAME/seed-K/<type>/``, resumed or reused on its own) and scores every clip with its
    type's model, as the DCASE 2020 baseline does.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    registry = _registry()
    spec = registry.get_spec(name)
    if params.scope == "per_type" and spec.objective != "reconstruction":
        raise ConfigError(f"models.{name}.scope: per_type is for the frame models "
                          f"(reconstruction); {name} is a {spec.objective} model of all IDs")
    _check_loss(name, params.loss, spec.objective)
    device = _configure_torch(train, spec.objective)
    cache = open_cache(train.features_dir)
    check_scorable(cache.index, "eval", str(cache.root / "index.csv"))  # before any training
    kwargs = dict(params.overrides)
    if spec.objective == "classification":
        kwargs["num_classes"] = len(cache.classes)
    model_dir = run_dir(train.models_dir, name, seed)
    model_dir.mkdir(parents=True, exist_ok=True)
    units = _training_units(registry, name, params, cache, seed, kwargs, model_dir, device)
    resumes = [resume_state(u.model_dir, u.identity, name) for u in units]
    identity = units[0].identity if params.scope == "all_types" else {
        "arch": name, "scope": params.scope, "units": [u.identity for u in units]}
    tracker = Tracker(train.mlflow, train.mlflow_tracking_uri, train.mlflow_experiment)
    run_id = tracker.start(
        run_name=f"{name} seed {seed}",
        params=flatten({"model": params.to_dict(), "train": asdict(train), "arch": name,
                        "seed": seed,
                        "num_classes": len(cache.classes),
                        "num_train_clips": sum(len(u.data.rows) for u in units),
                        "data_source": cache.data_source, "dataset": cache.dataset}),
        tags={"model": name, "dvc_stage": f"train@{name}-{seed}", **dvc_tags(),
              "git_commit": git_commit(), "data_source": cache.data_source,
              "dataset": cache.dataset,
              "data_fingerprint": cache.fingerprint, "seed": str(seed)},
        resume_run_id=(remembered_run(model_dir, identity)
                       if all(r is not None for r in resumes) else None),
    )
    splits = {split: cache.split(split) for split in ("train", "test", "eval")}
    tracker.log_datasets({k: v for k, v in splits.items() if k != "eval" or not v.empty},
                         cache.data_source, cache.fingerprint, cache.root / "index.csv")
    remember_run(model_dir, run_id, identity)
    try:
        history = []  # every unit's epochs, unit after unit
        for unit, resume in zip(units, resumes, strict=True):
            history += _fit_unit(name, unit, resume, spec, cache, params, seed, device, train,
                                 _epoch_hook(tracker, unit.machine_type, on_epoch_end))
        model = _scoring_model(units, cache, spec, params.scope)
        outputs = _evaluate(name, seed, model, spec, cache, train, params, kwargs, history,
                            model_dir)
    except BaseException:
        tracker.end("FAILED")
        raise
    outputs.mlflow_run_id = run_id
    _track_results(tracker, outputs, params.scope == "per_type")
    tracker.end()
    return outputs


def _check_loss(name: str, loss: str, objective: str) -> None:
    """``models.NAME.loss`` must train the model's objective (an ID classifier, or frames)."""
    if loss_objective(loss) != objective:
        valid = [k for k in LOSSES if loss_objective(k) == objective]
        raise ConfigError(f"models.{name}.loss: {loss!r} trains {loss_objective(loss)} models; "
                          f"{name} is a {objective} model (valid: {', '.join(valid)})")


def _configure_torch(train: TrainParams, objective: str) -> torch.device:
    """Threads, denormals, cuDNN autotuning; the device (CUDA-only switches warned on CPU)."""
    threads = train.frame_threads if objective == "reconstruction" else train.threads
    if threads > 0:
        torch.set_num_threads(threads)
    # Denormal floats slow some CPU kernels down by 100x (measured: the DCASE AE, 1.7 s -> 11 ms
    # per batch of 512); flushing them to zero changes no result that matters.
    torch.set_flush_denormal(True)
    device = _device(train.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: autotune the convolutions
    elif train.compile:
        log.warning("train.compile applies to CUDA only: training on %s without "
                    "torch.compile", device)
    return device


def _training_units(registry, name: str, params: ModelParams, cache: FeatureCache, seed: int,
                    kwargs: dict[str, Any], model_dir: Path,
                    device: torch.device) -> list[TrainingUnit]:
    """The models to fit: one for all types, or one per machine type (``scope: per_type``)."""
    train = cache.split("train")
    if train.empty:
        raise ValueError(f"{cache.root}: no training clips in the feature cache (model {name})")
    scopes = ([(None, train)] if params.scope == "all_types" else
              [(t, g) for t, g in train.groupby("machine_type", sort=False)])
    units = []
    for machine_type, rows in scopes:
        torch.manual_seed(seed)
        model = registry.create_model(name, **kwargs).to(device)
        identity = {
            "arch": name, "model_kwargs": kwargs, "params": params.to_dict(), "seed": seed,
            "data": cache.fingerprint if machine_type is None
            else cache.type_fingerprint(machine_type),
            "shapes": {k: list(v.shape) for k, v in model.state_dict().items()},
        }
        if machine_type is not None:
            identity["machine_type"] = machine_type
        data = TrainData(rows=rows["row"].to_numpy(np.int64),
                         labels=rows["class_index"].to_numpy(np.int64))
        folder = model_dir if machine_type is None else model_dir / machine_type
        units.append(TrainingUnit(machine_type, data, folder, model, identity))
    return units


def _epoch_hook(tracker: Tracker, machine_type: str | None,
                on_epoch_end: EpochHook | None) -> EpochHook:
    """MLflow per-epoch metrics (``loss``; per type: ``loss_<type>``), then ``on_epoch_end``.

    Per type, the run-level ``loss``/``lr``/``clips_per_s`` follow once every type is trained
    (:func:`_track_results`).
    """
    suffix = "" if machine_type is None else f"_{machine_type}"

    def hook(result: EpochResult) -> None:
        metrics = {"loss": result.loss, "lr": result.lr, "clips_per_s": result.clips_per_s}
        if result.val_loss is not None:
            metrics["val_loss"] = result.val_loss
        tracker.log_metrics({k + suffix: v for k, v in metrics.items()}, step=result.epoch)
        if on_epoch_end is not None:
            on_epoch_end(result)
    return hook


def _fit_unit(name: str, unit: TrainingUnit, resume: dict[str, Any] | None, spec,
              cache: FeatureCache, params: ModelParams, seed: int, device: torch.device,
              train: TrainParams, hook: EpochHook) -> list[EpochResult]:
    label = name if unit.machine_type is None else f"{name}[{unit.machine_type}]"
    unit.model_dir.mkdir(parents=True, exist_ok=True)
    settings = _step_settings(unit.model, spec, train, device)
    return fit(label, unit.model, spec.objective, cache, unit.data, params, seed,
               unit.model_dir, device, unit.identity, hook, settings, resume)


def _step_settings(model: nn.Module, spec, train: TrainParams,
                   device: torch.device) -> StepSettings:
    """CUDA: bf16 autocast (``train.amp``), ``channels_last`` convolutions and optionally
    ``torch.compile`` for the classifiers; the CPU trains in float32, uncompiled."""
    cuda = device.type == "cuda"
    step_model = None
    if cuda and spec.objective == "classification":
        if train.channels_last:
            model.to(memory_format=torch.channels_last)
        if train.compile:
            step_model = torch.compile(model)
    return StepSettings(amp=train.amp and cuda, prefetch=train.prefetch, step_model=step_model)


def _scoring_model(units: list[TrainingUnit], cache: FeatureCache, spec,
                   scope: str) -> nn.Module:
    """The trained model; per type: a :class:`PerTypeModel` routing clips by their type."""
    if scope == "all_types":
        return units[0].model
    model = PerTypeModel({u.machine_type: u.model for u in units},
                         [machine_type for machine_type, _ in cache.classes])
    model.spec = spec  # type: ignore[assignment]
    return model


@dataclass
class ScoredSplit:
    """One split's scores (columns :data:`SCORE_COLUMNS`) and, row for row, what the scoring
    backends read: ``embedding (N, D)`` and, for the frame models, ``residual (N, R)``."""

    scores: pd.DataFrame
    embedding: np.ndarray
    residual: np.ndarray | None


def score_split(model: nn.Module, spec, cache: FeatureCache, split: str, batch_size: int,
                device: torch.device, per_class: int = 0, amp: bool = False) -> ScoredSplit:
    """Anomaly score, embedding (and residual) of every clip of ``split``.

    ``per_class > 0`` scores only the first ``per_class`` clips of each (type, ID). Frame models
    score the cached output of their front end (whole clips for the DCASE log-Mel).
    """
    rows = cache.split(split)
    if per_class > 0:
        rows = rows.groupby(["machine_type", "machine_id"], sort=False).head(per_class)
        rows = rows.reset_index(drop=True)
    unknown = rows["class_index"] < 0
    if unknown.any():  # features' coverage check prevents this: every model scores every clip
        pairs = sorted(set(zip(rows["machine_type"][unknown], rows["machine_id"][unknown],
                               strict=True)))
        raise ValueError(f"{cache.root}: {split} clips of machine IDs without training data: "
                         + ", ".join(f"{t}/{i}" for t, i in pairs))
    model.eval()
    groups = cache.class_groups()
    groups = None if groups is None else torch.tensor(groups, device=device)
    parts = [_score_batch(model, spec, cache, rows.iloc[start:start + batch_size], device, amp,
                          groups) for start in range(0, len(rows), batch_size)]
    out = rows[SCORE_COLUMNS[:-1]].copy()
    out["score"] = np.concatenate([p.score for p in parts]) if parts else np.empty(0)
    if cache.dataset != "dcase2020":
        out[DOMAIN_COLUMNS] = rows[DOMAIN_COLUMNS]
    residuals = [p.residual for p in parts if p.residual is not None]
    return ScoredSplit(out, _stack([p.embedding for p in parts]),
                       _stack(residuals) if residuals else None)


def _score_batch(model: nn.Module, spec, cache: FeatureCache, part: pd.DataFrame,
                 device: torch.device, amp: bool, groups: torch.Tensor | None) -> ClipOutputs:
    target = torch.tensor(part["class_index"].to_numpy(np.int64), device=device)
    with autocast(device, amp):
        if spec.objective == "reconstruction":
            logmel, frames = cache.frame_logmel(model.frontend, part["row"].to_numpy())
            return frame_outputs(model, logmel.to(device), target, frames.to(device))
        wave = cache.waves(part["row"].to_numpy()).to(device)  # (B, L)
        return clip_outputs(model, spec, wave, target, groups)


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays).astype(np.float32) if arrays else np.empty((0, 0), np.float32)


def score_stats(train_scores: pd.DataFrame) -> dict[str, Any]:
    """Train-score statistics for decision thresholds: overall and per (type, ID)."""

    def stats(values: np.ndarray) -> dict[str, float]:
        return {"count": int(len(values)), "mean": float(np.mean(values)),
                "std": float(np.std(values)), "q90": float(np.quantile(values, 0.9)),
                "q95": float(np.quantile(values, 0.95)), "q99": float(np.quantile(values, 0.99))}

    per_class = {
        f"{t}/{i}": stats(g["score"].to_numpy())
        for (t, i), g in train_scores.groupby(["machine_type", "machine_id"])
    }
    return {"all": stats(train_scores["score"].to_numpy()), "per_class": per_class}


def _evaluate(name: str, seed: int, model: nn.Module, spec, cache: FeatureCache,
              train: TrainParams, params: ModelParams, kwargs: dict[str, Any],
              history: list[EpochResult], model_dir: Path) -> TrainOutputs:
    device = next(model.parameters()).device
    amp = train.amp and device.type == "cuda"
    tic = time.perf_counter()
    scored = {"train": score_split(model, spec, cache, "train", train.score_batch_size, device,
                                   train.train_score_clips_per_class, amp),
              "test": score_split(model, spec, cache, "test", train.score_batch_size, device,
                                  amp=amp)}
    if not cache.split("eval").empty:
        scored["eval"] = score_split(model, spec, cache, "eval", train.score_batch_size, device,
                                     amp=amp)
    train_scores, test_scores = scored["train"].scores, scored["test"].scores
    eval_scores = scored["eval"].scores if "eval" in scored else None
    log.info("%s: scored %d train + %d test (+ %d eval) clips (%.1f s)", name,
             len(train_scores), len(test_scores),
             0 if eval_scores is None else len(eval_scores), time.perf_counter() - tic)
    save_atomic({
        "arch": name, "model_kwargs": kwargs, "classes": [list(c) for c in cache.classes],
        "state_dict": model.state_dict(), "objective": spec.objective,
        "input_kind": spec.input_kind, "epoch": params.epochs, "scope": params.scope,
        "params": {"model": params.to_dict(), "seed": seed},
        "train_score_stats": score_stats(train_scores),
        "data": {"sample_rate": cache.sample_rate, "clip_samples": int(cache.meta["clip_samples"]),
                 "dcase_clip_samples": int(cache.meta["dcase_clip_samples"]),
                 "data_source": cache.data_source, "fingerprint": cache.fingerprint,
                 "dataset": cache.dataset, "class_sections": cache.meta.get("class_sections")},
    }, model_dir / FINAL)
    _write_csv(train_scores, model_dir / "train_scores.csv")
    _write_csv(test_scores, model_dir / "scores.csv")
    write_embeddings(scored, model_dir / EMBEDDINGS)
    metrics = summarise(test_scores, model=name, data_source=cache.data_source,
                        dataset=cache.dataset, epochs=params.epochs, seed=seed,
                        num_train_clips=int(len(cache.split("train"))))
    reports = Path(train.reports_dir)
    stem = run_stem(name, seed)
    metrics_path = reports / "metrics" / f"{stem}.json"
    per_id = metrics.pop("per_id")  # detail: not a DVC metric (keeps `dvc exp show` readable)
    detail: dict[str, Any] = {"model": name, "seed": seed, "per_id": per_id}
    add_official(test_scores, cache.dataset, metrics, detail)
    _add_eval(eval_scores, model_dir, metrics, detail)
    if eval_scores is not None:
        add_official(eval_scores, cache.dataset, metrics["eval"], detail["eval"])
    write_json_atomic(metrics_path, metrics)
    write_json_atomic(reports / "per_id" / f"{stem}.json", detail)
    roc = roc_table(test_scores)
    roc_path = _write_csv(roc, reports / "roc" / f"{stem}.csv")
    _plot_roc(roc, metrics, model_dir / "roc.png")
    log.info("%s: mean AUC %.4f, pAUC %.4f", name, metrics["mean"]["auc"], metrics["mean"]["pauc"])
    if eval_scores is not None:
        log.info("%s: eval mean AUC %.4f, pAUC %.4f, official %.4f", name,
                 *(metrics["eval"]["mean"][k] for k in ("auc", "pauc", "official")))
    return TrainOutputs(model_dir, metrics_path, roc_path, metrics, history, None)


def _add_eval(eval_scores: pd.DataFrame | None, model_dir: Path, metrics: dict[str, Any],
              detail: dict[str, Any]) -> None:
    """Write :data:`EVAL_SCORES` and add the ``eval`` sections to ``metrics`` and the per-ID
    ``detail``; without an eval split, remove an :data:`EVAL_SCORES` left by an earlier run
    (``models/NAME`` persists between runs) and add nothing."""
    if eval_scores is None:
        (model_dir / EVAL_SCORES).unlink(missing_ok=True)
        return
    _write_csv(eval_scores, model_dir / EVAL_SCORES)
    metrics["eval"], detail["eval"] = eval_section(eval_scores)


def add_official(scores: pd.DataFrame, dataset: str, section: dict[str, Any],
                 detail: dict[str, Any]) -> None:
    """DCASE 2021+: the year's official metrics of ``scores`` into a metrics ``section``
    (``mean.official``: the official score; ``official``: per machine type) and its per-section
    figures into ``detail["official_per_section"]``. DCASE 2020 adds nothing here (its test
    figures are ``summarise``'s, its eval ``official`` is :func:`eval_section`'s)."""
    if dataset == "dcase2020":
        return
    from benchmark.evaluation.domain_metrics import official_metrics

    result = official_metrics(scores, dataset)
    section["mean"]["official"] = result["official"]
    section["official"] = {"dataset": dataset, "per_type": result["per_type"]}
    detail["official_per_section"] = result["per_section"]


def write_embeddings(scored: dict[str, ScoredSplit], path: Path) -> Path:
    """``{split}_path`` (the clips, in the order of that split's scores CSV),
    ``{split}_embedding (N, D)`` float32 and, for the frame models, ``{split}_residual (N, R)``
    of every scored split (train: the clips of ``train_scores.csv``), as one ``.npz``."""
    arrays: dict[str, np.ndarray] = {}
    for split, part in scored.items():
        arrays[f"{split}_path"] = part.scores["path"].to_numpy(dtype=str)
        arrays[f"{split}_embedding"] = part.embedding
        if part.residual is not None:
            arrays[f"{split}_residual"] = part.residual
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def _plot_roc(roc: pd.DataFrame, metrics: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for machine_type, group in roc.groupby("machine_type", sort=False):
        auc = metrics["per_type"][machine_type]["auc"]
        ax.plot(group["fpr"], group["tpr"], label=f"{machine_type} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.axvline(0.1, color="grey", linewidth=0.5)
    # named like the report's figures: model, seed, data source and epochs (also the PNG's Title)
    title = (f"{metrics['model']} seed {metrics['seed']} ({metrics['data_source']}, "
             f"{metrics['epochs']} epochs): mean AUC {metrics['mean']['auc']:.3f}")
    ax.set(xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", metadata={"Title": title})
    plt.close(fig)


def _track_results(tracker: Tracker, outputs: TrainOutputs, per_type: bool = False) -> None:
    """Final metrics and artifacts; per type also the run-level per-epoch curves.

    A per-type run trains its types one after the other, each logging ``loss_<type>``,
    ``lr_<type>``, ``clips_per_s_<type>`` (``val_loss_<type>``) live. So that every run has the
    same curve names (the compare page overlays ``loss`` of an all-types and a per-type model,
    and the README's names hold for both), the per-type run then also logs, per epoch,
    ``loss`` (and ``val_loss``) as the mean over its types, ``lr`` (one schedule: the mean) and
    ``clips_per_s`` as all types' clips over all types' seconds of that epoch.
    """
    if per_type:
        for epoch, values in _type_means(outputs.history).items():
            tracker.log_metrics(values, step=epoch)
    metrics = outputs.metrics
    final = {k if k.endswith("hmean") or k == "official" else f"{k}_mean": v
             for k, v in metrics["mean"].items()}
    for machine_type, values in metrics["per_type"].items():
        final[f"auc_{machine_type}"] = values["auc"]
        final[f"pauc_{machine_type}"] = values["pauc"]
    final.update(_eval_metrics(metrics.get("eval")))
    tracker.log_metrics(final)
    paths = [outputs.model_dir / "scores.csv", outputs.metrics_path, outputs.model_dir / "roc.png"]
    if "eval" in metrics:
        paths.append(outputs.model_dir / EVAL_SCORES)
    for path in paths:
        tracker.log_artifact(path)


def _eval_metrics(section: dict[str, Any] | None) -> dict[str, float]:
    """MLflow names of the ``eval`` section: ``eval_auc_mean``, ``eval_pauc_mean``,
    ``eval_auc_hmean``, ``eval_pauc_hmean``, ``eval_official``, ``eval_auc_<type>``,
    ``eval_pauc_<type>`` (none without an eval split)."""
    if section is None:
        return {}
    mean = section["mean"]
    out = {f"eval_{k}_mean": mean[k] for k in ("auc", "pauc")}
    out.update({f"eval_{k}": mean[k] for k in ("auc_hmean", "pauc_hmean", "official")})
    for machine_type, values in section["per_type"].items():
        out[f"eval_auc_{machine_type}"] = values["auc"]
        out[f"eval_pauc_{machine_type}"] = values["pauc"]
    return out


def _type_means(history: list[EpochResult]) -> dict[int, dict[str, float]]:
    """Epoch -> run-level ``loss``, ``lr``, ``clips_per_s`` (``val_loss``) over the types."""
    by_epoch: dict[int, list[EpochResult]] = {}
    for result in history:
        by_epoch.setdefault(result.epoch, []).append(result)
    means = {}
    for epoch, results in sorted(by_epoch.items()):
        seconds = sum(r.seconds for r in results)
        clips = sum(r.clips_per_s * r.seconds for r in results)
        values = {"loss": float(np.mean([r.loss for r in results])),
                  "lr": float(np.mean([r.lr for r in results])),
                  "clips_per_s": clips / seconds if seconds > 0 else 0.0}
        if all(r.val_loss is not None for r in results):
            values["val_loss"] = float(np.mean([r.val_loss for r in results]))
        means[epoch] = values
    return means


@entry_point
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a key of models: in params.yaml")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of this run (one of seeds: in params.yaml; default %(default)s)")
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one error: line")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train = load_section("train", TrainParams, args.params)
    try:
        params = load_section(f"models.{args.model}", ModelParams, args.params)
    except ConfigError as error:  # validate() says models.*: name the model
        raise ConfigError(str(error).replace("models.*", f"models.{args.model}")) from None
    tic = time.perf_counter()
    out = train_model(args.model, train, params, args.seed)
    log.info("%s done in %.1f s: %s", args.model, time.perf_counter() - tic, out.metrics_path)


if __name__ == "__main__":
    main()

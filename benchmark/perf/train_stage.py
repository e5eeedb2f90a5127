"""The real training stage, timed: ``benchmark.train.train_model`` on a tiny generated data set.

Unlike the pure optimiser step of :mod:`benchmark.perf.training`, this includes everything an
epoch of the stage does (cache reads, front ends, mixup, the loss, checkpointing ``last.pt``), so
its clips/s is what the paper profile's epochs would run at. Each model trains for
``perf.train_stage_epochs`` epochs under its profile recipe (optimizer, mixup, model overrides),
with ``epochs``, ``clips_per_epoch = 0`` and, for clip-batched (classification) models, the batch
replaced by perf's own; the frame models keep their recipe's batch of 5-frame vectors. The last
epoch's rate is reported (the first includes warm-up), with the GPU busy % during that epoch and
the peak memory at its end; where the stage fits one model per machine type (``scope:
per_type``), the last epochs of all of them pooled (one pass over the whole data set).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from benchmark.config import from_dict
from benchmark.features.cache import FeaturesParams, build_cache
from benchmark.perf.clips import write_training_set
from benchmark.perf.features import cache_params
from benchmark.perf.machine import (
    GpuBusySampler,
    memory_note,
    peak_memory_mb,
    reset_peak_memory,
)
from benchmark.perf.models import import_models, run_isolated
from benchmark.perf.params import PerfParams
from benchmark.training.params import ModelParams, TrainParams

log = logging.getLogger("benchmark.perf")


def build_training_cache(work: Path, params: PerfParams, base: FeaturesParams,
                         device_type: str) -> Path:
    """Generate the stage's data set (train + test splits) under ``work`` and cache it."""
    index_csv = write_training_set(work / "train-stage-clips",
                                   params.train_stage_clips(device_type),
                                   sample_rate=params.sample_rate,
                                   clip_samples=params.clip_samples, seed=params.seed)
    features = cache_params(base, index_csv, work / "train-stage-cache", params, base.workers)
    return build_cache(features, for_scoring=True)


def stage_model_params(name: str, recipe: dict[str, Any], objective: str, params: PerfParams,
                       device_type: str) -> ModelParams:
    """``recipe`` shortened to ``perf.train_stage_epochs`` epochs over every cached clip.

    Classification models train on perf's clip batch; the frame models' batch counts 5-frame
    vectors, so theirs stays the recipe's.
    """
    batch = (params.train_batch(device_type) if objective == "classification"
             else int(recipe["batch_size"]))
    values = {**recipe, "epochs": params.train_stage_epochs, "clips_per_epoch": 0,
              "batch_size": batch}
    return from_dict(ModelParams, values, f"models.{name}")


def stage_train_params(base: TrainParams, cache_dir: Path, out_dir: Path, device_type: str,
                       threads: int) -> TrainParams:
    """The ``train:`` section ``base`` pointed at the stage's cache and a scratch folder."""
    return replace(base, device=device_type, threads=threads, features_dir=str(cache_dir),
                   models_dir=str(out_dir / "models"), reports_dir=str(out_dir / "reports"),
                   train_score_clips_per_class=1, mlflow=False)


def bench_train_stage(name: str, params: PerfParams, recipe: dict[str, Any],
                      train_base: TrainParams, cache_dir: Path, out_dir: Path, threads: int,
                      device_name: str) -> dict[str, Any]:
    """Train ``name`` with the real stage; clips/s, GPU busy % and peak memory per epoch."""
    from benchmark.architectures.registry import get_spec
    from benchmark.train import train_model
    from benchmark.training.loop import EpochResult

    import_models()
    device = torch.device(device_name)
    spec = get_spec(name)
    model_params = stage_model_params(name, recipe, spec.objective, params, device.type)
    train = stage_train_params(train_base, cache_dir, out_dir / name, device.type, threads)
    epochs: list[dict[str, Any]] = []
    per_phase = reset_peak_memory(device)
    with GpuBusySampler(device) as sampler:

        def on_epoch_end(result: EpochResult) -> None:
            end = time.monotonic()
            epochs.append({"epoch": result.epoch, "clips_per_s": result.clips_per_s,
                           "seconds": result.seconds,
                           "gpu_busy_pct": sampler.busy_pct(end - result.seconds, end),
                           "peak_mem_mb": peak_memory_mb(device)})

        tic = time.perf_counter()
        train_model(name, train, model_params, seed=params.seed, on_epoch_end=on_epoch_end)
        stage_s = time.perf_counter() - tic
    last = epoch_summary(epochs, params.train_stage_epochs, name)
    return {
        "model": name, "device": device.type, "threads": threads,
        "objective": spec.objective,
        "batch": model_params.batch_size,
        "batch_unit": "clips" if spec.objective == "classification" else "5-frame vectors",
        "recipe_batch": recipe.get("batch_size"),
        "clips_per_epoch": params.train_stage_clips(device.type),
        "epochs": epochs,
        "first_epoch_clips_per_s": epoch_summary(epochs, 1, name)["clips_per_s"],
        **last,
        "gpu_busy_source": sampler.source,
        "memory": memory_note(device, per_phase),
        "stage_s": stage_s,  # the whole train_model call: epochs, scoring, outputs
    }


def epoch_summary(epochs: list[dict[str, Any]], epoch: int, name: str) -> dict[str, Any]:
    """Epoch ``epoch`` of every model the stage fitted (one, or one per machine type for
    ``scope: per_type``, each reporting its own epochs), pooled: the clips/s of one pass over the
    whole data set, its seconds, the time-weighted GPU busy % and the highest peak memory."""
    rows = [e for e in epochs if e["epoch"] == epoch]
    if not rows:
        raise RuntimeError(f"model {name!r}: the training stage reported no epoch {epoch} "
                           f"(epochs reported: {sorted({e['epoch'] for e in epochs})})")
    seconds = sum(e["seconds"] for e in rows)
    clips = sum(e["clips_per_s"] * e["seconds"] for e in rows)
    busy = [(e["gpu_busy_pct"], e["seconds"]) for e in rows if e["gpu_busy_pct"] is not None]
    busy_s = sum(s for _, s in busy)
    return {
        "clips_per_s": clips / seconds,
        "epoch_s": seconds,
        "units": len(rows),
        "gpu_busy_pct": sum(p * s for p, s in busy) / busy_s if busy_s > 0 else None,
        "peak_mem_mb": max(e["peak_mem_mb"] for e in rows),
    }


def train_stage_benchmarks(names: list[str], params: PerfParams, recipes: dict[str, dict],
                           train_base: TrainParams, cache_dir: Path, out_dir: Path,
                           threads: int, device: torch.device) -> list[dict[str, Any]]:
    """The timed training stage of every model that has a recipe (a fresh process each when
    ``params.isolate``); a model without one is listed with ``skipped``."""
    results = []
    for name in tqdm(names, desc="training stage", unit="model"):
        if name not in recipes:
            log.warning("%s: no recipe under models: of the params file; stage not timed", name)
            results.append({"model": name, "skipped": "no recipe under models:"})
            continue
        result = run_isolated(params.isolate, threads, bench_train_stage, name, params,
                              recipes[name], train_base, cache_dir, out_dir, threads,
                              device.type)
        result["isolated"] = params.isolate
        results.append(result)
        log.info("%s training stage (%d threads): %.1f clips/s in the last epoch", name, threads,
                 result["clips_per_s"])
    return results

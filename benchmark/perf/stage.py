"""The stage: every measurement of ``python -m benchmark.perf``, and its two reports."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark.config import ConfigError, load_section
from benchmark.features.cache import FeaturesParams
from benchmark.perf.clips import index_real_clips, write_synthetic_clips
from benchmark.perf.features import OUR_PATH, PEER_PATH, feature_benchmark
from benchmark.perf.machine import machine_info, resolve_device, resolve_threads
from benchmark.perf.models import import_models, model_benchmarks
from benchmark.perf.params import PerfParams
from benchmark.perf.projection import profile_recipes, projection, train_clips_and_source
from benchmark.perf.report import render_markdown
from benchmark.perf.train_stage import build_training_cache, train_stage_benchmarks
from benchmark.profiles import PROFILES_DIR
from benchmark.training.params import TrainParams


def run_perf(params: PerfParams, command: str = "python -m benchmark.perf",
             params_file: str | Path = "params.yaml",
             profiles_dir: str | Path = PROFILES_DIR) -> dict[str, Any]:
    """Every measurement of the stage; returns the JSON-ready result.

    Besides ``params``, reads the ``features:`` section of ``params_file`` (the cache builder's
    settings perf does not set) and, for the training stage, its ``train:`` section and the
    ``models:`` recipes and ``seeds`` with ``profiles_dir/<perf.projection_profile>.yaml`` merged.
    """
    names = _model_names(params)
    machine = machine_info()
    device = resolve_device(params.device)
    threads = resolve_threads(params.threads, machine["torch_default_threads"])
    features_base = load_section("features", FeaturesParams, params_file)
    # read before hours of measuring: a bad profile or train: section fails at once
    stage_inputs = (_train_stage_inputs(params, params_file, profiles_dir)
                    if params.train_stage else None)
    work = Path(tempfile.mkdtemp(prefix="asd-perf-"))
    try:
        index_csv = _feature_clips(params, work)
        features = [feature_benchmark(index_csv, work, params, t, features_base) for t in threads]
        models = model_benchmarks(names, params, threads, device)
        train_stage = (_train_stage(names, params, features_base, stage_inputs, work,
                                    max(threads), device)
                       if stage_inputs is not None else None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "command": command,
        "machine": machine,
        "device": device.type,
        "settings": asdict(params),
        "features": {"our_path": OUR_PATH, "peer_path": PEER_PATH,
                     "clips": params.clips_dir or "synthetic (benchmark.data.synthetic)",
                     "by_threads": features},
        "models": models,
        "train_stage": train_stage,
    }


def _model_names(params: PerfParams) -> list[str]:
    from benchmark.architectures.registry import list_models

    import_models()
    names = params.models or list_models()
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        raise ConfigError(f"'perf.models': unknown model(s) {unknown}; valid: {list_models()}")
    return names


def _feature_clips(params: PerfParams, work: Path) -> Path:
    if params.clips_dir:
        return index_real_clips(Path(params.clips_dir), work / "clips", params.num_clips)
    return write_synthetic_clips(work / "clips", params.num_clips, sample_rate=params.sample_rate,
                                 clip_samples=params.clip_samples, seed=params.seed)


@dataclass
class TrainStageInputs:
    """What the timed training stage and the projection read besides ``perf:``."""

    recipes: dict[str, dict]  # models: of the params file with the profile merged
    seeds: list[int]  # the profile's seeds
    train: TrainParams  # the train: section (device, threads and paths are replaced)
    source: str  # where the recipes come from, for the report


def _train_stage_inputs(params: PerfParams, params_file: str | Path,
                        profiles_dir: str | Path) -> TrainStageInputs:
    recipes, seeds = profile_recipes(params.projection_profile, params_file, profiles_dir)
    return TrainStageInputs(
        recipes, seeds, load_section("train", TrainParams, params_file),
        f"{params_file} + {Path(profiles_dir) / params.projection_profile}.yaml")


def _train_stage(names: list[str], params: PerfParams, features_base: FeaturesParams,
                 inputs: TrainStageInputs, work: Path, threads: int,
                 device: torch.device) -> dict[str, Any]:
    """The timed training stage of every model and the profile's projected time."""
    cache_dir = build_training_cache(work, params, features_base, device.type)
    runs = train_stage_benchmarks(names, params, inputs.recipes, inputs.train, cache_dir,
                                  work / "train-stage-runs", threads, device)
    rates = {r["model"]: r["clips_per_s"] for r in runs if "clips_per_s" in r}
    train_clips, source = train_clips_and_source(params.projection_train_clips)
    return {
        "threads": threads,
        "clips_per_epoch": params.train_stage_clips(device.type),
        "epochs": params.train_stage_epochs,
        "recipes": inputs.source,
        "runs": runs,
        "projection": projection(rates, inputs.recipes, inputs.seeds, train_clips=train_clips,
                                 profile=params.projection_profile,
                                 train_clips_source=source),
    }


def write_reports(result: dict[str, Any], params: PerfParams) -> tuple[Path, Path]:
    """``perf.out_json`` (every figure) and ``perf.out_md`` (the tables); returns both paths."""
    out_json, out_md = Path(params.out_json), Path(params.out_md)
    for path in (out_json, out_md):
        path.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=1) + "\n")
    out_md.write_text(render_markdown(result))
    return out_json, out_md

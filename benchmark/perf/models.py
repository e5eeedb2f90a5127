"""Per-model measurements (inference, then training steps), each model in a fresh process."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, TypeVar

import torch
from tqdm import tqdm

from benchmark.perf.inference import bench_inference
from benchmark.perf.machine import (
    current_rss_mb,
    memory_note,
    peak_memory_mb,
    reset_peak_memory,
    torch_threads,
)
from benchmark.perf.params import PerfParams
from benchmark.perf.training import bench_training

log = logging.getLogger("benchmark.perf")

R = TypeVar("R")


def import_models() -> None:
    """Import the architectures package so that every model registers itself."""
    import benchmark.architectures  # noqa: F401


def run_isolated(isolate: bool, threads: int, fn: Callable[..., R], *args: Any) -> R:
    """``fn(*args)`` in a fresh spawned process when ``isolate`` (exact peak RSS, no state left
    behind), else here with ``threads`` torch threads (restored afterwards)."""
    if isolate:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            return pool.submit(fn, *args).result()
    with torch_threads(threads):
        return fn(*args)


def bench_model(name: str, params: PerfParams, threads: int, device_name: str) -> dict[str, Any]:
    """Inference, then training, of one registered model; peak memory after each phase."""
    from benchmark.architectures.registry import create_model, get_spec

    import_models()
    device = torch.device(device_name)
    torch.set_num_threads(threads)
    torch.manual_seed(params.seed)
    spec = get_spec(name)
    rss_before = current_rss_mb()
    load_before = os.getloadavg()[0]
    model = create_model(name).to(device)
    if device.type == "cuda" and params.compile:
        model = torch.compile(model)
    per_phase = reset_peak_memory(device)
    infer = bench_inference(model, spec, params, device)
    infer["peak_mem_mb"] = peak_memory_mb(device)
    per_phase = reset_peak_memory(device) and per_phase
    train = bench_training(model, spec, params, device)
    train["peak_mem_mb"] = peak_memory_mb(device)
    return {
        "model": name,
        "device": device.type,
        "threads": threads,
        "params": sum(p.numel() for p in model.parameters()),
        "input_kind": spec.input_kind,
        "objective": spec.objective,
        "memory": memory_note(device, per_phase),
        "rss_before_model_mb": rss_before,
        "load_avg_1min": [load_before, os.getloadavg()[0]],  # before, after: other jobs?
        "inference": infer,
        "training": train,
    }


def model_benchmarks(names: list[str], params: PerfParams, threads: list[int],
                     device: torch.device) -> list[dict[str, Any]]:
    """Every (model, threads) pair; in a fresh process each when ``params.isolate``."""
    jobs = [(name, t) for t in threads for name in names]
    results = []
    for name, t in tqdm(jobs, desc="models", unit="model"):
        result = run_isolated(params.isolate, t, bench_model, name, params, t, device.type)
        result["isolated"] = params.isolate
        results.append(result)
        log.info("%s (%d threads): train %.1f clips/s, latency %.1f ms", name, t,
                 result["training"]["clips_per_s"], 1e3 * result["inference"]["latency_s"])
    return results

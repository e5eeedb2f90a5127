"""Inference: batch-1 latency, batched throughput and real-time factor of the scoring path."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from benchmark.perf.machine import amp_context, time_calls
from benchmark.perf.params import PerfParams


def bench_inference(model: nn.Module, spec, params: PerfParams,
                    device: torch.device) -> dict[str, Any]:
    """Batch-1 latency, batch-N throughput and real-time factor of the scoring path."""
    from benchmark.evaluation.scores import anomaly_scores

    model.eval()
    batch = params.throughput_batch_cuda if device.type == "cuda" else params.throughput_batch_cpu
    gen = torch.Generator().manual_seed(params.seed)
    waves = (0.1 * torch.randn(batch, params.clip_samples, generator=gen)).to(device)  # (B, L)
    classes = torch.zeros(batch, dtype=torch.long, device=device)  # (B,)
    duration = params.clip_samples / params.sample_rate

    def score(n: int) -> Callable[[], Any]:
        def call() -> Any:
            with torch.inference_mode(), amp_context(device, params.amp):
                return anomaly_scores(model, spec, waves[:n], classes[:n])

        return call

    one = time_calls(score(1), warmup=max(1, params.warmup), repeats=params.latency_repeats,
                     max_seconds=params.max_seconds, device=device, desc=f"{spec.name} latency")
    many = time_calls(score(batch), warmup=min(1, params.warmup),
                      repeats=params.throughput_repeats, max_seconds=params.max_seconds,
                      device=device, desc=f"{spec.name} throughput")
    latency, per_batch = statistics.median(one), statistics.median(many)
    return {
        "latency_s": latency,
        "latency_repeats": len(one),
        "rtf": latency / duration,
        "throughput_batch": batch,
        "throughput_repeats": len(many),
        "throughput_clips_per_s": batch / per_batch,
        "rtf_batched": per_batch / batch / duration,
        "amp": device.type == "cuda" and params.amp,
    }

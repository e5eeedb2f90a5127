"""Training throughput: clips/s of one optimiser step per model, on random inputs."""

from __future__ import annotations

import math
import statistics
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.perf.machine import amp_context, time_calls
from benchmark.perf.params import PerfParams


def training_batch(model: nn.Module, spec, batch: int, clip_samples: int,
                   device: torch.device, gen: torch.Generator) -> tuple[torch.Tensor, Any]:
    """Random inputs and targets of one training step (one clip = one waveform or 309 vectors)."""
    if spec.objective == "classification":
        wave = 0.1 * torch.randn(batch, clip_samples, generator=gen)  # (B, L)
        target = torch.randint(0, model.num_classes, (batch,), generator=gen)
        return wave.to(device), target.to(device)
    shape = spec.input_shape  # (309, 640): 5-frame log-Mel vectors of one clip
    vectors = torch.randn(batch * math.prod(shape[:-1]), shape[-1], generator=gen)
    return vectors.to(device), None  # (B*309, 640)


def step_loss(model: nn.Module, spec, x: torch.Tensor,
              target: torch.Tensor | None) -> torch.Tensor:
    """ArcFace/linear head + cross-entropy, or the reconstruction MSE, of one batch."""
    if spec.objective == "classification":
        return F.cross_entropy(model.head(model(x), target), target)
    return F.mse_loss(model(x), model.target(x))


def bench_training(model: nn.Module, spec, params: PerfParams,
                   device: torch.device) -> dict[str, Any]:
    """Clips/s of optimiser steps (forward, loss, backward, AdamW) on random inputs."""
    batch = params.train_batch(device.type)
    gen = torch.Generator().manual_seed(params.seed)
    x, target = training_batch(model, spec, batch, params.clip_samples, device, gen)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    amp = device.type == "cuda" and params.amp
    fp16 = amp and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with amp_context(device, params.amp):
            loss = step_loss(model, spec, x, target)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()

    times = time_calls(step, warmup=max(1, params.warmup), repeats=params.train_steps,
                       max_seconds=params.max_seconds, device=device,
                       desc=f"{spec.name} train")
    median = statistics.median(times)
    return {"batch": batch, "steps": len(times), "step_s": median, "clips_per_s": batch / median,
            "amp": amp}

"""Training loops with per-epoch checkpoints, exact resume and NaN checks.

Everything random derives from the run's seed (``--seed``): the model's initial weights
(``torch.manual_seed``) and, per epoch, one ``np.random.Generator`` seeded with
``(seed, epoch)`` for the shuffling order and the mixup draws. Because each epoch's generator
depends only on (seed, epoch), a run resumed from ``last.pt`` after epoch k continues exactly as
the uninterrupted run would (same metrics on CPU).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from benchmark.features.cache import FeatureCache
from benchmark.training.checkpoint import LAST, load_checkpoint, save_atomic
from benchmark.training.losses import arcmix_loss, reconstruction_loss
from benchmark.training.mixup import mixup
from benchmark.training.params import ModelParams

log = logging.getLogger(__name__)

RECON_CHUNK_CLIPS = 32
"""Reconstruction models: clips whose 5-frame vectors are shuffled together (bounds memory)."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message names model and epoch."""


@dataclass
class EpochResult:
    epoch: int  # 1-based
    loss: float
    lr: float
    clips_per_s: float
    seconds: float


EpochHook = Callable[[EpochResult], None]


@dataclass
class TrainData:
    """The training split as cache rows and class indices."""

    rows: np.ndarray  # (N,) rows of the cache arrays
    labels: np.ndarray  # (N,) class indices


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch (0-based), independent of every other epoch."""
    return np.random.default_rng([seed, epoch, 0x5EED])


def epoch_order(n: int, clips_per_epoch: int, rng: np.random.Generator) -> np.ndarray:
    """The clips of one epoch in random order: all ``n``, or ``clips_per_epoch`` of them."""
    order = rng.permutation(n)
    return order[:clips_per_epoch] if 0 < clips_per_epoch < n else order


def make_optimizer(model: nn.Module, params: ModelParams):
    """AdamW (decoupled weight decay) or Adam, and cosine annealing to ``eta_min_ratio * lr``.

    The schedule has ``T_max = epochs``; :func:`fit` steps it after each epoch from epoch
    ``schedule_start_epoch`` on (0: from the first), as STgram-MFN's code does from epoch 20.
    """
    if params.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=params.epochs, eta_min=params.eta_min_ratio * params.lr
    )
    return opt, sched


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive batches of ``order``; a trailing batch of one is dropped (BatchNorm)."""
    out = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [b for b in out if len(b) > 1] or out


def _check_finite(loss: torch.Tensor, name: str, epoch: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(
            f"model {name!r}: loss is {loss.item()} at epoch {epoch}, step {step}; lower "
            f"models.{name}.lr or check the input data"
        )


def _optimise(opt: torch.optim.Optimizer, loss: torch.Tensor, name: str, epoch: int,
              step: int) -> float:
    """Check ``loss`` is finite, back-propagate it, take one optimiser step; its value."""
    _check_finite(loss, name, epoch, step)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def classification_epoch(model: nn.Module, opt: torch.optim.Optimizer, cache: FeatureCache,
                         data: TrainData, params: ModelParams, rng: np.random.Generator,
                         device: torch.device, name: str, epoch: int) -> float:
    """One epoch of waveform mixup + ArcFace (Noisy-ArcMix-style) training; mean loss."""
    model.train()
    total, count = 0.0, 0
    batches = _batches(epoch_order(len(data.rows), params.clips_per_epoch, rng),
                       params.batch_size)
    for step, batch in enumerate(tqdm(batches, desc=f"{name} epoch {epoch}", leave=False), 1):
        wave = cache.waves(data.rows[batch]).to(device)  # (B, L)
        target = torch.from_numpy(data.labels[batch]).long().to(device)  # (B,)
        mixed = mixup(wave, target, params.mixup_alpha, rng)
        loss = arcmix_loss(model, model(mixed.inputs), mixed.y_a, mixed.y_b, mixed.lam)
        total += _optimise(opt, loss, name, epoch, step) * len(batch)
        count += len(batch)
    return total / max(count, 1)


def reconstruction_epoch(model: nn.Module, opt: torch.optim.Optimizer, cache: FeatureCache,
                         data: TrainData, params: ModelParams, rng: np.random.Generator,
                         device: torch.device, name: str, epoch: int) -> float:
    """One epoch of MSE training on 5-frame log-Mel vectors from the cache; mean loss."""
    model.train()
    total, count, step = 0.0, 0, 0
    clips = epoch_order(len(data.rows), params.clips_per_epoch, rng)
    chunks = [clips[i:i + RECON_CHUNK_CLIPS] for i in range(0, len(clips), RECON_CHUNK_CLIPS)]
    for chunk in tqdm(chunks, desc=f"{name} epoch {epoch}", leave=False):
        rows = np.sort(data.rows[chunk])
        logmel = torch.from_numpy(np.asarray(cache.logmel[rows], dtype=np.float32))  # (C, 128, T)
        with torch.no_grad():
            vectors = model.frames(logmel.to(device))  # (C, T-4, 640)
        vectors = vectors.reshape(-1, vectors.shape[-1])  # (C*(T-4), 640)
        for batch in _batches(rng.permutation(len(vectors)), params.batch_size):
            step += 1
            x = vectors[torch.from_numpy(batch).to(device)]
            loss = reconstruction_loss(model, x)
            total += _optimise(opt, loss, name, epoch, step) * len(batch)
            count += len(batch)
    return total / max(count, 1)


def fit(name: str, model: nn.Module, objective: str, cache: FeatureCache, data: TrainData,
        params: ModelParams, seed: int, model_dir: Path, device: torch.device,
        identity: dict[str, Any], on_epoch_end: EpochHook | None = None) -> list[EpochResult]:
    """Train ``model`` for ``params.epochs``, saving ``last.pt`` after every epoch.

    ``identity`` (params, data fingerprint...) is stored in ``last.pt``; a run resumes from
    ``last.pt`` only when its identity matches. Returns the history of all epochs (resumed ones
    too).
    """
    opt, sched = make_optimizer(model, params)
    history, start = _resume(model, opt, sched, model_dir / LAST, identity, name)
    run_epoch = classification_epoch if objective == "classification" else reconstruction_epoch
    for epoch in range(start, params.epochs):
        lr = opt.param_groups[0]["lr"]
        tic = time.perf_counter()
        loss = run_epoch(model, opt, cache, data, params, epoch_rng(seed, epoch), device, name,
                         epoch + 1)
        if not math.isfinite(loss):
            raise TrainingError(f"model {name!r}: mean loss is {loss} at epoch {epoch + 1}")
        if epoch >= params.schedule_start_epoch:  # STgram-MFN: constant lr for 20 epochs
            sched.step()
        seconds = time.perf_counter() - tic
        clips = len(epoch_order(len(data.rows), params.clips_per_epoch, epoch_rng(seed, epoch)))
        result = EpochResult(epoch + 1, loss, lr, clips / seconds, seconds)
        history.append(result)
        save_atomic({
            "epoch": epoch + 1, "identity": identity, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "torch_rng": torch.get_rng_state(), "history": [_stored(h) for h in history],
        }, model_dir / LAST)
        log.info("%s epoch %d/%d: loss %.4f, lr %.2e, %.1f clips/s (%.1f s)", name, epoch + 1,
                 params.epochs, loss, lr, result.clips_per_s, seconds)
        if on_epoch_end is not None:
            on_epoch_end(result)
    return history


def _stored(result: EpochResult) -> dict[str, Any]:
    """An epoch as kept in ``last.pt``: without its timing, so that the same training writes the
    same bytes on every run (the timing goes to the log and MLflow)."""
    return {"epoch": result.epoch, "loss": result.loss, "lr": result.lr}


def _resume(model: nn.Module, opt, sched, path: Path, identity: dict[str, Any],
            name: str) -> tuple[list[EpochResult], int]:
    """Load ``last.pt`` when it matches ``identity``: (history so far, next epoch index)."""
    if not path.is_file():
        return [], 0
    try:
        ckpt = load_checkpoint(path)
    except ValueError as error:
        log.warning("%s: ignoring unreadable %s, training from scratch (%s)", name, path, error)
        return [], 0
    if ckpt.get("identity") != identity:
        log.info("%s: %s was written with other params or data; training from scratch",
                 name, path)
        return [], 0
    try:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["torch_rng"])
    except (KeyError, RuntimeError, ValueError) as error:
        log.warning("%s: cannot resume from %s (%s); training from scratch", name, path, error)
        return [], 0
    history = [EpochResult(**{"clips_per_s": 0.0, "seconds": 0.0, **h})
               for h in ckpt.get("history", [])]
    log.info("%s: resuming from %s after epoch %d", name, path, ckpt["epoch"])
    return history, int(ckpt["epoch"])


def will_resume(model_dir: Path, identity: dict[str, Any]) -> bool:
    """True when :func:`fit` will resume from ``<model_dir>/last.pt`` (same ``identity``).

    False when there is no ``last.pt``, it is unreadable, or it was written with another identity
    (other params, seed or data): then training starts from scratch, and nothing of the old run
    (such as its MLflow run) may be reused.
    """
    path = model_dir / LAST
    if not path.is_file():
        return False
    try:
        return load_checkpoint(path).get("identity") == identity
    except ValueError:
        return False

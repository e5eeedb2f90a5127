"""Training loops with per-epoch checkpoints, exact resume and NaN checks.

Everything random derives from the run's seed (``--seed``): the model's initial weights
(``torch.manual_seed``) and, per epoch, one ``np.random.Generator`` seeded with
``(seed, epoch)`` for the shuffling order and the mixup draws. Because each epoch's generator
depends only on (seed, epoch), a run resumed from ``last.pt`` after epoch k continues exactly as
the uninterrupted run would (same metrics on CPU).

The accelerator never waits on the host:

- classifiers: a background thread (:class:`Prefetcher`) reads the next batches from the memory-
  mapped cache, draws their mixup weights and pairings and pins them, while the device trains on
  the current one (``non_blocking`` copies); the mixing itself runs on the device;
- frame models: a machine type's whole log-Mel is moved to the device once, and every batch of
  5-frame vectors is gathered there (:class:`FrameVectors`), shuffled over all vectors as Keras
  shuffles the DCASE baseline's;
- the loss is summed on the device and read every :data:`CHECK_EVERY` steps (the NaN check) and
  once per epoch: no host synchronisation per step.

The batches, draws and arithmetic are those of the simple loop: on the CPU a prefetched run gives
bit-identical metrics (``tests/test_training.py``). :class:`StepSettings` carries the CUDA-only
switches (bf16 autocast, ``torch.compile``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from benchmark.features.cache import FeatureCache
from benchmark.training.checkpoint import LAST, load_checkpoint, save_atomic
from benchmark.training.losses import CLASSIFICATION_LOSSES, reconstruction_loss
from benchmark.training.mixup import MixupDraw, draw_mixup, partners
from benchmark.training.params import ModelParams

log = logging.getLogger(__name__)

CHECK_EVERY = 50
"""Steps between reads of the device-side loss sum (the NaN check): one sync per 50 steps."""

CONTEXT = 5  # frames per context vector of the frame models


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message names model and epoch."""


@dataclass
class EpochResult:
    epoch: int  # 1-based
    loss: float
    lr: float
    clips_per_s: float
    seconds: float
    val_loss: float | None = None  # frame models with validation_split > 0


EpochHook = Callable[[EpochResult], None]


@dataclass
class TrainData:
    """The training split as cache rows and class indices."""

    rows: np.ndarray  # (N,) rows of the cache arrays
    labels: np.ndarray  # (N,) class indices


@dataclass(frozen=True)
class StepSettings:
    """How each step runs: ``amp`` (bf16 autocast, CUDA only), ``prefetch`` (batches prepared
    ahead by a background thread; 0 = in the loop) and ``step_model`` (the module called in the
    forward pass: the model itself, or its ``torch.compile``d wrapper)."""

    amp: bool = False
    prefetch: int = 2
    step_model: nn.Module | None = None


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch (0-based), independent of every other epoch."""
    return np.random.default_rng([seed, epoch, 0x5EED])


def epoch_clips(n: int, clips_per_epoch: int) -> int:
    """Clips one epoch sees: all ``n``, or ``clips_per_epoch`` of them (when fewer)."""
    return clips_per_epoch if 0 < clips_per_epoch < n else n


def epoch_order(n: int, clips_per_epoch: int, rng: np.random.Generator) -> np.ndarray:
    """The clips of one epoch in random order: all ``n``, or ``clips_per_epoch`` of them."""
    return rng.permutation(n)[:epoch_clips(n, clips_per_epoch)]


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


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``amp``; nothing otherwise (CPU runs stay float32)."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Prefetcher:
    """Runs ``source`` in a background thread, ``depth`` items ahead of the consumer.

    Errors in the source are raised in the consumer; leaving the loop early (or an error in the
    consumer) stops the thread. ``depth == 0`` iterates ``source`` in the caller's thread.
    """

    _DONE = object()

    def __init__(self, source: Iterator[Any], depth: int) -> None:
        self.source, self.depth = source, depth

    def __iter__(self) -> Iterator[Any]:
        if self.depth <= 0:
            yield from self.source
            return
        items: queue.Queue = queue.Queue(maxsize=self.depth)
        stop = threading.Event()

        def produce() -> None:
            try:
                for item in self.source:
                    while not stop.is_set():
                        try:
                            items.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                items.put(self._DONE)
            except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
                items.put(error)

        thread = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
        thread.start()
        try:
            while (item := items.get()) is not self._DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()


class ClipBatch(NamedTuple):
    wave: torch.Tensor  # (B, L) float32 on the host (pinned for CUDA)
    target: torch.Tensor  # (B,) int64
    draw: MixupDraw


def epoch_batches(data: TrainData, params: ModelParams,
                  rng: np.random.Generator) -> list[np.ndarray]:
    """The epoch's batches of clip positions in ``data`` (the epoch's first draw from ``rng``)."""
    return _batches(epoch_order(len(data.rows), params.clips_per_epoch, rng), params.batch_size)


def clip_batches(cache: FeatureCache, data: TrainData, batches: list[np.ndarray],
                 mixup_alpha: float, rng: np.random.Generator,
                 pin: bool = False) -> Iterator[ClipBatch]:
    """``batches`` in order: clips, classes and mixup draws (drawn from ``rng`` in turn)."""
    for batch in batches:
        wave = cache.waves(data.rows[batch])  # (B, L)
        target = torch.from_numpy(data.labels[batch]).long()  # (B,)
        draw = draw_mixup(mixup_alpha, len(batch), rng)
        if pin:
            wave, target = wave.pin_memory(), target.pin_memory()
        yield ClipBatch(wave, target, draw)


class _LossSum:
    """The epoch's loss summed on the device; read every :data:`CHECK_EVERY` steps."""

    def __init__(self, device: torch.device, name: str, epoch: int) -> None:
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.count, self.steps, self.name, self.epoch = 0, 0, name, epoch

    def add(self, loss: torch.Tensor, n: int) -> None:
        self.total += loss.detach().double() * n
        self.count += n
        self.steps += 1
        if self.steps % CHECK_EVERY == 0:
            self.check()

    def check(self) -> float:
        value = float(self.total.item()) / max(self.count, 1)
        if not math.isfinite(value):
            raise TrainingError(
                f"model {self.name!r}: loss is {value} at epoch {self.epoch} (within its first "
                f"{self.steps} steps); lower models.{self.name}.lr or check the input data"
            )
        return value


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def classification_epoch(model: nn.Module, opt: torch.optim.Optimizer, cache: FeatureCache,
                         data: TrainData, params: ModelParams, rng: np.random.Generator,
                         device: torch.device, name: str, epoch: int,
                         settings: StepSettings = StepSettings()) -> float:
    """One epoch of mixup + angular-margin training with the recipe's loss; mean loss.

    The model mixes its own inputs (``model(wave, perm, lam)``): the front end decides whether
    waveforms or features are mixed; the loss is ``models.<NAME>.loss``.
    """
    model.train()
    forward = model if settings.step_model is None else settings.step_model
    loss_fn = CLASSIFICATION_LOSSES[params.loss]
    losses = _LossSum(device, name, epoch)
    batches = epoch_batches(data, params, rng)
    source = clip_batches(cache, data, batches, params.mixup_alpha, rng,
                          pin=device.type == "cuda")
    for batch in tqdm(Prefetcher(source, settings.prefetch), total=len(batches),
                      desc=f"{name} epoch {epoch}", leave=False):
        wave = batch.wave.to(device, non_blocking=True)  # (B, L)
        target = batch.target.to(device, non_blocking=True)  # (B,)
        with autocast(device, settings.amp):
            perm, y_b = partners(target, batch.draw)  # (B,) each or None
            emb = forward(wave, perm, batch.draw.lam)  # (B, h)
            loss = loss_fn(model, emb, target, y_b, batch.draw.lam)
        _step(opt, loss)
        losses.add(loss, len(wave))
    return losses.check()


class FrameVectors:
    """A machine type's 5-frame context vectors, gathered on the device.

    The clips' log-Mel ``(N, T, n_mels)`` sits on the device as cached (float16); vector ``k``
    is ``(clip[k], start[k])``, numbered clip by clip in cache (file) order, as the DCASE
    baseline stacks them. The last ``validation_split`` of them is held out, as Keras'
    ``fit(validation_split=...)`` holds out the last samples before shuffling.
    """

    def __init__(self, model: nn.Module, cache: FeatureCache, rows: np.ndarray,
                 device: torch.device, validation_split: float = 0.0) -> None:
        logmel, frames = cache.frame_logmel(model.frontend, np.sort(rows))  # (N, M, T), (N,)
        self.logmel = logmel.transpose(1, 2).to(torch.float16).contiguous().to(device)
        steps = (frames - CONTEXT + 1).clamp(min=0)  # vectors per clip
        if int(steps.sum()) == 0:
            raise ValueError(f"{cache.root}: clips shorter than {CONTEXT} frames: no vectors")
        self.clip = torch.repeat_interleave(torch.arange(len(steps)), steps).to(device)
        starts = torch.arange(int(steps.sum())) - torch.repeat_interleave(
            torch.cumsum(steps, 0) - steps, steps)
        self.start = starts.to(device)
        self.offsets = torch.arange(CONTEXT, device=device)
        self.train_count = int(len(starts) * (1 - validation_split))  # Keras' split_at
        self.clips = len(rows)
        self._check_layout(model, logmel[:1], int(steps[0]))

    def _check_layout(self, model: nn.Module, logmel: torch.Tensor, steps: int) -> None:
        """The gathered vectors must be the model's own :meth:`frames` (used for scoring)."""
        with torch.no_grad():
            own = model.frames(logmel.to(self.logmel.device))[0, :steps]  # (steps, 5 * M)
        index = torch.arange(steps, device=self.logmel.device)
        if own.shape != (steps, self.logmel.shape[-1] * CONTEXT) or not torch.allclose(
                own.half().float(), self.gather(index)):
            raise ValueError(f"{type(model).__name__}.frames() is not the frame-major "
                             f"{CONTEXT}-frame context the training loop gathers")

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """Vectors ``index (B,)`` -> ``(B, 5 * n_mels)`` float32, frame-major."""
        clip = self.clip[index].unsqueeze(1)  # (B, 1)
        time_ = self.start[index].unsqueeze(1) + self.offsets  # (B, 5)
        return self.logmel[clip, time_].flatten(1).float()  # (B, 5, M) -> (B, 5 * M)

    def held_out(self) -> torch.Tensor:
        return torch.arange(self.train_count, len(self.clip), device=self.clip.device)


def reconstruction_epoch(model: nn.Module, opt: torch.optim.Optimizer, vectors: FrameVectors,
                         params: ModelParams, rng: np.random.Generator, device: torch.device,
                         name: str, epoch: int, settings: StepSettings = StepSettings()) -> float:
    """One epoch of MSE training over the shuffled training vectors; mean loss."""
    model.train()
    count = vectors.train_count
    clips = epoch_clips(vectors.clips, params.clips_per_epoch)
    if clips < vectors.clips:  # the same share of the vectors
        count = max(2, round(count * clips / vectors.clips))
    order = torch.from_numpy(rng.permutation(vectors.train_count)[:count]).to(device)
    losses = _LossSum(device, name, epoch)
    for start in tqdm(range(0, count, params.batch_size), desc=f"{name} epoch {epoch}",
                      leave=False):
        index = order[start:start + params.batch_size]
        if len(index) < 2 and start > 0:  # a trailing batch of one (BatchNorm)
            break
        with autocast(device, settings.amp):
            loss = reconstruction_loss(model, vectors.gather(index))
        _step(opt, loss)
        losses.add(loss, len(index))
    return losses.check()


@torch.no_grad()
def validation_loss(model: nn.Module, vectors: FrameVectors, batch: int = 8192) -> float | None:
    """Mean loss over the held-out vectors (eval mode, like Keras' ``val_loss``); None if none."""
    held = vectors.held_out()
    if len(held) == 0:
        return None
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=held.device)
    for start in range(0, len(held), batch):
        index = held[start:start + batch]
        total += reconstruction_loss(model, vectors.gather(index)).double() * len(index)
    return float(total.item()) / len(held)


def fit(name: str, model: nn.Module, objective: str, cache: FeatureCache, data: TrainData,
        params: ModelParams, seed: int, model_dir: Path, device: torch.device,
        identity: dict[str, Any], on_epoch_end: EpochHook | None = None,
        settings: StepSettings = StepSettings(),
        resume: dict[str, Any] | None = None) -> list[EpochResult]:
    """Train ``model`` for ``params.epochs``, saving ``last.pt`` after every epoch.

    ``identity`` (params, data fingerprint...) is stored in ``last.pt``; ``resume`` is that
    checkpoint when it matches (:func:`resume_state`), and training goes on from it. Returns the
    history of all epochs (resumed ones too).
    """
    opt, sched = make_optimizer(model, params)
    history, start = _resume(model, opt, sched, resume, model_dir / LAST, name)
    if start >= params.epochs:
        return history
    run_epoch = _epoch_runner(objective, model, cache, data, params, device, settings)
    for epoch in range(start, params.epochs):
        lr = opt.param_groups[0]["lr"]
        tic = time.perf_counter()
        loss, val_loss = run_epoch(opt, epoch_rng(seed, epoch), name, epoch + 1)
        if epoch >= params.schedule_start_epoch:  # STgram-MFN: constant lr for 20 epochs
            sched.step()
        seconds = time.perf_counter() - tic
        result = EpochResult(epoch + 1, loss, lr,
                             epoch_clips(len(data.rows), params.clips_per_epoch) / seconds,
                             seconds, val_loss)
        history.append(result)
        save_atomic({
            "epoch": epoch + 1, "identity": identity, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "torch_rng": torch.get_rng_state(), **_cuda_rng(device),
            "history": [_stored(h) for h in history],
        }, model_dir / LAST)
        log.info("%s epoch %d/%d: loss %.4f%s, lr %.2e, %.1f clips/s (%.1f s)", name,
                 epoch + 1, params.epochs, loss,
                 "" if val_loss is None else f", val_loss {val_loss:.4f}", lr,
                 result.clips_per_s, seconds)
        if on_epoch_end is not None:
            on_epoch_end(result)
    return history


EpochRunner = Callable[[torch.optim.Optimizer, np.random.Generator, str, int],
                       tuple[float, float | None]]


def _epoch_runner(objective: str, model: nn.Module, cache: FeatureCache, data: TrainData,
                  params: ModelParams, device: torch.device,
                  settings: StepSettings) -> EpochRunner:
    """``run(opt, rng, name, epoch) -> (loss, val_loss)`` for the model's objective."""
    if objective == "classification":
        def run_classifier(opt, rng, name, epoch):
            return classification_epoch(model, opt, cache, data, params, rng, device, name,
                                        epoch, settings), None
        return run_classifier
    vectors = FrameVectors(model, cache, data.rows, device, params.validation_split)

    def run_frames(opt, rng, name, epoch):
        loss = reconstruction_epoch(model, opt, vectors, params, rng, device, name, epoch,
                                    settings)
        return loss, validation_loss(model, vectors)
    return run_frames


def _cuda_rng(device: torch.device) -> dict[str, Any]:
    """The CUDA generators' states (resume stays exact on the GPU too); empty on the CPU."""
    if device.type != "cuda":
        return {}
    return {"cuda_rng": torch.cuda.get_rng_state_all()}


def _stored(result: EpochResult) -> dict[str, Any]:
    """An epoch as kept in ``last.pt``: without its timing, so that the same training writes the
    same bytes on every run (the timing goes to the log and MLflow)."""
    stored = {"epoch": result.epoch, "loss": result.loss, "lr": result.lr}
    if result.val_loss is not None:
        stored["val_loss"] = result.val_loss
    return stored


def _resume(model: nn.Module, opt, sched, ckpt: dict[str, Any] | None, path: Path,
            name: str) -> tuple[list[EpochResult], int]:
    """Restore ``ckpt`` (a matching ``last.pt``): (history so far, next epoch index)."""
    if ckpt is None:
        return [], 0
    try:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["torch_rng"])
        if "cuda_rng" in ckpt and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
    except (KeyError, RuntimeError, ValueError) as error:
        log.warning("%s: cannot resume from %s (%s); training from scratch", name, path, error)
        return [], 0
    history = [EpochResult(**{"clips_per_s": 0.0, "seconds": 0.0, **h})
               for h in ckpt.get("history", [])]
    log.info("%s: resuming from %s after epoch %d", name, path, ckpt["epoch"])
    return history, int(ckpt["epoch"])


def resume_state(model_dir: Path, identity: dict[str, Any], name: str = "") -> dict | None:
    """``<model_dir>/last.pt`` when :func:`fit` can resume from it (same ``identity``), else None.

    None when there is no ``last.pt``, it is unreadable, or it was written with another identity
    (other params, seed or data): then training starts from scratch, and nothing of the old run
    (such as its MLflow run) may be reused. Read once per training.
    """
    path = model_dir / LAST
    if not path.is_file():
        return None
    try:
        ckpt = load_checkpoint(path)
    except ValueError as error:
        log.warning("%s: ignoring unreadable %s, training from scratch (%s)", name, path, error)
        return None
    if ckpt.get("identity") != identity:
        log.info("%s: %s was written with other params or data; training from scratch",
                 name, path)
        return None
    return ckpt

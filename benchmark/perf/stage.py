"""Stage ``perf``: measured speed of the pipeline, ``python -m benchmark.perf [--params ...]``.

Reads the ``perf`` section of ``params.yaml`` only and writes ``reports/performance.json`` and
``reports/performance.md``. Every figure carries the machine it was measured on.

- **feature path**: clips/s decoded and featurised by our cache builder
  (:func:`benchmark.features.cache.build_cache`: threaded ``load_clip`` + batched
  :class:`~benchmark.features.logmel.LogMel` into memory-mapped arrays) for each worker count,
  against the per-item path of the official STgram-MFN and paper codes (a ``Dataset`` whose
  ``__getitem__`` runs ``librosa.load(sr=16000)`` + a per-clip torchaudio ``MelSpectrogram``, in a
  ``DataLoader`` with as many worker processes), on the same clips in the same run;
  and the rate at which training reads batches back from the cache;
- **training**: clips/s of one optimiser step (forward, loss, backward, AdamW step) per model on
  random inputs of the model's own kind (waveforms, or 5-frame log-Mel vectors), with AMP on CUDA;
- **inference**: latency of one 10-s clip at batch 1 (median after warm-up, under
  ``torch.inference_mode``, the full scoring path of
  :func:`benchmark.evaluation.scores.anomaly_scores` from the waveform), throughput at a larger
  batch and the real-time factor (processing time / audio duration);
- **peak memory**: the process's peak RSS (``getrusage``; each model in its own fresh process when
  ``perf.isolate``) or ``torch.cuda.max_memory_allocated`` on CUDA.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import resource
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from benchmark.config import ConfigError, load_section
from benchmark.data.audio import load_clip
from benchmark.data.index import build_index, read_index, write_index
from benchmark.data.layout import MACHINE_TYPES, SPLITS
from benchmark.data.params import available_ids
from benchmark.data.synthetic import ClipSpec, synthesize
from benchmark.features.cache import FeaturesParams, build_cache, open_cache

log = logging.getLogger("benchmark.perf")

THREAD_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that change torch's CPU threading: recorded, and put in the command."""

PEER_PATH = (
    "per item: librosa.load(sr=16000) + crop/pad + torchaudio MelSpectrogram + dB per clip "
    "in a torch DataLoader with `workers` worker processes (STgram-MFN / paper code style)"
)
OUR_PATH = (
    "benchmark.features.cache.build_cache: load_clip in a thread pool of `workers`, "
    "int16 quantisation, batched LogMel per chunk of `chunk_clips`, written to memory-mapped .npy "
    "files"
)


@dataclass
class PerfParams:
    """``perf:`` section of ``params.yaml`` (stage ``python -m benchmark.perf``)."""

    models: list[str]  # registered names to measure; [] = every registered model
    num_clips: int  # clips for the feature-path comparison
    feature_repeats: int  # interleaved rounds of the feature paths (best and median reported)
    feature_chunk_clips: int  # our cache builder's chunk (keep equal to features.chunk_clips)
    clips_dir: str | None  # DCASE-layout folder of real clips; null = generated synthetic clips
    sample_rate: int  # Hz
    clip_samples: int  # samples per clip (160,000 = 10 s)
    feature_workers: list[int]  # decoding workers to compare (ours: threads, peer: processes)
    threads: list[int]  # torch CPU threads per configuration; 0 = the machine's default
    device: str  # auto | cpu | cuda
    amp: bool  # mixed precision (bf16, or fp16 + GradScaler) on CUDA
    compile: bool  # torch.compile the model on CUDA
    train_batch_cpu: int  # clips per training step on CPU
    train_batch_cuda: int  # clips per training step on CUDA
    train_steps: int  # timed training steps (after warm-up)
    latency_repeats: int  # timed batch-1 inferences (the median is reported)
    throughput_batch_cpu: int  # clips per inference batch on CPU
    throughput_batch_cuda: int  # clips per inference batch on CUDA
    throughput_repeats: int  # timed throughput batches
    warmup: int  # untimed calls before each measurement
    max_seconds: float  # stop repeating a measurement after this long (>= 1 timed call)
    isolate: bool  # each (model, threads) in a fresh process: exact peak RSS per model
    seed: int
    out_json: str
    out_md: str

    def validate(self) -> None:
        positive = ("num_clips", "feature_repeats", "feature_chunk_clips", "sample_rate",
                    "clip_samples",
                    "train_batch_cpu", "train_batch_cuda", "train_steps", "latency_repeats",
                    "throughput_batch_cpu", "throughput_batch_cuda", "throughput_repeats")
        for key in positive:
            if getattr(self, key) <= 0:
                raise ConfigError(f"'perf.{key}' must be > 0, got {getattr(self, key)}")
        if self.warmup < 0 or not self.max_seconds > 0:
            raise ConfigError("'perf.warmup' must be >= 0 and 'perf.max_seconds' > 0")
        if not self.feature_workers or min(self.feature_workers) <= 0:
            raise ConfigError(
                f"'perf.feature_workers' must be >= 1 each, got {self.feature_workers}"
            )
        if not self.threads or min(self.threads) < 0:
            raise ConfigError(f"'perf.threads' must be >= 0 each, got {self.threads}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"'perf.device' must be auto, cpu or cuda, got {self.device!r}")


# --------------------------------------------------------------------------- machine + timing


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What every figure was measured on."""
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threading_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
        "load_avg_1min_at_start": os.getloadavg()[0],
        "cuda": None,
    }
    try:
        import torchaudio

        info["torchaudio"] = torchaudio.__version__
    except ImportError:  # pragma: no cover - a dependency
        info["torchaudio"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["cuda"] = {
            "device": props.name,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
            "cuda_version": torch.version.cuda,
            "bf16": torch.cuda.is_bf16_supported(),
        }
    return info


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("perf.device is cuda but torch.cuda.is_available() is False")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def resolve_threads(threads: list[int], default: int) -> list[int]:
    """Thread counts with 0 -> ``default``, duplicates dropped, order kept."""
    out: list[int] = []
    for t in threads:
        t = t or default
        if t not in out:
            out.append(t)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], *, warmup: int, repeats: int, max_seconds: float,
               device: torch.device, desc: str | None = None) -> list[float]:
    """Seconds per call of ``fn``: ``warmup`` untimed calls, then up to ``repeats`` timed ones
    (fewer once ``max_seconds`` of timed calls have passed; always at least one)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    for _ in tqdm(range(repeats), desc=desc, unit="call", leave=False, disable=desc is None):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
        if sum(times) > max_seconds:
            break
    return times


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``/proc/self/clear_refs``); False where impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB) since start or :func:`reset_peak_rss`.

    ``VmHWM`` of ``/proc/self/status`` (it starts afresh in a spawned process, unlike
    ``getrusage``'s ``ru_maxrss``, which a child inherits from its parent); ``ru_maxrss`` elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def current_rss_mb() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------- clips


def write_synthetic_clips(folder: Path, num_clips: int, *, sample_rate: int, clip_samples: int,
                          seed: int = 0) -> Path:
    """``num_clips`` generated clips in the DCASE layout under ``folder``; returns its index.csv.

    Clips cycle over machine types and IDs (normal training clips), so every type is present.
    """
    pairs = [(t, i) for t in MACHINE_TYPES for i in available_ids(t)[:2]]
    specs = [ClipSpec(*pairs[k % len(pairs)], SPLITS[0], "normal", k) for k in range(num_clips)]
    for spec in tqdm(specs, desc="perf clips", unit="clip", leave=False):
        path = folder / spec.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        pcm = synthesize(spec, seed=seed, sample_rate=sample_rate, num_samples=clip_samples,
                         anomaly_strength=1.0)
        sf.write(path, pcm, sample_rate, subtype="PCM_16")
    types = sorted({s.machine_type for s in specs}, key=MACHINE_TYPES.index)
    return write_index(build_index(folder, types), folder / "index.csv")


def index_real_clips(clips_dir: Path, folder: Path, num_clips: int) -> Path:
    """An index of (up to ``num_clips``, cycling when fewer) clips of a DCASE-layout folder."""
    found = build_index(clips_dir, [t for t in MACHINE_TYPES if (clips_dir / t).is_dir()])
    if found.empty:
        raise FileNotFoundError(f"perf.clips_dir {clips_dir}: no clips found")
    rows = found.iloc[[k % len(found) for k in range(num_clips)]].reset_index(drop=True)
    return write_index(rows, folder / "index.csv")


# --------------------------------------------------------------------------- feature path


class PeerClips(torch.utils.data.Dataset):
    """The common per-item path: decode with librosa, one Mel spectrogram per clip."""

    def __init__(self, paths: list[str], sample_rate: int, clip_samples: int) -> None:
        import librosa  # optional: the ``bench`` extra
        from torchaudio.transforms import AmplitudeToDB, MelSpectrogram

        self.librosa, self.paths = librosa, paths
        self.sample_rate, self.clip_samples = sample_rate, clip_samples
        self.mel = MelSpectrogram(sample_rate=sample_rate, n_fft=1024, win_length=1024,
                                  hop_length=512, n_mels=128, power=2.0)
        self.db = AmplitudeToDB(stype="power")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        wave, _ = self.librosa.load(self.paths[i], sr=self.sample_rate, mono=True)
        wave = np.pad(wave[: self.clip_samples], (0, max(0, self.clip_samples - len(wave))))
        return self.db(self.mel(torch.from_numpy(wave)))  # (128, 313)


def peer_feature_path(paths: list[str], *, workers: int, sample_rate: int,
                      clip_samples: int, batch_size: int = 32) -> float:
    """Seconds for the per-item path over ``paths`` (``workers`` DataLoader processes)."""
    data = PeerClips(paths, sample_rate, clip_samples)
    data[0]  # warm-up: librosa's lazy imports, not part of the per-clip cost
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, num_workers=workers)
    start = time.perf_counter()
    for batch in tqdm(loader, desc=f"peer path w={workers}", unit="batch", leave=False):
        assert batch.shape[1:] == (128, 1 + clip_samples // 512)  # (B, 128, 313)
    return time.perf_counter() - start


def our_feature_path(index_csv: Path, out_dir: Path, *, workers: int, sample_rate: int,
                     clip_samples: int, chunk_clips: int = 64) -> float:
    """Seconds for the feature cache stage over the clips of ``index_csv``."""
    params = FeaturesParams(index=str(index_csv), out_dir=str(out_dir), sample_rate=sample_rate,
                            clip_samples=clip_samples, chunk_clips=chunk_clips, workers=workers,
                            logmel_dtype="float16")
    start = time.perf_counter()
    build_cache(params, for_scoring=False)
    return time.perf_counter() - start


def cache_read_rate(cache_dir: Path, *, batch_size: int, seed: int) -> float:
    """Clips/s of random training batches read from the cache's memory-mapped waveforms."""
    cache = open_cache(cache_dir)
    n = len(cache.index)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    start = time.perf_counter()
    for first in range(0, n, batch_size):
        batch = cache.waves(order[first : first + batch_size])  # (B, L) float32
        assert batch.dtype == torch.float32
    return n / (time.perf_counter() - start)


def feature_benchmark(index_csv: Path, work_dir: Path, params: PerfParams,
                      threads: int) -> dict[str, Any]:
    """Our cache builder vs the peer per-item path on the same clips, for each worker count."""
    paths = list(read_index(index_csv)["path"])
    for path in paths:  # same page-cache state for both paths
        load_clip(path, sample_rate=params.sample_rate, num_samples=params.clip_samples)
    try:
        import librosa

        librosa_version: str | None = librosa.__version__
    except ImportError:
        librosa_version = None
    seconds: dict[tuple[str, int], list[float]] = {}
    paths_to_run = ["ours"] + (["peer"] if librosa_version is not None else [])
    with torch_threads(threads):
        for _ in tqdm(range(params.feature_repeats), desc="feature path", unit="round"):
            for workers in params.feature_workers:  # interleaved: same load for both paths
                for path in paths_to_run:
                    seconds.setdefault((path, workers), []).append(
                        _feature_path_seconds(path, index_csv, paths, work_dir, workers, params)
                    )
        read = cache_read_rate(work_dir / f"cache_w{params.feature_workers[0]}",
                               batch_size=params.train_batch_cpu, seed=params.seed)
    runs = [_feature_run(path, workers, len(paths), times)
            for (path, workers), times in seconds.items()]
    ratios, epoch_ratios = {}, {}
    for workers in params.feature_workers:
        if ("peer", workers) in seconds:
            ours, peer = min(seconds[("ours", workers)]), min(seconds[("peer", workers)])
            ratios[str(workers)] = peer / ours
            # per epoch the peer path decodes again; ours only reads the cache back
            epoch_ratios[str(workers)] = read * peer / len(paths)
    return {
        "threads": threads,
        "num_clips": len(paths),
        "librosa": librosa_version,
        "runs": runs,
        "ratio_ours_over_peer": ratios,
        "epoch_ratio_ours_over_peer": epoch_ratios,
        "cache_read_clips_per_s": read,
        "cache_read_batch": params.train_batch_cpu,
    }


def _feature_path_seconds(path: str, index_csv: Path, paths: list[str], work_dir: Path,
                          workers: int, params: PerfParams) -> float:
    if path == "ours":
        return our_feature_path(index_csv, work_dir / f"cache_w{workers}", workers=workers,
                                sample_rate=params.sample_rate, clip_samples=params.clip_samples,
                                chunk_clips=params.feature_chunk_clips)
    return peer_feature_path(paths, workers=workers, sample_rate=params.sample_rate,
                             clip_samples=params.clip_samples)


def _feature_run(path: str, workers: int, clips: int, seconds: list[float]) -> dict[str, Any]:
    """Rates from the best (least disturbed) and the median of the repeated runs."""
    return {"path": path, "workers": workers, "seconds": seconds,
            "clips_per_s": clips / min(seconds),
            "clips_per_s_median": clips / statistics.median(seconds),
            "oversubscribed": workers > (os.cpu_count() or 1)}


# --------------------------------------------------------------------------- models


def _amp_context(device: torch.device, amp: bool):
    if device.type != "cuda" or not amp:
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _training_batch(model: nn.Module, spec, batch: int, clip_samples: int,
                    device: torch.device, gen: torch.Generator) -> tuple[torch.Tensor, Any]:
    """Random inputs and targets of one training step (one clip = one waveform or 309 vectors)."""
    if spec.objective == "classification":
        wave = 0.1 * torch.randn(batch, clip_samples, generator=gen)  # (B, L)
        target = torch.randint(0, model.num_classes, (batch,), generator=gen)
        return wave.to(device), target.to(device)
    shape = spec.input_shape  # (309, 640): 5-frame log-Mel vectors of one clip
    vectors = torch.randn(batch * math.prod(shape[:-1]), shape[-1], generator=gen)
    return vectors.to(device), None  # (B*309, 640)


def _loss(model: nn.Module, spec, x: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    if spec.objective == "classification":
        return F.cross_entropy(model.head(model(x), target), target)
    return F.mse_loss(model(x), model.target(x))


def bench_training(model: nn.Module, spec, params: PerfParams,
                   device: torch.device) -> dict[str, Any]:
    """Clips/s of optimiser steps (forward, loss, backward, AdamW) on random inputs."""
    batch = params.train_batch_cuda if device.type == "cuda" else params.train_batch_cpu
    gen = torch.Generator().manual_seed(params.seed)
    x, target = _training_batch(model, spec, batch, params.clip_samples, device, gen)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    amp = device.type == "cuda" and params.amp
    fp16 = amp and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with _amp_context(device, params.amp):
            loss = _loss(model, spec, x, target)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()

    times = time_calls(step, warmup=max(1, params.warmup), repeats=params.train_steps,
                       max_seconds=params.max_seconds, device=device,
                       desc=f"{spec.name} train")
    median = statistics.median(times)
    return {"batch": batch, "steps": len(times), "step_s": median, "clips_per_s": batch / median,
            "amp": amp}


def bench_inference(model: nn.Module, spec, params: PerfParams,
                    device: torch.device) -> dict[str, Any]:
    """Batch-1 latency, batch-N throughput and real-time factor of the scoring path."""
    from benchmark.evaluation.scores import anomaly_scores

    model.eval()
    batch = params.throughput_batch_cuda if device.type == "cuda" else params.throughput_batch_cpu
    gen = torch.Generator().manual_seed(params.seed)
    waves = (0.1 * torch.randn(batch, params.clip_samples, generator=gen)).to(device)
    classes = torch.zeros(batch, dtype=torch.long, device=device)
    duration = params.clip_samples / params.sample_rate

    def score(n: int) -> Callable[[], Any]:
        def call() -> Any:
            with torch.inference_mode(), _amp_context(device, params.amp):
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
    per_phase = _reset_peak(device)
    infer = bench_inference(model, spec, params, device)
    infer["peak_mem_mb"] = _peak_mem(device)
    per_phase = _reset_peak(device) and per_phase
    train = bench_training(model, spec, params, device)
    train["peak_mem_mb"] = _peak_mem(device)
    return {
        "model": name,
        "device": device.type,
        "threads": threads,
        "params": sum(p.numel() for p in model.parameters()),
        "input_kind": spec.input_kind,
        "objective": spec.objective,
        "memory": ("cuda max_memory_allocated" if device.type == "cuda" else
                   "process peak RSS (VmHWM)" + (", reset before each phase" if per_phase else
                                                 ", since the process started")),
        "rss_before_model_mb": rss_before,
        "load_avg_1min": [load_before, os.getloadavg()[0]],  # before, after: other jobs?
        "inference": infer,
        "training": train,
    }


def _reset_peak(device: torch.device) -> bool:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    return reset_peak_rss()


def _peak_mem(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def import_models() -> None:
    """Import the architectures package so that every model registers itself."""
    import benchmark.architectures  # noqa: F401


def model_benchmarks(names: list[str], params: PerfParams, threads: list[int],
                     device: torch.device) -> list[dict[str, Any]]:
    """Every (model, threads) pair; in a fresh process each when ``params.isolate``."""
    jobs = [(name, t) for t in threads for name in names]
    results = []
    for name, t in tqdm(jobs, desc="models", unit="model"):
        if params.isolate:
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                result = pool.submit(bench_model, name, params, t, device.type).result()
        else:
            with torch_threads(t):
                result = bench_model(name, params, t, device.type)
        result["isolated"] = params.isolate
        results.append(result)
        log.info("%s (%d threads): train %.1f clips/s, latency %.1f ms", name, t,
                 result["training"]["clips_per_s"], 1e3 * result["inference"]["latency_s"])
    return results


# --------------------------------------------------------------------------- the stage


def run_perf(params: PerfParams, command: str = "python -m benchmark.perf") -> dict[str, Any]:
    """Every measurement of the stage; returns the JSON-ready result."""
    from benchmark.architectures.registry import list_models

    import_models()
    names = params.models or list_models()
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        raise ConfigError(f"'perf.models': unknown model(s) {unknown}; valid: {list_models()}")
    machine = machine_info()
    device = resolve_device(params.device)
    threads = resolve_threads(params.threads, machine["torch_default_threads"])
    work = Path(tempfile.mkdtemp(prefix="asd-perf-"))
    try:
        if params.clips_dir:
            index_csv = index_real_clips(Path(params.clips_dir), work / "clips", params.num_clips)
        else:
            index_csv = write_synthetic_clips(work / "clips", params.num_clips,
                                              sample_rate=params.sample_rate,
                                              clip_samples=params.clip_samples, seed=params.seed)
        features = [feature_benchmark(index_csv, work, params, t) for t in threads]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    models = model_benchmarks(names, params, threads, device)
    return {
        "command": command,
        "machine": machine,
        "device": device.type,
        "settings": asdict(params),
        "features": {"our_path": OUR_PATH, "peer_path": PEER_PATH,
                     "clips": params.clips_dir or "synthetic (benchmark.data.synthetic)",
                     "by_threads": features},
        "models": models,
    }


def write_reports(result: dict[str, Any], params: PerfParams) -> tuple[Path, Path]:
    out_json, out_md = Path(params.out_json), Path(params.out_md)
    for path in (out_json, out_md):
        path.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=1) + "\n")
    out_md.write_text(render_markdown(result))
    return out_json, out_md


# --------------------------------------------------------------------------- markdown


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _machine_line(m: dict[str, Any]) -> str:
    line = (f"{m['cpu_model']}, {m['logical_cores']} logical cores, torch {m['torch']}, "
            f"torchaudio {m.get('torchaudio')}, Python {m['python']}, "
            f"torch default threads {m['torch_default_threads']}")
    if m.get("threading_env"):
        line += ", threading env " + " ".join(f"{k}={v}" for k, v in m["threading_env"].items())
    if m.get("cuda"):
        c = m["cuda"]
        line += f"; CUDA: {c['device']} ({c['memory_gib']} GiB, CUDA {c['cuda_version']})"
    return line


def render_markdown(result: dict[str, Any]) -> str:
    m, s = result["machine"], result["settings"]
    lines = [
        "# Performance",
        "",
        "Reproduce:",
        "",
        "```bash",
        result["command"],
        "```",
        "",
        f"Machine: {_machine_line(m)}. Compute device for the models: **{result['device']}**.",
        "Generated by `benchmark/perf.py` (see its docstring for the method); raw figures in "
        "`performance.json`.",
        "",
        "## Feature path: decode + log-Mel, ours vs the per-item peer path",
        "",
        f"- ours: {result['features']['our_path']} (chunk_clips = {s['feature_chunk_clips']})",
        f"- peer: {result['features']['peer_path']}",
        f"- clips: {result['features']['clips']}; {s['clip_samples']} samples at "
        f"{s['sample_rate']} Hz each; same clips, same run, page cache warmed for both.",
        "",
    ]
    for f in result["features"]["by_threads"]:
        lines += [f"### torch threads = {f['threads']}, {f['num_clips']} clips", ""]
        if f["librosa"] is None:
            lines += ["librosa is not installed (`pip install -e '.[bench]'`): the peer path "
                      "was not measured, no ratio.", ""]
        rows = []
        for r in f["runs"]:
            ratios = f["ratio_ours_over_peer"]
            ratio = ratios.get(str(r["workers"])) if r["path"] == "ours" else None
            note = " (more workers than cores)" if r["oversubscribed"] else ""
            rows.append([r["path"], f"{r['workers']}{note}", f"{r['clips_per_s']:.1f}",
                         f"{r['clips_per_s_median']:.1f}", len(r["seconds"]),
                         f"{ratio:.2f}x" if ratio else ""])
        header = ["path", "workers", "clips/s (best)", "clips/s (median)", "runs",
                  "speed ours / peer (best)"]
        lines += _table(header, rows)
        lines += [f"Training reads the cache back at **{f['cache_read_clips_per_s']:.0f} clips/s** "
                  f"(random batches of {f['cache_read_batch']}, int16 memmap -> float32): no "
                  "audio decoding per epoch.", ""]
        epoch = f.get("epoch_ratio_ours_over_peer") or {}
        if epoch:
            best = max(epoch.items(), key=lambda kv: kv[1])
            lines += ["Per training epoch the peer path decodes and featurises every clip again, "
                      "while ours reads the cache: the data path of an epoch is "
                      f"**{min(epoch.values()):.1f}x to {best[1]:.1f}x faster** than the peer "
                      "path's (cache read rate / peer rate, per worker count); the one-off cache "
                      "build is the table's ratio.", ""]
    lines += _model_sections(result["models"], s)
    return "\n".join(lines)


def _model_sections(models: list[dict[str, Any]], s: dict[str, Any]) -> list[str]:
    if not models:
        return []
    device = models[0]["device"]
    mem = models[0]["memory"]
    isolated = models[0].get("isolated")
    mem_note = "each model in a fresh process" if isolated else "all models in one process"
    train_rows, infer_rows = [], []
    for r in models:
        t, i = r["training"], r["inference"]
        cfg = [r["model"], f"{r['params']:,}", r["threads"]]
        train_rows.append(cfg + [t["batch"], f"{t['clips_per_s']:.2f}", f"{1e3 * t['step_s']:.0f}",
                                 t["steps"], f"{t['peak_mem_mb']:.0f}"])
        base = r["rss_before_model_mb"]
        infer_rows.append(cfg + [f"{1e3 * i['latency_s']:.1f}", f"{i['rtf']:.4f}",
                                 i["throughput_batch"], f"{i['throughput_clips_per_s']:.1f}",
                                 f"{i['rtf_batched']:.4f}", f"{i['peak_mem_mb']:.0f}",
                                 f"{base:.0f}" if base is not None else "",
                                 " / ".join(f"{v:.1f}" for v in r["load_avg_1min"])])
    amp = " with AMP" if models[0]["training"]["amp"] else ""
    return [
        f"## Training ({device}{amp})",
        "",
        "One step = forward, loss (ArcFace/linear head + cross-entropy, or reconstruction MSE), "
        "backward, AdamW step, on random inputs of the model's kind (10-s waveforms; for "
        "IDNN/AE one clip = 309 five-frame log-Mel vectors). Data loading is excluded (see the "
        f"cache read rate above). Median of the timed steps after a warm-up step; memory: {mem}, "
        f"{mem_note}.",
        "",
        *_table(["model", "params", "threads", "batch", "clips/s", "ms/step", "steps",
                 "peak MiB"], train_rows),
        f"## Inference ({device}{amp})",
        "",
        "The scoring path (`benchmark.evaluation.scores.anomaly_scores`: waveform -> front end -> "
        "model -> score) under `torch.inference_mode`. Latency: median of "
        f"up to {s['latency_repeats']} batch-1 calls after warm-up, per 10-s clip. RTF = "
        "processing time / audio duration (< 1: faster than real time). Throughput at the "
        "batch shown (smaller on CPU to keep the run short). Inference runs before training in "
        "the model's process; each peak includes the process itself: `base MiB` is the process "
        "before the model was built (torch itself). `load` is the 1-minute load average before "
        "/ after the model's measurement: above the thread count, other jobs shared the CPU "
        "and the figures are pessimistic.",
        "",
        *_table(["model", "params", "threads", "latency ms (batch 1)", "RTF (batch 1)", "batch",
                 "clips/s", "RTF (batched)", "peak MiB", "base MiB", "load"], infer_rows),
    ]


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (%(default)s)")
    parser.add_argument("--models", nargs="+", help="model names (default: perf.models)")
    parser.add_argument("--clips", type=int, help="clips for the feature path (perf.num_clips)")
    parser.add_argument("--clips-dir", help="DCASE-layout folder of real clips (perf.clips_dir)")
    parser.add_argument("--workers", type=int, nargs="+", help="perf.feature_workers")
    parser.add_argument("--chunk-clips", type=int, help="perf.feature_chunk_clips")
    parser.add_argument("--threads", type=int, nargs="+", help="perf.threads (0 = default)")
    parser.add_argument("--train-batch", type=int, help="perf.train_batch_cpu/_cuda")
    parser.add_argument("--infer-batch", type=int, help="perf.throughput_batch_cpu/_cuda")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="perf.device")
    parser.add_argument("--no-isolate", action="store_true", help="all models in this process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = apply_overrides(load_section("perf", PerfParams, args.params), args)
    env = "".join(f"{k}={shlex.quote(os.environ[k])} " for k in THREAD_ENV if k in os.environ)
    command = env + "python -m benchmark.perf" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv))
    result = run_perf(params, command)
    for path in write_reports(result, params):
        log.info("wrote %s", path)


def apply_overrides(params: PerfParams, args: argparse.Namespace) -> PerfParams:
    changes: dict[str, Any] = {}
    for key, field in (("models", "models"), ("clips", "num_clips"),
                       ("clips_dir", "clips_dir"), ("workers", "feature_workers"),
                       ("chunk_clips", "feature_chunk_clips"),
                       ("threads", "threads"), ("device", "device")):
        if getattr(args, key) is not None:
            changes[field] = getattr(args, key)
    if args.train_batch is not None:
        changes["train_batch_cpu"] = changes["train_batch_cuda"] = args.train_batch
    if args.infer_batch is not None:
        changes["throughput_batch_cpu"] = changes["throughput_batch_cuda"] = args.infer_batch
    if args.no_isolate:
        changes["isolate"] = False
    params = replace(params, **changes)
    params.validate()
    return params


if __name__ == "__main__":
    main()

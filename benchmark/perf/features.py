"""Feature path: our cache builder against the per-item path of the reference codes."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from benchmark.data.audio import load_clip
from benchmark.data.index import read_index
from benchmark.features.cache import FeaturesParams, build_cache, open_cache
from benchmark.perf.machine import torch_threads
from benchmark.perf.params import PerfParams

PEER_PATH = (
    "per item: librosa.load(sr=16000) + crop/pad + torchaudio MelSpectrogram + dB per clip "
    "in a torch DataLoader with `workers` worker processes (STgram-MFN / paper code style)"
)
OUR_PATH = (
    "benchmark.features.cache.build_cache: load_clip in a thread pool of `workers`, "
    "int16 quantisation, every cached front end batched per chunk of `chunk_clips`, written to "
    "memory-mapped .npy files"
)


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


def cache_params(base: FeaturesParams, index_csv: Path, out_dir: Path, params: PerfParams,
                 workers: int) -> FeaturesParams:
    """The ``features:`` section ``base`` with perf's clips, size, chunk and ``workers``."""
    return replace(base, index=str(index_csv), out_dir=str(out_dir),
                   sample_rate=params.sample_rate, clip_samples=params.clip_samples,
                   chunk_clips=params.feature_chunk_clips, workers=workers,
                   logmel_dtype="float16")


def our_feature_path(features: FeaturesParams) -> float:
    """Seconds for the feature cache stage over the clips of ``features.index``."""
    start = time.perf_counter()
    build_cache(features, for_scoring=False)
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


def librosa_version() -> str | None:
    """librosa's version, None when it is not installed (the peer path is then skipped)."""
    try:
        import librosa
    except ImportError:
        return None
    return str(librosa.__version__)


def feature_benchmark(index_csv: Path, work_dir: Path, params: PerfParams, threads: int,
                      base: FeaturesParams) -> dict[str, Any]:
    """Our cache builder vs the peer per-item path on the same clips, for each worker count.

    ``base``: the ``features:`` section, whose settings perf does not set itself.
    """
    paths = list(read_index(index_csv)["path"])
    for path in paths:  # same page-cache state for both paths
        load_clip(path, sample_rate=params.sample_rate, num_samples=params.clip_samples)
    version = librosa_version()
    seconds: dict[tuple[str, int], list[float]] = {}
    paths_to_run = ["ours"] + (["peer"] if version is not None else [])
    with torch_threads(threads):
        for _ in tqdm(range(params.feature_repeats), desc="feature path", unit="round"):
            for workers in params.feature_workers:  # interleaved: same load for both paths
                for path in paths_to_run:
                    seconds.setdefault((path, workers), []).append(_feature_path_seconds(
                        path, index_csv, paths, work_dir, workers, params, base))
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
        "librosa": version,
        "runs": runs,
        "ratio_ours_over_peer": ratios,
        "epoch_ratio_ours_over_peer": epoch_ratios,
        "cache_read_clips_per_s": read,
        "cache_read_batch": params.train_batch_cpu,
    }


def _feature_path_seconds(path: str, index_csv: Path, paths: list[str], work_dir: Path,
                          workers: int, params: PerfParams, base: FeaturesParams) -> float:
    if path == "ours":
        return our_feature_path(
            cache_params(base, index_csv, work_dir / f"cache_w{workers}", params, workers))
    return peer_feature_path(paths, workers=workers, sample_rate=params.sample_rate,
                             clip_samples=params.clip_samples)


def _feature_run(path: str, workers: int, clips: int, seconds: list[float]) -> dict[str, Any]:
    """Rates from the best (least disturbed) and the median of the repeated runs."""
    return {"path": path, "workers": workers, "seconds": seconds,
            "clips_per_s": clips / min(seconds),
            "clips_per_s_median": clips / statistics.median(seconds),
            "oversubscribed": workers > (os.cpu_count() or 1)}

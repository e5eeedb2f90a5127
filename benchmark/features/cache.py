"""The feature cache: every clip decoded once into memory-mapped arrays the trainers read.

``build_cache(params)`` writes ``<features.out_dir>/``:

- ``index.csv``: the data index (see :mod:`benchmark.data.index`) plus a ``row`` column, the
  clip's row in the arrays below;
- ``waveforms.npy``: int16 ``(N, clip_samples)``, the clips as 16-bit PCM;
- ``logmel.npy``: float16 ``(N, n_mels, T)``, :class:`~benchmark.features.logmel.LogMel` of the
  int16-quantised waveform (the exact input a model's own front end sees at scoring time);
- ``meta.json``: shapes, dtypes, sample rate, data source and the class list.

Clips are decoded in chunks and written straight into ``np.lib.format.open_memmap`` arrays, so
memory does not grow with the data set (the real DCASE set is ~50 h of audio). Everything is
written to a hidden temporary folder beside ``out_dir`` and renamed into place at the end, so a
failure never leaves a half-written cache behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from benchmark.config import ConfigError
from benchmark.data.audio import LoadStats, load_clip
from benchmark.data.index import class_list, read_index
from benchmark.data.local import read_marker
from benchmark.features.logmel import LogMel, num_frames

log = logging.getLogger(__name__)

PCM_SCALE = 32768.0
"""int16 sample -> float: ``wave / PCM_SCALE`` (the inverse of the cache's quantisation)."""

CACHE_VERSION = 1


@dataclass
class FeaturesParams:
    """``features:`` section of ``params.yaml`` (stage ``python -m benchmark.features``)."""

    index: str  # the data index written by prepare (data/raw/index.csv)
    out_dir: str  # the cache folder
    sample_rate: int  # Hz, clips are resampled to this (keep equal to data.sample_rate)
    clip_samples: int  # samples per clip after crop/pad
    chunk_clips: int  # clips decoded and transformed per step (bounds memory)
    workers: int  # decoding threads; 0 = one per CPU core
    logmel_dtype: str  # float16 | float32

    def validate(self) -> None:
        for key in ("sample_rate", "clip_samples", "chunk_clips"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"'features.{key}' must be > 0, got {getattr(self, key)}")
        if self.workers < 0:
            raise ConfigError(f"'features.workers' must be >= 0, got {self.workers}")
        if self.logmel_dtype not in ("float16", "float32"):
            raise ConfigError(
                f"'features.logmel_dtype' must be float16 or float32, got {self.logmel_dtype!r}"
            )


@dataclass
class FeatureCache:
    """An opened cache: the index and read-only memory maps of the arrays."""

    root: Path
    index: pd.DataFrame  # data index + ``row``
    meta: dict

    @cached_property
    def waveforms(self) -> np.ndarray:  # (N, L) int16
        return np.load(self.root / "waveforms.npy", mmap_mode="r")

    @cached_property
    def logmel(self) -> np.ndarray:  # (N, n_mels, T) float16
        return np.load(self.root / "logmel.npy", mmap_mode="r")

    @property
    def classes(self) -> list[tuple[str, str]]:
        """``[(machine_type, machine_id), ...]``, position = class index."""
        return [tuple(pair) for pair in self.meta["classes"]]

    @property
    def sample_rate(self) -> int:
        return int(self.meta["sample_rate"])

    @property
    def data_source(self) -> str:
        return str(self.meta.get("data_source", "unknown"))

    @property
    def fingerprint(self) -> str:
        """Changes whenever the cache is rebuilt from other data or settings."""
        return str(self.meta["fingerprint"])

    def split(self, name: str) -> pd.DataFrame:
        """Rows of one split (``train``, ``test``, ``eval``)."""
        return self.index[self.index["split"] == name].reset_index(drop=True)

    def waves(self, rows: np.ndarray) -> torch.Tensor:
        """Float waveforms in [-1, 1) of the given cache rows, ``(B, L)`` float32."""
        rows = np.asarray(rows)
        order = np.argsort(rows)  # memmap reads are faster in file order
        data = np.empty((len(rows), self.waveforms.shape[1]), dtype=np.float32)
        data[order] = self.waveforms[rows[order]]
        return torch.from_numpy(data).div_(PCM_SCALE)


def open_cache(directory: str | Path) -> FeatureCache:
    """Open a cache written by :func:`build_cache`; errors name the missing file."""
    root = Path(directory)
    for name in ("index.csv", "waveforms.npy", "logmel.npy", "meta.json"):
        if not (root / name).is_file():
            raise FileNotFoundError(
                f"feature cache incomplete: {root / name} missing "
                "(run python -m benchmark.features)"
            )
    meta = json.loads((root / "meta.json").read_text())
    index = pd.read_csv(root / "index.csv", dtype={"machine_id": str}, keep_default_na=False)
    return FeatureCache(root=root, index=index, meta=meta)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _to_pcm(wave: np.ndarray) -> np.ndarray:
    return np.clip(np.round(wave * PCM_SCALE), -32768, 32767).astype(np.int16)


def build_cache(params: FeaturesParams) -> Path:
    """Decode every clip of ``params.index`` into the cache at ``params.out_dir``; returns it."""
    index = read_index(params.index)
    if index.empty:
        raise ValueError(f"{params.index}: the index lists no clips")
    out = Path(params.out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _write_arrays(index, params, tmp)
        _write_tables(index, params, tmp)
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _write_arrays(index: pd.DataFrame, params: FeaturesParams, folder: Path) -> None:
    n, length = len(index), params.clip_samples
    frontend = LogMel(sample_rate=params.sample_rate)
    frames = num_frames(length, frontend.hop_length)
    waves = np.lib.format.open_memmap(
        folder / "waveforms.npy", mode="w+", dtype=np.int16, shape=(n, length)
    )
    mels = np.lib.format.open_memmap(
        folder / "logmel.npy", mode="w+", dtype=params.logmel_dtype,
        shape=(n, frontend.n_mels, frames),
    )
    workers = params.workers or os.cpu_count() or 1
    stats = LoadStats()
    paths = list(index["path"])

    def load(path: str) -> tuple[np.ndarray, LoadStats]:
        local = LoadStats()
        wave = load_clip(path, sample_rate=params.sample_rate, num_samples=length, stats=local)
        return _to_pcm(wave), local

    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=n, desc="features", unit="clip"
    ) as bar:
        for part in _chunks(n, params.chunk_clips):
            pcm = np.empty((part.stop - part.start, length), dtype=np.int16)
            for i, (clip, local) in enumerate(pool.map(load, paths[part])):
                pcm[i] = clip
                stats.merge(local)
            waves[part] = pcm
            with torch.inference_mode():
                mel = frontend(torch.from_numpy(pcm).float().div_(PCM_SCALE))  # (B, 128, T)
            mels[part] = mel.numpy().astype(params.logmel_dtype)
            bar.update(part.stop - part.start)
    waves.flush()
    mels.flush()
    del waves, mels
    log.info("%s", stats.summary())


def _write_tables(index: pd.DataFrame, params: FeaturesParams, folder: Path) -> None:
    table = index.copy()
    table["row"] = np.arange(len(table))
    table.to_csv(folder / "index.csv", index=False)
    marker = read_marker(Path(params.index).parent) or {}
    meta = {
        "version": CACHE_VERSION,
        "num_clips": len(table),
        "sample_rate": params.sample_rate,
        "clip_samples": params.clip_samples,
        "waveform_dtype": "int16",
        "pcm_scale": PCM_SCALE,
        "logmel_dtype": params.logmel_dtype,
        "logmel_shape": list(np.load(folder / "logmel.npy", mmap_mode="r").shape[1:]),
        "data_source": marker.get("source", "unknown"),
        "classes": [list(pair) for pair in class_list(index)],
        "splits": {k: int(v) for k, v in table["split"].value_counts().sort_index().items()},
        "fingerprint": _fingerprint(folder),
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def _fingerprint(folder: Path) -> str:
    """A short hash of the index and a sample of the waveforms (cheap on 50 h of audio)."""
    import hashlib

    digest = hashlib.sha1((folder / "index.csv").read_bytes())
    waves = np.load(folder / "waveforms.npy", mmap_mode="r")
    step = max(1, len(waves) // 64)
    for row in range(0, len(waves), step):
        digest.update(np.ascontiguousarray(waves[row]).tobytes())
    return digest.hexdigest()[:16]

"""The feature cache: every clip decoded once into memory-mapped arrays the trainers read.

``build_cache(params)`` writes ``<features.out_dir>/``:

- ``index.csv``: the data index (see :mod:`benchmark.data.index`) plus a ``row`` column, the
  clip's row in the arrays below;
- ``waveforms.npy``: int16 ``(N, clip_samples)``, the clips as 16-bit PCM;
- ``logmel.npy``: float16 ``(N, n_mels, T)``, :class:`~benchmark.features.logmel.LogMel` of the
  int16-quantised waveform (the exact input a model's own front end sees at scoring time);
- ``meta.json``: shapes, dtypes, sample rate, data source, the class list and the data's
  ``fingerprint``: a hash of every clip's path (relative to the data root) and decoded samples,
  computed while the cache is built, so any change to any clip starts training from scratch.

Nothing in the cache depends on where the repository is cloned: clip paths are relative, so two
clones at different paths build byte-identical caches (the same on one machine).

Clips are decoded in chunks and written straight into ``np.lib.format.open_memmap`` arrays, so
memory does not grow with the data set (the real DCASE set is ~50 h of audio). Everything is
written to a hidden temporary folder beside ``out_dir`` (its blocks allocated up front, so a full
disk is a clear error, not a crash) and renamed into place at the end, so a failure never leaves a
half-written cache behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
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
from benchmark.data.index import check_coverage, class_list, read_index, relative_paths
from benchmark.data.marker import clips_root, read_marker
from benchmark.features.logmel import LogMel, num_frames
from benchmark.io import DiskFullError, atomic_path, ensure_free_space

log = logging.getLogger(__name__)

PCM_SCALE = 32768.0
"""int16 sample -> float: ``wave / PCM_SCALE`` (the inverse of the cache's quantisation)."""

CACHE_VERSION = 2

CACHE_MARKER = ".asd-benchmark-features"
"""File inside every cache this stage wrote: only such a folder is ever replaced."""


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


def build_cache(params: FeaturesParams, *, for_scoring: bool = True) -> Path:
    """Decode every clip of ``params.index`` into the cache at ``params.out_dir``; returns it.

    ``for_scoring`` (the pipeline) first checks that every model will be scored on the same test
    clips (:func:`~benchmark.data.index.check_coverage`); a cache only timed (``benchmark.perf``)
    skips that check. The cache is built in a temporary folder beside ``out_dir`` and renamed
    into place at the end; an existing ``out_dir`` is replaced only when this stage wrote it
    (:data:`CACHE_MARKER`).
    """
    index = read_index(params.index)
    if index.empty:
        raise ValueError(f"{params.index}: the index lists no clips")
    if for_scoring:
        check_coverage(index, str(params.index))
    out = Path(params.out_dir)
    _check_replaceable(out, Path(params.index))
    ensure_free_space(out.absolute().parent, _cache_bytes(len(index), params),
                      f"the feature cache of {len(index)} clips")
    relpaths = relative_paths(index["path"], clips_root(Path(params.index).parent))
    with atomic_path(out, directory=True) as tmp:
        fingerprint = _write_arrays(index, relpaths, params, tmp)
        _write_tables(index, relpaths, params, fingerprint, tmp)
        (tmp / CACHE_MARKER).write_text("written by python -m benchmark.features\n")
    return out


def _check_replaceable(out: Path, index_csv: Path) -> None:
    """Refuse an ``out_dir`` that holds the data, or any folder this stage did not write."""
    if index_csv.absolute().is_relative_to(out.absolute()):
        raise FileExistsError(
            f"features.out_dir {out} holds the data index {index_csv}: the cache would replace the "
            "data set; set features.out_dir to a folder of its own (e.g. data/features)"
        )
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"features.out_dir {out} exists and is not a folder")
    if any(out.iterdir()) and not (out / CACHE_MARKER).is_file():
        raise FileExistsError(
            f"features.out_dir {out} is not empty and was not written by benchmark.features (no "
            f"{CACHE_MARKER}); it is left untouched: remove it yourself or set another out_dir"
        )


def _cache_bytes(n: int, params: FeaturesParams) -> int:
    frontend = LogMel(sample_rate=params.sample_rate)
    frames = num_frames(params.clip_samples, frontend.hop_length)
    mel_bytes = np.dtype(params.logmel_dtype).itemsize * frontend.n_mels * frames
    return n * (2 * params.clip_samples + mel_bytes) + (1 << 20)


def _reserve(array: np.memmap) -> None:
    """Allocate a memmap's blocks now: a full disk is an error here, not a SIGBUS later.

    A file system without ``fallocate`` support is left to the free-space check made before.
    """
    fd = os.open(array.filename, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as error:
        if error.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            message = f"cannot allocate {array.filename}: {error}"
            raise DiskFullError(error.errno, message) from error
        raise
    finally:
        os.close(fd)


def _write_arrays(index: pd.DataFrame, relpaths: list[str], params: FeaturesParams,
                  folder: Path) -> str:
    """Fill the arrays; returns the content fingerprint (every clip's path and samples)."""
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
    _reserve(waves)
    _reserve(mels)
    digest = hashlib.sha256(json.dumps(
        [CACHE_VERSION, params.sample_rate, length, params.logmel_dtype]).encode())
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
                digest.update(relpaths[part.start + i].encode() + b"\0" + clip.tobytes())
            waves[part] = pcm
            with torch.inference_mode():
                mel = frontend(torch.from_numpy(pcm).float().div_(PCM_SCALE))  # (B, 128, T)
            mels[part] = mel.numpy().astype(params.logmel_dtype)
            bar.update(part.stop - part.start)
    waves.flush()
    mels.flush()
    del waves, mels
    log.info("%s", stats.summary())
    return digest.hexdigest()[:32]


def _write_tables(index: pd.DataFrame, relpaths: list[str], params: FeaturesParams,
                  fingerprint: str, folder: Path) -> None:
    table = index.copy()
    table["path"] = relpaths  # relative to the clips' root: the same in every clone
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
        "fingerprint": fingerprint,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")

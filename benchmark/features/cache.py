"""The feature cache: every clip decoded once into memory-mapped arrays the trainers read.

``build_cache(params)`` writes ``<features.out_dir>/``:

- ``index.csv``: the data index (see :mod:`benchmark.data.index`) plus a ``row`` column, the
  clip's row in the arrays below;
- ``waveforms.npy``: int16 ``(N, clip_samples)``, the clips as 16-bit PCM;
- ``logmel.npy``: float16 ``(N, n_mels, T)``, :class:`~benchmark.features.logmel.LogMel` of the
  int16-quantised waveform (the exact input a model's own front end sees at scoring time);
- ``logmel_dcase.npy``: float16 ``(N, 128, T_dcase)``, the DCASE 2020 baseline's log-Mel
  (:class:`~benchmark.features.baselines.DcaseLogMel`) of each clip *whole*, as that baseline read
  it (ToyCar clips are 11 s: 344 frames; 10-s clips: 313), up to ``dcase_clip_samples``; the
  index column ``dcase_frames`` says how many frames of a row are the clip's (the frame models,
  IDNN and the DCASE AE, train and score on these);
- ``meta.json``: shapes, dtypes, sample rate, data source, the class list, the data's
  ``fingerprint`` (a hash of every clip's path, relative to the data root, and decoded samples,
  computed while the cache is built, so any change to any clip starts training from scratch) and
  ``type_fingerprints``: the same per machine type (a model trained on one type's clips only
  retrains when that type's clips change).

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
from benchmark.data.audio import LoadStats, load_clip_with_length
from benchmark.data.index import (
    check_coverage,
    class_list,
    class_sections,
    read_index,
    relative_paths,
)
from benchmark.data.marker import clips_root, marker_dataset, read_marker
from benchmark.features.baselines import DcaseLogMel
from benchmark.features.logmel import LogMel, num_frames
from benchmark.io import DiskFullError, atomic_path, ensure_free_space

log = logging.getLogger(__name__)

PCM_SCALE = 32768.0
"""int16 sample -> float: ``wave / PCM_SCALE`` (the inverse of the cache's quantisation)."""

CACHE_VERSION = 3

CACHE_MARKER = ".asd-benchmark-features"
"""File inside every cache this stage wrote: only such a folder is ever replaced."""


@dataclass
class FeaturesParams:
    """``features:`` section of ``params.yaml`` (stage ``python -m benchmark.features``)."""

    index: str  # the data index written by prepare (data/raw/index.csv)
    out_dir: str  # the cache folder
    sample_rate: int  # Hz, clips are resampled to this (keep equal to data.sample_rate)
    clip_samples: int  # samples per clip after crop/pad
    dcase_clip_samples: int  # the DCASE front end reads each clip whole, up to this many samples
    chunk_clips: int  # clips decoded and transformed per step (bounds memory)
    workers: int  # decoding threads; 0 = one per CPU core
    logmel_dtype: str  # float16 | float32

    def validate(self) -> None:
        for key in ("sample_rate", "clip_samples", "dcase_clip_samples", "chunk_clips"):
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

    @cached_property
    def logmel_dcase(self) -> np.ndarray:  # (N, 128, T_dcase) float16, whole clips
        return np.load(self.root / "logmel_dcase.npy", mmap_mode="r")

    def type_fingerprint(self, machine_type: str) -> str:
        """Changes whenever a clip of ``machine_type`` (or the cache's settings) changes."""
        prints = self.meta["type_fingerprints"]
        if machine_type not in prints:
            raise KeyError(f"{self.root}: no clips of machine type {machine_type!r} in the cache "
                           f"(types: {', '.join(sorted(prints))})")
        return str(prints[machine_type])

    @property
    def classes(self) -> list[tuple[str, str]]:
        """``[(machine_type, class key), ...]``, position = class index (the key: the machine ID,
        the section, or ``<section>_<attributes>``: :func:`benchmark.data.index.class_key`)."""
        return [tuple(pair) for pair in self.meta["classes"]]

    @property
    def dataset(self) -> str:
        """The DCASE year of the clips (``data.dataset``: ``dcase2020`` ... ``dcase2025``)."""
        return str(self.meta.get("dataset", "dcase2020"))

    def class_groups(self) -> list[int] | None:
        """Per class, the index of its (type, section) group when some section has several
        classes (DCASE 2023+: attribute classes, summed when a classifier scores a clip), else
        None (a class is a section: scores are the plain cross-entropy)."""
        sections = self.meta.get("class_sections")
        if not sections:
            return None
        pairs = [(t, s) for (t, _), s in zip(self.classes, sections, strict=True)]
        if len(set(pairs)) == len(pairs):
            return None
        groups = {pair: g for g, pair in enumerate(dict.fromkeys(pairs))}
        return [groups[pair] for pair in pairs]

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

    def frame_logmel(self, frontend: torch.nn.Module, rows: np.ndarray
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached output of a frame model's ``frontend`` for ``rows``, and the clips' frames.

        ``(B, n_mels, T)`` float32 (``T`` the array's width) and ``(B,)`` int64: how many frames
        of each row are the clip's. :class:`DcaseLogMel` -> ``logmel_dcase.npy`` (whole clips),
        :class:`LogMel` -> ``logmel.npy`` (``clip_samples``); other front ends are an error.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if isinstance(frontend, DcaseLogMel):
            array = self.logmel_dcase
            frames = self.index["dcase_frames"].to_numpy(np.int64)[rows]
        elif isinstance(frontend, LogMel):
            array = self.logmel
            frames = np.full(len(rows), array.shape[-1], dtype=np.int64)
        else:
            raise TypeError(f"{self.root}: no cached features for front end "
                            f"{type(frontend).__name__} (cached: LogMel, DcaseLogMel)")
        if frontend.n_mels != array.shape[1]:
            raise ValueError(f"{self.root}: front end has {frontend.n_mels} Mels, the cache "
                             f"{array.shape[1]}")
        return _read_rows(array, rows), torch.from_numpy(frames)

    def waves(self, rows: np.ndarray) -> torch.Tensor:
        """Float waveforms in [-1, 1) of the given cache rows, ``(B, L)`` float32."""
        return _read_rows(self.waveforms, np.asarray(rows)).div_(PCM_SCALE)


def _read_rows(array: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """``array[rows]`` as float32 ``(B, ...)``, read in file order (faster from a memmap)."""
    order = np.argsort(rows)
    data = np.empty((len(rows), *array.shape[1:]), dtype=np.float32)
    data[order] = array[rows[order]]
    return torch.from_numpy(data)


def open_cache(directory: str | Path) -> FeatureCache:
    """Open a cache written by :func:`build_cache`; errors name the missing file."""
    root = Path(directory)
    for name in ("index.csv", "waveforms.npy", "logmel.npy", "logmel_dcase.npy", "meta.json"):
        if not (root / name).is_file():
            raise FileNotFoundError(
                f"feature cache incomplete: {root / name} missing "
                "(run python -m benchmark.features)"
            )
    meta = json.loads((root / "meta.json").read_text())
    text = {c: str for c in ("machine_id", "section", "domain", "attributes")}
    index = pd.read_csv(root / "index.csv", dtype=text, keep_default_na=False)
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
        check_coverage(index, str(params.index), marker_dataset(Path(params.index).parent))
    out = Path(params.out_dir)
    _check_replaceable(out, Path(params.index))
    ensure_free_space(out.absolute().parent, _cache_bytes(len(index), params),
                      f"the feature cache of {len(index)} clips")
    relpaths = relative_paths(index["path"], clips_root(Path(params.index).parent))
    with atomic_path(out, directory=True) as tmp:
        prints, dcase_frames = _write_arrays(index, relpaths, params, tmp)
        _write_tables(index, relpaths, params, prints, dcase_frames, tmp)
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
    frontend, dcase = LogMel(sample_rate=params.sample_rate), _dcase_frontend(params)
    frames = num_frames(params.clip_samples, frontend.hop_length)
    item = np.dtype(params.logmel_dtype).itemsize
    mel_bytes = item * frontend.n_mels * frames
    dcase_bytes = item * dcase.n_mels * dcase.num_frames(params.dcase_clip_samples)
    return n * (2 * params.clip_samples + mel_bytes + dcase_bytes) + (1 << 20)


def _dcase_frontend(params: FeaturesParams) -> DcaseLogMel:
    """The DCASE baseline's log-Mel. Zero ("constant") centre padding, as librosa >= 0.10 pads:
    so a clip's frames are the same whether or not zeros follow it in the array."""
    return DcaseLogMel(sample_rate=params.sample_rate, pad_mode="constant")


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
                  folder: Path) -> tuple[dict[str, str], np.ndarray]:
    """Fill the arrays; returns the content fingerprints (``"all"`` and one per machine type:
    every clip's path and whole decoded samples) and each clip's DCASE frame count ``(N,)``."""
    n, length = len(index), params.clip_samples
    frontend, dcase = LogMel(sample_rate=params.sample_rate), _dcase_frontend(params)
    read = max(length, params.dcase_clip_samples)  # samples decoded per clip
    waves = np.lib.format.open_memmap(
        folder / "waveforms.npy", mode="w+", dtype=np.int16, shape=(n, length)
    )
    mels = np.lib.format.open_memmap(
        folder / "logmel.npy", mode="w+", dtype=params.logmel_dtype,
        shape=(n, frontend.n_mels, num_frames(length, frontend.hop_length)),
    )
    dcase_mels = np.lib.format.open_memmap(
        folder / "logmel_dcase.npy", mode="w+", dtype=params.logmel_dtype,
        shape=(n, dcase.n_mels, dcase.num_frames(params.dcase_clip_samples)),
    )
    for array in (waves, mels, dcase_mels):
        _reserve(array)
    settings = json.dumps([CACHE_VERSION, params.sample_rate, length, params.dcase_clip_samples,
                           params.logmel_dtype]).encode()
    digests = {key: hashlib.sha256(settings)
               for key in ["all", *sorted(set(index["machine_type"]))]}
    dcase_frames = np.empty(n, dtype=np.int64)
    workers = params.workers or os.cpu_count() or 1
    stats = LoadStats()
    paths, types = list(index["path"]), list(index["machine_type"])

    def load(path: str) -> tuple[np.ndarray, int, LoadStats]:
        local = LoadStats()
        wave, samples = load_clip_with_length(path, sample_rate=params.sample_rate,
                                              num_samples=read, stats=local,
                                              nominal_samples=length)
        return _to_pcm(wave), samples, local

    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=n, desc="features", unit="clip"
    ) as bar:
        for part in _chunks(n, params.chunk_clips):
            pcm = np.empty((part.stop - part.start, read), dtype=np.int16)  # (B, read)
            for i, (clip, samples, local) in enumerate(pool.map(load, paths[part])):
                row = part.start + i
                pcm[i] = clip
                stats.merge(local)
                whole = min(samples, params.dcase_clip_samples)
                dcase_frames[row] = dcase.num_frames(whole)
                item = relpaths[row].encode() + b"\0" + clip[:max(whole, length)].tobytes()
                digests["all"].update(item)
                digests[types[row]].update(item)
            waves[part] = pcm[:, :length]
            with torch.inference_mode():
                audio = torch.from_numpy(pcm).float().div_(PCM_SCALE)  # (B, read)
                mels[part] = frontend(audio[:, :length]).numpy().astype(params.logmel_dtype)
                dcase_mels[part] = dcase(audio[:, :params.dcase_clip_samples]).numpy().astype(
                    params.logmel_dtype)  # (B, 128, T_dcase): zeros after a shorter clip
            bar.update(part.stop - part.start)
    for array in (waves, mels, dcase_mels):
        array.flush()
    del waves, mels, dcase_mels
    log.info("%s", stats.summary())
    return {key: digest.hexdigest()[:32] for key, digest in digests.items()}, dcase_frames


def _write_tables(index: pd.DataFrame, relpaths: list[str], params: FeaturesParams,
                  prints: dict[str, str], dcase_frames: np.ndarray, folder: Path) -> None:
    table = index.copy()
    table["path"] = relpaths  # relative to the clips' root: the same in every clone
    table["row"] = np.arange(len(table))
    table["dcase_frames"] = dcase_frames  # frames of logmel_dcase.npy that are the clip's
    table.to_csv(folder / "index.csv", index=False)
    marker = read_marker(Path(params.index).parent) or {}
    dataset = marker_dataset(Path(params.index).parent)
    meta = {
        "version": CACHE_VERSION,
        "num_clips": len(table),
        "sample_rate": params.sample_rate,
        "clip_samples": params.clip_samples,
        "dcase_clip_samples": params.dcase_clip_samples,
        "waveform_dtype": "int16",
        "pcm_scale": PCM_SCALE,
        "logmel_dtype": params.logmel_dtype,
        "logmel_shape": list(np.load(folder / "logmel.npy", mmap_mode="r").shape[1:]),
        "data_source": marker.get("source", "unknown"),
        "dataset": dataset,
        "classes": [list(pair) for pair in class_list(index, dataset)],
        "class_sections": class_sections(index, dataset),
        "splits": {k: int(v) for k, v in table["split"].value_counts().sort_index().items()},
        "logmel_dcase_shape": list(np.load(folder / "logmel_dcase.npy", mmap_mode="r").shape[1:]),
        "fingerprint": prints["all"],
        "type_fingerprints": {k: v for k, v in prints.items() if k != "all"},
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")

"""The clips perf measures on: generated in the DCASE layout, or indexed from a real folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from benchmark.data.index import build_index, write_index
from benchmark.data.layout import MACHINE_TYPES, SPLITS
from benchmark.data.params import available_ids
from benchmark.data.synthetic import ClipSpec, synthesize


def write_clips(folder: Path, specs: Sequence[ClipSpec], *, sample_rate: int, clip_samples: int,
                seed: int = 0) -> Path:
    """Write ``specs`` as 16-bit clips in the DCASE layout under ``folder``; returns its index."""
    for spec in tqdm(specs, desc="perf clips", unit="clip", leave=False):
        path = folder / spec.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        pcm = synthesize(spec, seed=seed, sample_rate=sample_rate, num_samples=clip_samples,
                         anomaly_strength=1.0)
        sf.write(path, pcm, sample_rate, subtype="PCM_16")
    types = sorted({s.machine_type for s in specs}, key=MACHINE_TYPES.index)
    return write_index(build_index(folder, types), folder / "index.csv")


def write_synthetic_clips(folder: Path, num_clips: int, *, sample_rate: int, clip_samples: int,
                          seed: int = 0) -> Path:
    """``num_clips`` generated clips in the DCASE layout under ``folder``; returns its index.csv.

    Clips cycle over machine types and IDs (normal training clips), so every type is present.
    """
    pairs = [(t, i) for t in MACHINE_TYPES for i in available_ids(t)[:2]]
    specs = [ClipSpec(*pairs[k % len(pairs)], SPLITS[0], "normal", k) for k in range(num_clips)]
    return write_clips(folder, specs, sample_rate=sample_rate, clip_samples=clip_samples,
                       seed=seed)


def write_training_set(folder: Path, train_clips: int, *, sample_rate: int, clip_samples: int,
                       seed: int = 0) -> Path:
    """A tiny data set the training stage accepts, under ``folder``; returns its index.csv.

    ``train_clips`` normal training clips cycling over the first ID of every machine type, and
    one normal + one anomalous test clip per ID (the stage scores the test split at its end).
    """
    if train_clips < len(MACHINE_TYPES):
        raise ValueError(f"train_clips must be >= {len(MACHINE_TYPES)} (one per machine type), "
                         f"got {train_clips}")
    pairs = [(t, available_ids(t)[0]) for t in MACHINE_TYPES]
    specs = [ClipSpec(*pairs[k % len(pairs)], "train", "normal", k) for k in range(train_clips)]
    specs += [ClipSpec(t, i, "test", label, 0) for t, i in pairs for label in ("normal", "anomaly")]
    return write_clips(folder, specs, sample_rate=sample_rate, clip_samples=clip_samples,
                       seed=seed)


def index_real_clips(clips_dir: Path, folder: Path, num_clips: int) -> Path:
    """An index of (up to ``num_clips``, cycling when fewer) clips of a DCASE-layout folder."""
    found = build_index(clips_dir, [t for t in MACHINE_TYPES if (clips_dir / t).is_dir()])
    if found.empty:
        raise FileNotFoundError(f"perf.clips_dir {clips_dir}: no clips found")
    rows = found.iloc[[k % len(found) for k in range(num_clips)]].reset_index(drop=True)
    return write_index(rows, folder / "index.csv")

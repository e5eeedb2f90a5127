"""Scoring new recordings with a trained model: anomaly score + normal/anomalous decision.

The core of ``python -m benchmark score --model NAME PATH...`` (see :mod:`benchmark.__main__`).
A clip's machine type and ID come from its DCASE path (``<type>/<split>/<label>_id_XX_N.wav``,
:func:`benchmark.data.layout.parse_clip_path`) or are given for all files at once. Its score is
the model's anomaly score (:func:`benchmark.evaluation.scores.anomaly_scores`, larger = more
anomalous) and the decision compares it with a threshold taken from the distribution of the
model's scores on its own (normal) training clips, ``models/NAME/train_scores.csv``: by default
the 90th percentile of the clip's (type, ID), or of its machine type, or of all training clips.

Clips are read at the sample rate and length the model was trained with (``data`` of
``final.pt``; 16 kHz and :func:`default_clip_samples` for older checkpoints), and scoring with a
model trained on synthetic data logs a warning.

A file that cannot be scored (name does not parse, (type, ID) unknown to the model, unreadable
audio) becomes a :class:`ClipError` naming it; the other files are still scored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from benchmark.data.audio import AudioError, load_clip_with_length
from benchmark.data.layout import SAMPLE_RATE, LayoutError, parse_clip_path

Scope = Literal["id", "type", "all"]
SCOPES: tuple[str, ...] = ("id", "type", "all")
TRAIN_SCORES = "train_scores.csv"
OUTPUT_COLUMNS = ["path", "machine_type", "machine_id", "score", "threshold", "decision"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds per (type, ID), per type and overall; ``scope`` picks which applies."""

    scope: Scope
    by_class: dict[tuple[str, str], float]
    by_type: dict[str, float]
    overall: float

    def get(self, machine_type: str, machine_id: str) -> float:
        """The threshold of a clip (falls back to its type, then all clips, when absent)."""
        if self.scope == "id" and (machine_type, machine_id) in self.by_class:
            return self.by_class[(machine_type, machine_id)]
        if self.scope in ("id", "type") and machine_type in self.by_type:
            return self.by_type[machine_type]
        return self.overall


def fixed_thresholds(value: float) -> Thresholds:
    """One threshold for every clip."""
    return Thresholds(scope="all", by_class={}, by_type={}, overall=float(value))


def thresholds_from_scores(
    train_scores: pd.DataFrame, percentile: float = 90.0, scope: Scope = "id"
) -> Thresholds:
    """Percentile thresholds of training scores (columns machine_type, machine_id, score)."""
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if train_scores.empty:
        raise ValueError("no training scores to take a threshold from")
    frame = train_scores.astype({"machine_id": str})

    def pct(scores: pd.Series) -> float:
        return float(np.percentile(scores.to_numpy(dtype=float), percentile))

    by_class = {
        (str(t), str(i)): pct(g["score"])
        for (t, i), g in frame.groupby(["machine_type", "machine_id"])
    }
    by_type = {str(t): pct(g["score"]) for t, g in frame.groupby("machine_type")}
    return Thresholds(scope=scope, by_class=by_class, by_type=by_type, overall=pct(frame["score"]))


def thresholds_from_stats(
    stats: dict, percentile: float = 90.0, scope: Scope = "id"
) -> Thresholds:
    """Thresholds from ``train_score_stats`` of ``final.pt`` (quantiles q90/q95/q99 overall and
    per ``"type/id"``), for when ``train_scores.csv`` is not at hand."""
    key = f"q{percentile:g}"
    if key not in stats.get("all", {}):
        raise ValueError(
            f"train_score_stats has no {key} (percentile {percentile:g}); "
            "use train_scores.csv for other percentiles"
        )
    if scope == "type":
        raise ValueError("per-type thresholds need train_scores.csv (not in train_score_stats)")
    by_class = {
        tuple(name.split("/", 1)): float(values[key])
        for name, values in stats.get("per_class", {}).items()
        if key in values
    }
    return Thresholds(scope=scope, by_class=by_class, by_type={}, overall=float(stats["all"][key]))


def train_thresholds(
    trained, model_dir: str | Path, percentile: float = 90.0, scope: Scope = "id"
) -> Thresholds:
    """Thresholds from ``train_scores.csv``, else from ``final.pt``'s ``train_score_stats``."""
    path = Path(model_dir) / TRAIN_SCORES
    if not path.is_file() and trained.train_score_stats:
        return thresholds_from_stats(trained.train_score_stats, percentile, scope)
    return thresholds_from_scores(read_train_scores(model_dir), percentile, scope)


def read_train_scores(model_dir: str | Path) -> pd.DataFrame:
    """``<model_dir>/train_scores.csv`` (written by the train stage); errors name the file."""
    path = Path(model_dir) / TRAIN_SCORES
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: train the model first, or give a fixed --threshold"
        )
    frame = pd.read_csv(path, dtype={"machine_id": str}, keep_default_na=False)
    missing = {"machine_type", "machine_id", "score"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: lacks columns {sorted(missing)}")
    return frame


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their ``*.wav`` files (recursive, sorted).

    A path that does not exist is kept: scoring it reports it as a bad file.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        files += sorted(p for p in path.rglob("*.wav") if p.is_file()) if path.is_dir() else [path]
    return list(dict.fromkeys(files))


@dataclass(frozen=True)
class ClipError:
    """A file that could not be scored and why (the message names the file)."""

    path: Path
    message: str


@dataclass(frozen=True)
class _Clip:
    path: Path
    machine_type: str
    machine_id: str
    class_index: int


def identify(
    path: Path,
    class_to_index: dict[tuple[str, str], int],
    model_name: str,
    machine: tuple[str, str] | None = None,
) -> _Clip:
    """Machine type and ID of a file (from its DCASE path unless ``machine`` is given).

    Raises ``LayoutError`` (name does not parse) or ``ValueError`` (no such file, machine
    unknown to the model), both naming the file.
    """
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    if machine is None:
        clip = parse_clip_path(path)
        machine = (clip.machine_type, clip.machine_id)
    if machine not in class_to_index:
        known = ", ".join(f"{t}/{i}" for t, i in class_to_index)
        raise ValueError(
            f"{path}: machine {machine[0]}/{machine[1]} is unknown to model {model_name} "
            f"(it knows {known})"
        )
    return _Clip(path, machine[0], machine[1], class_to_index[machine])


def score_files(
    trained,
    files: Sequence[Path],
    thresholds: Thresholds,
    *,
    machine: tuple[str, str] | None = None,
    sample_rate: int | None = None,
    clip_samples: int | None = None,
    batch_size: int = 16,
    device: str = "cpu",
) -> tuple[pd.DataFrame, list[ClipError]]:
    """Score ``files`` with a :class:`~benchmark.training.checkpoint.TrainedModel`.

    ``sample_rate`` and ``clip_samples`` default to the model's (see :func:`input_format`).
    Returns one row per scored file (``OUTPUT_COLUMNS``, input order) and the files that failed.
    """
    from benchmark.evaluation.scores import anomaly_scores, frame_scores

    sample_rate, clip_samples = input_format(trained, sample_rate, clip_samples)
    if trained.data.get("data_source") == "synthetic":
        log.warning(
            "model %s was trained on synthetic data: its scores say nothing about real machines",
            trained.name,
        )
    errors: list[ClipError] = []
    rows: list[dict[str, object]] = []
    for batch in _loaded_batches(trained, files, machine, sample_rate, clip_samples, batch_size,
                                 errors):
        clips, waves, lengths = zip(*batch, strict=True)
        wave = torch.from_numpy(np.stack(waves)).to(device)  # (B, L)
        target = torch.tensor([c.class_index for c in clips], dtype=torch.long, device=device)
        if trained.spec.objective == "reconstruction":  # each clip's own frames (whole clips)
            front = trained.model.frontend
            frames = torch.tensor([front.num_frames(n) for n in lengths], device=device)
            scores = frame_scores(trained.model, front(wave), target, frames).cpu().numpy()
        else:
            scores = anomaly_scores(trained.model, trained.spec, wave, target)  # (B,)
        for clip, score in zip(clips, scores, strict=True):
            threshold = thresholds.get(clip.machine_type, clip.machine_id)
            rows.append(
                {
                    "path": str(clip.path),
                    "machine_type": clip.machine_type,
                    "machine_id": clip.machine_id,
                    "score": float(score),
                    "threshold": threshold,
                    "decision": "anomalous" if score > threshold else "normal",
                }
            )
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS), errors


def _loaded_batches(
    trained,
    files: Sequence[Path],
    machine: tuple[str, str] | None,
    sample_rate: int,
    clip_samples: int,
    batch_size: int,
    errors: list[ClipError],
) -> Iterator[list[tuple[_Clip, np.ndarray, int]]]:
    """Batches of (clip, waveform (L,), the clip's own samples); a file that fails is appended to
    ``errors``."""
    batch: list[tuple[_Clip, np.ndarray, int]] = []
    for path in files:
        try:
            clip = identify(path, trained.class_to_index, trained.name, machine)
            wave, length = load_clip_with_length(path, sample_rate=sample_rate,
                                                 num_samples=clip_samples)
        except (LayoutError, AudioError, ValueError, OSError) as error:
            message = str(error)
            if str(path) not in message:
                message = f"{path}: {message}"
            errors.append(ClipError(path, message))
            continue
        batch.append((clip, wave, length))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def input_format(
    trained, sample_rate: int | None = None, clip_samples: int | None = None
) -> tuple[int, int]:
    """``(sample_rate, clip_samples)`` to score with: as given, else those the model was trained
    with (``trained.data``), else 16 kHz and :func:`default_clip_samples` (older checkpoints)."""
    data = trained.data
    length_key = "dcase_clip_samples" if _reads_whole_clips(trained) else "clip_samples"
    if sample_rate is None:
        sample_rate = int(data.get("sample_rate", SAMPLE_RATE))
    if clip_samples is None:
        clip_samples = int(data.get(length_key, default_clip_samples(trained.spec)))
    trained_with = (data.get("sample_rate", sample_rate), data.get(length_key, clip_samples))
    if (sample_rate, clip_samples) != trained_with:
        log.warning(
            "model %s was trained on %s samples at %s Hz, scoring %d samples at %d Hz",
            trained.name, trained_with[1], trained_with[0], clip_samples, sample_rate,
        )
    return sample_rate, clip_samples


def _reads_whole_clips(trained) -> bool:
    """Frame models on the DCASE baseline's front end read each clip whole (ToyCar: 11 s)."""
    from benchmark.features.baselines import DcaseLogMel

    return isinstance(getattr(trained.model, "frontend", None), DcaseLogMel)


def default_clip_samples(spec) -> int:
    """Samples per clip a model expects: its waveform input length, else 10 s at 16 kHz."""
    if spec.input_kind == "waveform":
        return int(spec.input_shape[-1])
    return 10 * SAMPLE_RATE

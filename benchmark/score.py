"""Scoring new recordings with a trained model: anomaly score + normal/anomalous decision.

The core of ``python -m benchmark score --model NAME [--backend BACKEND] PATH...`` (see
:mod:`benchmark.__main__`). A clip's machine type and ID come from its DCASE path
(``<type>/<split>/<label>_id_XX_N.wav``, :func:`benchmark.data.layout.parse_clip_path`; for a model
trained on DCASE 2021+, ``section_XX_..._NNNN[_attrs].wav`` and the ID is the section) or are
given for all files at once. Where a section has several classes (DCASE 2023+ attribute
classes), a clip is scored by its section's summed softmax, as in training.

Its score is by default (backend ``loss``) the model's own anomaly score
(:func:`benchmark.evaluation.scores.anomaly_scores`, larger = more anomalous) and the decision
compares it with a threshold taken from the distribution of the model's scores on its own
(normal) training clips, ``models/NAME/seed-K/train_scores.csv``: by default the 90th
percentile of the clip's (type, ID), or of its machine type, or of all training clips.

With another *scoring backend* (a name of ``scoring.backends`` in ``params.yaml``,
:mod:`benchmark.scoring`), the backend is fitted per machine ID (``"type/id"``) on the run's
reference clips, the ``train_*`` arrays of ``models/NAME/seed-K/embeddings.npz`` (the clips of
``train_scores.csv``), and scores each file's embedding (or residual) from the same forward
pass (:func:`benchmark.evaluation.scores.clip_outputs` / ``frame_outputs``). The configuration
the scoring stage used for the run, ``models/NAME/scores-seed-K/backends.json``, wins over
``params.yaml``'s (a warning when they differ), and the thresholds are the same percentiles of
the backend's column of ``models/NAME/scores-seed-K/train.csv`` (the reference clips'
cross-fitted scores, ``scoring.threshold_folds``) (:func:`load_backend`,
:func:`backend_thresholds`).

Clips are read at the sample rate and length the model was trained with (``data`` of
``final.pt``; 16 kHz and :func:`default_clip_samples` for older checkpoints), and scoring with a
model trained on synthetic data logs a warning.

A file that cannot be scored (name does not parse, (type, ID) unknown to the model or without
reference clips for the backend, unreadable audio) becomes a :class:`ClipError` naming it; the
other files are still scored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch

from benchmark.data.audio import AudioError, load_clip_with_length
from benchmark.data.datasets import get_dataset
from benchmark.data.index import parse_clip
from benchmark.data.layout import SAMPLE_RATE, LayoutError

if TYPE_CHECKING:
    from benchmark.evaluation.scores import ClipOutputs
    from benchmark.scoring.backends import ScoringBackend
    from benchmark.scoring.params import BackendConfig, ScoringParams
    from benchmark.scoring.stage import RunInputs

Scope = Literal["id", "type", "all"]
SCOPES: tuple[str, ...] = ("id", "type", "all")
TRAIN_SCORES = "train_scores.csv"
LOSS = "loss"
"""The default backend: the model's own score, thresholds from :data:`TRAIN_SCORES`."""
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


def backend_thresholds(scores_dir: Path, name: str, percentile: float = 90.0,
                       scope: Scope = "id") -> Thresholds:
    """:func:`thresholds_from_scores` of backend ``name``'s column of ``scores_dir/train.csv``
    (the reference clips' cross-fitted scores the scoring stage writes)."""
    from benchmark.scoring.stage import SPLIT_FILE

    path = scores_dir / SPLIT_FILE.format(split="train")  # the cross-fitted reference scores
    frame = pd.read_csv(path, dtype={"machine_id": str, "path": str}) if path.is_file() else None
    if frame is None or name not in frame.columns:
        what = "not found" if frame is None else f"has no column {name!r}"
        raise ValueError(
            f"{path} {what}: no cross-fitted training scores of backend {name} to take a "
            "threshold from; give a fixed --threshold, or set scoring.threshold_folds (>= 2) "
            "and run dvc repro")
    scores = frame[["machine_type", "machine_id"]].assign(score=frame[name].to_numpy(float))
    return thresholds_from_scores(scores, percentile, scope)


def run_scores_dir(model_dir: Path) -> Path:
    """``models/NAME/scores-seed-K``, the scoring stage's outputs for run ``models/NAME/seed-K``."""
    from benchmark.scoring.stage import scores_folder
    from benchmark.training.checkpoint import run_seed

    seed = run_seed(model_dir)
    if seed is None:
        raise ValueError(f"{model_dir}: a run of the older layout (no seed-K folder) has no "
                         "embeddings for the scoring backends; train it again, or score with "
                         f"--backend {LOSS}")
    return scores_folder(model_dir.parent.parent, model_dir.parent.name, seed)


@dataclass(frozen=True)
class FittedBackend:
    """A scoring backend fitted per machine ID (``"type/id"``) on a run's reference clips."""

    config: BackendConfig
    backend: ScoringBackend

    def check(self, clip: _Clip) -> None:
        """``ValueError`` naming the file when its machine ID has no reference clips."""
        if _group(clip) not in self.backend.states_:
            raise ValueError(
                f"{clip.path}: machine {_group(clip)} has no reference clips in the run, so "
                f"backend {self.config.name} cannot score it (it knows "
                f"{', '.join(sorted(self.backend.states_))})")

    def inputs(self, outputs: ClipOutputs) -> np.ndarray:
        """``(B, D)``: what the backend reads of a batch's forward pass."""
        if self.config.input == "score":
            return outputs.score[:, None]
        return getattr(outputs, self.config.input)

    def score(self, x: np.ndarray, clips: Sequence[_Clip]) -> np.ndarray:
        """``(B,)`` scores of inputs ``x (B, D)`` of ``clips``."""
        return self.backend.score(x, np.array([_group(c) for c in clips]))


def _group(clip: _Clip) -> str:
    return f"{clip.machine_type}/{clip.machine_id}"


def load_backend(model_dir: Path, name: str, params_path: str | Path) -> FittedBackend:
    """Backend ``name`` as it scored run ``model_dir`` (see :func:`resolve_backend`), fitted on
    the run's reference clips (``embeddings.npz``'s ``train_*``, grouped by ``"type/id"``)."""
    from benchmark.config import load_section
    from benchmark.scoring.params import ScoringParams
    from benchmark.scoring.stage import id_groups, read_run

    scores_dir = run_scores_dir(model_dir)
    params = load_section("scoring", ScoringParams, params_path)
    run = read_run(model_dir)
    config = resolve_backend(name, params, read_backends_file(scores_dir), run, scores_dir)
    x, groups = run.inputs["train"][config.input], id_groups(run.scores["train"])
    try:
        backend = config.create().fit(x, groups)
    except ValueError as error:
        raise ValueError(f"backend {name} cannot be fitted on the {len(x)} reference clips of "
                         f"{model_dir}: {error}") from None
    return FittedBackend(config, backend)


def read_backends_file(scores_dir: Path) -> dict[str, Any] | None:
    """``scores_dir/backends.json`` (``{backends, skipped, threshold_folds}``), None if absent."""
    from benchmark.scoring.stage import BACKENDS_FILE

    path = scores_dir / BACKENDS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {"backends": dict(data["backends"]), "skipped": dict(data.get("skipped", {}))}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: unreadable ({error}); run the scoring stage again "
                         "(dvc repro)") from None


def resolve_backend(name: str, params: ScoringParams, scored: dict[str, Any] | None,
                    run: RunInputs, scores_dir: Path) -> BackendConfig:
    """The configuration of backend ``name`` for ``run``: the one that scored it (``scored``,
    :func:`read_backends_file`; a warning when ``params`` differs), else ``params``'s.

    A backend the run's model has no input for (skipped) or an unknown name is a ``ValueError``
    listing the valid choices for this model.
    """
    from benchmark.scoring.params import BackendConfig
    from benchmark.scoring.stage import BACKENDS_FILE

    if scored is None:
        configs, skipped = {c.name: c for c in params.configs()}, {}
    else:
        configs = {n: BackendConfig(n, e["backend"], e["input"], dict(e.get("params", {})))
                   for n, e in scored["backends"].items()}
        skipped = dict(scored["skipped"])
    skipped |= {n: f"input {c.input!r}: the model has none" for n, c in configs.items()
                if c.input not in run.inputs["train"] and n not in skipped}
    valid = [LOSS, *(n for n in configs if n not in skipped and n != LOSS)]
    where = scores_dir / BACKENDS_FILE if scored is not None else "scoring.backends"
    if name in skipped:
        raise ValueError(f"backend {name} was skipped for {run.folder} ({skipped[name]}); valid "
                         f"choices for this model ({where}): {', '.join(valid)}")
    if name not in configs:
        raise ValueError(f"unknown backend {name!r}; valid choices for this model ({where}): "
                         f"{', '.join(valid)}")
    config = configs[name]
    mine = params.config(name) if name in params.backends else None
    if scored is not None and mine != config:
        log.warning("scoring.backends.%s of the params file (%s) is not what scored %s (%s): "
                    "using the run's (dvc repro scores the run with the params file's)", name,
                    None if mine is None else mine.describe(), scores_dir, config.describe())
    return config


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
    dataset: str = "dcase2020",
) -> _Clip:
    """Machine type and ID (from DCASE 2021: section) of a file, from its path in the layout of
    ``dataset`` unless ``machine`` is given.

    Raises ``LayoutError`` (name does not parse) or ``ValueError`` (no such file, machine
    unknown to the model), both naming the file.
    """
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    if machine is None:
        clip = parse_clip(path, get_dataset(dataset))
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
    backend: FittedBackend | None = None,
    machine: tuple[str, str] | None = None,
    sample_rate: int | None = None,
    clip_samples: int | None = None,
    batch_size: int = 16,
    device: str = "cpu",
) -> tuple[pd.DataFrame, list[ClipError]]:
    """Score ``files`` with a :class:`~benchmark.training.checkpoint.TrainedModel`.

    ``backend``: a fitted scoring backend (:func:`load_backend`) scores each file's embedding or
    residual instead of the model's own score (None: that score, backend ``loss``).
    ``sample_rate`` and ``clip_samples`` default to the model's (see :func:`input_format`).
    Returns one row per scored file (``OUTPUT_COLUMNS``, input order) and the files that failed.
    """
    sample_rate, clip_samples = input_format(trained, sample_rate, clip_samples)
    if trained.data.get("data_source") == "synthetic":
        log.warning(
            "model %s was trained on synthetic data: its scores say nothing about real machines",
            trained.name,
        )
    errors: list[ClipError] = []
    rows: list[dict[str, object]] = []
    for batch in _loaded_batches(trained, files, machine, sample_rate, clip_samples, batch_size,
                                 errors, backend):
        clips, waves, lengths = zip(*batch, strict=True)
        wave = torch.from_numpy(np.stack(waves)).to(device)  # (B, L)
        target = torch.tensor([c.class_index for c in clips], dtype=torch.long, device=device)
        outputs = _forward(trained, wave, target, lengths, with_inputs=backend is not None)
        if backend is None:
            scored = list(zip(clips, outputs.score, strict=True))
        else:
            scored = _backend_scores(backend, outputs, clips, errors)
        rows += [_output_row(clip, score, thresholds) for clip, score in scored]
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS), errors


def _forward(trained, wave: torch.Tensor, target: torch.Tensor, lengths: Sequence[int],
             with_inputs: bool) -> ClipOutputs:
    """One forward pass of a batch ``wave (B, L)`` of clips of ``lengths`` samples: the model's
    scores and, ``with_inputs``, the embeddings (and residuals) the backends read (else an
    empty ``(B, 0)`` embedding). Frame models score each clip's own frames (whole clips)."""
    from benchmark.evaluation.scores import (
        ClipOutputs,
        anomaly_scores,
        clip_outputs,
        frame_outputs,
        frame_scores,
    )

    model, spec = trained.model, trained.spec
    groups = (None if trained.groups is None
              else torch.tensor(trained.groups, device=wave.device))
    if spec.objective == "reconstruction":
        frames = torch.tensor([model.frontend.num_frames(n) for n in lengths], device=wave.device)
        logmel = model.frontend(wave)
        if with_inputs:
            return frame_outputs(model, logmel, target, frames)
        score = frame_scores(model, logmel, target, frames).cpu().numpy()
    elif with_inputs:
        return clip_outputs(model, spec, wave, target, groups)
    else:
        score = anomaly_scores(model, spec, wave, target, groups)  # (B,)
    return ClipOutputs(score, np.empty((len(score), 0), dtype=np.float32))


def _backend_scores(backend: FittedBackend, outputs: ClipOutputs, clips: Sequence[_Clip],
                    errors: list[ClipError]) -> list[tuple[_Clip, float]]:
    """``(clip, score)`` of a batch by ``backend``; a clip it refuses (a non-finite or zero
    embedding) is appended to ``errors`` instead."""
    x = backend.inputs(outputs)  # (B, D)
    try:
        return list(zip(clips, backend.score(x, clips), strict=True))
    except ValueError:
        pass  # find the clip(s) at fault
    scored = []
    for clip, row in zip(clips, x, strict=True):
        try:
            scored.append((clip, float(backend.score(row[None], [clip])[0])))
        except ValueError as error:
            errors.append(ClipError(clip.path, f"{clip.path}: {error}"))
    return scored


def _output_row(clip: _Clip, score: float | np.floating, thresholds: Thresholds
                ) -> dict[str, object]:
    """One row of :data:`OUTPUT_COLUMNS` (the decision compares ``score`` as it comes: a
    float32 score with the threshold in float32, as ever)."""
    threshold = thresholds.get(clip.machine_type, clip.machine_id)
    return {
        "path": str(clip.path),
        "machine_type": clip.machine_type,
        "machine_id": clip.machine_id,
        "score": float(score),
        "threshold": threshold,
        "decision": "anomalous" if score > threshold else "normal",
    }


def _loaded_batches(
    trained,
    files: Sequence[Path],
    machine: tuple[str, str] | None,
    sample_rate: int,
    clip_samples: int,
    batch_size: int,
    errors: list[ClipError],
    backend: FittedBackend | None = None,
) -> Iterator[list[tuple[_Clip, np.ndarray, int]]]:
    """Batches of (clip, waveform (L,), the clip's own samples); a file that fails (or whose
    machine ID ``backend`` has no reference clips of) is appended to ``errors``."""
    batch: list[tuple[_Clip, np.ndarray, int]] = []
    for path in files:
        try:
            clip = identify(path, trained.class_to_index, trained.name, machine,
                            trained.data.get("dataset", "dcase2020"))
            if backend is not None:
                backend.check(clip)
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

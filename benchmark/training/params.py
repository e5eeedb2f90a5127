"""The ``train:`` (shared) and ``models.<NAME>`` sections of ``params.yaml``.

Defaults live in ``params.yaml`` only. ``python -m benchmark.train --model NAME`` loads
``load_section("train", TrainParams)`` and ``load_section(f"models.{NAME}", ModelParams)``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from benchmark.config import ConfigError

# the keys of benchmark.training.losses.LOSSES (kept here: reading params must not import torch)
LossName = Literal["arcface", "noisy_arcmix", "arcmix", "mse"]


@dataclass
class TrainParams:
    """``train:``: settings shared by every model."""

    device: str  # cpu | cuda | auto (cuda when available)
    threads: int  # torch CPU threads; 0 = torch's default
    frame_threads: int  # torch CPU threads of the frame models (tiny steps: 1 is fastest)
    features_dir: str  # the cache written by python -m benchmark.features
    models_dir: str  # models/<NAME>/ (checkpoints, scores)
    reports_dir: str  # reports/metrics/<NAME>.json, reports/roc/<NAME>.csv
    score_batch_size: int  # clips per forward pass when scoring
    train_score_clips_per_class: int  # train clips scored per (type, ID) for thresholds; 0 = all
    amp: bool  # bf16 autocast on CUDA (training and scoring); ignored on the CPU
    compile: bool  # torch.compile the classifiers on CUDA; warned and ignored on the CPU
    channels_last: bool  # channels_last memory format for the classifiers on CUDA
    prefetch: int  # batches a background thread prepares ahead (0 = in the training loop)
    mlflow: bool  # track runs in MLflow
    mlflow_tracking_uri: str  # MLFLOW_TRACKING_URI in the environment wins over this
    mlflow_experiment: str

    def validate(self) -> None:
        if not re.fullmatch(r"cpu|cuda|auto|cuda:[0-9]+", self.device):
            raise ConfigError(
                f"'train.device' must be cpu, cuda, cuda:N or auto, got {self.device!r}"
            )
        for key in ("threads", "frame_threads"):
            if getattr(self, key) < 0:
                raise ConfigError(f"'train.{key}' must be >= 0, got {getattr(self, key)}")
        if self.train_score_clips_per_class < 0:
            raise ConfigError(
                "'train.train_score_clips_per_class' must be >= 0, "
                f"got {self.train_score_clips_per_class}"
            )
        if self.prefetch < 0:
            raise ConfigError(f"'train.prefetch' must be >= 0, got {self.prefetch}")
        if self.score_batch_size <= 0:
            raise ConfigError(f"'train.score_batch_size' must be > 0, got {self.score_batch_size}")


@dataclass
class ModelParams:
    """``models.<NAME>``: how one registered model is trained."""

    epochs: int  # the paper: 300 (classification), the DCASE AE: 100
    batch_size: int  # clips (classification) or 5-frame vectors (reconstruction) per step
    lr: float  # peak learning rate (the paper: 1e-4)
    weight_decay: float  # AdamW decoupled weight decay (the paper: 0.01); Adam: L2 (0 = none)
    optimizer: Literal["adamw", "adam"]
    eta_min_ratio: float  # cosine annealing floor as a fraction of lr (the paper: 0.1)
    schedule_start_epoch: int  # constant lr for this many epochs, then cosine (STgram-MFN: 20)
    mixup_alpha: float  # Beta(alpha, alpha) mixup, 0 = off (classification only)
    loss: LossName  # training/losses.py: arcface | noisy_arcmix | arcmix (classifiers), mse
    clips_per_epoch: int  # random training clips drawn per epoch, 0 = all (the paper: all)
    scope: Literal["all_types", "per_type"]  # one model for all machine types, or one per type
    validation_split: float  # frame models: last fraction of each type's vectors held out (Keras)
    overrides: dict[str, Any] = field(default_factory=dict)  # create_model keyword arguments

    def validate(self) -> None:
        for key in ("epochs", "batch_size"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"'models.*.{key}' must be > 0, got {getattr(self, key)}")
        if self.schedule_start_epoch < 0:
            raise ConfigError(
                f"'models.*.schedule_start_epoch' must be >= 0, got {self.schedule_start_epoch}"
            )
        if self.clips_per_epoch < 0:
            raise ConfigError(
                f"'models.*.clips_per_epoch' must be >= 0, got {self.clips_per_epoch}"
            )
        if not self.lr > 0:
            raise ConfigError(f"'models.*.lr' must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.mixup_alpha < 0:
            raise ConfigError("'models.*.weight_decay' and 'mixup_alpha' must be >= 0")
        if self.loss == "arcface" and self.mixup_alpha > 0:
            raise ConfigError(
                f"'models.*.loss' arcface trains without mixup, but mixup_alpha is "
                f"{self.mixup_alpha}: set mixup_alpha: 0, or loss: noisy_arcmix (or arcmix)"
            )
        if not 0 <= self.validation_split < 1:
            raise ConfigError(
                f"'models.*.validation_split' must be in [0, 1), got {self.validation_split}"
            )
        if not 0 <= self.eta_min_ratio <= 1:
            raise ConfigError(
                f"'models.*.eta_min_ratio' must be in [0, 1], got {self.eta_min_ratio}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

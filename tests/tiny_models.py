"""Tiny registered models and a tiny feature cache for the training/MLflow tests.

The real architectures are too slow for unit tests; these follow the same model API (see the
interface contract) at a few hundred parameters and are registered under ``_tiny_*`` names.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.architectures.frontends import mix_pairs
from benchmark.architectures.registry import ModelSpec, list_models, register_model
from benchmark.config import from_dict
from benchmark.data.params import DataParams
from benchmark.features.cache import FeaturesParams, build_cache
from benchmark.features.logmel import LogMel
from benchmark.prepare import prepare
from benchmark.training.params import ModelParams, TrainParams

TINY_CLS = "_tiny_classifier"
TINY_AE = "_tiny_autoencoder"
CLIP_SAMPLES = 8000  # 0.5 s: 16 log-Mel frames


class CosineHead(nn.Module):
    """An additive-margin cosine head (CosFace-like stand-in for ArcFace)."""

    def __init__(self, dim: int, num_classes: int, s: float = 10.0, m: float = 0.3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, dim) * 0.1)
        self.s, self.m = s, m

    def forward(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        cos = F.linear(F.normalize(emb), F.normalize(self.weight))  # (B, classes)
        if target is not None:
            cos = cos - self.m * F.one_hot(target, cos.shape[1])
        return self.s * cos


class TinyClassifier(nn.Module):
    def __init__(self, num_classes: int = 41, h: int = 8, nan: bool = False) -> None:
        super().__init__()
        self.frontend = LogMel(n_mels=32)
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, h),
        )
        self.id_head = CosineHead(h, num_classes)
        self.num_classes, self.embedding_dim, self.nan = num_classes, h, nan

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        return (self.frontend(wave) / 20.0).unsqueeze(1)  # (B, 1, 32, T)

    def forward(self, wave: torch.Tensor, perm: torch.Tensor | None = None,
                lam: float = 1.0) -> torch.Tensor:
        emb = self.backbone(self.features(mix_pairs(wave, perm, lam)))  # (B, h)
        return emb * float("nan") if self.nan else emb

    def head(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return self.id_head(emb, target)

    def attention_map(self, wave: torch.Tensor) -> None:
        return None


class TinyAutoencoder(nn.Module):
    def __init__(self, bottleneck: int = 4) -> None:
        super().__init__()
        self.frontend = LogMel()
        self.net = nn.Sequential(nn.Linear(640, bottleneck), nn.ReLU(), nn.Linear(bottleneck, 640))
        self.bottleneck_width = bottleneck

    def frames(self, logmel: torch.Tensor) -> torch.Tensor:
        windows = logmel.unfold(-1, 5, 1)  # (B, 128, T-4, 5)
        return windows.permute(0, 2, 3, 1).reshape(logmel.shape[0], -1, 640)  # (B, T-4, 640)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x / 50.0) * 50.0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[0](x / 50.0)  # (..., bottleneck)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        return x


def register_tiny_models() -> None:
    if TINY_CLS not in list_models():
        register_model(ModelSpec(TINY_CLS, "test", "waveform", "classification",
                                 (CLIP_SAMPLES,), None, "tiny test classifier"))(TinyClassifier)
    if TINY_AE not in list_models():
        register_model(ModelSpec(TINY_AE, "test", "logmel_frames", "reconstruction",
                                 (12, 640), None, "tiny test autoencoder"))(TinyAutoencoder)


def tiny_data_params(root: Path) -> DataParams:
    return from_dict(DataParams, {
        "source": "synthetic", "dataset": "dcase2020", "root": str(root / "raw"),
        "sample_rate": 16000,
        "clip_samples": CLIP_SAMPLES, "machine_types": ["fan", "slider"],
        "synthetic": {"seed": 0, "ids_per_type": 2, "eval_ids_per_type": 0,
                      "train_clips_per_id": 4,
                      "test_normal_per_id": 2, "test_anomaly_per_id": 2,
                      "anomaly_strength": 3.0, "workers": 2,
                      "target_train_per_id": 1, "domain_shift": 1.0},
        "dcase2020": {"base_url": "http://127.0.0.1:9", "additional_train": False,
                      "eval_test": False, "ground_truth_url": "http://127.0.0.1:9/x.csv",
                      "download_dir": str(root / "dl"), "keep_archives": False, "retries": 0,
                      "backoff_s": 0.0, "timeout_s": 1.0, "max_extract_gb": 1.0,
                      "max_compression_ratio": 50.0},
        "zenodo": {"api_url": "http://127.0.0.1:9/api", "additional_train": False,
                   "eval_test": False, "ground_truth_url": None, "download_dir": str(root / "dl"),
                   "keep_archives": False, "retries": 0, "backoff_s": 0.0, "timeout_s": 1.0,
                   "max_extract_gb": 1.0, "max_compression_ratio": 50.0},
        "local": {"path": None},
    }, "data")


def tiny_features_params(root: Path, **overrides: Any) -> FeaturesParams:
    values = {"index": str(root / "raw" / "index.csv"), "out_dir": str(root / "features"),
              "sample_rate": 16000, "clip_samples": CLIP_SAMPLES,
              "dcase_clip_samples": CLIP_SAMPLES, "chunk_clips": 5,
              "workers": 2, "logmel_dtype": "float16"}
    values.update(overrides)
    return FeaturesParams(**values)


def make_tiny_cache(root: Path) -> Path:
    """Synthetic data (2 types x 2 IDs, 4 train + 2 + 2 test clips each) and its cache."""
    prepare(tiny_data_params(root))
    return build_cache(tiny_features_params(root))


def tiny_train_params(root: Path, features: Path, **overrides: Any) -> TrainParams:
    values = {"device": "cpu", "threads": 2, "frame_threads": 1, "features_dir": str(features),
              "models_dir": str(root / "models"), "reports_dir": str(root / "reports"),
              "score_batch_size": 8, "train_score_clips_per_class": 0, "amp": True,
              "compile": False, "channels_last": True, "prefetch": 2, "mlflow": False,
              "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
              "mlflow_experiment": "test"}
    values.update(overrides)
    return from_dict(TrainParams, values, "train")


def tiny_model_params(**overrides: Any) -> ModelParams:
    values = {"epochs": 2, "batch_size": 4, "lr": 0.01, "weight_decay": 0.01,
              "optimizer": "adamw", "eta_min_ratio": 0.1, "schedule_start_epoch": 0,
              "mixup_alpha": 0.2, "clips_per_epoch": 0, "scope": "all_types",
              "validation_split": 0.0, "loss": "noisy_arcmix", "overrides": {}}
    values.update(overrides)
    return from_dict(ModelParams, values, "models.tiny")


def as_yaml_dict(params: Any) -> dict[str, Any]:
    return asdict(params)


def save_untrained(model_dir: Path, classes: list[tuple[str, str]], name: str = "proposed") -> None:
    """``model_dir/final.pt`` per the checkpoint contract, with an untrained registered model."""
    import benchmark.architectures  # noqa: F401  (registers the models)
    from benchmark.architectures.registry import create_model, get_spec
    from benchmark.training.checkpoint import save_atomic

    torch.manual_seed(0)
    kwargs = {"num_classes": len(classes)}
    spec = get_spec(name)
    save_atomic(
        {
            "arch": name, "model_kwargs": kwargs, "classes": [list(c) for c in classes],
            "state_dict": create_model(name, **kwargs).state_dict(),
            "objective": spec.objective, "input_kind": spec.input_kind, "epoch": 0,
            "params": {}, "train_score_stats": {},
        },
        model_dir / "final.pt",
    )

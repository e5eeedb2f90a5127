"""Shared test fixtures (kept small: tiny inputs, no network)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from benchmark.config import from_dict
from benchmark.data.layout import MACHINE_TYPES
from benchmark.data.params import DataParams

# ../shared/real-clips beside the checkout, or wherever ASD_REAL_CLIPS points
REAL_CLIPS = Path(
    os.environ.get("ASD_REAL_CLIPS")
    or Path(__file__).resolve().parents[2] / "shared" / "real-clips"
)


@pytest.fixture(autouse=True)
def _no_leaked_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test starts with ``MLFLOW_TRACKING_URI`` set: not the user's (tests never track into a
    real server) and not one an earlier test leaked (``mlflow.set_tracking_uri``, called by every
    in-process training with tracking on, writes it into ``os.environ``, and the subprocesses a
    later test starts would track into that test's store). A test that needs it sets it."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def real_clips() -> Path:
    """The shipped real DCASE / MIMII clips (skips the test when they are absent)."""
    if not (REAL_CLIPS / "dcase2020-sample").is_dir():
        pytest.skip(f"real clips not found at {REAL_CLIPS} (set ASD_REAL_CLIPS)")
    return REAL_CLIPS


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def data_params(tmp_path: Path):
    """``data_params(**overrides) -> DataParams``: a tiny data section under ``tmp_path``."""
    base = {
        "source": "synthetic",
        "dataset": "dcase2020",
        "root": str(tmp_path / "raw"),
        "sample_rate": 16000,
        "clip_samples": 16000,
        "machine_types": list(MACHINE_TYPES),
        "synthetic": {
            "seed": 0,
            "ids_per_type": 2,
            "eval_ids_per_type": 0,
            "train_clips_per_id": 2,
            "test_normal_per_id": 1,
            "test_anomaly_per_id": 1,
            "anomaly_strength": 1.0,
            "workers": 2,
            "target_train_per_id": 1,
            "domain_shift": 1.0,
        },
        "dcase2020": {
            "base_url": "http://127.0.0.1:9",
            "additional_train": False,
            "eval_test": False,
            "ground_truth_url": "http://127.0.0.1:9/eval_data_list.csv",
            "download_dir": str(tmp_path / "downloads"),
            "keep_archives": False,
            "retries": 2,
            "backoff_s": 0.0,
            "timeout_s": 5.0,
            "max_extract_gb": 1.0,
            "max_compression_ratio": 50.0,
        },
        "zenodo": {
            "api_url": "http://127.0.0.1:9/api",
            "additional_train": False,
            "eval_test": False,
            "ground_truth_url": None,
            "download_dir": str(tmp_path / "downloads"),
            "keep_archives": False,
            "retries": 2,
            "backoff_s": 0.0,
            "timeout_s": 5.0,
            "max_extract_gb": 1.0,
            "max_compression_ratio": 50.0,
        },
        "local": {"path": None},
    }

    def make(**overrides: Any) -> DataParams:
        return from_dict(DataParams, _merge(base, overrides), "data")

    return make


@pytest.fixture(autouse=True)
def _repo_root_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow stores and artifacts of a test resolve into its own folder, never the checkout."""
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))

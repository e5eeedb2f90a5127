"""Config hardening: non-finite numbers, duplicate YAML keys, features vs data, train.device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from benchmark.config import ConfigError, from_dict, load_section, read_params
from benchmark.features.cache import FeaturesParams
from benchmark.training.params import TrainParams

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Section:
    rate: float
    size: int
    weights: list[float]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("number", [".nan", ".NaN", ".inf", "-.inf", "+.inf"])
@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("rate: {x}\n  size: 1\n  weights: []", "s.rate"),
        ("rate: 1.0\n  size: {x}\n  weights: []", "s.size"),
        ("rate: 1.0\n  size: 1\n  weights: [0.5, {x}]", "s.weights[1]"),
    ],
    ids=["float", "int", "list-item"],
)
def test_non_finite_numbers_are_rejected_naming_the_key(tmp_path, number, body, named):
    path = _write(tmp_path, "s:\n  " + body.format(x=number) + "\n")
    with pytest.raises(ConfigError) as info:
        load_section("s", Section, path)
    assert f"'{named}'" in str(info.value)


def test_finite_numbers_still_load(tmp_path):
    path = _write(tmp_path, "s:\n  rate: 1.0e-3\n  size: 3\n  weights: [1, 2.5]\n")
    assert load_section("s", Section, path) == Section(1e-3, 3, [1.0, 2.5])


@pytest.mark.parametrize(
    ("text", "key", "line", "first"),
    [
        ("s:\n  rate: 1.0\n  size: 1\n  weights: []\ns:\n  rate: 2.0\n", "s", 5, 1),
        ("s:\n  rate: 1.0\n  size: 1\n  rate: 2.0\n  weights: []\n", "rate", 4, 2),
        ("a:\n  b:\n    c: {x: 1, y: 2, x: 3}\n", "x", 3, 3),
    ],
    ids=["top-level", "nested", "flow-mapping"],
)
def test_duplicate_keys_name_the_file_key_and_line(tmp_path, text, key, line, first):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_params(path)
    message = str(info.value)
    assert str(path) in message and f"duplicate key '{key}'" in message
    assert f"line {line}" in message and f"first given at line {first}" in message


def test_merge_keys_may_be_overridden(tmp_path):
    path = _write(tmp_path, "base: &b {rate: 1.0, size: 1, weights: []}\n"
                            "s:\n  <<: *b\n  rate: 2.0\n")
    assert load_section("s", Section, path).rate == 2.0


def test_invalid_yaml_names_the_file(tmp_path):
    path = _write(tmp_path, "s: [unclosed\n")
    with pytest.raises(ConfigError, match=str(path)):
        read_params(path)


def _repo_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize(("key", "value"), [("sample_rate", 22050), ("clip_samples", 16000)])
def test_features_must_match_the_data_section(tmp_path, key, value):
    params = _repo_params()
    params["features"][key] = value
    path = _write(tmp_path, yaml.safe_dump(params))
    with pytest.raises(ConfigError) as info:
        load_section("features", FeaturesParams, path)
    message = str(info.value)
    assert f"'features.{key}' ({value})" in message
    assert f"'data.{key}' ({params['data'][key]})" in message


def test_repo_params_pass_the_cross_checks():
    assert load_section("features", FeaturesParams, REPO / "params.yaml").sample_rate > 0
    assert read_params(REPO / "params.yaml")["data"]["clip_samples"] > 0


def test_cross_check_skips_absent_sections(tmp_path):
    path = _write(tmp_path, "features: {sample_rate: 8000}\n")
    assert read_params(path) == {"features": {"sample_rate": 8000}}


def _train(device: str) -> TrainParams:
    values = {"device": device, "threads": 0, "frame_threads": 0, "features_dir": "f",
              "models_dir": "m", "reports_dir": "r", "score_batch_size": 4,
              "train_score_clips_per_class": 0, "amp": True, "compile": False,
              "channels_last": True, "prefetch": 2, "mlflow": False,
              "mlflow_tracking_uri": "x", "mlflow_experiment": "e"}
    return from_dict(TrainParams, values, "train")


@pytest.mark.parametrize("device", ["cpu", "cuda", "auto", "cuda:0", "cuda:12"])
def test_train_device_accepts_valid_devices(device):
    assert _train(device).device == device


@pytest.mark.parametrize("device", ["cuda:x", "cuda:", "cuda:1x", "cuda:-1", "gpu"])
def test_train_device_cuda_index_must_be_a_number(device):
    """Needs the ``TrainParams.validate`` change in benchmark/training/params.py."""
    with pytest.raises(ConfigError, match="'train.device'"):
        _train(device)

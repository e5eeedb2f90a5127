"""The whole path on a domain-shift year: synthetic DCASE 2023 data -> features -> training ->
the year's official metrics in the metrics JSON (no download)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import (
    TINY_AE,
    TINY_CLS,
    register_tiny_models,
    tiny_data_params,
    tiny_features_params,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.config import from_dict
from benchmark.data.params import DataParams
from benchmark.evaluation.domain_metrics import official_metrics
from benchmark.evaluation.scores import group_cross_entropy
from benchmark.features.cache import build_cache, open_cache
from benchmark.prepare import prepare
from benchmark.train import train_model

RECIPES = {TINY_CLS: {"epochs": 1}, TINY_AE: {"epochs": 1, "loss": "mse", "scope": "per_type"}}

SYNTHETIC = {"seed": 0, "ids_per_type": 1, "eval_ids_per_type": 0, "train_clips_per_id": 6,
             "test_normal_per_id": 2, "test_anomaly_per_id": 2, "anomaly_strength": 3.0,
             "workers": 2, "target_train_per_id": 2, "domain_shift": 1.0}


@pytest.fixture(scope="module")
def year_root(tmp_path_factory) -> Path:
    """Synthetic DCASE 2023 data (fan, ToyCar; one section, 6 source + 2 target training
    clips, 2 + 2 test clips per domain) and its feature cache."""
    register_tiny_models()
    root = tmp_path_factory.mktemp("dcase2023")
    values = asdict(tiny_data_params(root))
    values.update(dataset="dcase2023", machine_types=["fan", "ToyCar"], synthetic=SYNTHETIC)
    prepare(from_dict(DataParams, values, "data"))
    build_cache(tiny_features_params(root))
    return root


def test_the_cache_has_attribute_classes_grouped_by_section(year_root):
    cache = open_cache(year_root / "features")
    assert cache.dataset == "dcase2023"
    keys = [key for _, key in cache.classes]
    assert len(keys) == 6 and all(k.startswith("section_00_") for k in keys)  # 3 values x 2 types
    assert cache.class_groups() == [0, 0, 0, 1, 1, 1]
    test = cache.split("test")
    assert set(test["domain"]) == {"source", "target"}
    assert (test["class_index"] >= 0).all()


def test_group_scores_sum_the_softmax_of_the_sections_classes():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0], [0.0, 0.0, 3.0, 1.0]])
    groups = torch.tensor([0, 0, 1, 1])
    score = group_cross_entropy(logits, torch.tensor([1, 2]), groups)
    probs = torch.softmax(logits, dim=1)
    expected = -torch.log(torch.stack([probs[0, :2].sum(), probs[1, 2:].sum()]))
    assert torch.allclose(score, expected)


@pytest.mark.parametrize("name", [TINY_CLS, TINY_AE])
def test_a_run_on_a_domain_shift_year_writes_the_official_metrics(year_root, name):
    out_root = year_root / name
    features = year_root / "features"
    out = train_model(name, tiny_train_params(out_root, features),
                      tiny_model_params(**RECIPES[name]))
    scores = pd.read_csv(out.model_dir / "scores.csv", dtype={"section": str},
                         keep_default_na=False)
    assert list(scores.columns) == ["path", "machine_type", "machine_id", "label", "score",
                                    "section", "domain"]
    metrics = json.loads(out.metrics_path.read_text())
    expected = official_metrics(scores, "dcase2023")
    assert metrics["dataset"] == "dcase2023"
    assert metrics["mean"]["official"] == expected["official"]
    assert metrics["official"]["per_type"] == expected["per_type"]
    assert set(metrics["official"]["per_type"]["fan"]) == {"official", "auc_source",
                                                           "auc_target", "pauc"}
    detail = json.loads((out_root / "reports" / "per_id" / f"{name}-seed0.json").read_text())
    assert detail["official_per_section"] == expected["per_section"]
    assert np.isfinite(scores["score"]).all()


def test_scoring_new_recordings_of_a_domain_shift_year_matches_the_run(year_root):
    """``benchmark score``'s core parses the year's names and scores by section, as training."""
    from benchmark.score import score_files, thresholds_from_scores
    from benchmark.training.checkpoint import load_trained

    out = train_model(TINY_CLS, tiny_train_params(year_root / "cli", year_root / "features"),
                      tiny_model_params(epochs=1))
    trained = load_trained(out.model_dir)
    assert trained.groups == [0, 0, 0, 1, 1, 1]
    run = pd.read_csv(out.model_dir / "scores.csv", keep_default_na=False)
    train_scores = pd.read_csv(out.model_dir / "train_scores.csv", keep_default_na=False)
    files = [Path(p) for p in run["path"]]
    if not files[0].is_absolute():
        files = [year_root / "raw" / p for p in run["path"]]
    scored, errors = score_files(trained, files, thresholds_from_scores(train_scores),
                                 batch_size=8)
    assert errors == []
    assert list(scored["machine_id"]) == list(run["machine_id"])
    np.testing.assert_allclose(scored["score"].to_numpy(float), run["score"].to_numpy(float),
                               rtol=1e-5, atol=1e-6)


def test_the_local_source_indexes_a_copy_of_a_year_in_place(year_root, data_params):
    """``data.source: local`` with ``data.dataset``: the same index as the data set's own."""
    params = data_params(source="local", dataset="dcase2023", machine_types=["fan", "ToyCar"],
                         local={"path": str(year_root / "raw")})
    local = pd.read_csv(prepare(params), keep_default_na=False)
    own = pd.read_csv(year_root / "raw" / "index.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(local, own)

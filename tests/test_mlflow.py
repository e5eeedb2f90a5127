"""MLflow tracking of a training run: contents read back, and an unreachable server."""

from __future__ import annotations

import json
import logging

import pytest
from tiny_models import (
    TINY_CLS,
    make_tiny_cache,
    register_tiny_models,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.train import train_model


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    register_tiny_models()
    return make_tiny_cache(tmp_path_factory.mktemp("data"))


def test_run_contents_read_back(features, tmp_path, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'tracking.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    monkeypatch.chdir(tmp_path)  # artifacts land in ./mlruns of the test folder
    train = tiny_train_params(tmp_path, features, mlflow=True,
                              mlflow_tracking_uri="http://127.0.0.1:9")  # the env var wins
    out = train_model(TINY_CLS, train, tiny_model_params(epochs=2))
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["test"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["run_id"] == out.mlflow_run_id and run["status"] == "FINISHED"
    assert run["params.model.epochs"] == "2" and run["params.model.lr"] == "0.01"
    assert run["params.seed"] == "0" and run["params.data_source"] == "synthetic"
    assert run["tags.model"] == TINY_CLS and run["tags.dvc_stage"] == f"train@{TINY_CLS}-0"
    assert run["tags.dvc_exp_name"] == "exp-test" and run["tags.seed"] == "0"
    assert run["tags.data_source"] == "synthetic" and "tags.git_commit" in run
    assert run["metrics.auc_mean"] == pytest.approx(out.metrics["mean"]["auc"])
    assert run["metrics.pauc_slider"] == pytest.approx(out.metrics["per_type"]["slider"]["pauc"])
    client = mlflow.tracking.MlflowClient(uri)
    losses = client.get_metric_history(out.mlflow_run_id, "loss")
    assert [m.step for m in losses] == [1, 2]
    assert len(client.get_metric_history(out.mlflow_run_id, "clips_per_s")) == 2
    artifacts = {a.path for a in client.list_artifacts(out.mlflow_run_id)}
    assert {"scores.csv", f"{TINY_CLS}-seed0.json", "roc.png"} <= artifacts


def test_unreachable_server_keeps_every_result(features, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    train = tiny_train_params(tmp_path, features, mlflow=True)
    with caplog.at_level(logging.WARNING):
        out = train_model(TINY_CLS, train, tiny_model_params(epochs=1))
    assert "MLflow tracking at http://127.0.0.1:9 failed" in caplog.text
    assert "all DVC outputs are still written" in caplog.text
    assert out.mlflow_run_id is None
    metrics = json.loads(out.metrics_path.read_text())
    assert metrics["epochs"] == 1
    assert (out.model_dir / "final.pt").is_file() and out.roc_path.is_file()


def test_a_tracking_failure_ends_its_run_so_the_next_run_can_start(tmp_path):
    import mlflow

    from benchmark.training.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    first = Tracker(True, uri, "failures")
    assert first.start("first", {}, {})
    first.log_metrics({"not a valid name: <>": 1.0})  # MLflow refuses it: tracking goes off
    assert not first.enabled and mlflow.active_run() is None
    second = Tracker(True, uri, "failures")
    assert second.start("second", {}, {}) not in (None, first.run_id)
    second.end()


def test_a_dataset_another_run_inserted_meanwhile_is_logged_on_the_next_attempt(
        tmp_path, monkeypatch):
    """Two runs logging the same dataset at once: MLflow's store looks it up, misses it, and its
    insert fails on the primary key ("UNIQUE constraint failed"); the tracker tries again (the
    second attempt finds it) instead of switching tracking off."""
    import sqlite3

    import mlflow
    import pandas as pd
    from sqlalchemy.exc import IntegrityError

    from benchmark.training.tracking import Tracker

    real = mlflow.log_inputs
    calls = []

    def raced(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO datasets ...", {}, sqlite3.IntegrityError(
                "UNIQUE constraint failed: datasets.experiment_id, datasets.name, "
                "datasets.digest"))
        return real(*args, **kwargs)

    monkeypatch.setattr(mlflow, "log_inputs", raced)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    tracker = Tracker(True, uri, "datasets")
    run_id = tracker.start("raced", {}, {})
    rows = pd.DataFrame({"path": ["a.wav", "b.wav"], "label": ["normal", "anomaly"]})
    tracker.log_datasets({"train": rows, "test": rows}, "synthetic", "d" * 32, "index.csv")
    assert tracker.enabled and len(calls) == 2
    tracker.end()
    inputs = mlflow.MlflowClient(uri).get_run(run_id).inputs.dataset_inputs
    assert sorted(i.dataset.name for i in inputs) == ["synthetic-test", "synthetic-train"]


def test_only_a_duplicate_is_tried_again():
    from benchmark.training.tracking import _retry_duplicate

    calls = []

    def refused():
        calls.append(1)
        raise ValueError("Invalid metric name")

    with pytest.raises(ValueError, match="Invalid metric name"):
        _retry_duplicate(refused)
    assert len(calls) == 1
    calls.clear()

    def always_duplicate():
        calls.append(1)
        raise RuntimeError("UNIQUE constraint failed: datasets.name")

    with pytest.raises(RuntimeError):
        _retry_duplicate(always_duplicate, tries=3)
    assert len(calls) == 3

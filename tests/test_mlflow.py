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

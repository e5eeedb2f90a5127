"""What the MLflow UI shows of our runs, asserted through a real ``mlflow server``'s REST API.

One tiny all-types classifier and one per-type autoencoder are trained into a SQLite store;
``python -m benchmark ui`` serves it on a free 127.0.0.1 port (its ``mlflow server``) until it
gets Ctrl-C. The UI itself was checked in headless Chromium (issue 17, items 5-7).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_experiments import _free_port
from tiny_models import (
    TINY_AE,
    TINY_CLS,
    make_tiny_cache,
    register_tiny_models,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.__main__ import main
from benchmark.features.cache import open_cache
from benchmark.train import train_model
from benchmark.training.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from benchmark.views import ui

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "ui-test"
TYPES = ("fan", "slider")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with an old experiment (no kind tag) and two runs trained into it."""
    import mlflow

    register_tiny_models()
    root = tmp_path_factory.mktemp("ui")
    features = make_tiny_cache(root / "data")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DVC_ROOT", str(root))
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        client = mlflow.MlflowClient(uri)
        client.create_experiment(EXPERIMENT, artifact_location=(root / "mlartifacts").as_uri())
        train = tiny_train_params(root, features, mlflow=True, mlflow_tracking_uri=uri,
                                  mlflow_experiment=EXPERIMENT)
        cls = train_model(TINY_CLS, train, tiny_model_params(epochs=2))
        ae = train_model(TINY_AE, train, tiny_model_params(
            epochs=2, scope="per_type", mixup_alpha=0.0, validation_split=0.25, loss="mse"))
    kind = client.get_experiment_by_name(EXPERIMENT).tags.get(EXPERIMENT_KIND_TAG)
    return SimpleNamespace(root=root, uri=uri, cls=cls, ae=ae, kind_after_training=kind,
                           cache=open_cache(features))


@pytest.fixture(scope="module")
def server(store):
    """``python -m benchmark ui`` on the store: its port, base URL and printed link.

    At the end it gets Ctrl-C (SIGINT) and must exit 0 and free the port.
    """
    port = _free_port()
    command = [sys.executable, "-m", "benchmark", "ui", "--tracking-uri", store.uri,
               "--experiment", EXPERIMENT, "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen(command, cwd=store.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**env, "DVC_ROOT": str(store.root)})
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        if not lines[1].startswith("runs ranked by auc_mean: "):
            pytest.fail(f"python -m benchmark ui printed {lines}: {proc.stderr.read()}")
        yield SimpleNamespace(port=port, base=f"http://127.0.0.1:{port}",
                              link=lines[1].split(": ", 1)[1].strip(), first=lines[0])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        assert ui.port_free("127.0.0.1", port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _get(base: str, path: str, **query: str) -> dict:
    url = f"{base}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def _post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _experiment(base: str) -> dict:
    found = _get(base, "experiments/get-by-name", experiment_name=EXPERIMENT)["experiment"]
    found["tags"] = {t["key"]: t["value"] for t in found.get("tags", [])}
    return found


def _runs(base: str) -> dict[str, dict]:
    """Run id -> the REST run (params, metrics and tags as dicts)."""
    found = _post(base, "runs/search", {"experiment_ids": [_experiment(base)["experiment_id"]]})
    runs = {}
    for run in found["runs"]:
        for part in ("params", "metrics", "tags"):
            run["data"][part] = {x["key"]: x["value"] for x in run["data"].get(part, [])}
        runs[run["info"]["run_id"]] = run
    return runs


def _history(base: str, run_id: str, key: str) -> list[tuple[int, float]]:
    found = _get(base, "metrics/get-history", run_id=run_id, metric_key=key)
    return sorted((int(m["step"]), m["value"]) for m in found.get("metrics", []))


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Experiment tracking (MLflow)", 1)[1].split("\n## ", 1)[0]


def _readme_names(bullet: str) -> list[str]:
    """The backticked names of the README bullet ``- <bullet>...;`` (``<type>`` expanded)."""
    match = re.search(rf"^- {re.escape(bullet)}(.*?)(?=^- |\n\n)", _readme_section(), re.M | re.S)
    assert match, f"README's MLflow section has no bullet '- {bullet}'"
    names = re.findall(r"`([^`]+)`", match.group(1))
    return [n.replace("<type>", t) for n in names for t in (TYPES if "<type>" in n else ("",))]


def test_the_experiment_is_a_model_training_one(store, server):
    assert store.kind_after_training == EXPERIMENT_KIND  # set by the tracker on an old one
    assert _experiment(server.base)["tags"][EXPERIMENT_KIND_TAG] == "custom_model_development"


def test_each_run_logs_its_train_and_test_data_as_datasets(store, server):
    runs = _runs(server.base)
    assert set(runs) == {store.cls.mlflow_run_id, store.ae.mlflow_run_id}
    fingerprint = store.cache.fingerprint
    for run in runs.values():
        inputs = run["inputs"]["dataset_inputs"]
        seen = {(i["dataset"]["name"], i["dataset"]["digest"],
                 {t["key"]: t["value"] for t in i["tags"]}["mlflow.data.context"])
                for i in inputs}
        assert seen == {("synthetic-train", fingerprint, "train"),
                        ("synthetic-test", fingerprint, "test")}
        for item in inputs:
            split = item["dataset"]["name"].rsplit("-", 1)[1]
            profile = json.loads(item["dataset"]["profile"])
            assert profile["num_rows"] == len(store.cache.split(split))
            assert json.loads(item["dataset"]["source"])["uri"].endswith("index.csv")
            assert run["data"]["tags"]["data_fingerprint"] == fingerprint


def test_every_run_has_the_readme_s_metric_param_and_tag_names(store, server):
    runs = _runs(server.base)
    for run_id in (store.cls.mlflow_run_id, store.ae.mlflow_run_id):
        data = runs[run_id]["data"]
        epoch_names = [n for n in _readme_names("per-epoch metrics")
                       if not n.endswith(TYPES) and n != "val_loss"]
        for name in epoch_names:
            assert [s for s, _ in _history(server.base, run_id, name)] == [1, 2], name
        assert set(_readme_names("final metrics")) <= set(data["metrics"])
        assert set(_readme_names("tags")) <= set(data["tags"])
        params = _readme_names("params:")
        assert {p for p in params if "*" not in p} <= set(data["params"])
        for prefix in (p[:-1] for p in params if p.endswith("*")):
            assert any(k.startswith(prefix) for k in data["params"]), prefix


def test_a_per_type_run_logs_its_types_and_the_run_level_curves(store, server):
    run_id = store.ae.mlflow_run_id
    per_type = _readme_names("per-epoch metrics")
    assert {"loss_fan", "lr_slider", "clips_per_s_fan", "val_loss_slider"} <= set(per_type)
    for name in (n for n in per_type if n.endswith(TYPES)):
        assert [s for s, _ in _history(server.base, run_id, name)] == [1, 2], name
    for key in ("loss", "val_loss"):
        by_type = [dict(_history(server.base, run_id, f"{key}_{t}")) for t in TYPES]
        history = _history(server.base, run_id, key)
        assert [s for s, _ in history] == [1, 2], key
        assert [v for _, v in history] == pytest.approx(
            [np.mean([h[e] for h in by_type]) for e in (1, 2)]), key
    lrs = [v for _, v in _history(server.base, run_id, "lr")]
    assert lrs == pytest.approx([v for _, v in _history(server.base, run_id, "lr_fan")])


def test_the_roc_figure_names_the_data_source(store, server):
    from PIL import Image

    query = urllib.parse.urlencode({"path": "roc.png", "run_uuid": store.ae.mlflow_run_id})
    with urllib.request.urlopen(f"{server.base}/get-artifact?{query}", timeout=30) as answer:
        image = Image.open(io.BytesIO(answer.read()))
    auc = store.ae.metrics["mean"]["auc"]
    assert image.info["Title"] == f"{TINY_AE} seed 0 (synthetic, 2 epochs): mean AUC {auc:.3f}"


def test_the_link_opens_the_saved_view_ranked_by_auc_mean(store, server, capsys):
    code = main(["ui", "--tracking-uri", store.uri, "--experiment", EXPERIMENT,
                 "--port", str(server.port), "--no-server"])
    link = capsys.readouterr().out.strip()
    assert code == 0
    experiment = _experiment(server.base)
    assert link == ui.direct_url(server.base, experiment["experiment_id"])
    parts = urllib.parse.urlsplit(link)
    route, _, query = parts.fragment.partition("?")
    assert route == f"/experiments/{experiment['experiment_id']}/runs"
    assert urllib.parse.parse_qs(query) == {"viewStateShareKey": [ui.VIEW_ID],
                                            "workflowType": ["machine_learning"]}
    envelope = json.loads(experiment["tags"][f"mlflow.sharedViewState.{ui.VIEW_ID}"])
    assert envelope["name"] == ui.VIEW_NAME and envelope["createdAt"] > 0
    state = json.loads(envelope["state"])
    assert state["orderByKey"] == "metrics.`auc_mean`" and state["orderByAsc"] is False
    columns = state["selectedColumns"]
    assert columns[:2] == ["attributes.`Dataset`", "metrics.`auc_mean`"]
    assert {"metrics.`auc_fan`", "params.`model.lr`", "tags.`data_source`"} <= set(columns)
    runs = _runs(server.base).values()
    for column in columns[1:]:  # every column shown is one the runs have
        kind, name = column.split(".", 1)
        assert any(name.strip("`") in r["data"][kind] for r in runs), column


def test_a_tracking_server_is_linked_to_not_started(server, capsys):
    code = main(["ui", "--tracking-uri", server.base + "/", "--experiment", EXPERIMENT])
    assert code == 0
    experiment_id = _experiment(server.base)["experiment_id"]
    assert capsys.readouterr().out.strip() == ui.direct_url(server.base, experiment_id)


def test_the_command_serves_the_store_and_prints_the_link(store, server):
    experiment = _experiment(server.base)  # answered by the command's own server
    assert server.link == ui.direct_url(server.base, experiment["experiment_id"])
    assert server.first.startswith(f"MLflow UI of {store.uri} (experiment '{EXPERIMENT}', 2 runs)")
    with urllib.request.urlopen(server.link, timeout=30) as answer:  # the UI's page
        assert answer.status == 200 and b"<html" in answer.read(2000).lower()


def test_an_unknown_experiment_is_an_error_line(store, capsys):
    code = main(["ui", "--tracking-uri", store.uri, "--experiment", "nope", "--no-server"])
    out = capsys.readouterr()
    assert code == 1 and out.out == ""
    assert out.err.startswith("error: experiment 'nope' not found in the MLflow store")
    assert EXPERIMENT in out.err


def test_a_missing_store_is_an_error_line(tmp_path, capsys):
    missing = tmp_path / "none.db"
    code = main(["ui", "--tracking-uri", f"sqlite:///{missing}", "--experiment", EXPERIMENT,
                 "--no-server"])
    assert code == 1
    assert capsys.readouterr().err.startswith(f"error: MLflow store sqlite:///{missing} not found")
    assert not missing.exists()


def test_a_taken_port_is_an_error_line(store, server, capsys):
    code = main(["ui", "--tracking-uri", store.uri, "--experiment", EXPERIMENT,
                 "--port", str(server.port)])
    assert code == 1
    assert capsys.readouterr().err.startswith(
        f"error: port {server.port} on 127.0.0.1 is taken")


def test_columns_and_link_of_the_pure_core():
    columns = ui.useful_columns(["loss", "auc_slider", "auc_mean", "auc_fan", "pauc_fan"],
                                ["model.lr", "train.device"], ["model", "mlflow.user"])
    assert columns == ["attributes.`Dataset`", "metrics.`auc_mean`", "metrics.`auc_fan`",
                       "metrics.`auc_slider`", "metrics.`loss`", "params.`model.lr`",
                       "tags.`model`"]
    assert ui.direct_url("http://h:5/", "7") == (
        "http://h:5/#/experiments/7/runs?viewStateShareKey=asd-benchmark-ranked"
        "&workflowType=machine_learning")
    assert ui.link_base("https://u:pw@mlflow.team:5000/", "x", 1) == "https://mlflow.team:5000"
    assert ui.link_base("sqlite:///m.db", "0.0.0.0", 5001) == "http://127.0.0.1:5001"
    key, value = ui.saved_view(["metrics.`auc_mean`"], 123)
    assert key == "mlflow.sharedViewState.asd-benchmark-ranked"
    assert json.loads(json.loads(value)["state"])["columnOrder"] == ["metrics.`auc_mean`"]

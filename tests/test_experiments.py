"""DVC experiments and MLflow at scale, on real services: a temporary-workspace experiment re-runs
only what changed and tracks into the repository's store; two queued experiments report to a real
``mlflow server`` on 127.0.0.1; models and features travel through a real (directory) DVC remote.

One tiny copy of the pipeline (:mod:`dvc_repo`: real ``dvc.yaml``, 1-s clips, idnn + AE) is
reproduced once per module; each test then works on it or on a clone of it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dvc_repo import DVC, reproduced_repo, run
from tiny_models import make_tiny_cache

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = reproduced_repo(tmp_path_factory.mktemp("exp") / "repo")
    return path


def _search(uri: str):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments)


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_temp_experiment_reruns_only_the_changed_model(repo):
    before = len(_search(f"sqlite:///{repo / 'mlflow.db'}"))
    # lr 1e-5: DVC writes it as YAML 1.2's `1e-05`, a string to PyYAML's YAML 1.1 (issue 17)
    done = run([DVC, "exp", "run", "--temp", "-S", "models.idnn.epochs=2",
                "-S", "models.idnn.lr=1e-5"], repo, env={"DVC_ROOT": ""})
    assert _ran(done.stdout) == {"train@idnn-0", "score@idnn-0", "report"}, done.stdout
    runs = _search(f"sqlite:///{repo / 'mlflow.db'}")  # the repository's store, not the temp one
    assert len(runs) == before + 1
    new = runs[0]
    assert new.data.params["model.epochs"] == "2" and new.data.tags["model"] == "idnn"
    assert float(new.data.params["model.lr"]) == 1e-5
    assert new.data.tags["dvc_exp_name"] and len(new.data.tags["dvc_exp_baseline"]) == 40
    assert new.info.artifact_uri.startswith((repo / "mlartifacts").as_uri())
    assert not list((repo / ".dvc" / "tmp" / "exps").glob("tmp*/mlflow.db"))


def test_changed_scoring_reruns_only_the_scoring_stages(repo):
    done = run([DVC, "exp", "run", "--temp", "-S", "scoring.backends.knn.k=2"], repo,
               env={"DVC_ROOT": ""})
    assert _ran(done.stdout) == {"score@idnn-0", "score@dcase2020_ae-0", "report"}, done.stdout
    # the workspace keeps the baseline (k = 1), whose eval split was scored too
    board = json.loads((repo / "reports" / "backends" / "idnn-seed0.json").read_text())
    assert board["backends"]["knn"]["params"] == {"k": 1, "density_k": 0}
    assert "eval" in board["backends"]["knn"] and board["backends"]["knn"]["eval"]["clips"] > 0
    assert (repo / "models" / "idnn" / "scores-seed-0" / "eval.csv").is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = _free_port()
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    server = subprocess.Popen(
        [mlflow, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("mlflow server did not start on 127.0.0.1")
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_two_queued_experiments_report_to_a_real_mlflow_server(repo, mlflow_server):
    env = {"MLFLOW_TRACKING_URI": mlflow_server, "DVC_ROOT": ""}
    for epochs in (3, 4):
        run([DVC, "exp", "run", "--queue", "-S", f"models.idnn.epochs={epochs}"], repo, env=env)
    run([DVC, "queue", "start", "-j", "2"], repo, env=env)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            status = run([DVC, "queue", "status"], repo, env=env).stdout
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(2)
        assert status.count("Success") >= 2, status
    finally:
        run([DVC, "queue", "stop", "--kill"], repo, env=env)
    runs = _search(mlflow_server)
    assert sorted(r.data.params["model.epochs"] for r in runs) == ["3", "4"]
    seen = [(r.info.status, r.data.tags.get("dvc_exp_name"), sorted(r.data.metrics)) for r in runs]
    logs = [run([DVC, "queue", "logs", name], repo, env=env).stdout[-3000:]
            for name in {r.data.tags.get("dvc_exp_name") for r in runs} if name]
    assert all(r.info.status == "FINISHED" and r.data.tags["dvc_exp_name"] for r in runs), (
        f"{seen}\n" + "\n---\n".join(logs))
    assert len({r.data.tags["dvc_exp_name"] for r in runs}) == 2


def test_two_parallel_trainings_write_to_one_sqlite_store(tmp_path):
    make_tiny_cache(tmp_path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path;"
        "from tiny_models import *; from benchmark.train import train_model;"
        "register_tiny_models(); root = Path(sys.argv[2]);"
        "train = tiny_train_params(root, root / 'features', mlflow=True,"
        " models_dir=str(root / sys.argv[3]), reports_dir=str(root / ('r' + sys.argv[3])),"
        " mlflow_tracking_uri=f'sqlite:///{root / \"shared.db\"}');"
        "out = train_model(TINY_CLS, train, tiny_model_params(epochs=3));"
        "assert out.mlflow_run_id, 'tracking failed'"
    )
    workers = [subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent),
                                 str(tmp_path), f"m{k}"], stderr=subprocess.PIPE, text=True)
               for k in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
        assert "tracking is OFF" not in err, err[-3000:]
    runs = _search(f"sqlite:///{tmp_path / 'shared.db'}")
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert all(len(r.data.metrics) > 5 for r in runs)


def test_push_and_pull_through_a_directory_remote(repo, tmp_path):
    remote = tmp_path / "remote"
    run([DVC, "remote", "add", "-d", "team", str(remote)], repo)
    run(["git", "commit", "-q", "-am", "team remote"], repo)
    run([DVC, "push"], repo)
    clone = tmp_path / "elsewhere" / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    run([DVC, "pull"], clone)
    for folder in ("models/idnn/seed-0", "models/dcase2020_ae/seed-0", "data/features",
                   "data/raw"):
        assert any((clone / folder).iterdir()), folder
    status = run([DVC, "status"], clone).stdout
    assert "Data and pipelines are up to date" in status, status
    done = run([DVC, "repro"], clone, env={"DVC_ROOT": ""})
    assert not _ran(done.stdout), done.stdout


def test_roc_plot_draws_one_curve_per_machine_type(repo):
    done = run([DVC, "plots", "show", "--json", "reports/roc/idnn-seed0.csv"], repo)
    spec = json.loads(done.stdout)
    plot = spec["data"]["reports/roc/idnn-seed0.csv"][0]["content"]
    assert plot["encoding"]["color"]["field"] == "machine_type"
    types = {row["machine_type"] for row in plot["data"]["values"]}
    assert types == {"fan", "slider"}


def test_metrics_files_hold_summaries_only(repo):
    metrics = json.loads((repo / "reports" / "metrics" / "idnn-seed0.json").read_text())
    assert "per_id" not in metrics and set(metrics["per_type"]) == {"fan", "slider"}
    detail = json.loads((repo / "reports" / "per_id" / "idnn-seed0.json").read_text())
    assert set(detail["per_id"]["fan"]) == {"id_00"}
    assert not run(["git", "status", "--porcelain"], repo).stdout.strip()


def test_adding_a_seed_adds_runs_and_keeps_the_others(repo):
    done = run([DVC, "exp", "run", "--temp", "-S", "seeds=[0,1]"], repo, env={"DVC_ROOT": ""})
    assert _ran(done.stdout) == {"train@idnn-1", "train@dcase2020_ae-1", "score@idnn-1",
                                 "score@dcase2020_ae-1", "report"}, done.stdout

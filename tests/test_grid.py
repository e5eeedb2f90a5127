"""The train stages on a real Dask cluster (a ``LocalCluster`` on 127.0.0.1 with two
single-thread worker processes) over the tiny pipeline of :mod:`dvc_repo`: parallel runs recorded
in ``dvc.lock`` as ``dvc repro`` would, the same metrics as a serial run, a killed worker retried,
a failing stage reported while the others are recorded (issue 18)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from dvc_repo import DVC, make_repo, run, tiny_params

pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The tiny pipeline with seeds 0 and 1 (4 train stages), its data and features made."""
    params = tiny_params()
    params["seeds"] = [0, 1]
    params["grid"].update(workers=2, dashboard=None)
    path = make_repo(tmp_path_factory.mktemp("grid") / "base", params)
    run([DVC, "repro", "features"], path, env={"DVC_ROOT": ""})
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "data and features"], path)
    return path


def _copy(base: Path, to: Path, **model_changes: dict) -> Path:
    shutil.copytree(base, to, symlinks=True)
    if model_changes:
        params = yaml.safe_load((to / "params.yaml").read_text())
        for name, change in model_changes.items():
            params["models"][name].update(change)
        (to / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return to


def _grid(repo: Path, *args: str, timeout: float = 400):
    import subprocess

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    env.pop("DVC_ROOT", None)
    return subprocess.run([sys.executable, "-m", "benchmark", "grid", "run", "--no-progress",
                           *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_the_grid_runs_two_at_a_time_and_records_what_dvc_repro_would(base, tmp_path):
    grid = _copy(base, tmp_path / "grid")
    done = _grid(grid)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "4 stages recorded" in done.stdout and "up to 2 at once" in done.stdout, done.stdout
    scored = {f"score@{m}-{k}" for m in ("idnn", "dcase2020_ae") for k in (0, 1)}
    assert _ran(done.stdout) == {*scored, "complexity", "report"}, done.stdout  # by dvc repro
    assert "Data and pipelines are up to date" in run([DVC, "status"], grid).stdout
    assert not _ran(run([DVC, "repro"], grid, env={"DVC_ROOT": ""}).stdout)

    from mlflow import MlflowClient

    store = MlflowClient(f"sqlite:///{grid / 'mlflow.db'}")  # every task's run in the one store
    runs = store.search_runs([e.experiment_id for e in store.search_experiments()])
    assert sorted(r.data.tags["dvc_stage"] for r in runs) == sorted(
        ["train@idnn-0", "train@idnn-1", "train@dcase2020_ae-0", "train@dcase2020_ae-1"])
    assert all(r.info.status == "FINISHED" for r in runs)

    serial = _copy(base, tmp_path / "serial")
    run([DVC, "repro", "--glob", "train@*"], serial, env={"DVC_ROOT": ""})
    for metrics in sorted((serial / "reports" / "metrics").glob("*.json")):
        assert (grid / "reports/metrics" / metrics.name).read_bytes() == metrics.read_bytes()
    lock = yaml.safe_load((grid / "dvc.lock").read_text())["stages"]
    serial_lock = yaml.safe_load((serial / "dvc.lock").read_text())["stages"]
    for stage in ("train@idnn-0", "train@idnn-1", "train@dcase2020_ae-0", "train@dcase2020_ae-1"):
        assert lock[stage] == serial_lock[stage], stage  # cmd, deps, params and outs hashes


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_killed_worker_is_retried_and_a_failing_stage_is_reported(base, tmp_path):
    """idnn trains long enough to kill its worker mid-run; dcase2020_ae has a bad param."""
    import distributed
    import psutil

    from benchmark.grid.run import run_stages, user_environ
    from benchmark.grid.stages import pending_train_stages
    from benchmark.grid.tasks import log_path

    repo = _copy(base, tmp_path / "faults", idnn={"epochs": 25}, dcase2020_ae={"lr": -1.0})
    log_dir = repo / ".dvc" / "tmp" / "grid"
    stages = pending_train_stages(repo)
    assert [s.name for s in stages] == ["train@idnn-0", "train@idnn-1", "train@dcase2020_ae-0",
                                        "train@dcase2020_ae-1"]
    victim = log_path(log_dir, "train@idnn-0")
    user_env = user_environ()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        def kill_when_training() -> None:
            _wait_for(lambda: victim.exists() and "epoch 2/25" in victim.read_text(), 120,
                      "train@idnn-0 to be training")
            for address, keys in client.processing().items():
                if any(str(k).startswith("train@idnn-0-") for k in keys):
                    pid = client.run(os.getpid, workers=[address])[address]
                    orphans.extend(psutil.Process(pid).children(recursive=True))
                    os.kill(pid, signal.SIGKILL)
                    return
            pytest.fail("no worker was running train@idnn-0")

        orphans: list = []  # the killed worker's training must die with it
        killer = threading.Thread(target=kill_when_training)
        killer.start()
        outcome = run_stages(client, stages, repo, log_dir, user_env=user_env, retries=2,
                             progress=False)
        killer.join()
        assert orphans and all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
                               for p in orphans), "the killed worker's training lived on"
    assert sorted(r.name for r in outcome.done) == ["train@idnn-0", "train@idnn-1"]
    assert sorted(f.name for f in outcome.failed) == ["train@dcase2020_ae-0",
                                                      "train@dcase2020_ae-1"]
    assert all("'models.dcase2020_ae.lr' must be > 0" in f.tail for f in outcome.failed)
    text = victim.read_text()
    assert text.count("--- train@idnn-0 on") == 2, text[-2000:]  # run, killed, run again
    assert "resuming from" in text and "after epoch" in text  # ... from its last.pt
    status = run([DVC, "status"], repo).stdout  # the recorded stages are clean
    assert "train@idnn-0" not in status and "train@idnn-1" not in status
    assert "train@dcase2020_ae-0" in status

    again = _grid(repo, "--no-repro")  # runs only what is still missing: the two that failed
    assert again.returncode == 1, again.stdout[-2000:]
    assert "2 train stages on local" in again.stdout, again.stdout
    assert "error: stage train@dcase2020_ae-0 failed: its command exited with 1" in again.stderr
    assert "| error: 'models.dcase2020_ae.lr' must be > 0" in again.stderr
    assert "2 stage(s) failed, 0 recorded" in again.stderr
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert "train@idnn-0" in lock and "train@dcase2020_ae-0" not in lock  # nothing half-recorded


def test_targets_that_match_nothing_are_an_error(base, tmp_path):
    done = _grid(_copy(base, tmp_path / "typo"), "--targets", "train@idnm*")
    assert done.returncode == 1 and "error: --targets 'train@idnm*' matches no train stage" \
        in done.stderr


# ----------------------------------------------------------------------------- the engines


def _params(**changes):
    from benchmark.config import from_dict
    from benchmark.grid.params import GridParams

    grid = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    return from_dict(GridParams, {**grid["grid"], "dashboard": None, **changes}, "grid")


def test_one_worker_per_gpu_pins_each_to_its_gpu_and_offers_one_gpu_resource():
    """Without dask-cuda: a SpecCluster of nannies, nanny k with CUDA_VISIBLE_DEVICES=k (two
    fake GPU ids on this CPU machine: the pinning and the resources are Dask's, not CUDA's)."""
    import distributed

    from benchmark.grid.cluster import GPU, gpu_spec_cluster, gpu_workers

    with gpu_spec_cluster(["0", "1"], _params(engine="cuda")) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        pinned = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert sorted(pinned.values()) == ["0", "1"]
        assert gpu_workers(client) == 2
        where = client.gather([client.submit(os.getpid, pure=False, resources={GPU: 1})
                               for _ in range(4)])
        assert len(set(where)) <= 2  # GPU tasks run only on the GPU workers


def test_a_running_scheduler_is_used_as_it_is():
    import distributed

    from benchmark.grid.cluster import connect

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                                       dashboard_address=None)
    with cluster, connect(_params(engine="scheduler",
                                  scheduler=cluster.scheduler_address)) as client:
        assert client.submit(sum, [1, 2]).result() == 3
        assert client.scheduler.address == cluster.scheduler_address


def test_a_slurm_cluster_is_built_from_its_yaml_file(tmp_path):
    from benchmark.config import ConfigError
    from benchmark.grid.cluster import build_jobqueue, read_jobqueue

    path = tmp_path / "slurm.yaml"
    path.write_text(
        "cluster: SLURMCluster\njobs: 8\noptions:\n  queue: gpu\n  cores: 8\n  memory: 64GB\n"
        "  walltime: '24:00:00'\n  job_extra_directives: ['--gres=gpu:1']\n"
        "  worker_extra_args: ['--resources', 'GPU=1']\n")
    spec = read_jobqueue(path)
    assert spec["jobs"] == 8
    cluster = build_jobqueue(spec, path)  # nothing submitted: the job script is Dask's own
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH --gres=gpu:1" in script and "#SBATCH -p gpu" in script
    assert "--resources GPU=1" in script
    path.write_text("cluster: SLURMClusterr\n")
    with pytest.raises(ConfigError, match="no dask_jobqueue.SLURMClusterr"):
        build_jobqueue(read_jobqueue(path), path)
    path.write_text("cluster: SLURMCluster\njob: 3\n")
    with pytest.raises(ConfigError, match="keys are"):
        read_jobqueue(path)


def test_a_stage_runs_with_the_users_environment_not_the_dask_nannys(tmp_path, monkeypatch):
    """A nanny sets MALLOC_TRIM_THRESHOLD_ and one BLAS thread for its worker (and, in a
    LocalCluster, in this process): the stage's command must see the user's values instead."""
    import json
    import subprocess

    import distributed

    from benchmark.grid.run import user_environ
    from benchmark.grid.tasks import log_path, run_stage

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    # in a fresh process, as the grid command takes it (before anything imported distributed)
    user_env = json.loads(subprocess.run(
        [sys.executable, "-c", "import json; from benchmark.grid.run import user_environ; "
         "print(json.dumps(user_environ()))"], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1]).stdout)
    assert user_env["MALLOC_TRIM_THRESHOLD_"] is None and user_env["OMP_NUM_THREADS"] == "2"
    assert user_environ() == user_env
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        nanny_env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert set(nanny_env.values()) == {"65536"}  # what the worker itself has
        result = client.submit(run_stage, "train@env-0", "env", str(tmp_path), str(tmp_path),
                               user_env, pure=False).result()
    assert result.ok
    lines = log_path(tmp_path, "train@env-0").read_text().splitlines()
    assert "OMP_NUM_THREADS=2" in lines and f"DVC_ROOT={tmp_path}" in lines
    assert not any(line.startswith("MALLOC_TRIM_THRESHOLD_=") for line in lines)


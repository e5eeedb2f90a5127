"""A tiny copy of this repository (real dvc.yaml, tiny params) for DVC and MLflow tests.

:func:`make_repo` copies the package, ``dvc.yaml`` and the DVC config into a new git repository
whose ``params.yaml`` is the real one shrunk to seconds: two machine types, 1-s clips, the two
cheap frame models (idnn, dcase2020_ae). Commands run with this interpreter's ``dvc``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).with_name("dvc"))


def tiny_params() -> dict[str, Any]:
    """The real params.yaml, shrunk: 2 types x (1 ID + 1 evaluation ID), 1-s clips, idnn +
    dcase2020_ae."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(machine_types=["fan", "slider"], clip_samples=16000)
    params["data"]["synthetic"].update(ids_per_type=1, eval_ids_per_type=1, train_clips_per_id=4,
                                       test_normal_per_id=2, test_anomaly_per_id=2, workers=2)
    params["features"].update(clip_samples=16000, dcase_clip_samples=16000)
    params["train"].update(train_score_clips_per_class=4)  # all 4: the backends' references
    params["scoring"]["backends"]["knn_density"]["density_k"] = 1  # < 2 references per fold
    frame = {"epochs": 1, "clips_per_epoch": 0, "batch_size": 64, "lr": 1.0e-3,
             "weight_decay": 0.0, "optimizer": "adam", "eta_min_ratio": 0.1,
             "schedule_start_epoch": 0, "mixup_alpha": 0.0, "scope": "per_type",
             "validation_split": 0.1, "loss": "mse", "overrides": {}}
    params["models"] = {"idnn": dict(frame), "dcase2020_ae": dict(frame)}
    params["complexity"].update(models=["idnn"])
    params["report"].update(table_models=["idnn", "dcase2020_ae"], figure_model="idnn",
                            figure_clips=2, batch_size=2, reference_model="idnn",
                            bootstrap_resamples=100)
    return params


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd``; raises with its output when it fails."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # never the test process's MLFLOW_TRACKING_URI (mlflow.set_tracking_uri writes it into
    # os.environ, so an earlier in-process test would point the stages at its own store); a
    # test that wants a store passes it in ``env``
    inherited = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env = {**inherited, "PATH": path, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@t", **(env or {})}
    done = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}) in {cwd}:\n"
                             f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def make_repo(path: Path, params: dict[str, Any] | None = None) -> Path:
    """A git + DVC repository at ``path`` with this project's pipeline and tiny params."""
    path.mkdir(parents=True)
    shutil.copytree(ROOT / "benchmark", path / "benchmark",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "profiles", path / "profiles")  # report.reproduction.protocol
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, path / name)
    (path / ".dvc").mkdir()
    shutil.copy(ROOT / ".dvc" / "config", path / ".dvc" / "config")
    shutil.copytree(ROOT / ".dvc" / "plots", path / ".dvc" / "plots")
    (path / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    (path / "params.yaml").write_text(yaml.safe_dump(params or tiny_params(), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "tiny pipeline"], path)
    return path


def reproduced_repo(path: Path, params: dict[str, Any] | None = None) -> Path:
    """:func:`make_repo`, then ``dvc repro`` and a commit of its results (the baseline run)."""
    make_repo(path, params)
    run([DVC, "repro"], path, env={"DVC_ROOT": ""})
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "baseline run"], path)
    return path

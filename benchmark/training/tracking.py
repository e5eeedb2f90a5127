"""MLflow tracking that never costs a result.

:class:`Tracker` wraps the MLflow calls of one training run. The tracking URI is
``MLFLOW_TRACKING_URI`` when set, else ``train.mlflow_tracking_uri`` (``sqlite:///mlflow.db`` at
the repo root by default). Any MLflow failure (server unreachable, bad URI, ...) logs one clear
warning and switches tracking off for the rest of the run: training still finishes and writes
its DVC outputs. ``mlflow`` is imported lazily, so code that does not track never pays for it.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Fail fast when a tracking server does not answer (MLflow's own default retries for minutes);
# values already in the environment win.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def tracking_uri(default: str) -> str:
    """``MLFLOW_TRACKING_URI`` from the environment, else ``default``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default


def git_commit(cwd: str | Path = ".") -> str:
    """The checked-out commit (``unknown`` outside git or before the first commit)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


class Tracker:
    """One MLflow run; every method is a no-op once tracking is off or has failed."""

    def __init__(self, enabled: bool, uri: str, experiment: str) -> None:
        self.enabled = enabled
        self.uri = tracking_uri(uri)
        self.experiment = experiment
        self.run_id: str | None = None
        self._mlflow: Any = None

    def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        if not self.enabled:
            return None
        try:
            if self._mlflow is None:
                for key, value in _HTTP_DEFAULTS.items():
                    os.environ.setdefault(key, value)
                import mlflow

                self._mlflow = mlflow
            return fn(self._mlflow)
        except Exception as error:  # noqa: BLE001 - tracking must never fail the training
            self.enabled = False
            log.warning(
                "MLflow tracking at %s failed while trying to %s (%s: %s); tracking is OFF for "
                "the rest of this run, training continues and all DVC outputs are still written",
                self.uri, what, type(error).__name__, str(error).splitlines()[0][:300] if str(error)
                else "",
            )
            return None

    def start(self, run_name: str, params: dict[str, Any], tags: dict[str, str],
              resume_run_id: str | None = None) -> str | None:
        """Start (or reopen ``resume_run_id``) a run with ``params`` and ``tags``."""

        def start(mlflow: Any) -> str:
            mlflow.set_tracking_uri(self.uri)
            mlflow.set_experiment(self.experiment)
            run = None
            if resume_run_id:
                try:
                    run = mlflow.start_run(run_id=resume_run_id)
                except Exception:  # noqa: BLE001 - the old run is gone: start a new one
                    run = None
            if run is None:
                run = mlflow.start_run(run_name=run_name)
                mlflow.log_params({k: _param(v) for k, v in params.items()})
            mlflow.set_tags(tags)
            return run.info.run_id

        self.run_id = self._call("start a run", start)
        if self.run_id:
            log.info("MLflow run %s (%s, experiment %s)", self.run_id, self.uri, self.experiment)
        return self.run_id

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._call("log metrics", lambda m: m.log_metrics(metrics, step=step))

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self._call(f"log artifact {path}", lambda m: m.log_artifact(str(path), folder))

    def end(self, status: str = "FINISHED") -> None:
        self._call("end the run", lambda m: m.end_run(status=status))


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."

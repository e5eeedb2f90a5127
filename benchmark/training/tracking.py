"""MLflow tracking that never costs a result, and whose runs land in the user's store.

:class:`Tracker` wraps the MLflow calls of one training run. The tracking URI is
``MLFLOW_TRACKING_URI`` when set, else ``train.mlflow_tracking_uri``; a relative local store in it
(``sqlite:///mlflow.db``, ``file:mlruns``, ``mlruns``) is resolved against the repository root,
not the current folder: ``DVC_ROOT``, which DVC sets to the user's repository also for
``dvc exp run --temp`` and queue workers (whose temporary workspaces DVC deletes afterwards), else
the git top level, else the current folder. So every run lands in ``<repo>/mlflow.db`` wherever
the stage runs, with its artifacts in ``<repo>/mlartifacts``.

Each run is tagged with the DVC experiment name (``dvc_exp_name``) and its baseline commit
(``dvc_exp_baseline``), so the MLflow UI can group the runs of one experiment or one grid, and
its train and test clips (and evaluation clips, where the data has them) are logged as MLflow
dataset inputs (:meth:`Tracker.log_datasets`). The
experiment is tagged as a model-training one (:data:`EXPERIMENT_KIND_TAG`).
Concurrent writers to one SQLite store (``dvc queue start -j N``) retry while the database is
locked. Any other MLflow failure (server unreachable, bad URI, ...) logs one clear warning and
switches tracking off for the rest of the run: training still finishes and writes its DVC outputs.
``mlflow`` is imported lazily, so code that does not track never pays for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmark.io import write_json_atomic

log = logging.getLogger(__name__)

# Fail fast when a tracking server does not answer (MLflow's own default retries for minutes);
# values already in the environment win.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
"""The experiment tag MLflow 3 uses to tell a model-training experiment from a GenAI one (values
in mlflow/server/js/src: ``ExperimentKind``). MLflow 3.17's UI takes the page it opens from the
``workflowType`` URL parameter or the browser's last choice instead (see :mod:`benchmark.views.ui`);
the tag keeps the experiment's kind right for the UIs that read it (the experiment's kind
selector, MLflow 3.x before workflow-based navigation)."""


LOCK_RETRY_SECONDS = 120.0
"""How long a call waits for a SQLite store locked by another writer before giving up."""


def repo_root() -> Path:
    """The user's repository: ``DVC_ROOT`` (set by DVC), else the git top level, else cwd."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).absolute()
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return Path.cwd()
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else Path.cwd()


def tracking_uri(default: str, root: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` from the environment, else ``default``; see the module doc.

    A relative local store is made absolute against ``root`` (default :func:`repo_root`).
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or default
    for prefix in ("sqlite:///", "file:"):
        if uri.startswith(prefix):
            path = uri[len(prefix):]
            if path and not path.startswith("/") and path != ":memory:":
                return prefix + str((root or repo_root()) / path)
            return uri
    if "://" not in uri and not Path(uri).is_absolute():
        return str((root or repo_root()) / uri)
    return uri


def is_local_store(uri: str) -> bool:
    """True for a SQLite or file store (artifacts then go to the repository's folder)."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def _locked(error: BaseException) -> bool:
    text = f"{type(error).__name__} {error}".lower()
    return "database is locked" in text or "database table is locked" in text


def dvc_tags() -> dict[str, str]:
    """The DVC experiment a run belongs to (empty strings outside ``dvc exp run``)."""
    return {"dvc_exp_name": os.environ.get("DVC_EXP_NAME", ""),
            "dvc_exp_baseline": os.environ.get("DVC_EXP_BASELINE_REV", "")}


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
        self.root = repo_root()
        self.uri = tracking_uri(uri, self.root)
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
            return _retry_locked(lambda: fn(self._mlflow))
        except Exception as error:  # noqa: BLE001 - tracking must never fail the training
            self.enabled = False
            self._close_failed_run()
            log.warning(
                "MLflow tracking at %s failed while trying to %s (%s: %s); tracking is OFF for "
                "the rest of this run, training continues and all DVC outputs are still written",
                self.uri, what, type(error).__name__, str(error).splitlines()[0][:300] if str(error)
                else "",
            )
            return None

    def _close_failed_run(self) -> None:
        """End the run a failure left active, so a later run in this process can start."""
        with contextlib.suppress(Exception):
            if self._mlflow is not None and self._mlflow.active_run() is not None:
                self._mlflow.end_run(status="FAILED")

    def start(self, run_name: str, params: dict[str, Any], tags: dict[str, str],
              resume_run_id: str | None = None) -> str | None:
        """Start (or reopen ``resume_run_id``) a run with ``params`` and ``tags``."""

        def start(mlflow: Any) -> str:
            mlflow.set_tracking_uri(self.uri)
            with _store_init_lock(self.uri):
                _retry_locked(lambda: self._ensure_experiment(mlflow))
            run = None
            if resume_run_id:
                try:
                    run = _retry_locked(lambda: mlflow.start_run(run_id=resume_run_id))
                except Exception:  # noqa: BLE001 - the old run is gone: start a new one
                    run = None
            if run is None:
                run = _retry_locked(lambda: mlflow.start_run(run_name=run_name))
                _retry_locked(lambda: mlflow.log_params({k: _param(v) for k, v in params.items()}))
            _retry_locked(lambda: mlflow.set_tags(tags))
            return run.info.run_id

        self.run_id = self._call("start a run", start)
        if self.run_id:
            log.info("MLflow run %s (%s, experiment %s)", self.run_id, self.uri, self.experiment)
        return self.run_id

    def _ensure_experiment(self, mlflow: Any) -> None:
        """Use the experiment; a new one in a local store keeps artifacts in the repository.

        New and existing experiments get :data:`EXPERIMENT_KIND_TAG` (one write, then never
        again).
        """
        if mlflow.get_experiment_by_name(self.experiment) is None:
            location = None
            if is_local_store(self.uri):
                location = (self.root / "mlartifacts").as_uri()
            try:
                mlflow.create_experiment(self.experiment, artifact_location=location,
                                         tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
            except Exception as error:  # noqa: BLE001 - another worker created it first
                if mlflow.get_experiment_by_name(self.experiment) is None:
                    raise error
        experiment = mlflow.set_experiment(self.experiment)
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            mlflow.set_experiment_tag(EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._call("log metrics", lambda m: m.log_metrics(metrics, step=step))

    def log_datasets(self, splits: dict[str, Any], data_source: str, digest: str,
                     source: str | Path) -> None:
        """Log each split's rows (context -> DataFrame) as an MLflow dataset input.

        Dataset ``<data_source>-<context>`` (e.g. ``synthetic-train``), digest ``digest`` (the
        data fingerprint), source ``source`` (the feature index), input context ``<context>``.
        The split is part of the name because MLflow keeps one input per (name, digest) and
        run: a second context of the same name and digest would be dropped.
        """

        def log(mlflow: Any) -> None:
            with warnings.catch_warnings():  # source-kind and integer-column hints of MLflow
                warnings.simplefilter("ignore", UserWarning)
                datasets = [mlflow.data.from_pandas(rows, source=str(source), digest=digest,
                                                    name=f"{data_source}-{context}")
                            for context, rows in splits.items()]
                _retry_duplicate(lambda: mlflow.log_inputs(
                    datasets=datasets, contexts=list(splits), tags_list=[None] * len(datasets)))

        self._call("log the dataset inputs", log)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        self._call(f"log artifact {path}", lambda m: m.log_artifact(str(path), folder))

    def end(self, status: str = "FINISHED") -> None:
        self._call("end the run", lambda m: m.end_run(status=status))


def _store_init_lock(uri: str) -> contextlib.AbstractContextManager:
    """A file lock beside a SQLite store while it is created or migrated.

    MLflow creates and migrates a new SQLite database on first use; two workers doing that at
    once fail ("duplicate column name"). Other stores need no lock.
    """
    if not uri.startswith("sqlite:///"):
        return contextlib.nullcontext()
    from filelock import FileLock

    database = Path(uri[len("sqlite:///"):])
    database.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(f"{database}.lock", timeout=LOCK_RETRY_SECONDS)


RUN_FILE = ".mlflow-run.json"
"""Beside a run's checkpoints: its MLflow run id and the identity it trained with. Listed in
``.dvcignore``: a run id belongs to one tracking store, so it must not change the hash of the
DVC-tracked model folder (two clones train the same bytes but open different runs)."""


def identity_digest(identity: dict[str, Any]) -> str:
    """A short, stable hash of a training identity (params, seed, data fingerprint, shapes)."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def remember_run(model_dir: Path, run_id: str | None, identity: dict[str, Any]) -> None:
    """Record which MLflow run trains ``model_dir`` with ``identity`` (for a later resume)."""
    if run_id:
        write_json_atomic(model_dir / RUN_FILE,
                          {"run_id": run_id, "identity": identity_digest(identity)})


def remembered_run(model_dir: Path, identity: dict[str, Any]) -> str | None:
    """The MLflow run that trained ``model_dir`` with the same ``identity``, or None."""
    try:
        data = json.loads((model_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("identity") != identity_digest(identity):
        return None
    return data.get("run_id")


def _retry_locked(call: Callable[[], Any], budget_s: float = LOCK_RETRY_SECONDS) -> Any:
    """Run ``call``, retrying with jittered back-off while a SQLite store is locked."""
    deadline = time.monotonic() + budget_s
    wait = 0.05
    while True:
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - only a lock is retried
            if not _locked(error) or time.monotonic() > deadline:
                raise
            time.sleep(wait * (1 + random.random()))
            wait = min(wait * 2, 2.0)


DUPLICATE_TRIES = 5
"""Attempts of a dataset logging that another run's identical dataset raced (see below)."""


def _duplicate(error: BaseException) -> bool:
    text = f"{type(error).__name__} {error}".lower()
    return "unique constraint" in text or "integrityerror" in text or "duplicate key" in text


def _retry_duplicate(call: Callable[[], Any], tries: int = DUPLICATE_TRIES) -> Any:
    """Run ``call``, again when the store refused a row another writer inserted meanwhile.

    MLflow's SQL store logs a dataset by looking it up and inserting it when absent, in one
    transaction: two runs logging the same dataset (same name and digest: every run of one data
    set) at once can both miss it, and the second insert then fails on the datasets table's
    primary key ("UNIQUE constraint failed"; seen with two queued experiments on one ``mlflow
    server``). The failed transaction is rolled back, and the next attempt finds the dataset.
    """
    for attempt in range(tries):
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - only the duplicate is retried
            if not _duplicate(error) or attempt == tries - 1:
                raise
            time.sleep(0.2 * (1 + random.random()))
    return None


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def store_settings(params_file: str | Path, uri: str | None = None,
                   experiment: str | None = None) -> tuple[str, str]:
    """(tracking URI, experiment) of a command that reads the store: ``uri`` and ``experiment``
    as given, else ``train.mlflow_tracking_uri`` (resolved as :func:`tracking_uri` does) and
    ``train.mlflow_experiment`` of ``params_file``."""
    from benchmark.config import read_params

    if uri is not None and experiment is not None:
        return uri, experiment
    train = read_params(params_file).get("train") or {}
    default_uri = train.get("mlflow_tracking_uri") or "sqlite:///mlflow.db"
    uri = uri if uri is not None else tracking_uri(default_uri)
    return uri, str(experiment or train.get("mlflow_experiment") or "asd-benchmark")

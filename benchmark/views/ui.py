"""``python -m benchmark ui``: the MLflow UI, opened on this benchmark's runs ranked by mean AUC.

Found in MLflow 3.17's web UI (``mlflow/server/js/build/static/js``), which a link can steer:

- The experiment page opens on the GenAI pages (traces) unless its URL says
  ``workflowType=machine_learning`` (else the browser's last choice, stored in its local storage
  as ``mlflow.workflowType``; default ``genai``). The experiment tag ``mlflow.experimentKind`` is
  not read for that any more (workflow-based navigation is on); the tracker sets it anyway.
- The runs table's sort is a search facet of the URL (``orderByKey``, ``orderByAsc``), but its
  columns (``selectedColumns``) live in the browser's per-experiment UI state. A URL carries them
  only as a *saved view*: the experiment tag ``mlflow.sharedViewState.<id>`` holds the JSON
  envelope ``{name, createdAt, updatedAt, state}`` (``state``: a JSON text of search facets and
  UI state) and ``#/experiments/<exp>/runs?viewStateShareKey=<id>`` opens it, as the UI's own
  *Save view* link does. A search facet in the same URL switches the view off, so the sort
  travels inside the view.

So the command writes the saved view :data:`VIEW_ID` (sorted by ``auc_mean`` descending, the
columns of :func:`useful_columns`) to the experiment, starts ``mlflow server`` on the store, waits
until it answers and prints the direct link (:func:`direct_url`), then serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from benchmark.cli import add_store_arguments

VIEW_ID = "asd-benchmark-ranked"
"""Id of the saved view the link opens (experiment tag ``mlflow.sharedViewState.<id>``)."""
VIEW_NAME = "asd-benchmark: ranked by auc_mean"
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SORT_METRIC = "auc_mean"
START_TIMEOUT_S = 90.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_METRICS = ("auc_mean", "pauc_mean", "auc_hmean", "pauc_hmean")
_PARAMS = ("model.epochs", "model.lr", "model.batch_size", "model.scope")
_TAGS = ("model", "seed", "data_source", "dvc_exp_name")
_SUMMARY_AUCS = {"auc_mean", "auc_hmean"}


# --- the pure core: view state and link -------------------------------------------------------


def column_key(kind: str, name: str) -> str:
    """A runs-table column as the UI names it: ``metrics.`auc_mean```, ``attributes.`Dataset```."""
    return f"{kind}.`{name}`"


def useful_columns(metrics: Iterable[str], params: Iterable[str],
                   tags: Iterable[str]) -> list[str]:
    """The runs-table columns to show, of the keys the runs have.

    In this order (also the table's): the data sets, the mean and harmonic-mean AUC/pAUC, each
    machine type's AUC and the last epoch's ``loss`` (metrics), epochs, lr, batch and scope
    (params), model, seed, data source and DVC experiment (tags).
    """
    metrics, params, tags = set(metrics), set(params), set(tags)
    per_type = sorted(k for k in metrics if k.startswith("auc_") and k not in _SUMMARY_AUCS)
    return ([column_key("attributes", "Dataset")]
            + [column_key("metrics", k) for k in (*_METRICS, *per_type, "loss") if k in metrics]
            + [column_key("params", k) for k in _PARAMS if k in params]
            + [column_key("tags", k) for k in _TAGS if k in tags])


def view_state(columns: list[str]) -> dict[str, Any]:
    """Search facets and UI state of the saved view: ``auc_mean`` descending, ``columns``."""
    return {"orderByKey": column_key("metrics", SORT_METRIC), "orderByAsc": False,
            "selectedColumns": columns, "columnOrder": columns}


def saved_view(columns: list[str], now_ms: int) -> tuple[str, str]:
    """(experiment tag key, value) of the saved view :data:`VIEW_ID` with ``columns``."""
    envelope = {"name": VIEW_NAME, "createdAt": now_ms, "updatedAt": now_ms,
                "state": json.dumps(view_state(columns))}
    return VIEW_TAG_PREFIX + VIEW_ID, json.dumps(envelope)


def direct_url(base_url: str, experiment_id: str, view_id: str = VIEW_ID) -> str:
    """The runs table of ``experiment_id`` in the model-training pages, in the saved view."""
    query = urlencode({"viewStateShareKey": view_id, "workflowType": "machine_learning"})
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def link_base(uri: str, host: str, port: int) -> str:
    """The UI's address: a tracking server's own (without credentials), else ``host:port``."""
    if uri.startswith(("http://", "https://")):
        parts = urlsplit(uri)
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1])).rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


# --- the store: experiment, its runs' keys, the saved view ------------------------------------


def prepare_experiment(uri: str, experiment: str) -> tuple[str, int]:
    """(experiment id, number of runs); writes the kind tag and the saved view to ``experiment``.

    Raises :class:`~benchmark.reporting.runs.StoreError` for a missing local store, an unknown
    experiment or an unreadable store.
    """
    from benchmark.reporting.runs import StoreError, _check_local_store, display_uri
    from benchmark.training.tracking import _HTTP_DEFAULTS

    for key, value in _HTTP_DEFAULTS.items():  # a dead server fails fast, not after minutes
        os.environ.setdefault(key, value)
    _check_local_store(uri)
    try:
        return _write_view(uri, experiment)
    except StoreError:
        raise
    except Exception as error:  # noqa: BLE001 - any store failure becomes one clear message
        first = str(error).splitlines()[0][:300] if str(error) else ""
        raise StoreError(f"cannot read the MLflow store {display_uri(uri)} (experiment "
                         f"'{experiment}'): {type(error).__name__}: {first}") from error


def _write_view(uri: str, experiment: str) -> tuple[str, int]:
    from mlflow import MlflowClient

    from benchmark.reporting.runs import StoreError, _all_runs, display_uri
    from benchmark.training.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise StoreError(f"experiment '{experiment}' not found in the MLflow store "
                         f"{display_uri(uri)} (experiments there: {', '.join(names) or 'none'})")
    runs = _all_runs(client, found.experiment_id)
    columns = useful_columns({k for r in runs for k in r.data.metrics},
                             {k for r in runs for k in r.data.params},
                             {k for r in runs for k in r.data.tags})
    if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    client.set_experiment_tag(found.experiment_id, *saved_view(columns, int(time.time() * 1000)))
    return found.experiment_id, len(runs)


# --- the server --------------------------------------------------------------------------------


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (a bind there succeeds).

    With ``SO_REUSEADDR``, as the server binds: the closed connections of a server stopped a
    moment ago (TIME_WAIT) do not count, a listening one does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def mlflow_command() -> list[str]:
    """The ``mlflow`` CLI of this environment (beside the interpreter, else on PATH)."""
    beside = Path(sys.executable).with_name("mlflow")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("mlflow")
    return [found] if found else [sys.executable, "-m", "mlflow"]


def start_server(uri: str, artifacts: Path, host: str, port: int,
                 log_file: Path) -> subprocess.Popen:
    """``mlflow server`` on the store ``uri`` (its own process group), output to ``log_file``."""
    command = [*mlflow_command(), "server", "--host", host, "--port", str(port),
               "--workers", "1", "--backend-store-uri", uri,
               "--artifacts-destination", str(artifacts)]
    with open(log_file, "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def wait_until_up(base_url: str, server: subprocess.Popen,
                  timeout_s: float = START_TIMEOUT_S) -> bool:
    """Poll ``base_url/health`` until it answers 200 (True), the server exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.3)
    return False


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL after 20 s."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


# --- the command -------------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``ui`` command of ``python -m benchmark``."""
    parser = sub.add_parser(
        "ui",
        help="start the MLflow UI on the runs and print the direct link",
        description="Start `mlflow server` on the repository's MLflow store and print a link "
        "that opens the experiment's runs table (model-training pages) sorted by auc_mean, "
        "with the data sets, params and AUC columns showing; serve until Ctrl-C.",
    )
    add_store_arguments(parser, "; an http(s) tracking server is linked to, not started")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=_port, default=5000, help="default: %(default)s")
    parser.add_argument(
        "--no-server", action="store_true",
        help="only prepare the view and print the link (a server on --host/--port is yours)",
    )
    parser.set_defaults(run=run_ui)


def _port(text: str) -> int:
    """argparse type: a TCP port, 1..65535."""
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be 1..65535, got {value}")
    return value


def run_ui(args: argparse.Namespace) -> int:
    """``ui`` command; returns the exit code."""
    from benchmark.config import ConfigError
    from benchmark.reporting.runs import StoreError, display_uri
    from benchmark.training.tracking import store_settings

    try:
        uri, experiment = store_settings(args.params, args.tracking_uri, args.experiment)
        remote = uri.startswith(("http://", "https://"))
        if not remote and not _local(uri):
            return _error(f"no web UI for the MLflow store {display_uri(uri)}: give a local "
                          "store (sqlite:///..., a folder) or an http(s) tracking server")
        if not (args.no_server or remote) and not port_free(args.host, args.port):
            return _error(f"port {args.port} on {args.host} is taken (another MLflow UI?); "
                          "pick another with --port, or --no-server to link to that one")
        experiment_id, runs = prepare_experiment(uri, experiment)
    except (ConfigError, StoreError) as error:
        return _error(str(error))
    url = direct_url(link_base(uri, args.host, args.port), experiment_id)
    if args.no_server or remote:
        print(url, flush=True)
        return 0
    return _serve(uri, args.host, args.port, url, f"experiment '{experiment}', {runs} runs")


def _local(uri: str) -> bool:
    from benchmark.training.tracking import is_local_store

    return is_local_store(uri) and uri not in ("databricks", "databricks-uc", "uc")


def _serve(uri: str, host: str, port: int, url: str, what: str) -> int:
    """Start the server, print the link once it answers, serve until Ctrl-C."""
    from benchmark.reporting.runs import display_uri
    from benchmark.training.tracking import repo_root

    log_file = Path(tempfile.gettempdir()) / f"benchmark-mlflow-ui-{port}.log"
    log_file.write_text("")
    previous = _stop_on_signals()
    server = start_server(uri, repo_root() / "mlartifacts", host, port, log_file)
    try:
        if not wait_until_up(link_base(uri, host, port), server):
            tail = " | ".join(log_file.read_text(errors="replace").strip().splitlines()[-3:])
            return _error(f"mlflow server on {host}:{port} did not start (log {log_file}): "
                          f"{tail or 'no output'}")
        print(f"MLflow UI of {display_uri(uri)} ({what}), server log {log_file}; Ctrl-C stops "
              f"it\nruns ranked by {SORT_METRIC}: {url}", flush=True)
        server.wait()
        return _error(f"mlflow server stopped (exit code {server.returncode}, log {log_file})")
    except KeyboardInterrupt:
        return 0
    finally:
        for signum in _STOP_SIGNALS:  # a second Ctrl-C must not leave the server running
            signal.signal(signum, signal.SIG_IGN)
        stop_server(server)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_on_signals() -> dict[int, Any]:
    """Ctrl-C, SIGTERM and SIGHUP all end the serving (and so stop the server, which runs in its
    own session and would outlive us), also where SIGINT was ignored (a background job).
    Returns the handlers they had."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return {signum: signal.signal(signum, interrupt) for signum in _STOP_SIGNALS}


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1

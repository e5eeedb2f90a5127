"""The Dask engines the grid runs on, all existing ones: a ``LocalCluster`` of CPU workers, one
worker per GPU (``dask_cuda.LocalCUDACluster`` where it is installed, else a ``SpecCluster`` of
nannies each pinned to one GPU by ``CUDA_VISIBLE_DEVICES``), any dask-jobqueue cluster (SLURM,
PBS, SGE, LSF, ...) described in a YAML file, or a running scheduler.

Every worker that owns a GPU advertises one ``GPU`` resource, and every training task on CUDA
asks for one, so no two trainings share a GPU. Each engine is a context manager that yields a
connected ``distributed.Client`` and closes what it started.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from benchmark.config import ConfigError
from benchmark.grid.params import GridParams

GPU = "GPU"
"""The worker resource a CUDA training asks for (one per task)."""

JOBQUEUE_KEYS = {"cluster", "jobs", "options"}


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ConfigError("the grid needs Dask: pip install -e '.[grid]'") from error
    return distributed


def _dashboard(params: GridParams) -> dict[str, Any]:
    if params.dashboard is None:
        return {"dashboard_address": None}
    return {"dashboard_address": params.dashboard}


def local_cluster(params: GridParams) -> Any:
    """``distributed.LocalCluster``: ``grid.workers`` processes of ``threads_per_worker``."""
    distributed = _import_distributed()
    return distributed.LocalCluster(
        n_workers=params.workers, threads_per_worker=params.threads_per_worker, processes=True,
        host="127.0.0.1", **_dashboard(params))


def visible_gpus(requested: int = 0) -> list[str]:
    """The GPU ids to put one worker on each: ``CUDA_VISIBLE_DEVICES``'s, else 0..N-1 of
    ``torch.cuda.device_count()``; the first ``requested`` of them (0: all)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None and env.strip():
        gpus = [g.strip() for g in env.split(",") if g.strip()]
    else:
        import torch

        gpus = [str(i) for i in range(torch.cuda.device_count())]
    if not gpus:
        raise ConfigError("grid.engine cuda: this machine has no visible GPU (torch sees none "
                          "and CUDA_VISIBLE_DEVICES is empty); use engine local")
    if requested > len(gpus):
        raise ConfigError(f"grid.workers: {requested} GPUs asked for, {len(gpus)} visible "
                          f"({', '.join(gpus)})")
    return gpus[:requested] if requested else gpus


def cuda_cluster(params: GridParams) -> Any:
    """One single-threaded worker per GPU, each with one ``GPU`` resource."""
    gpus = visible_gpus(params.workers)
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        return gpu_spec_cluster(gpus, params)
    return LocalCUDACluster(CUDA_VISIBLE_DEVICES=",".join(gpus), threads_per_worker=1,
                            resources={GPU: 1}, host="127.0.0.1", **_dashboard(params))


def gpu_spec_cluster(gpus: list[str], params: GridParams) -> Any:
    """Without dask-cuda: a ``distributed.SpecCluster`` of nannies, nanny k pinned to GPU k."""
    distributed = _import_distributed()
    scheduler = {"cls": distributed.Scheduler,
                 "options": {"host": "127.0.0.1", **_dashboard(params)}}
    workers = {f"gpu-{gpu}": {"cls": distributed.Nanny, "options": {
        "nthreads": 1, "resources": {GPU: 1}, "env": {"CUDA_VISIBLE_DEVICES": gpu},
        "host": "127.0.0.1"}} for gpu in gpus}
    return distributed.SpecCluster(workers=workers, scheduler=scheduler)


def read_jobqueue(path: str | Path) -> dict[str, Any]:
    """The YAML file of a jobqueue cluster: ``cluster`` (a dask_jobqueue class name such as
    ``SLURMCluster``), ``jobs`` (how many to submit) and ``options`` (its keyword arguments)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid.jobqueue: {path} not found")
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: must be a mapping with keys {sorted(JOBQUEUE_KEYS)}")
    unknown = sorted(set(spec) - JOBQUEUE_KEYS)
    if unknown or "cluster" not in spec:
        raise ConfigError(f"{path}: keys are {sorted(JOBQUEUE_KEYS)} ('cluster' required), got "
                          f"{sorted(spec)}")
    if not isinstance(spec.get("jobs", 1), int) or spec.get("jobs", 1) < 1:
        raise ConfigError(f"{path}: 'jobs' must be an integer >= 1, got {spec.get('jobs')!r}")
    if not isinstance(spec.get("options", {}), dict):
        raise ConfigError(f"{path}: 'options' must be a mapping of the cluster's arguments")
    return spec


def build_jobqueue(spec: dict[str, Any], where: str | Path = "grid.jobqueue") -> Any:
    """The dask-jobqueue cluster ``spec`` describes (no job submitted yet)."""
    try:
        import dask_jobqueue
    except ImportError as error:
        raise ConfigError("grid.engine jobqueue needs dask-jobqueue: pip install -e "
                          "'.[grid]'") from error
    cls = getattr(dask_jobqueue, str(spec["cluster"]), None)
    if cls is None:
        known = sorted(n for n in dir(dask_jobqueue) if n.endswith("Cluster"))
        raise ConfigError(f"{where}: no dask_jobqueue.{spec['cluster']} (known: "
                          f"{', '.join(known)})")
    try:
        return cls(**spec.get("options", {}))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {spec['cluster']} refuses its options: {error}") from error


def jobqueue_cluster(params: GridParams) -> Any:
    """A dask-jobqueue cluster from ``grid.jobqueue``, scaled to its ``jobs``."""
    spec = read_jobqueue(params.jobqueue or "")
    cluster = build_jobqueue(spec, params.jobqueue or "grid.jobqueue")
    cluster.scale(jobs=int(spec.get("jobs", 1)))
    return cluster


ENGINES = {"local": local_cluster, "cuda": cuda_cluster, "jobqueue": jobqueue_cluster}


@contextlib.contextmanager
def connect(params: GridParams) -> Iterator[Any]:
    """A ``distributed.Client`` on the engine of ``params`` (closed, with its cluster, after)."""
    distributed = _import_distributed()
    import dask

    if params.engine == "scheduler":  # its own allowed-failures applies (Dask's default: 3)
        with distributed.Client(params.scheduler, timeout="30s") as client:
            yield client
        return
    # A task whose worker dies is run again on another worker up to allowed-failures times.
    with dask.config.set({"distributed.scheduler.allowed-failures": params.retries}), \
            ENGINES[params.engine](params) as cluster, distributed.Client(cluster) as client:
        yield client


def gpu_workers(client: Any) -> int:
    """How many of the cluster's workers offer a ``GPU`` resource now."""
    workers = client.scheduler_info().get("workers", {})
    return sum(1 for w in workers.values() if (w.get("resources") or {}).get(GPU, 0) >= 1)

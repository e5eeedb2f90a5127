"""``python -m benchmark grid run``: the pending train stages in parallel on a Dask cluster.

1. ``dvc repro features`` brings ``prepare`` and ``features`` up to date;
2. the ``train@*`` stages DVC reports as changed or missing (``--targets GLOB`` narrows them) run
   as Dask tasks, each stage's own command, and each one that ends well is ``dvc commit``-ed;
3. ``dvc repro`` runs what is left (``complexity``, ``report``), unless a stage failed or
   ``--targets`` left train stages out.

Exit status 0 when every stage ran and was recorded; 1 when one failed (each is named with the
tail of its log; the others are recorded, and running the command again runs only what is still
missing); 130 on Ctrl-C (the trainings stop and resume from ``last.pt`` on the next run).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from benchmark.cli import error_line, user_errors
from benchmark.config import ConfigError, from_dict, read_params
from benchmark.dvc_cli import DvcError
from benchmark.grid.cluster import connect, gpu_workers
from benchmark.grid.params import GridParams
from benchmark.grid.run import GridOutcome, overlapping, run_stages, user_environ, wall_time
from benchmark.grid.stages import pending_train_stages, reproduce

log = logging.getLogger("benchmark.grid")

OVERRIDES = ("engine", "workers", "retries", "scheduler", "jobqueue")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``grid run`` under ``python -m benchmark``."""
    grid = sub.add_parser("grid", help="train the pending train@* stages in parallel on Dask",
                          description=__doc__.splitlines()[0])
    actions = grid.add_subparsers(dest="grid_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run the pending train stages, record them in DVC",
                             description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    run.add_argument("--params", default="params.yaml",
                     help="params file: its grid: and train.device (default: %(default)s)")
    run.add_argument("--engine", choices=["local", "cuda", "jobqueue", "scheduler"],
                     help="default: grid.engine")
    run.add_argument("--workers", type=int, help="local: processes; cuda: GPUs (0: all)")
    run.add_argument("--scheduler", help="a running scheduler, tcp://host:port (engine scheduler)")
    run.add_argument("--jobqueue", help="YAML file of a dask-jobqueue cluster (engine jobqueue)")
    run.add_argument("--retries", type=int, help="re-runs of a stage whose worker died")
    run.add_argument("--targets", nargs="+", metavar="GLOB",
                     help="only the train stages matching these globs, e.g. 'train@proposed*'")
    run.add_argument("--no-repro", action="store_true",
                     help="do not run dvc repro for complexity and report afterwards")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(run=run_grid_command)


def grid_params(args: argparse.Namespace) -> tuple[GridParams, str]:
    """``grid:`` of the params file with the command line's overrides; and ``train.device``."""
    params = read_params(args.params)
    if "grid" not in params:
        raise ConfigError(f"{args.params}: missing section 'grid'")
    section = dict(params["grid"])
    if args.scheduler and not args.engine:
        args.engine = "scheduler"
    if args.jobqueue and not args.engine:
        args.engine = "jobqueue"
    section.update({k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None})
    device = str((params.get("train") or {}).get("device", "cpu"))
    return from_dict(GridParams, section, "grid"), device


def wants_gpu(device: str, client: Any, engine: str) -> bool:
    """Whether each task asks for a GPU: ``train.device`` cuda, or auto on a cluster of GPUs."""
    offered = gpu_workers(client)
    if device.startswith("cuda"):
        if offered == 0 and engine != "jobqueue":
            raise ConfigError(f"train.device is {device}, but no worker of this cluster offers a "
                              "GPU resource: use --engine cuda, or start the workers with "
                              "--resources GPU=1")
        return True
    return device == "auto" and offered > 0


def run_grid_command(args: argparse.Namespace) -> int:
    """``grid run``; returns the exit code."""
    root = Path.cwd()
    logging.getLogger("distributed").setLevel(logging.WARNING)  # Dask's INFO chatter
    try:
        params, device = grid_params(args)
        print("bringing the data and the features up to date: dvc repro features", flush=True)
        reproduce(root, "features")
        stages = pending_train_stages(root, args.targets)
        if not stages:
            print("every train stage is up to date")
            return _finish(root, GridOutcome(), args)
        outcome = _run_on_cluster(root, params, device, stages, args)
    except KeyboardInterrupt:
        print("interrupted: the running trainings were stopped; each resumes from its last.pt "
              "on the next run, and only the unrecorded stages run again", file=sys.stderr)
        return 130
    except (*user_errors(), DvcError) as error:
        print(f"error: {error_line(error)}", file=sys.stderr)
        return 1
    return _finish(root, outcome, args)


def _run_on_cluster(root: Path, params: GridParams, device: str, stages: list,
                    args: argparse.Namespace) -> GridOutcome:
    user_env = user_environ()  # before the cluster's nannies change this process's environment
    with connect(params) as client:
        if client.dashboard_link:
            print(f"Dask dashboard: {client.dashboard_link}", flush=True)
        gpu = wants_gpu(device, client, params.engine)
        print(f"{len(stages)} train stages on {params.engine} "
              f"({len(client.scheduler_info().get('workers', {}))} workers now"
              f"{', one GPU per task' if gpu else ''}); logs in {params.log_dir}/", flush=True)
        outcome = run_stages(client, stages, root, root / params.log_dir, user_env=user_env,
                             gpu=gpu, retries=params.retries, progress=not args.no_progress)
    if outcome.done:
        print(f"{len(outcome.done)} stages recorded in {wall_time(outcome.done):.0f} s, up to "
              f"{overlapping(outcome.done)} at once")
    return outcome


def _finish(root: Path, outcome: GridOutcome, args: argparse.Namespace) -> int:
    """Report failures (exit 1); else run what is left with ``dvc repro``."""
    for failure in outcome.failed:
        print(f"error: stage {failure.name} failed: {failure.reason}\n"
              + "\n".join(f"  | {line}" for line in failure.tail.splitlines()), file=sys.stderr)
    if outcome.failed:
        print(f"{len(outcome.failed)} stage(s) failed, {len(outcome.done)} recorded; run the "
              "command again to run only what is still missing", file=sys.stderr)
        return 1
    if args.no_repro or args.targets:
        print("not running dvc repro (--no-repro or --targets): complexity and report wait")
        return 0
    try:
        print("dvc repro: the stages after training", flush=True)
        reproduce(root)
    except DvcError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0

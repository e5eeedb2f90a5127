"""Run the pending train stages on a Dask client, record each as it ends, report what failed.

:func:`run_stages` submits one task per stage (``retries`` for a lost worker; one ``GPU``
resource each on CUDA), shows a progress bar (done / running / failed / queued and the stages
running now), commits every finished stage with ``dvc commit`` on the client, one at a time, and
carries on past a stage that fails: its name and log tail are reported at the end. Ctrl-C cancels
the tasks; the caller closes the cluster, which stops the trainings (each resumes from its
``last.pt`` on the next run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchmark.dvc_cli import DvcError
from benchmark.grid.cluster import GPU
from benchmark.grid.stages import PendingStage, commit_stage
from benchmark.grid.tasks import StageResult, log_path, read_tail, run_stage, stop_running

log = logging.getLogger("benchmark.grid")

POLL_S = 1.0


@dataclass
class Failure:
    """A stage that did not end recorded: why, and the tail of its log."""

    name: str
    reason: str
    tail: str


@dataclass
class GridOutcome:
    """What a grid run did: stages committed (with their results) and stages that failed."""

    done: list[StageResult] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def submit(client: Any, stages: list[PendingStage], root: Path, log_dir: Path, *, gpu: bool,
           retries: int, env: dict[str, str | None]) -> dict[Any, PendingStage]:
    """One task per stage; a new key each run, so a rerun never reuses an old result."""
    token = uuid.uuid4().hex[:8]
    resources = {GPU: 1} if gpu else None
    return {client.submit(run_stage, stage.name, stage.cmd, str(root), str(log_dir), env,
                          key=f"{stage.name}-{token}", pure=False, retries=retries,
                          resources=resources): stage
            for stage in stages}


def user_environ() -> dict[str, str | None]:
    """The user's values (None: unset) of the variables a Dask nanny sets for its worker
    process. Take it before a cluster starts in this process: a ``LocalCluster``'s nannies
    write theirs into this process's ``os.environ``."""
    import dask
    import distributed  # noqa: F401 - its import puts its defaults into dask.config

    keys = dask.config.get("distributed.nanny.pre-spawn-environ")
    return {key: os.environ.get(key) for key in keys}


def _running(client: Any, futures: dict[Any, PendingStage]) -> list[str]:
    """Names of the stages the scheduler has on a worker now."""
    try:
        processing = client.processing()
    except Exception:  # noqa: BLE001 - the progress line must never stop the grid
        return []
    keys = {str(key) for keys in processing.values() for key in keys}
    return [stage.name for future, stage in futures.items() if str(future.key) in keys]


def _record(root: Path, future: Any, stage: PendingStage, log_dir: Path,
            outcome: GridOutcome) -> None:
    """The result of one finished task: committed when its command succeeded."""
    try:
        result: StageResult = future.result()
    except Exception as error:  # noqa: BLE001 - a lost worker after every retry, a cancelled task
        outcome.failed.append(Failure(stage.name, f"{type(error).__name__}: {error}",
                                      read_tail(log_path(log_dir, stage.name))))
        return
    if not result.ok:
        outcome.failed.append(Failure(stage.name, f"its command exited with {result.returncode}",
                                      result.tail))
        return
    try:
        commit_stage(root, stage.name)
    except DvcError as error:
        outcome.failed.append(Failure(stage.name, "dvc commit failed", str(error)))
        return
    outcome.done.append(result)
    log.info("%s done in %.0f s on %s, recorded in dvc.lock", stage.name,
             result.ended - result.started, result.host)


def run_stages(client: Any, stages: list[PendingStage], root: Path, log_dir: Path, *,
               user_env: dict[str, str | None], gpu: bool = False, retries: int = 2,
               progress: bool = True) -> GridOutcome:
    """Run ``stages`` on ``client``; every stage that succeeds is committed as it ends.

    ``user_env``: :func:`user_environ`, taken before the cluster started."""
    outcome = GridOutcome()
    futures = submit(client, stages, root, log_dir, gpu=gpu, retries=retries, env=user_env)
    pending = set(futures)
    bar = tqdm(total=len(stages), desc="grid", unit="stage", disable=not progress)
    try:
        while pending:
            finished = [future for future in pending if future.done()]
            pending.difference_update(finished)
            for future in finished:
                _record(root, future, futures[future], log_dir, outcome)
                bar.update(1)
            running = _running(client, {f: futures[f] for f in pending})
            bar.set_postfix_str(f"done {len(outcome.done)} | running {len(running)} | failed "
                                f"{len(outcome.failed)} | queued {len(pending) - len(running)}"
                                + (f" | now: {', '.join(running)}" if running else ""))
            if pending and not finished:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):  # stop the trainings now, not when workers close
            client.run(stop_running)
        client.cancel(list(pending))
        raise
    finally:
        bar.close()
    return outcome


def wall_time(results: list[StageResult]) -> float:
    """Seconds from the first start to the last end of ``results``."""
    if not results:
        return 0.0
    return max(r.ended for r in results) - min(r.started for r in results)


def overlapping(results: list[StageResult]) -> int:
    """The largest number of stages that ran at the same moment."""
    events = sorted([(r.started, 1) for r in results] + [(r.ended, -1) for r in results])
    level = best = 0
    for _, step in events:
        level += step
        best = max(best, level)
    return best

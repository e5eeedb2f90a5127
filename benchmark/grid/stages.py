"""What DVC says: the ``train@*`` stages to run, their commands, and recording a finished one."""

from __future__ import annotations

import contextlib
import fnmatch
from dataclasses import dataclass
from pathlib import Path

from benchmark.config import ConfigError
from benchmark.dvc_cli import run_dvc, stream_dvc

TRAIN_PREFIX = "train@"


@dataclass(frozen=True)
class PendingStage:
    """A stage to run: its DVC name (``train@idnn-0``) and the exact command DVC would run."""

    name: str
    cmd: str


def pending_train_stages(root: Path, targets: list[str] | None = None) -> list[PendingStage]:
    """The ``train@*`` stages DVC reports as changed or missing, in ``dvc.yaml`` order.

    ``targets``: glob patterns of stage names (``train@proposed*``); a pattern that matches no
    train stage at all is an error naming it (a typo must not run nothing silently).
    """
    from dvc.repo import Repo

    with contextlib.chdir(root), Repo(".") as repo:  # DVC names stages relative to the cwd
        stages = [(s.addressing, s.cmd) for s in repo.index.stages
                  if s.addressing.startswith(TRAIN_PREFIX)]
        changed = set(repo.status(targets=[name for name, _ in stages])) if stages else set()
    names = [name for name, _ in stages]
    for pattern in targets or []:
        if not fnmatch.filter(names, pattern):
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise ConfigError(f"--targets {pattern!r} matches no train stage of dvc.yaml "
                             f"(they are {shown})")
    return [PendingStage(name, _one_command(cmd)) for name, cmd in stages if name in changed
            and (not targets or any(fnmatch.fnmatch(name, p) for p in targets))]


def _one_command(cmd: str | list[str]) -> str:
    if isinstance(cmd, list):  # dvc.yaml allows a list of commands, run in order
        return " && ".join(cmd)
    return cmd


def commit_stage(root: Path, name: str) -> None:
    """Record a stage DVC did not run itself: hash its outputs into the cache and write its
    ``dvc.lock`` entry, exactly as ``dvc repro`` would have."""
    run_dvc(["commit", "--force", name], root)


def reproduce(root: Path, *targets: str) -> None:
    """``dvc repro [TARGETS]`` in ``root``, its output shown as it comes."""
    stream_dvc(["repro", *targets], root)

"""What a Dask worker runs for one stage: the stage's command in the repository, logged to a file.

The command runs in a child process that dies with its worker (Linux ``PR_SET_PDEATHSIG``): a
worker that is killed or shut down (Ctrl-C on the client closes the cluster) takes its training
with it, and the training's atomic ``last.pt`` lets the retry or the next run resume from the
last finished epoch. A command that exits non-zero is a result (a stage that fails for good, e.g.
a bad param, is not retried); only a lost worker makes Dask run the task again.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1
_RUNNING: set[subprocess.Popen] = set()  # the stage commands of this worker process now


@dataclass(frozen=True)
class StageResult:
    """How one stage's command ended, where and when (wall-clock seconds since the epoch)."""

    name: str
    returncode: int
    started: float
    ended: float
    host: str
    log: str
    tail: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def log_path(log_dir: str | Path, name: str) -> Path:
    """``<log_dir>/<stage>.log`` (``train@idnn-0`` -> ``train@idnn-0.log``)."""
    return Path(log_dir) / f"{name.replace('/', '_')}.log"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stage_environ(user_env: dict[str, str | None] | None = None) -> dict[str, str]:
    """This worker's environment with ``user_env`` put back: the user's own values (None:
    unset) of what a Dask nanny sets for its worker process (``MALLOC_TRIM_THRESHOLD_``, one
    OpenMP/MKL/BLAS thread). A training must not inherit those: the fixed malloc trim threshold
    alone slowed a 1-thread matmul loop by 16 % here."""
    environ = dict(os.environ)
    for key, value in (user_env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


def run_stage(name: str, cmd: str, root: str, log_dir: str,
              user_env: dict[str, str | None] | None = None) -> StageResult:
    """Run stage ``name``'s command ``cmd`` in ``root`` as DVC would (``DVC_ROOT`` set,
    this interpreter's folder first on ``PATH``, the user's environment: :func:`stage_environ`);
    its output is appended to the stage's log."""
    log = log_path(log_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**stage_environ(user_env), "DVC_ROOT": root,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.time()
    with log.open("ab") as handle:
        handle.write(f"--- {name} on {socket.gethostname()} pid {os.getpid()} "
                     f"CUDA_VISIBLE_DEVICES={full_env.get('CUDA_VISIBLE_DEVICES', '')} at "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {cmd}\n".encode())
        handle.flush()
        argv = simple_argv(cmd)
        process = subprocess.Popen(cmd if argv is None else argv, shell=argv is None, cwd=root,
                                   env=full_env, stdout=handle, stderr=subprocess.STDOUT,
                                   preexec_fn=_die_with_parent,
                                   start_new_session=True)  # its own group: stop_running()
        _RUNNING.add(process)
        try:
            returncode = process.wait()
        finally:
            _RUNNING.discard(process)
            if process.poll() is None:  # the task was interrupted: do not leave it running
                _stop(process)
    return StageResult(name, returncode, started, time.time(), socket.gethostname(), str(log),
                       read_tail(log))


SHELL_SYNTAX = re.compile(r"[;&|<>()$`\\\n*?~{}\[\]!#]")


def simple_argv(cmd: str) -> list[str] | None:
    """``cmd`` as an argument list when it is one plain command (no shell syntax), else None.

    A plain command runs without a shell, so the training itself is the child that dies with
    its worker (a shell would be the child, and its own child would live on as an orphan)."""
    if SHELL_SYNTAX.search(cmd):
        return None
    try:
        argv = shlex.split(cmd)
    except ValueError:
        return None
    return argv or None


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the command's process group (the shell and the training), then wait."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


def stop_running() -> int:
    """Stop every stage command this worker runs now (Ctrl-C on the client); how many."""
    running = list(_RUNNING)
    for process in running:
        _stop(process)
    return len(running)


def read_tail(path: str | Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log (progress-bar carriage returns folded)."""
    try:
        with Path(path).open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    rows = [row.rsplit("\r", 1)[-1] for row in text.splitlines()]
    return "\n".join(rows[-lines:])

"""Running the ``dvc`` command line for the commands that drive DVC (plots, compare, grid).

Each calls the real ``dvc`` (the one installed beside this interpreter, else the first on
``PATH``) in the repository root, and turn every failure into a :class:`DvcError` whose message
is one line for an ``error:`` line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


class DvcError(RuntimeError):
    """``dvc`` is missing, the folder is not in a DVC repository, or a ``dvc`` command failed."""


def dvc_executable() -> str:
    """Path of the ``dvc`` program: beside ``sys.executable`` (a venv), else on ``PATH``."""
    beside = Path(sys.executable).with_name("dvc")
    if beside.is_file():
        return str(beside)
    found = shutil.which("dvc")
    if found is None:
        raise DvcError("dvc is not installed (pip install 'dvc>=3.50,<4')")
    return found


def dvc_root(start: str | Path = ".") -> Path:
    """The DVC repository holding ``start``: the nearest folder at or above it with ``.dvc/``."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir():
            return folder
    raise DvcError(f"not in a DVC repository: no .dvc folder in {here} or above")


def run_dvc(args: list[str], cwd: Path, timeout: float | None = 600,
            echo_stderr: bool = False, env: dict[str, str] | None = None) -> str:
    """Run ``dvc ARGS`` in ``cwd`` and return its stdout; :class:`DvcError` when it fails.

    ``echo_stderr``: pass DVC's warnings (e.g. plots it failed to load) on to our stderr.
    ``env``: the environment of the command (default: this process's).
    """
    command = [dvc_executable(), *args]
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DvcError(f"dvc {' '.join(args)}: {error}") from error
    if done.returncode != 0:
        raise DvcError(f"dvc {' '.join(args)} failed (exit {done.returncode}): "
                       f"{_last_line(done.stderr or done.stdout)}")
    if echo_stderr and done.stderr.strip():
        sys.stderr.write(done.stderr)
    return done.stdout


def stream_dvc(args: list[str], cwd: Path) -> None:
    """Run ``dvc ARGS`` in ``cwd`` with its output shown as it comes (long work: downloads,
    training); :class:`DvcError` naming the command when it fails."""
    sys.stdout.flush()
    try:
        done = subprocess.run([dvc_executable(), *args], cwd=cwd, check=False)
    except OSError as error:
        raise DvcError(f"dvc {' '.join(args)}: {error}") from error
    if done.returncode != 0:
        raise DvcError(f"dvc {' '.join(args)} failed (exit {done.returncode}); its output is "
                       "above")


def _last_line(text: str) -> str:
    """DVC's message in ``text``: its last ``ERROR:`` line, else its last line but the footer."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR")]
    lines = [line for line in lines if not line.startswith("Having any troubles?")]
    return (errors or lines or ["no message"])[-1]

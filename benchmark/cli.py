"""Command-line plumbing shared by the stages and ``python -m benchmark``: one ``error:`` line.

An error the code raises on purpose (a bad params key, a file that exists, unreadable audio, a
full disk, a damaged checkpoint) is the user's to fix, not a bug: :func:`entry_point` prints it
as one ``error: ...`` line naming the file or key and exits with status 1. ``--debug`` on the
command line (or ``ASD_DEBUG=1``) shows the full traceback instead. Anything else (a bug) keeps
its traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from benchmark.config import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

DEBUG_FLAG = "--debug"


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "fix your input", never "fix the code"."""
    from benchmark.data.archive import ArchiveError
    from benchmark.data.audio import AudioError
    from benchmark.data.download import DownloadError
    from benchmark.data.layout import LayoutError
    from benchmark.training.loop import TrainingError

    # OSError covers FileExistsError, FileNotFoundError, PermissionError and DiskFullError;
    # ConfigError covers benchmark.device.DeviceError.
    return (ConfigError, OSError, AudioError, LayoutError, ArchiveError, DownloadError,
            TrainingError)


def wants_debug(argv: list[str] | None) -> bool:
    """``--debug`` among the arguments, or ``ASD_DEBUG`` set to a true value."""
    words = sys.argv[1:] if argv is None else argv
    return DEBUG_FLAG in words or os.environ.get("ASD_DEBUG", "") not in ("", "0")


def strip_debug(argv: list[str] | None) -> list[str]:
    """The arguments without ``--debug`` (argparse of the stage never sees it)."""
    words = sys.argv[1:] if argv is None else argv
    return [word for word in words if word != DEBUG_FLAG]


def entry_point(main: F) -> F:
    """Wrap a stage's ``main(argv)``: user errors become one ``error:`` line and exit status 1."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> Any:
        debug = wants_debug(argv)
        try:
            return main(strip_debug(argv))
        except user_errors() as error:
            if debug:
                raise
            print(f"error: {error_line(error)}", file=sys.stderr)
            print(f"(run with {DEBUG_FLAG} for the traceback)", file=sys.stderr)
            raise SystemExit(1) from None

    return wrapper  # type: ignore[return-value]


def error_line(error: BaseException) -> str:
    """The error's message; an OSError's with the file it names (``[Errno 2] ...: 'x'``)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror if error.filename is None else f"{error.filename}: {error.strerror}"
    return str(error).strip() or type(error).__name__


def add_store_arguments(parser: argparse.ArgumentParser, remote_note: str = "") -> None:
    """``--params``, ``--tracking-uri`` and ``--experiment`` of a command that reads MLflow."""
    parser.add_argument(
        "--params", default="params.yaml",
        help="params file for train.mlflow_tracking_uri / mlflow_experiment (default: "
        "%(default)s)",
    )
    parser.add_argument(
        "--tracking-uri", default=None,
        help="MLflow store, used as given (default: MLFLOW_TRACKING_URI, else "
        "train.mlflow_tracking_uri resolved against the repository root)" + remote_note,
    )
    parser.add_argument(
        "--experiment", default=None, help="default: train.mlflow_experiment of --params"
    )

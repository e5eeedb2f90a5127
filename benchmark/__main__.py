"""Command line of the benchmark (python -m benchmark COMMAND, or asd-benchmark COMMAND).

Commands:

- ``score --model NAME [--seed K] [--backend BACKEND] PATH...``: anomaly scores and a
  normal/anomalous decision for audio files or folders (``*.wav``, recursive) with the trained
  ``models/NAME``, as CSV (columns path, machine_type, machine_id, score, threshold, decision)
  on stdout or ``--out``. The score is the model's own (``--backend loss``, the default) or
  that of a scoring backend of ``scoring.backends`` (``--params``), fitted on the run's
  reference embeddings, with the configuration that scored the run
  (``models/NAME/scores-seed-K/backends.json``) and thresholds from its cross-fitted training
  scores (see :mod:`benchmark.score`). A file that cannot be scored is an ``error:`` line on
  stderr naming it; the others are still scored and the exit code is 1.
- ``leaderboard``: every finished run of the MLflow store ranked by mean AUC, per data source,
  training recipe and epochs, with the seeds and run ids behind each figure, as markdown on
  stdout or ``--out`` (see :mod:`benchmark.reporting.runs`). An unreadable store or a missing
  experiment is an ``error:`` line naming it, exit code 1.
- ``years [--out-dir reports/years] [--resamples N]``: every DCASE year's results from the MLflow
  store: the cross-year leaderboard (models x years, official scores) and, per year 2021-2025
  with runs, every model's official score with its bootstrap interval, AUC(source), AUC(target)
  and pAUC, per machine type (see :mod:`benchmark.reporting.years`).

- ``profile NAME``: the ``dvc exp run -S`` arguments that switch the pipeline to the protocol of
  ``profiles/NAME.yaml`` (checked against ``params.yaml`` first), e.g.
  ``dvc exp run -n paper $(python -m benchmark profile paper)``.
- ``ui [--port N] [--no-server]``: ``mlflow server`` on the repository's MLflow store and the
  direct link to the experiment's runs table, ranked by ``auc_mean`` with the data set, params
  and AUC columns showing; serves until Ctrl-C. A missing store, an unknown experiment or a
  taken port is an ``error:`` line, exit code 1 (see :mod:`benchmark.views.ui`).
- ``plots [--diff] [--set-config] [-- DVC_ARGS]``: ``dvc plots show`` (or ``diff``) as a page
  that renders offline: Vega, Vega-Lite and vega-embed inline from vl-convert-python instead of
  a CDN (see :mod:`benchmark.views.offline_plots`); prints the page's path.
- ``compare [--all-models] [--precision N] [--json]``: experiments x models from
  ``dvc exp show --json``: each model's mean AUC (mean over seeds) and the params that differ
  between the rows (see :mod:`benchmark.views.compare`).
- ``grid run [--engine local|cuda|jobqueue|scheduler] [--targets GLOB...]``: the pending
  ``train@*`` stages in parallel on a Dask cluster, each recorded with ``dvc commit``, then
  ``dvc repro`` for the rest (see :mod:`benchmark.grid`).

The pipeline stages have their own modules (``python -m benchmark.prepare``, ``.features``,
``.train``, ``.complexity``, ``.report``).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.cli import add_store_arguments, error_line
from benchmark.data.layout import SAMPLE_RATE
from benchmark.grid import cli as grid_cli
from benchmark.views import compare as compare_cmd
from benchmark.views import offline_plots
from benchmark.views.ui import add_parser as ui_parser

if TYPE_CHECKING:
    import pandas as pd

    from benchmark.score import Thresholds

log = logging.getLogger("benchmark")
LOSS = "loss"  # benchmark.score.LOSS (not imported: that pulls in torch)


def finite_float(text: str) -> float:
    """argparse type: a finite float (``nan`` and ``inf`` are refused)."""
    value = float(text)  # ValueError: argparse's "invalid finite_float value"
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an int > 0."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def output_file(text: str) -> Path:
    """argparse type: a file path that is not an existing folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a CSV file name")
    return path


def _score_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "score",
        help="score recordings with a trained model",
        description="Anomaly scores and normal/anomalous decisions for recordings. Machine type "
        "and ID come from the DCASE path <type>/<split>/<label>_id_XX_NNNNNNNN.wav unless "
        "--machine-type and --machine-id are given. The score is the model's own (--backend "
        "loss) or a scoring backend's, fitted per machine ID on the run's reference clips "
        "(models/NAME/seed-K/embeddings.npz); a clip is anomalous when its score exceeds the "
        "threshold.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio file or folder (*.wav)")
    parser.add_argument("--model", required=True, help="trained model name (models/NAME)")
    parser.add_argument("--seed", type=int, default=None,
                        help="which run of the model (models/NAME/seed-K; default: lowest seed)")
    parser.add_argument("--models-dir", default="models", help="default: %(default)s")
    parser.add_argument(
        "--backend", default=LOSS, metavar="BACKEND",
        help="scoring backend: a name of scoring.backends in --params (knn, mahalanobis, ...), "
        "fitted per machine ID on the run's reference embeddings; the configuration that "
        "scored the run (models/NAME/scores-seed-K/backends.json) is used when it differs from "
        "--params (with a warning), and the thresholds come from that folder's train.csv. "
        "default: %(default)s, the model's own score with train_scores.csv's thresholds",
    )
    parser.add_argument("--params", default="params.yaml",
                        help="params file of --backend (default: %(default)s)")
    parser.add_argument(
        "--percentile", type=finite_float, default=90.0,
        help="threshold = this percentile of the training scores (--backend loss: "
        "train_scores.csv; another: the backend's cross-fitted scores of the reference clips) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--scope", choices=["id", "type", "all"], default="id",
        help="training scores the percentile is taken over: the clip's (type, ID), its type, or "
        "all clips (default: %(default)s)",
    )
    parser.add_argument(
        "--threshold", type=finite_float, default=None,
        help="a fixed threshold for every clip instead of the percentile",
    )
    parser.add_argument("--machine-type", default=None, help="machine type of every file")
    parser.add_argument("--machine-id", default=None, help="machine ID of every file (id_00)")
    parser.add_argument(
        "--out", type=output_file, default=None, help="CSV file (default: stdout)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, help="default: %(default)s"
    )
    parser.add_argument("--device", default="cpu", help="default: %(default)s")
    parser.add_argument(
        "--sample-rate", type=positive_int, default=None,
        help=f"Hz (default: the model's training rate, else {SAMPLE_RATE})",
    )
    parser.add_argument(
        "--clip-samples", type=positive_int, default=None,
        help="samples per clip after crop/pad (default: the model's training length, else its "
        "input length)",
    )
    parser.set_defaults(run=run_score)


def run_score(args: argparse.Namespace) -> int:
    """``score`` command; returns the exit code."""
    from benchmark.device import resolve_device
    from benchmark.io import check_writable
    from benchmark.score import collect_files, load_backend, score_files
    from benchmark.training.checkpoint import find_run_dir, load_trained

    if (args.machine_type is None) != (args.machine_id is None):
        print("error: give both --machine-type and --machine-id, or neither", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device, "--device")
        if args.out is not None:
            check_writable(args.out)  # before the scoring, not after: no work is lost
        model_dir = find_run_dir(args.models_dir, args.model, args.seed)
        trained = load_trained(model_dir, device)
        backend = None if args.backend == LOSS else load_backend(model_dir, args.backend,
                                                                 args.params)
        thresholds = _score_thresholds(args, trained, model_dir)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error_line(error)}", file=sys.stderr)
        return 2
    machine = None if args.machine_type is None else (args.machine_type, args.machine_id)
    files = collect_files(args.paths)
    if not files:
        print(f"error: no audio files in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    table, errors = score_files(
        trained, files, thresholds, backend=backend, machine=machine,
        sample_rate=args.sample_rate, clip_samples=args.clip_samples,
        batch_size=args.batch_size, device=device,
    )
    for error in errors:
        print(f"error: {error.message}", file=sys.stderr)
    log.info("scored %d of %d files with %s, backend %s", len(table), len(files), args.model,
             args.backend if backend is None else f"{args.backend} ({backend.config.describe()})")
    if not _write_scores(table, args.out):
        return 1
    return 1 if errors else 0


def _score_thresholds(args: argparse.Namespace, trained, model_dir: Path) -> Thresholds:
    """``--threshold``, else the ``--percentile`` / ``--scope`` thresholds of the training
    scores: the model's own (``--backend loss``) or the backend's cross-fitted ones."""
    from benchmark.score import (
        backend_thresholds,
        fixed_thresholds,
        run_scores_dir,
        train_thresholds,
    )

    if args.threshold is not None:
        return fixed_thresholds(args.threshold)
    if args.backend == LOSS:
        return train_thresholds(trained, model_dir, args.percentile, args.scope)
    return backend_thresholds(run_scores_dir(model_dir), args.backend, args.percentile,
                              args.scope)


def _write_scores(table, out: Path | None) -> bool:
    """The score table to ``out`` (atomically) or stdout; if ``out`` fails after all, the table
    goes to stdout so that the scoring is not lost. Returns whether ``out`` was written."""
    from benchmark.io import atomic_path

    if out is None:
        table.to_csv(sys.stdout, index=False)
        return True
    try:
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
    except OSError as error:
        print(f"error: cannot write {out} ({error_line(error)}); the scores follow on stdout",
              file=sys.stderr)
        table.to_csv(sys.stdout, index=False)
        return False
    return True


def _leaderboard_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "leaderboard",
        help="rank every MLflow run per data source, recipe and epochs",
        description="A markdown leaderboard over every finished run of the MLflow experiment: "
        "models ranked by mean AUC within each (data source, training recipe, epochs) group, "
        "with the seeds and run ids behind each figure.",
    )
    add_store_arguments(parser)
    parser.add_argument(
        "--out", type=Path, default=None,
        help="markdown file, written atomically (default: stdout), e.g. "
        "reports/runs_leaderboard.md",
    )
    parser.set_defaults(run=run_leaderboard)


def run_leaderboard(args: argparse.Namespace) -> int:
    """``leaderboard`` command; returns the exit code."""
    from benchmark.io import write_text_atomic
    from benchmark.reporting.runs import leaderboard_markdown

    if args.out is not None and args.out.is_dir():
        print(f"error: {args.out} is a folder; give a markdown file name", file=sys.stderr)
        return 2
    found = _store_runs(args)
    if found is None:
        return 1
    frame = found[1]
    text = leaderboard_markdown(frame)
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(args.out, text)
        log.info("leaderboard of %d runs written to %s", len(frame), args.out)
    return 0


def _store_runs(args: argparse.Namespace) -> tuple[str, pd.DataFrame] | None:
    """``(tracking URI, collect_runs frame)`` of the store the arguments name, or None after an
    ``error:`` line naming the store or experiment that cannot be read."""
    from benchmark.config import ConfigError
    from benchmark.reporting.runs import StoreError, collect_runs
    from benchmark.training.tracking import store_settings

    try:
        uri, experiment = store_settings(args.params, args.tracking_uri, args.experiment)
        return uri, collect_runs(uri, experiment)
    except (ConfigError, StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _years_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "years",
        help="the cross-year leaderboard and every DCASE year's official scores",
        description="From the MLflow store: reports/years/leaderboard.md (models x DCASE years, "
        "official scores) and reports/years/dcaseYYYY.md per year 2021-2025 with runs (official "
        "score with its bootstrap interval, AUC(source), AUC(target), pAUC, per machine type).",
    )
    add_store_arguments(parser)
    parser.add_argument("--out-dir", type=Path, default=Path("reports/years"),
                        help="folder of the documents (default: reports/years)")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="bootstrap resamples per interval (default: 1000)")
    parser.set_defaults(run=run_years)


def run_years(args: argparse.Namespace) -> int:
    """``years`` command; returns the exit code."""
    from benchmark.reporting.years import mlflow_loader, write_years

    if args.resamples < 1:
        print(f"error: --resamples must be >= 1, got {args.resamples}", file=sys.stderr)
        return 2
    found = _store_runs(args)
    if found is None:
        return 1
    uri, frame = found
    written = write_years(frame, args.out_dir, mlflow_loader(uri), args.resamples)
    for path in written:
        print(path)
    return 0


def _profile_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "profile",
        help="print the dvc exp run -S arguments of a profile (profiles/NAME.yaml)",
        description="Check profiles/NAME.yaml against params.yaml and print its keys as "
        "`dvc exp run` -S arguments: dvc exp run -n paper $(python -m benchmark profile paper)",
    )
    parser.add_argument("name", help="profile name, e.g. paper (profiles/paper.yaml)")
    parser.add_argument("--params", default="params.yaml", help="default: %(default)s")
    parser.add_argument("--profiles-dir", default="profiles", help="default: %(default)s")
    parser.add_argument(
        "--apply", action="store_true",
        help="write the profile into --params instead (comments kept; undo with git checkout), "
        "e.g. before python -m benchmark grid run")
    parser.set_defaults(run=_run_profile)


def _run_profile(args: argparse.Namespace) -> int:
    from benchmark.config import ConfigError
    from benchmark.profiles import apply_profile, profile_args

    try:
        words = profile_args(args.name, args.params, args.profiles_dir)
        if args.apply:
            changed = apply_profile(args.name, args.params, args.profiles_dir)
            print(f"{args.params}: {changed} values set from profile {args.name} "
                  f"(git diff {args.params} shows them)")
            return 0
    except (ConfigError, OSError) as error:
        print(f"error: {error_line(error)}", file=sys.stderr)
        return 2
    print(" ".join(words))  # values hold no spaces: safe to word-split in $(...)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _score_parser(sub)
    _leaderboard_parser(sub)
    _years_parser(sub)
    _profile_parser(sub)
    ui_parser(sub)
    offline_plots.add_parser(sub)
    compare_cmd.add_parser(sub)
    grid_cli.add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

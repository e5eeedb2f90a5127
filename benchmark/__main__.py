"""Command line of the benchmark (python -m benchmark COMMAND, or asd-benchmark COMMAND).

Commands:

- ``score --model NAME PATH...``: anomaly scores and a normal/anomalous decision for audio files
  or folders (``*.wav``, recursive) with the trained ``models/NAME``, as CSV (columns path,
  machine_type, machine_id, score, threshold, decision) on stdout or ``--out``. A file that
  cannot be scored is an ``error:`` line on stderr naming it; the others are still scored and
  the exit code is 1.

The pipeline stages have their own modules (``python -m benchmark.prepare``, ``.features``,
``.train``, ``.complexity``, ``.report``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmark.data.layout import SAMPLE_RATE

log = logging.getLogger("benchmark")


def _score_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "score",
        help="score recordings with a trained model",
        description="Anomaly scores and normal/anomalous decisions for recordings. Machine type "
        "and ID come from the DCASE path <type>/<split>/<label>_id_XX_NNNNNNNN.wav unless "
        "--machine-type and --machine-id are given.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio file or folder (*.wav)")
    parser.add_argument("--model", required=True, help="trained model name (models/NAME)")
    parser.add_argument("--models-dir", default="models", help="default: %(default)s")
    parser.add_argument(
        "--percentile", type=float, default=90.0,
        help="threshold = this percentile of the training scores (default: %(default)s)",
    )
    parser.add_argument(
        "--scope", choices=["id", "type", "all"], default="id",
        help="training scores the percentile is taken over: the clip's (type, ID), its type, or "
        "all clips (default: %(default)s)",
    )
    parser.add_argument(
        "--threshold", type=float, default=None,
        help="a fixed threshold for every clip instead of the percentile",
    )
    parser.add_argument("--machine-type", default=None, help="machine type of every file")
    parser.add_argument("--machine-id", default=None, help="machine ID of every file (id_00)")
    parser.add_argument("--out", type=Path, default=None, help="CSV file (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=16, help="default: %(default)s")
    parser.add_argument("--device", default="cpu", help="default: %(default)s")
    parser.add_argument("--sample-rate", type=int, default=SAMPLE_RATE, help="default: %(default)s")
    parser.add_argument(
        "--clip-samples", type=int, default=None,
        help="samples per clip after crop/pad (default: the model's input length)",
    )
    parser.set_defaults(run=run_score)


def run_score(args: argparse.Namespace) -> int:
    """``score`` command; returns the exit code."""
    from benchmark.score import (
        collect_files,
        fixed_thresholds,
        score_files,
        train_thresholds,
    )
    from benchmark.training.checkpoint import load_trained

    if (args.machine_type is None) != (args.machine_id is None):
        print("error: give both --machine-type and --machine-id, or neither", file=sys.stderr)
        return 2
    model_dir = Path(args.models_dir) / args.model
    try:
        trained = load_trained(model_dir, args.device)
        if args.threshold is not None:
            thresholds = fixed_thresholds(args.threshold)
        else:
            thresholds = train_thresholds(trained, model_dir, args.percentile, args.scope)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    machine = None if args.machine_type is None else (args.machine_type, args.machine_id)
    files = collect_files(args.paths)
    if not files:
        print(f"error: no audio files in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    table, errors = score_files(
        trained, files, thresholds, machine=machine, sample_rate=args.sample_rate,
        clip_samples=args.clip_samples, batch_size=args.batch_size, device=args.device,
    )
    for error in errors:
        print(f"error: {error.message}", file=sys.stderr)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    else:
        table.to_csv(sys.stdout, index=False)
    log.info("scored %d of %d files with %s", len(table), len(files), args.model)
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _score_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

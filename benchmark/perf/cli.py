"""The command line of ``python -m benchmark.perf [--params FILE] [...]`` (see ``__main__``)."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from dataclasses import replace
from typing import Any

from benchmark.config import load_section
from benchmark.perf.machine import THREAD_ENV
from benchmark.perf.params import PerfParams
from benchmark.perf.stage import run_perf, write_reports

log = logging.getLogger("benchmark.perf")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: ``--params`` and overrides of single ``perf:`` keys."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.perf",
                                     description="Measured speed of the pipeline "
                                                 "(reports/performance.md)")
    parser.add_argument("--params", default="params.yaml", help="params file (%(default)s)")
    parser.add_argument("--models", nargs="+", help="model names (default: perf.models)")
    parser.add_argument("--clips", type=int, help="clips for the feature path (perf.num_clips)")
    parser.add_argument("--clips-dir", help="DCASE-layout folder of real clips (perf.clips_dir)")
    parser.add_argument("--workers", type=int, nargs="+", help="perf.feature_workers")
    parser.add_argument("--chunk-clips", type=int, help="perf.feature_chunk_clips")
    parser.add_argument("--threads", type=int, nargs="+", help="perf.threads (0 = default)")
    parser.add_argument("--train-batch", type=int, help="perf.train_batch_cpu/_cuda")
    parser.add_argument("--infer-batch", type=int, help="perf.throughput_batch_cpu/_cuda")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="perf.device")
    parser.add_argument("--no-isolate", action="store_true", help="all models in this process")
    parser.add_argument("--no-train-stage", action="store_true",
                        help="skip the timed training stage and the projection (perf.train_stage)")
    parser.add_argument("--profile", help="profile projected (perf.projection_profile)")
    return parser.parse_args(argv)


def apply_overrides(params: PerfParams, args: argparse.Namespace) -> PerfParams:
    """``params`` with the command line's overrides, validated."""
    changes: dict[str, Any] = {}
    for key, field in (("models", "models"), ("clips", "num_clips"),
                       ("clips_dir", "clips_dir"), ("workers", "feature_workers"),
                       ("chunk_clips", "feature_chunk_clips"),
                       ("threads", "threads"), ("device", "device"),
                       ("profile", "projection_profile")):
        if getattr(args, key) is not None:
            changes[field] = getattr(args, key)
    if args.train_batch is not None:
        changes["train_batch_cpu"] = changes["train_batch_cuda"] = args.train_batch
    if args.infer_batch is not None:
        changes["throughput_batch_cpu"] = changes["throughput_batch_cuda"] = args.infer_batch
    if args.no_isolate:
        changes["isolate"] = False
    if args.no_train_stage:
        changes["train_stage"] = False
    params = replace(params, **changes)
    params.validate()
    return params


def main(argv: list[str] | None = None) -> None:
    """Measure everything, write ``perf.out_json`` and ``perf.out_md``."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = apply_overrides(load_section("perf", PerfParams, args.params), args)
    env = "".join(f"{k}={shlex.quote(os.environ[k])} " for k in THREAD_ENV if k in os.environ)
    command = env + "python -m benchmark.perf" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv))
    result = run_perf(params, command, params_file=args.params)
    for path in write_reports(result, params):
        log.info("wrote %s", path)

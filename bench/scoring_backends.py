"""Fit and score time of every scoring backend on random embeddings shaped like DCASE 2020.

    python bench/scoring_backends.py [--profile paper] [--dim 128] [--residual-dim 640]
                                     [--ids 41] [--train-per-id 1000] [--test-clips 1000]
                                     [--seed 0] [--out reports/scoring_backends.md]

Every backend of ``scoring.backends`` in params.yaml with the profile applied (the paper
profile by default: the configurations a full DCASE 2020 run scores with; ``--profile none``
for params.yaml's own). The defaults: 41 machine IDs x 1,000 training clips, 128-d embeddings
(640-d for ``input: residual``, the AE's), 1,000 test clips spread evenly over the IDs; ``loss``
reads one column. Prints (and with ``--out`` writes) a markdown table (fit seconds; score
seconds per 1,000 test clips) with the machine and the command. Times are wall clock of one run
each, after one warm-up score so that imports and first-call costs are not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from benchmark.config import from_dict, read_params
from benchmark.profiles import merge, read_profile
from benchmark.scoring.params import BackendConfig, ScoringParams


def embeddings(dim: int, ids: int, train_per_id: int, test_clips: int, seed: int):
    """``train (ids * train_per_id, dim)``, its groups, ``test (test_clips, dim)``, its groups."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(ids, dim))  # (ids, D)
    groups = np.array([f"type/id_{i:02d}" for i in range(ids)])
    train_id = np.repeat(np.arange(ids), train_per_id)  # (N,)
    test_id = np.arange(test_clips) % ids  # (M,)
    train = centres[train_id] + rng.normal(size=(len(train_id), dim))  # (N, D)
    test = centres[test_id] + rng.normal(size=(len(test_id), dim))  # (M, D)
    return train, groups[train_id], test, groups[test_id]


def configs(profile: str) -> list[BackendConfig]:
    """``scoring.backends`` of params.yaml, with ``profile`` applied unless it is ``none``."""
    params = read_params("params.yaml")
    if profile != "none":
        params = merge(params, read_profile(profile))
    return from_dict(ScoringParams, params["scoring"], "scoring").configs()


def time_backend(config: BackendConfig, data) -> tuple[float, float]:
    train, train_groups, test, test_groups = data
    if config.input == "score":  # the model's own score: one column
        train, test = train[:, :1], test[:, :1]
    backend = config.create()
    start = time.perf_counter()
    backend.fit(train, train_groups)
    fit_s = time.perf_counter() - start
    backend.score(test[:1], test_groups[:1])  # warm-up
    start = time.perf_counter()
    scores = backend.score(test, test_groups)
    score_s = time.perf_counter() - start
    assert scores.shape == (len(test),) and np.isfinite(scores).all()
    return fit_s, score_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", help="profile applied (none: params.yaml)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--residual-dim", type=int, default=640)
    parser.add_argument("--ids", type=int, default=41)
    parser.add_argument("--train-per-id", type=int, default=1000)
    parser.add_argument("--test-clips", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    sizes = (args.ids, args.train_per_id, args.test_clips, args.seed)
    data = {"embedding": embeddings(args.dim, *sizes),
            "residual": embeddings(args.residual_dim, *sizes)}
    data["score"] = data["embedding"]

    command = "python bench/scoring_backends.py " + shlex.join(sys.argv[1:] if argv is None
                                                                 else argv)
    lines = [
        "# Scoring backends: fit and score time", "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, NumPy {np.__version__}.", "",
        f"Command: `{command.strip()}`", "",
        f"Data: {args.ids} IDs x {args.train_per_id} training clips, {args.dim}-d embeddings "
        f"({args.residual_dim}-d residuals); {args.test_clips} test clips over the IDs; "
        f"configurations of scoring.backends (profile {args.profile}).", "",
        "| name | backend, input, parameters | fit s | score s per 1,000 test clips |",
        "|---|---|---:|---:|"]
    print("\n".join(lines), flush=True)
    fits, scores = [], []
    for config in configs(args.profile):
        fit_s, score_s = time_backend(config, data[config.input])
        settings = ", ".join([config.backend, config.input]
                             + [f"{k}={v}" for k, v in config.params.items()])
        fits.append(fit_s)
        scores.append(score_s * 1000 / args.test_clips)
        lines.append(f"| {config.name} | {settings} | {fit_s:.2f} | {scores[-1]:.3f} |")
        print(lines[-1], flush=True)
    lines += ["", f"Fit: {min(fits):.2f} s to {max(fits):.2f} s; score: at most "
              f"{max(scores):.3f} s per 1,000 test clips."]
    print(lines[-1])
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Fit and score time of every scoring backend on random embeddings shaped like DCASE 2020.

    python bench/scoring_backends.py [--dim 128] [--ids 41] [--train-per-id 1000]
                                     [--test-clips 1000] [--seed 0]

The defaults: 41 machine IDs x 1,000 training clips, 128-d embeddings, 1,000 test clips spread
evenly over the IDs. Prints a markdown table (fit seconds; score seconds per 1,000 test clips)
with the machine and the command. Times are wall clock of one run each, after one warm-up
score so that imports and first-call costs are not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import numpy as np

from benchmark.scoring import create_backend, list_backends

CONFIGS: list[tuple[str, dict]] = [(name, {}) for name in list_backends()]
CONFIGS.insert(1, ("knn", {"density_k": 4}))


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


def time_backend(name: str, kwargs: dict, data) -> tuple[float, float]:
    train, train_groups, test, test_groups = data
    backend = create_backend(name, **kwargs)
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
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--ids", type=int, default=41)
    parser.add_argument("--train-per-id", type=int, default=1000)
    parser.add_argument("--test-clips", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = embeddings(args.dim, args.ids, args.train_per_id, args.test_clips, args.seed)

    command = "python bench/scoring_backends.py " + shlex.join(sys.argv[1:] if argv is None
                                                                 else argv)
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, NumPy {np.__version__}")
    print(f"Command: `{command.strip()}`")
    print(f"Data: {args.ids} IDs x {args.train_per_id} training clips, {args.dim}-d; "
          f"{args.test_clips} test clips over the IDs\n")
    print("| backend | fit s | score s per 1,000 test clips |")
    print("|---|---:|---:|")
    for name, kwargs in CONFIGS:
        fit_s, score_s = time_backend(name, kwargs, data)
        label = name + "".join(f", {k}={v}" for k, v in kwargs.items())
        print(f"| {label} | {fit_s:.2f} | {score_s * 1000 / args.test_clips:.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""Reports of the benchmark: the paper's Tables 1-4 beside ours, the leaderboard, the figures.

- ``paper_results.yaml``: the paper's reported figures as data (the only place they live);
- :mod:`~benchmark.reporting.results`: reading those, ``reports/metrics/*.json`` (runs grouped
  per model: several seeds give mean ± std) and ``reports/complexity.json``; computing
  ``reports/uncertainty.json`` (95 % bootstrap intervals and the paired test against the
  reference model, :mod:`benchmark.evaluation.uncertainty`) from ``models/NAME/scores.csv``;
- :mod:`~benchmark.reporting.tables`: markdown tables (pandas + tabulate) and the leaderboard
  (a row per model x scoring backend); best / second-best marks only for runs on the real DCASE
  2020 data;
- :mod:`~benchmark.reporting.backends`: ``reports/backends.{json,md}``, every run scored by every
  scoring backend (the ``score@NAME-K`` stages' outputs) with intervals and the paired test
  against the same model's ``loss``;
- :mod:`~benchmark.reporting.figures`: matplotlib PNGs (paper Figures 2-4, ROC curves), every
  title naming data source, epochs and seed(s).

The stage that writes them is :mod:`benchmark.report` (``python -m benchmark.report``). The
tables are built from git-tracked files only (``tests/test_reports_committed.py`` checks the
committed ones against the code).
"""

"""Reports of the benchmark: the paper's Tables 1-4 beside ours, the leaderboard, the figures.

- ``paper_results.yaml``: the paper's reported figures as data (the only place they live);
- :mod:`~benchmark.reporting.results`: reading those, ``reports/metrics/*.json`` and
  ``reports/complexity.json``;
- :mod:`~benchmark.reporting.tables`: markdown tables (pandas + tabulate) and the leaderboard;
- :mod:`~benchmark.reporting.figures`: matplotlib PNGs (paper Figures 2-4, ROC curves).

The stage that writes them is :mod:`benchmark.report` (``python -m benchmark.report``).
"""

"""``python -m benchmark.perf [--params FILE] [...]``: measure, write reports/performance.*."""

from benchmark.perf.cli import main

if __name__ == "__main__":
    main()

"""asd-benchmark: reproducible benchmark of unsupervised anomalous sound detection."""

import os

# OpenMP threads that spin while waiting make torch 60-140x slower on a 2-core machine as soon
# as another process is busy (measured with python -m benchmark.perf; see reports/performance.md).
# Must be set before torch is first imported; a value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

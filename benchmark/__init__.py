"""asd-benchmark: reproducible benchmark of unsupervised anomalous sound detection."""

import os

# OpenMP threads that spin while waiting make torch 60-140x slower on a 2-core machine as soon
# as another process is busy (measured with python -m benchmark.perf; see README "Speed"). On a
# quiet machine spinning is faster for the smallest models (the DCASE AE stage: 25 s spinning,
# 50 s passive): a cost accepted so that shared machines and CI runners avoid that cliff.
# Must be set before torch is first imported; a value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""asd-benchmark: reproducible benchmark of unsupervised anomalous sound detection."""

"""Scoring backends fitted on a model's embeddings (kNN, k-means, Mahalanobis, ...).

``create_backend(name, **kwargs)``, ``list_backends()``, ``get_spec(name)``; see
:mod:`benchmark.scoring.backends`.
"""

from benchmark.scoring.backends import (
    BackendSpec,
    ScoringBackend,
    create_backend,
    get_spec,
    list_backends,
    register_backend,
)

__all__ = [
    "BackendSpec",
    "ScoringBackend",
    "create_backend",
    "get_spec",
    "list_backends",
    "register_backend",
]

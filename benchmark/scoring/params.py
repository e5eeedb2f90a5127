"""The ``scoring`` section of ``params.yaml``: which backends score every run, with what.

::

    scoring:
      models_dir: models
      reports_dir: reports
      threshold_folds: 2
      backends:                    # name -> {backend, input, every parameter of the backend}
        loss: {backend: loss, input: score}
        knn: {backend: knn, input: embedding, k: 1, density_k: 0}
        ...

A name is a column of the score CSVs and the prefix of its MLflow metrics (``knn_auc_mean``),
so it is a lower-case identifier; several names may configure the same registered backend
(``knn`` and ``knn_density``). Every parameter of the backend's constructor must be given:
``params.yaml`` holds every value the pipeline uses (the constructors' defaults serve library
callers only). A bad entry is a :class:`ConfigError` naming ``scoring.backends.NAME.KEY``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from benchmark.config import ConfigError
from benchmark.scoring.backends import (
    ScoringBackend,
    backend_parameters,
    create_backend,
    get_spec,
    list_backends,
)

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
INPUTS = ("score", "embedding", "residual")
RESERVED = {"path", "machine_type", "machine_id", "label", "score"}
"""Names a backend may not take: the score CSVs' other columns."""


@dataclass(frozen=True)
class BackendConfig:
    """One configured backend: its name (column, metric prefix), registered backend, input and
    constructor parameters."""

    name: str
    backend: str
    input: str
    params: dict[str, Any]

    def create(self) -> ScoringBackend:
        """A new unfitted backend (a bad value is a ConfigError naming the entry)."""
        try:
            return create_backend(self.backend, **self.params)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"scoring.backends.{self.name}: {error}") from None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "input": self.input, "params": dict(self.params)}


@dataclass
class ScoringParams:
    """``scoring``: see the module docstring and ``params.yaml``."""

    models_dir: str  # models/NAME/seed-K (the training run) -> models/NAME/scores-seed-K
    reports_dir: str  # reports/backends/NAME-seedK.json (+ per_id/, roc/)
    threshold_folds: int  # cross-fitted training scores for thresholds: folds per ID; 0 = none
    backends: dict[str, dict[str, Any]]

    def validate(self) -> None:
        if self.threshold_folds == 1 or self.threshold_folds < 0:
            raise ConfigError("'scoring.threshold_folds' must be 0 (no training scores) or >= 2, "
                              f"got {self.threshold_folds}")
        if not self.backends:
            raise ConfigError("'scoring.backends' is empty: name at least one backend "
                              "(e.g. loss: {backend: loss, input: score})")
        for name in self.backends:
            self.config(name).create()  # every value checked before any run is scored

    def configs(self) -> list[BackendConfig]:
        """The backends in ``params.yaml`` order."""
        return [self.config(name) for name in self.backends]

    def config(self, name: str) -> BackendConfig:
        entry = self.backends[name]
        where = f"scoring.backends.{name}"
        if not NAME.match(name) or name in RESERVED:
            raise ConfigError(f"'{where}': a backend name must be a lower-case identifier and "
                              f"none of {sorted(RESERVED)} (it names a CSV column and MLflow "
                              "metrics)")
        if not isinstance(entry, dict):
            raise ConfigError(f"'{where}' must be a mapping {{backend, input, ...}}, "
                              f"got {entry!r}")
        backend = entry.get("backend")
        if backend not in list_backends():
            raise ConfigError(f"'{where}.backend' must be one of {list_backends()}, "
                              f"got {backend!r}")
        source = entry.get("input")
        if source not in INPUTS:
            raise ConfigError(f"'{where}.input' must be one of {list(INPUTS)}, got {source!r}")
        if (source == "score") != (get_spec(backend).input == "score"):
            raise ConfigError(f"'{where}.input': {backend} reads "
                              f"{'the model score' if source != 'score' else 'embeddings'}; "
                              f"{source!r} does not fit it")
        params = {k: v for k, v in entry.items() if k not in ("backend", "input")}
        _check_keys(where, backend, params)
        return BackendConfig(name, backend, source, params)


def _check_keys(where: str, backend: str, params: dict[str, Any]) -> None:
    """Exactly the constructor's parameters: unknown and missing keys are errors."""
    expected = backend_parameters(backend)
    unknown = sorted(set(params) - set(expected))
    if unknown:
        raise ConfigError(f"unknown key '{where}.{unknown[0]}' ({backend} takes: "
                          f"{', '.join(expected) or 'no parameters'}, backend, input)")
    missing = [p for p in expected if p not in params]
    if missing:
        raise ConfigError(f"missing key '{where}.{missing[0]}' ({backend} takes: "
                          f"{', '.join(expected)}; params.yaml gives every value)")

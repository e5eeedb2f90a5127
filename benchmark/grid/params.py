"""The ``grid:`` section of params.yaml: which Dask engine runs the train stages, and how."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmark.config import ConfigError

Engine = Literal["local", "cuda", "jobqueue", "scheduler"]


@dataclass
class GridParams:
    engine: Engine
    workers: int  # local: worker processes; cuda: GPUs (0 = every visible GPU)
    threads_per_worker: int
    retries: int  # attempts after the first of a stage whose worker died
    scheduler: str | None  # tcp://host:port of a running scheduler (engine scheduler)
    jobqueue: str | None  # YAML file describing a dask-jobqueue cluster (engine jobqueue)
    dashboard: str | None  # the dashboard's address, e.g. ":8787" (None: no dashboard)
    log_dir: str  # one log file per stage

    def validate(self) -> None:
        if self.workers < 0:
            raise ConfigError(f"'grid.workers' must be >= 0, got {self.workers}")
        if self.engine == "local" and self.workers == 0:
            raise ConfigError("'grid.workers' must be > 0 for engine local")
        if self.threads_per_worker < 1:
            raise ConfigError(f"'grid.threads_per_worker' must be >= 1, got "
                              f"{self.threads_per_worker}")
        if self.retries < 0:
            raise ConfigError(f"'grid.retries' must be >= 0, got {self.retries}")
        if self.engine == "scheduler" and not self.scheduler:
            raise ConfigError("'grid.scheduler' (tcp://host:port) is required for engine "
                              "scheduler")
        if self.engine == "jobqueue" and not self.jobqueue:
            raise ConfigError("'grid.jobqueue' (a YAML file) is required for engine jobqueue")

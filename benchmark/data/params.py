"""The ``data:`` section of ``params.yaml`` (read by ``python -m benchmark.prepare``).

Defaults live in ``params.yaml`` only; these dataclasses carry none. Load with
``benchmark.config.load_section("data", DataParams)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmark.config import ConfigError
from benchmark.data.datasets import DATASETS, get_dataset
from benchmark.data.layout import ADDITIONAL_IDS, DEV_IDS, MACHINE_TYPES


def available_ids(machine_type: str) -> tuple[str, ...]:
    """Real DCASE 2020 IDs of a machine type: development IDs first, then additional ones."""
    return DEV_IDS[machine_type] + ADDITIONAL_IDS[machine_type]


def eval_ids(machine_type: str, ids_per_type: int, eval_ids_per_type: int) -> tuple[str, ...]:
    """The evaluation IDs the generator gives a type (``data.synthetic.eval_ids_per_type``).

    They are the additional-training IDs (those of the DCASE 2020 evaluation set) not already
    among the type's first ``ids_per_type`` IDs of :func:`available_ids`, the first
    ``eval_ids_per_type`` of them. Raises :class:`ConfigError` when the type has fewer free ones.
    """
    used = available_ids(machine_type)[:ids_per_type]
    free = tuple(i for i in ADDITIONAL_IDS[machine_type] if i not in used)
    if eval_ids_per_type > len(free):
        raise ConfigError(
            f"'data.synthetic.eval_ids_per_type' is {eval_ids_per_type}, but {machine_type} has "
            f"only {len(free)} evaluation ID(s) not used by its {ids_per_type} "
            "'data.synthetic.ids_per_type' IDs"
        )
    return free[:eval_ids_per_type]


@dataclass
class SyntheticParams:
    """``data.synthetic``: size and seed of the generated data set."""

    seed: int
    ids_per_type: int
    eval_ids_per_type: int
    train_clips_per_id: int
    test_normal_per_id: int
    test_anomaly_per_id: int
    anomaly_strength: float
    workers: int
    target_train_per_id: int
    domain_shift: float

    def validate(self) -> None:
        for key in (
            "ids_per_type",
            "train_clips_per_id",
            "test_normal_per_id",
            "test_anomaly_per_id",
        ):
            _positive(f"data.synthetic.{key}", getattr(self, key))
        for key in ("seed", "eval_ids_per_type"):
            if getattr(self, key) < 0:
                raise ConfigError(f"'data.synthetic.{key}' must be >= 0, got {getattr(self, key)}")
        if self.anomaly_strength <= 0:
            raise ConfigError(
                f"'data.synthetic.anomaly_strength' must be > 0, got {self.anomaly_strength}"
            )
        if self.workers < 0:
            raise ConfigError(f"'data.synthetic.workers' must be >= 0, got {self.workers}")
        if self.target_train_per_id < 1:
            raise ConfigError("'data.synthetic.target_train_per_id' must be >= 1, "
                              f"got {self.target_train_per_id}")
        if self.domain_shift < 0:
            raise ConfigError(
                f"'data.synthetic.domain_shift' must be >= 0, got {self.domain_shift}")


@dataclass
class Dcase2020Params:
    """``data.dcase2020``: where and how to download the DCASE 2020 Task 2 archives."""

    base_url: str
    additional_train: bool
    eval_test: bool
    ground_truth_url: str
    download_dir: str
    keep_archives: bool
    retries: int
    backoff_s: float
    timeout_s: float
    max_extract_gb: float
    max_compression_ratio: float

    def validate(self) -> None:
        for key in ("base_url", "ground_truth_url"):
            url = getattr(self, key)
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"'data.dcase2020.{key}' must be an http(s) URL, got {url!r}")
        _check_download("data.dcase2020", self)


@dataclass
class ZenodoParams:
    """``data.zenodo``: the DCASE 2021-2025 archives, listed by the Zenodo records API."""

    api_url: str
    additional_train: bool
    eval_test: bool
    ground_truth_url: str | None
    download_dir: str
    keep_archives: bool
    retries: int
    backoff_s: float
    timeout_s: float
    max_extract_gb: float
    max_compression_ratio: float

    def validate(self) -> None:
        for key in ("api_url", "ground_truth_url"):
            url = getattr(self, key)
            if url is not None and not url.startswith(("http://", "https://")):
                raise ConfigError(f"'data.zenodo.{key}' must be an http(s) URL, got {url!r}")
        _check_download("data.zenodo", self)


@dataclass
class LocalParams:
    """``data.local``: a folder the user already has in the DCASE layout."""

    path: str | None


@dataclass
class DataParams:
    """``data``: which data set ``prepare`` builds and where."""

    source: Literal["synthetic", "dcase2020", "zenodo", "local"]
    dataset: str
    root: str
    sample_rate: int
    clip_samples: int
    machine_types: list[str]
    synthetic: SyntheticParams
    dcase2020: Dcase2020Params
    zenodo: ZenodoParams
    local: LocalParams

    def validate(self) -> None:
        if not self.root:
            raise ConfigError("'data.root' must not be empty")
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"'data.dataset' is {self.dataset!r}, not one of {', '.join(DATASETS)}")
        _positive("data.sample_rate", self.sample_rate)
        _positive("data.clip_samples", self.clip_samples)
        if self.dataset != "dcase2020":
            self._validate_year()
            return
        if self.source == "zenodo":
            raise ConfigError("'data.source' zenodo serves DCASE 2021-2025; DCASE 2020 downloads "
                              "with 'data.source: dcase2020'")
        self._validate_machine_types()
        most = min(len(available_ids(t)) for t in self.machine_types)
        if self.synthetic.ids_per_type > most:
            raise ConfigError(
                f"'data.synthetic.ids_per_type' is {self.synthetic.ids_per_type}, but only "
                f"{most} real DCASE IDs exist for every type in data.machine_types"
            )
        for machine_type in self.selected_types():
            eval_ids(machine_type, self.synthetic.ids_per_type, self.synthetic.eval_ids_per_type)
        if self.source == "local" and not self.local.path:
            raise ConfigError("'data.local.path' must be set when 'data.source' is 'local'")

    def _validate_year(self) -> None:
        """The checks of a DCASE 2021-2025 data set: its own machine types and sources."""
        spec = get_dataset(self.dataset)
        self._validate_machine_types(spec.machine_types)
        if self.source == "dcase2020":
            raise ConfigError(f"'data.source' dcase2020 downloads DCASE 2020 only; "
                              f"{self.dataset} downloads with 'data.source: zenodo'")
        if self.source == "synthetic":
            if spec.layout != "dcase2022":
                raise ConfigError(f"'data.source' synthetic generates the DCASE 2022+ layout; "
                                  f"{self.dataset} has the {spec.layout} layout (use zenodo/local)")
            unknown = [t for t in self.machine_types if t not in spec.dev_types]
            if unknown:
                raise ConfigError(f"'data.machine_types': synthetic {self.dataset} data has the "
                                  f"development types {list(spec.dev_types)} only, not {unknown}")
            most = min(len(spec.dev_sections[t]) for t in self.machine_types)
            if self.synthetic.ids_per_type > most:
                raise ConfigError(f"'data.synthetic.ids_per_type' is {self.synthetic.ids_per_type},"
                                  f" but {self.dataset} has {most} development section(s) per type")
            if self.synthetic.eval_ids_per_type:
                raise ConfigError("'data.synthetic.eval_ids_per_type' must be 0 for synthetic "
                                  f"{self.dataset} data (an evaluation set is generated for "
                                  "dcase2020 only)")
        if self.source == "local" and not self.local.path:
            raise ConfigError("'data.local.path' must be set when 'data.source' is 'local'")

    def _validate_machine_types(self, known: tuple[str, ...] = MACHINE_TYPES) -> None:
        if not self.machine_types:
            raise ConfigError("'data.machine_types' must list at least one machine type")
        for i, name in enumerate(self.machine_types):
            if name not in known:
                raise ConfigError(f"'data.machine_types[{i}]' is {name!r}, not one of "
                                  f"{', '.join(known)} ({self.dataset})")
        if len(set(self.machine_types)) != len(self.machine_types):
            raise ConfigError(f"'data.machine_types' has duplicates: {self.machine_types}")

    def selected_types(self) -> tuple[str, ...]:
        """The selected machine types, in the data set's order (2020: the paper's)."""
        known = get_dataset(self.dataset).machine_types
        return tuple(t for t in known if t in self.machine_types)


def _check_download(section: str, opts: Dcase2020Params | ZenodoParams) -> None:
    """The settings both downloaders share: folder, retries, back-off, time-out, extraction
    limits (errors name ``<section>.<key>``)."""
    if not opts.download_dir:
        raise ConfigError(f"'{section}.download_dir' must not be empty")
    for key in ("retries", "backoff_s"):
        if getattr(opts, key) < 0:
            raise ConfigError(f"'{section}.{key}' must be >= 0, got {getattr(opts, key)}")
    for key in ("timeout_s", "max_extract_gb"):
        _positive(f"{section}.{key}", getattr(opts, key))
    if opts.max_compression_ratio < 1:
        raise ConfigError(f"'{section}.max_compression_ratio' must be >= 1, "
                          f"got {opts.max_compression_ratio}")


def _positive(key: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"'{key}' must be > 0, got {value}")

"""Stage ``report``: Tables 1-4, the leaderboard and the figures, regenerated from the pipeline.

``python -m benchmark.report [--params params.yaml]`` reads the ``report`` section only and
writes into ``report.out_dir`` (``reports/``):

- ``uncertainty.json``: 95 % bootstrap intervals of every model's mean AUC / pAUC and a paired
  bootstrap test of each model against ``report.reference_model``, from ``models/NAME/scores.csv``
  (:func:`benchmark.reporting.results.compute_uncertainty`). Git-tracked, like the tables: the
  tables are built from it and from the other git-tracked inputs only (:func:`render_tables`), so
  a checkout without ``models/`` (DVC-tracked) regenerates the committed tables byte for byte;
- ``table1.md`` ... ``table4.md``: the paper's Tables 1-4, the reported figures
  (``benchmark/reporting/paper_results.yaml``) beside ours (``reports/metrics/*.json``,
  ``reports/complexity.json``, ``reports/uncertainty.json``);
- ``backends.json``: every run scored by each scoring backend (stage ``score@NAME-K``): 95 %
  intervals of each (model, backend)'s mean AUC / pAUC, a paired test against the model's own
  ``loss`` and one against the reference model's ``loss``
  (:func:`benchmark.reporting.backends.compute_backends`). Read from ``<out_dir>/backends/``
  (``NAME-seedK.json``) and ``<models_dir>/NAME/scores-seed-K/test.csv``: both folders are
  derived from ``out_dir`` and ``models_dir``, the section has no key for them. Git-tracked, like
  ``uncertainty.json``;
- ``leaderboard.md``: our runs ranked by mean AUC per data source, one row per model and scoring
  backend (``loss``: the model's own score), with intervals, the paired test, data source, epochs
  and seeds (and the evaluation set's means when a run has one);
- ``backends.md``: per data source every model's backends, their intervals and their paired test
  against the model's ``loss``, what each backend is and which were skipped (or one paragraph
  saying how to get them);
- ``reproduction.md``: a verdict for every cell of the paper's Tables 1-4 that has a run of ours
  on the DCASE 2020 data (reproduced / below / above / too few runs), by the rule fixed in
  ``report.reproduction`` (:mod:`benchmark.reporting.reproduction`); on other data, the cells
  that would be compared and why they are not;
- ``table_eval.md``: the DCASE 2020 evaluation set's figures of the runs that have one, with the
  official score (or one line saying how to get them);
- ``figures/features.png``, ``attention.png``, ``attention_stats.png`` (paper Figures 2-4, from
  the trained ``report.figure_model`` and the feature cache's test clips) and ``roc.png`` (ROC
  curves per machine type from ``reports/roc/*.csv``); every title names the data source, the
  epochs and the seed(s).

Nothing here crashes on a model that was not trained: tables show "–" with a note, a figure
that cannot be drawn becomes a placeholder image saying why (so DVC always finds its outputs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmark.cli import entry_point
from benchmark.config import ConfigError, stage_params
from benchmark.data.layout import MACHINE_TYPES
from benchmark.reporting import figures, reproduction, tables
from benchmark.reporting.backends import (
    BACKENDS_DIR,
    BACKENDS_DOCUMENT,
    BACKENDS_FILE,
    compute_backends,
    load_backends,
    render_backends,
)
from benchmark.reporting.results import (
    PAPER_RESULTS,
    ModelRuns,
    compute_uncertainty,
    load_complexity,
    load_paper,
    load_runs,
    load_uncertainty,
    write_json,
    write_uncertainty,
)

if TYPE_CHECKING:
    from benchmark.training.checkpoint import TrainedModel

log = logging.getLogger(__name__)

MODEL_FIGURES = ("features.png", "attention.png", "attention_stats.png")
UNCERTAINTY_FILE = "uncertainty.json"  # in out_dir, next to the tables built from it
TABLE_FILES = ("table1.md", "table2.md", "table3.md", "table4.md", "leaderboard.md",
               "reproduction.md", "table_eval.md", BACKENDS_DOCUMENT)


@dataclass
class ReproductionParams:
    """``report.reproduction``: the rule of ``reproduction.md``, fixed before any result is seen."""

    tolerance_pp: float  # reproduced: the paper's figure inside our 95 % interval +- this (pp)
    min_seeds: int  # fewer seeds than this -> "too few runs"
    protocol: str  # profile whose models.NAME.epochs are the protocol's epochs
    largest_gaps: int  # how many of the largest gaps the summary lists

    def validate(self) -> None:
        if self.tolerance_pp < 0:
            raise ConfigError(
                f"'report.reproduction.tolerance_pp' must be >= 0, got {self.tolerance_pp}"
            )
        if self.min_seeds < 1:
            raise ConfigError(f"'report.reproduction.min_seeds' must be >= 1, got {self.min_seeds}")
        if self.largest_gaps < 0:
            raise ConfigError(
                f"'report.reproduction.largest_gaps' must be >= 0, got {self.largest_gaps}"
            )
        self.protocol_epochs()

    def protocol_epochs(self, paper_path: str | Path = PAPER_RESULTS) -> dict[str, int]:
        """The protocol's epochs of every model the paper's cells compare (errors name the
        protocol file and the key)."""
        models = reproduction.compared_models(load_paper(paper_path))
        return reproduction.protocol_epochs(self.protocol, models)


@dataclass
class ReportParams:
    """``report:`` section of ``params.yaml``."""

    metrics_dir: str  # reports/metrics: one NAME.json per trained model (train stage)
    complexity: str  # reports/complexity.json (complexity stage)
    roc_dir: str  # reports/roc: one NAME.csv per trained model (train stage)
    models_dir: str  # models: models/NAME/seed-K/final.pt (figures), .../scores.csv (CIs)
    features_dir: str  # the feature cache (test clips of the figures)
    out_dir: str  # where the tables, the leaderboard and figures/ go
    table_models: list[str]  # our rows of Tables 1 and 2, in this order
    figure_model: str  # the model of Figures 2-4 (needs features() and attention_map())
    figure_machine_type: str  # the anomalous clip of Figures 2-3 is of this type
    figure_clips: int  # test clips averaged in Figure 4 (bounds the time on CPU)
    batch_size: int  # clips per forward pass for Figure 4
    device: str  # cpu | cuda
    reference_model: str  # the paired test compares every model with this one (the proposed)
    bootstrap_resamples: int  # resamples of the test clips for the 95 % intervals
    bootstrap_seed: int  # seed of those resamples (the same for every model: paired test)
    reproduction: ReproductionParams  # the verdict rule of reproduction.md

    def validate(self) -> None:
        if self.bootstrap_resamples < 100:
            raise ConfigError(
                f"'report.bootstrap_resamples' must be >= 100 for a 95 % interval, "
                f"got {self.bootstrap_resamples}"
            )
        if self.figure_clips < 1:
            raise ConfigError(f"'report.figure_clips' must be >= 1, got {self.figure_clips}")
        if self.batch_size < 1:
            raise ConfigError(f"'report.batch_size' must be >= 1, got {self.batch_size}")
        if self.figure_machine_type not in MACHINE_TYPES:
            raise ConfigError(
                f"'report.figure_machine_type' must be one of {MACHINE_TYPES}, "
                f"got {self.figure_machine_type!r}"
            )


def render_tables(
    metrics_dir: str | Path,
    complexity_path: str | Path,
    uncertainty_path: str | Path,
    table_models: list[str],
    rule: ReproductionParams,
    paper_path: str | Path = PAPER_RESULTS,
    backends_path: str | Path | None = None,
) -> dict[str, str]:
    """Every document of :data:`TABLE_FILES` (file name -> markdown) from git-tracked files only.

    ``rule``: the verdict rule of ``reproduction.md`` (``report.reproduction``; the protocol
    profile it names is git-tracked too). ``backends_path``: ``backends.json``, by default next
    to ``uncertainty_path``.
    """
    paper = load_paper(paper_path)
    runs = load_runs(metrics_dir)
    complexity = load_complexity(complexity_path)
    uncertainty = load_uncertainty(uncertainty_path)
    if backends_path is None:
        backends_path = Path(uncertainty_path).with_name(BACKENDS_FILE)
    backends = load_backends(backends_path)
    verdicts = reproduction.reproduce(paper, runs, uncertainty, rule,
                                      rule.protocol_epochs(paper_path))
    log.info("tables from %d models: %s", len(runs), ", ".join(sorted(runs)) or "none")
    return {
        "table1.md": tables.table1(paper, runs, table_models),
        "table2.md": tables.table2(paper, runs, complexity, table_models, uncertainty),
        "table3.md": tables.table3(paper, runs, complexity, uncertainty),
        "table4.md": tables.table4(paper, runs, complexity, uncertainty),
        "leaderboard.md": tables.leaderboard(runs, uncertainty, backends),
        "reproduction.md": reproduction.render(verdicts, uncertainty),
        "table_eval.md": tables.table_eval(paper, runs, table_models, uncertainty),
        BACKENDS_DOCUMENT: render_backends(backends, runs, table_models),
    }


def write_uncertainty_file(params: ReportParams) -> Path:
    """``out_dir/uncertainty.json`` from the runs' ``models/NAME/scores.csv``."""
    start = time.perf_counter()
    document = compute_uncertainty(
        load_runs(params.metrics_dir),
        params.models_dir,
        params.reference_model,
        params.bootstrap_resamples,
        params.bootstrap_seed,
    )
    path = write_uncertainty(document, Path(params.out_dir) / UNCERTAINTY_FILE)
    log.info("bootstrap of %d models, %d resamples: %.1f s", len(document["models"]),
             params.bootstrap_resamples, time.perf_counter() - start)
    return path


def write_backends_file(params: ReportParams) -> Path:
    """``out_dir/backends.json`` from ``out_dir/backends/NAME-seedK.json`` and the per-clip
    ``models_dir/NAME/scores-seed-K/test.csv`` (an empty document without any)."""
    start = time.perf_counter()
    document = compute_backends(
        load_runs(params.metrics_dir),
        Path(params.out_dir) / BACKENDS_DIR,
        params.models_dir,
        params.reference_model,
        params.bootstrap_resamples,
        params.bootstrap_seed,
    )
    path = write_json(document, Path(params.out_dir) / BACKENDS_FILE)
    log.info("bootstrap of the scoring backends of %d models: %.1f s", len(document["models"]),
             time.perf_counter() - start)
    return path


def write_tables(params: ReportParams, paper_path: str | Path = PAPER_RESULTS) -> list[Path]:
    """``uncertainty.json``, ``backends.json`` and every document of :data:`TABLE_FILES`;
    returns the files written."""
    written = [write_uncertainty_file(params), write_backends_file(params)]
    documents = render_tables(params.metrics_dir, params.complexity, written[0],
                              params.table_models, params.reproduction, paper_path, written[1])
    out = Path(params.out_dir)
    for name, text in documents.items():
        (out / name).write_text(text)
        written.append(out / name)
    return written


def write_figures(params: ReportParams) -> list[Path]:
    """ROC curves and Figures 2-4 (placeholders saying why where one cannot be drawn)."""
    folder = Path(params.out_dir) / "figures"
    runs = load_runs(params.metrics_dir)
    curves = figures.read_roc_dir(params.roc_dir)
    if curves:
        written = [figures.plot_roc(curves, folder / "roc.png", runs)]
    else:
        reason = f"no ROC data in {params.roc_dir} (train a model first)"
        written = [figures.plot_placeholder("ROC curves", reason, folder / "roc.png")]
    try:
        written += _model_figures(params, folder, runs.get(params.figure_model))
    except _Unavailable as why:
        log.warning("figures 2-4 not drawn: %s", why)
        for name in MODEL_FIGURES:
            written.append(figures.plot_placeholder(name, str(why), folder / name))
    return written


class _Unavailable(Exception):
    """Why Figures 2-4 cannot be drawn (model not trained, no feature cache, no attention)."""


def _model_figures(params: ReportParams, folder: Path, runs: ModelRuns | None) -> list[Path]:
    from benchmark.device import resolve_device
    from benchmark.features.cache import open_cache
    from benchmark.training.checkpoint import find_run_dir, load_trained

    try:
        model_dir = find_run_dir(params.models_dir, params.figure_model)
    except FileNotFoundError as error:
        raise _Unavailable(f"{error} ({params.figure_model} not trained)") from None
    if not (model_dir / "final.pt").is_file():
        raise _Unavailable(f"{model_dir}/final.pt not found ({params.figure_model} not trained)")
    if not Path(params.features_dir, "meta.json").is_file():
        raise _Unavailable(f"no feature cache in {params.features_dir}")
    device = resolve_device(params.device, "report.device")
    trained = load_trained(model_dir, device)
    if trained.spec.input_kind != "waveform" or not hasattr(trained.model, "attention_map"):
        raise _Unavailable(f"{params.figure_model} has no attention module")
    cache = open_cache(params.features_dir)
    test = cache.split("test")
    anomalous = test[test["label"] == "anomaly"]
    if anomalous.empty:
        raise _Unavailable(f"no anomalous test clip in {params.features_dir}")
    preferred = anomalous[anomalous["machine_type"] == params.figure_machine_type]
    first = (preferred if not preferred.empty else anomalous).iloc[0]
    clip = cache.waves(np.array([first["row"]]))[0].to(device)  # (L,)
    title = f"{Path(first['path']).name}: {first['machine_type']} {first['machine_id']}, anomaly"
    rows = spread(test["row"].to_numpy(), params.figure_clips)

    def batches() -> Iterator:
        for start in range(0, len(rows), params.batch_size):
            yield cache.waves(rows[start : start + params.batch_size]).to(device)

    written = figures.attention_figures(
        trained.model, clip, title, batches(), folder, params.figure_model,
        _provenance(trained, runs),
    )
    for name in MODEL_FIGURES:  # a model without attention gets Figure 2 only
        if folder / name not in written:
            reason = f"{params.figure_model} returned no attention map"
            written.append(figures.plot_placeholder(name, reason, folder / name))
    return written


def _provenance(trained: TrainedModel, runs: ModelRuns | None) -> str:
    """``synthetic data, 2 epochs, seed 0`` of the figure model: its metrics JSON(s), else what
    the checkpoint says (the seed is not in it then)."""
    if runs is not None:
        return runs.description
    source = trained.data.get("data_source", "unknown")
    return f"{source} data, {trained.epoch} epochs, seed unknown (no metrics JSON)"


def spread(rows: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` of ``rows``, evenly spaced (every machine type of a sorted index)."""
    if len(rows) <= count:
        return rows
    picks = np.unique(np.linspace(0, len(rows) - 1, count).round().astype(int))
    return rows[picks]


def build_report(params: ReportParams) -> list[Path]:
    """Everything the stage writes; returns the files."""
    return write_tables(params) + write_figures(params)


@entry_point
def main(argv: list[str] | None = None) -> None:
    params = stage_params("report", ReportParams, __doc__.splitlines()[0], argv)
    start = time.perf_counter()
    written = build_report(params)
    log.info("wrote %d files to %s (%.1f s)", len(written), params.out_dir,
             time.perf_counter() - start)


if __name__ == "__main__":
    main()

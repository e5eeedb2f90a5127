"""The committed tables are what the committed code makes of the committed inputs.

``reports/table1-4.md`` and ``reports/leaderboard.md`` are regenerated from git-tracked files
only (``reports/metrics/*.json``, ``reports/complexity.json``, ``reports/uncertainty.json`` and
the ``report:`` section of ``params.yaml``; ``models/`` is DVC-tracked and absent from a git
checkout) and compared byte for byte with the committed ones. Figures are not compared.

A failure means a table was edited by hand, or the code or an input changed without re-running
the report stage: ``dvc repro report`` (or ``python -m benchmark.report``) and commit the result.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

import pytest

from benchmark.config import from_dict, read_params
from benchmark.report import TABLE_FILES, UNCERTAINTY_FILE, ReproductionParams, render_tables
from benchmark.reporting.results import load_runs, load_uncertainty

ROOT = Path(__file__).resolve().parents[1]


def _report_section() -> dict:
    """The keys of ``report:`` the tables need (read as they are: no other key is required)."""
    return read_params(ROOT / "params.yaml")["report"]


def _inputs() -> tuple[Path, Path, Path, Path]:
    section = _report_section()
    out = ROOT / section["out_dir"]
    return ROOT / section["metrics_dir"], ROOT / section["complexity"], out / UNCERTAINTY_FILE, out


@pytest.mark.parametrize("name", TABLE_FILES)
def test_committed_table_matches_the_code(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics, complexity, uncertainty, out = _inputs()
    section = _report_section()
    monkeypatch.chdir(ROOT)  # report.reproduction.protocol is relative to the repository
    rule = from_dict(ReproductionParams, section["reproduction"], "report.reproduction")
    documents = render_tables(metrics, complexity, uncertainty, section["table_models"], rule)
    committed = (out / name).read_text()
    if documents[name] != committed:
        diff = "".join(difflib.unified_diff(
            committed.splitlines(keepends=True), documents[name].splitlines(keepends=True),
            f"committed {name}", f"regenerated {name}", n=1,
        ))
        pytest.fail(
            f"{out / name} differs from what the code makes of the committed inputs: re-run "
            f"`python -m benchmark.report` (or `dvc repro report`) and commit.\n{diff[:4000]}"
        )


def test_committed_intervals_belong_to_the_committed_runs() -> None:
    """Every interval of reports/uncertainty.json was computed from the run its row shows."""
    metrics, _, path, _ = _inputs()
    uncertainty = load_uncertainty(path)
    assert uncertainty is not None, f"{path} is not committed (the report stage writes it)"
    runs = load_runs(metrics)
    assert set(uncertainty.models) <= set(runs), "intervals of models without metrics JSON"
    for model, entry in uncertainty.models.items():
        run = next((r for r in runs[model].runs if r.seed == entry.seed), None)
        assert run is not None, f"{model}: no run with seed {entry.seed} in {metrics}"
        for key in ("auc", "pauc"):
            estimate = getattr(entry, key).estimate
            assert math.isclose(estimate, run.mean[key], abs_tol=1e-7), (model, key)
        assert entry.auc.low <= entry.auc.estimate <= entry.auc.high

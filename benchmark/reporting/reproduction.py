"""``reports/reproduction.md``: a verdict for every cell of the paper's Tables 1-4.

A *cell* is one figure the paper reports for a registered model (``model`` not null in
``paper_results.yaml``): Table 1 the AUC and pAUC of each machine type, Tables 2-4 the mean AUC
and pAUC (:func:`paper_cells`). Each cell with a run of ours on the real DCASE 2020 data gets a
row (:func:`reproduce`): the paper's figure, ours (the mean ± std over seeds), the 95 % interval
of ours (``cells`` of ``reports/uncertainty.json``: a two-level bootstrap over test clips and
seeds), the seeds and epochs, the difference ours - paper in percentage points and a verdict.

The rule is fixed in ``params.yaml`` (``report.reproduction``, :class:`ReproductionParams`
of :mod:`benchmark.report`) before any result is seen, and printed with its values:

- **too few runs** when the run has fewer epochs than its protocol (``models.NAME.epochs`` of
  ``report.reproduction.protocol``), fewer seeds than ``min_seeds`` (counting the seeds behind
  the interval), or no interval (scores missing or stale, or a pAUC interval from too few
  normal clips per machine ID, which the tables do not show either);
- otherwise **reproduced** when ``low - tol <= paper <= high + tol`` (``tol``:
  ``tolerance_pp``; edges included, with a :data:`SLACK` for floating point), **below** when
  ``paper > high + tol`` (ours below the paper), **above** when ``paper < low - tol``.

Runs on other data than ``dcase2020`` never get a verdict (a figure is never compared across
data sources): their cells are listed as "would be compared". Everything here is pure except
:func:`protocol_epochs`, which reads the protocol profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from benchmark.config import ConfigError, read_params
from benchmark.data.layout import MACHINE_TYPES
from benchmark.evaluation.uncertainty import MEAN_CELL, PAUC_MIN_NORMAL, Interval
from benchmark.reporting.results import DCASE, ModelRuns, Uncertainty
from benchmark.reporting.tables import HEADER, MISSING, TYPE_TITLES, interval_text, to_markdown

if TYPE_CHECKING:
    from benchmark.report import ReproductionParams

REPRODUCED = "reproduced"
BELOW = "below"
ABOVE = "above"
TOO_FEW = "too few runs"
VERDICTS = (REPRODUCED, BELOW, ABOVE, TOO_FEW)
SLACK = 1e-9  # percentage points: an edge of the widened interval counts as inside
TABLES = (1, 2, 3, 4)
METRIC_TITLES = {"auc": "AUC", "pauc": "pAUC"}
KEY = "report.reproduction"  # where the rule lives in params.yaml
TITLE = "Reproduction of the paper's Tables 1-4: a verdict per cell"


@dataclass(frozen=True)
class PaperCell:
    """One figure of the paper for a registered model (in %)."""

    table: int  # 1..4
    model: str
    label: str  # the paper's row: "IDNN", "[X_Mel], h 128", "w/o attention"
    cell: str  # a machine type or "mean"
    metric: str  # auc | pauc
    paper: float

    @property
    def cell_title(self) -> str:
        return TYPE_TITLES.get(self.cell, self.cell)


@dataclass(frozen=True)
class Row:
    """A paper cell beside ours, with the verdict (figures in %)."""

    cell: PaperCell
    ours: float | None  # mean over seeds; None when no run has the machine type
    std: float | None  # std over seeds (>= 2 seeds)
    interval: Interval | None  # the cell's two-level interval
    seeds: int  # our runs (seeds) of the model
    interval_seeds: int  # the seeds behind the interval (0 without one)
    epochs: int
    protocol_epochs: int
    verdict: str
    reason: str  # why "too few runs" ("" otherwise)

    @property
    def difference(self) -> float | None:
        """Ours - paper in percentage points."""
        return None if self.ours is None else self.ours - self.cell.paper


@dataclass(frozen=True)
class Uncompared:
    """A paper cell whose model's runs are on other data than ``dcase2020``: no verdict."""

    cell: PaperCell
    data_source: str


@dataclass(frozen=True)
class Reproduction:
    """Every row and every cell that is not compared, and the rule that made them."""

    rows: tuple[Row, ...]
    uncompared: tuple[Uncompared, ...]
    untrained: tuple[str, ...]  # models of paper cells without any run
    tolerance_pp: float
    min_seeds: int
    protocol: str
    largest_gaps: int


# --- the paper's cells and the protocol --------------------------------------------------------


def paper_cells(paper: Mapping[str, Any]) -> list[PaperCell]:
    """Every cell of Tables 1-4 that has a figure and a registered model, in the tables' order."""
    cells = []
    for method in paper["methods"]:
        model = method.get("model")
        if model is None:
            continue
        for machine in MACHINE_TYPES:
            for k, metric in enumerate(METRIC_TITLES):
                cells.append(PaperCell(1, model, str(method["name"]), machine, metric,
                                       method["per_type"][machine][k]))
    for method in paper["methods"]:
        if method.get("model") is not None:
            cells += _mean_cells(2, method["model"], str(method["name"]), method["mean"])
    for entry in paper["features_study"]:
        label = f"{entry['features']}, h {entry['h']}"
        cells += _mean_cells(3, entry.get("model"), label, entry)
    for entry in paper["ablation"]:
        cells += _mean_cells(4, entry.get("model"), str(entry["variant"]), entry)
    return [c for c in cells if c.paper is not None]


def _mean_cells(
    table: int, model: str | None, label: str, figures: Mapping[str, Any]
) -> list[PaperCell]:
    if model is None:
        return []
    return [PaperCell(table, model, label, MEAN_CELL, metric, figures.get(metric))
            for metric in METRIC_TITLES]


def compared_models(paper: Mapping[str, Any]) -> list[str]:
    """The registered models of the paper's cells, in order of first appearance."""
    return list(dict.fromkeys(c.model for c in paper_cells(paper)))


def protocol_epochs(path: str | Path, models: Sequence[str]) -> dict[str, int]:
    """``models.NAME.epochs`` of the protocol profile for each of ``models``.

    Read with the params loader (YAML anchors resolved); a missing file or key is a
    :class:`ConfigError` naming the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"'{KEY}.protocol': {path} not found")
    data = read_params(path)
    section = data.get("models")
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: missing key 'models' ('{KEY}.protocol')")
    epochs = {}
    for model in models:
        recipe = section.get(model)
        value = recipe.get("epochs") if isinstance(recipe, dict) else None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"{path}: missing or bad key 'models.{model}.epochs' ('{KEY}.protocol'), "
                f"got {value!r}; an integer >= 1 is needed"
            )
        epochs[model] = value
    return epochs


# --- verdicts ------------------------------------------------------------------------------


def verdict(paper: float, low: float, high: float, tolerance_pp: float) -> str:
    """:data:`REPRODUCED`, :data:`BELOW` or :data:`ABOVE` of a paper figure and our interval."""
    if paper > high + tolerance_pp + SLACK:
        return BELOW
    if paper < low - tolerance_pp - SLACK:
        return ABOVE
    return REPRODUCED


def reproduce(
    paper: Mapping[str, Any],
    runs: Mapping[str, ModelRuns],
    uncertainty: Uncertainty | None,
    rule: ReproductionParams,
    epochs: Mapping[str, int],
) -> Reproduction:
    """The rows of every paper cell with a run of ours on ``dcase2020`` data, and the cells
    whose model ran on other data (no verdict). ``epochs``: :func:`protocol_epochs`."""
    rows, uncompared, untrained = [], [], []
    for cell in paper_cells(paper):
        ours = runs.get(cell.model)
        if ours is None:
            untrained.append(cell.model)
        elif ours.data_source != DCASE:
            uncompared.append(Uncompared(cell, ours.data_source))
        else:
            if cell.model not in epochs:
                raise ValueError(f"no protocol epochs for {cell.model} ({KEY}.protocol)")
            rows.append(_row(cell, ours, uncertainty, rule, epochs[cell.model]))
    return Reproduction(tuple(rows), tuple(uncompared), tuple(dict.fromkeys(untrained)),
                        rule.tolerance_pp, rule.min_seeds, rule.protocol, rule.largest_gaps)


def _row(
    cell: PaperCell,
    ours: ModelRuns,
    uncertainty: Uncertainty | None,
    rule: ReproductionParams,
    protocol: int,
) -> Row:
    value, std = _our_figure(cell, ours)
    ci, seeds, missing = _interval(cell, ours, uncertainty)
    reasons = []
    if ours.epochs < protocol:
        reasons.append(f"{ours.epochs} epochs, fewer than the protocol's {protocol} "
                       f"({rule.protocol}: models.{cell.model}.epochs)")
    counted = seeds if ci is not None else len(ours.seeds)
    if counted < rule.min_seeds:
        behind = "" if ci is None or seeds == len(ours.seeds) else \
            f" behind the interval (of {len(ours.seeds)} runs)"
        reasons.append(f"{counted} of {rule.min_seeds} seeds{behind}")
    if value is None:
        reasons.append(f"no run of ours has {cell.cell_title}")
    if missing:
        reasons.append(missing)
    result = TOO_FEW if reasons else verdict(cell.paper, ci.low, ci.high, rule.tolerance_pp)
    return Row(cell, value, std, ci, len(ours.seeds), seeds, ours.epochs, protocol, result,
               "; ".join(reasons))


def _our_figure(cell: PaperCell, ours: ModelRuns) -> tuple[float | None, float | None]:
    """The mean over seeds of the cell and its std (``None``: one seed / type absent)."""
    if cell.cell == MEAN_CELL:
        std = ours.std[cell.metric] if ours.std is not None else None
        return ours.mean[cell.metric], std
    values = ours.per_type.get(cell.cell)
    if values is None:
        return None, None
    return values[cell.metric], ours.per_type_std(cell.cell, cell.metric)


def _interval(
    cell: PaperCell, ours: ModelRuns, uncertainty: Uncertainty | None
) -> tuple[Interval | None, int, str]:
    """The cell's interval, the seeds behind it, and why there is none ("" when there is)."""
    if uncertainty is None:
        return None, 0, "no interval: no reports/uncertainty.json"
    entry = uncertainty.models.get(cell.model)
    if entry is None:
        notes = [n for n in uncertainty.notes if n.startswith(f"`{cell.model}`: ")]
        why = notes[0].split(": ", 1)[1] if notes else "no interval: scores missing or stale"
        return None, 0, why
    cells = entry.cells.get("test")
    if cells is None:
        return None, 0, "no interval: uncertainty.json has no cells (re-run the report stage)"
    if cell.metric == "pauc" and not cells.pauc_reliable:
        return None, 0, (f"no pAUC interval: {cells.min_normal_per_id} normal test clips per "
                         f"machine ID, fewer than {PAUC_MIN_NORMAL}")
    ci = cells.interval(cell.cell, cell.metric)
    if ci is None:
        return None, 0, f"no interval for {cell.cell_title}"
    return ci, len(cells.seeds), ""


# --- summaries -------------------------------------------------------------------------------


def summary_counts(rows: Sequence[Row]) -> pd.DataFrame:
    """Rows per verdict per table (Tables 1-4 and the total): columns Table, each verdict, Cells."""
    records = []
    for table in (*TABLES, None):
        of_table = [r for r in rows if table is None or r.cell.table == table]
        record: dict[str, Any] = {"Table": "Total" if table is None else f"Table {table}"}
        record |= {v: sum(r.verdict == v for r in of_table) for v in VERDICTS}
        record["Cells"] = len(of_table)
        records.append(record)
    return pd.DataFrame(records)


def largest_gaps(rows: Sequence[Row], count: int) -> list[Row]:
    """The ``count`` rows "below" or "above" with the largest |ours - paper| (ties: table order)."""
    judged = [r for r in rows if r.verdict in (BELOW, ABOVE)]
    return sorted(judged, key=lambda r: -abs(r.difference))[:count]


# --- markdown ------------------------------------------------------------------------------


def render(result: Reproduction, uncertainty: Uncertainty | None) -> str:
    """The whole ``reproduction.md``."""
    lines = [HEADER, "", f"# {TITLE}", ""]
    if result.rows:
        lines += _summary(result, uncertainty)
        for table in TABLES:
            lines += _table_section(result, table)
    if result.uncompared:
        lines += _uncompared_section(result)
    if not result.rows and not result.uncompared:
        lines += ["No verdicts: none of the paper's models has a run of ours (reports/metrics/ "
                  "is empty); run the paper profile on dcase2020 to get verdicts.", ""]
    if not result.rows:
        lines += [f"- {rule_text(result)}"]
    if result.untrained:
        names = ", ".join(f"`{m}`" for m in result.untrained)
        lines += [f"- Not trained (no reports/metrics/NAME-seedK.json), so not listed: {names}."]
    return "\n".join(lines).rstrip("\n") + "\n"


def rule_text(result: Reproduction) -> str:
    """The rule in words, with the values of ``report.reproduction``."""
    tol = f"{result.tolerance_pp:g}"
    return (
        f"The rule, fixed in params.yaml `{KEY}` before any result was seen: a cell is "
        f"**{TOO_FEW}** when our run has fewer epochs than its protocol (`models.NAME.epochs` of "
        f"`{result.protocol}`), fewer than {result.min_seeds} seeds (`min_seeds`), or no "
        f"interval (scores missing or stale; a pAUC interval needs {PAUC_MIN_NORMAL} normal test "
        f"clips per machine ID); otherwise **{REPRODUCED}** when the paper's figure lies inside "
        f"our 95 % interval widened by {tol} percentage points on each side (`tolerance_pp`: "
        f"low - {tol} <= paper <= high + {tol}, edges included), **{BELOW}** when the paper's "
        f"figure is above high + {tol} (ours below the paper), **{ABOVE}** when it is below "
        f"low - {tol}. Runs on other data than `{DCASE}` get no verdict."
    )


def interval_note(uncertainty: Uncertainty | None) -> str:
    """How the cells' intervals were made."""
    if uncertainty is None or uncertainty.cells_method is None:
        return ("Intervals: none (reports/uncertainty.json without cells: re-run "
                "`python -m benchmark.report`).")
    return (f"Interval: the {uncertainty.level_text} interval of the cell, "
            f"{uncertainty.cells_method}; {uncertainty.resamples} resamples, seed "
            f"{uncertainty.seed} (`report.bootstrap_resamples`, `report.bootstrap_seed`).")


def _summary(result: Reproduction, uncertainty: Uncertainty | None) -> list[str]:
    counts = summary_counts(result.rows).astype(str)
    lines = ["## Summary", "", to_markdown(counts, [c for c in counts.columns if c != "Table"]),
             "", f"- {rule_text(result)}", f"- {interval_note(uncertainty)}",
             "- Ours: the mean over our runs (one per seed) ± their standard deviation (shown "
             "from 2 seeds); Δ: ours - paper in percentage points. AUC and pAUC (max FPR 0.1) "
             "in %.", ""]
    lines += [f"## Largest gaps (the {result.largest_gaps} largest |Δ| among cells {BELOW} or "
              f"{ABOVE})", ""]
    gaps = largest_gaps(result.rows, result.largest_gaps)
    if result.largest_gaps == 0:
        lines += [f"_None listed: `{KEY}.largest_gaps` is 0._", ""]
    elif not gaps:
        lines += [f"_No cell is {BELOW} or {ABOVE} the paper._", ""]
    else:
        frame = pd.DataFrame([_gap_record(r) for r in gaps])
        lines += [to_markdown(frame, ["Paper", "Ours", "Δ (pp)"]), ""]
    return lines


def _gap_record(row: Row) -> dict[str, str]:
    record = _cell_record(row.cell)
    record |= {"Paper": f"{row.cell.paper:.2f}", "Ours": _ours_text(row),
               "Δ (pp)": _difference_text(row), "Verdict": row.verdict}
    return record


def _cell_record(cell: PaperCell) -> dict[str, str]:
    return {"Table": f"Table {cell.table}", "Model": f"{cell.label} (`{cell.model}`)",
            "Cell": cell.cell_title, "Metric": METRIC_TITLES[cell.metric]}


def _ours_text(row: Row) -> str:
    if row.ours is None:
        return MISSING
    return f"{row.ours:.2f}" + ("" if row.std is None else f" ± {row.std:.2f}")


def _difference_text(row: Row) -> str:
    return MISSING if row.difference is None else f"{row.difference:+.2f}"


def _record(row: Row) -> dict[str, str]:
    record = _cell_record(row.cell)
    seeds = str(row.seeds)
    if row.interval is not None and row.interval_seeds != row.seeds:
        seeds += f" (interval: {row.interval_seeds})"
    record |= {
        "Paper": f"{row.cell.paper:.2f}",
        "Ours": _ours_text(row),
        "95 % interval": MISSING if row.interval is None else interval_text(row.interval.low,
                                                                            row.interval.high),
        "Seeds": seeds,
        "Epochs": f"{row.epochs} (protocol {row.protocol_epochs})",
        "Δ (pp)": _difference_text(row),
        "Verdict": f"**{row.verdict}**",
        "Why": row.reason,
    }
    return record


def _table_section(result: Reproduction, table: int) -> list[str]:
    rows = [r for r in result.rows if r.cell.table == table]
    lines = [f"## Table {table}", ""]
    if not rows:
        return lines + [f"_No cell of Table {table} has a run of ours on `{DCASE}` data._", ""]
    frame = pd.DataFrame([_record(r) for r in rows])
    return lines + [to_markdown(frame, ["Paper", "Ours", "Δ (pp)"]), ""]


def _uncompared_section(result: Reproduction) -> list[str]:
    sources = sorted({u.data_source for u in result.uncompared})
    names = ", ".join(f"`{s}`" for s in sources)
    whose = "our runs of these models" if result.rows else "our runs"
    reason = (f"No verdicts: {whose} are on {names} data, and a figure is never compared "
              f"across data sources. Run the paper profile on `{DCASE}` data to get verdicts.")
    if result.rows:
        lines = ["## Not compared: runs on other data", "", reason, ""]
    else:
        lines = [reason, "", "## Cells that would be compared", ""]
    records = [_cell_record(u.cell) | {"Paper": f"{u.cell.paper:.2f}",
                                       "Our data source": f"`{u.data_source}`"}
               for u in result.uncompared]
    return lines + [to_markdown(pd.DataFrame(records), ["Paper"]), ""]

"""``python -m benchmark compare``: experiments x models, mean AUC and the params that differ.

Plain ``dvc exp show`` cuts its table (555 columns in this repository: every model's mean and
per-type AUC/pAUC, every param, dependency and output) at 1,024 characters. This command reads
``dvc exp show --json`` instead and keeps, per row (the workspace, each baseline commit and each
of its experiments), the mean AUC of every model (``mean.auc`` of
``reports/metrics/NAME-seedK.json``, averaged over the seeds K present) and only the params whose
value differs between the rows, with dotted names (``models.idnn.lr``).

By default only the models whose AUC differs between the rows that have metrics are shown (all
models when none differs); ``--all-models`` shows every model. The table has one row per
experiment when that fits the terminal, else (or with ``--by model``) one row per model and per
changed param with one column per experiment, whichever is narrower.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmark.dvc_cli import DvcError, dvc_root, run_dvc

METRICS_FILE = re.compile(r"(?:^|/)(?P<model>[^/]+)-seed(?P<seed>\d+)\.json$")
MISSING = "-"


@dataclass
class Row:
    """One revision of ``dvc exp show``: the workspace, a baseline commit or an experiment."""

    label: str
    rev: str
    kind: str  # "workspace", "baseline" or "experiment"
    baseline: str | None = None
    state: str | None = None  # the executor's state (queued, running, failed, ...) or an error
    params: dict[str, Any] = field(default_factory=dict)
    auc: dict[str, dict[int, float]] = field(default_factory=dict)  # model -> seed -> mean.auc

    def mean_auc(self, model: str) -> float | None:
        """The model's mean AUC over its seeds, ``None`` without metrics."""
        seeds = self.auc.get(model)
        return sum(seeds.values()) / len(seeds) if seeds else None


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b.c": leaf}``; lists and scalars are leaves."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _params(data: dict[str, Any]) -> dict[str, Any]:
    """Flattened params of every params file (``params.yaml`` unprefixed, others ``FILE:``)."""
    flat: dict[str, Any] = {}
    for name, content in (data.get("params") or {}).items():
        prefix = "" if name == "params.yaml" else f"{name}:"
        for key, value in flatten((content or {}).get("data") or {}).items():
            flat[prefix + key] = value
    return flat


def _aucs(data: dict[str, Any]) -> dict[str, dict[int, float]]:
    """``mean.auc`` of every ``NAME-seedK.json`` metrics file, as model -> seed -> AUC."""
    aucs: dict[str, dict[int, float]] = {}
    for path, content in (data.get("metrics") or {}).items():
        match = METRICS_FILE.search(path)
        mean = ((content or {}).get("data") or {}).get("mean")
        auc = mean.get("auc") if isinstance(mean, dict) else None
        if match and isinstance(auc, int | float) and not isinstance(auc, bool):
            aucs.setdefault(match["model"], {})[int(match["seed"])] = float(auc)
    return aucs


def _row(entry: dict[str, Any], kind: str, label: str, **extra: Any) -> Row:
    """A :class:`Row` from one revision record of ``dvc exp show --json``."""
    data = entry.get("data") or {}
    row = Row(label=label, rev=str(entry.get("rev")), kind=kind, params=_params(data),
              auc=_aucs(data), **extra)
    error = entry.get("error")
    if error:
        row.state = f"error: {error.get('msg', error) if isinstance(error, dict) else error}"
    return row


def parse_exp_show(records: list[dict[str, Any]]) -> list[Row]:
    """Rows of ``dvc exp show --json``: each top record, then its experiments."""
    rows: list[Row] = []
    for record in records:
        rev = str(record.get("rev"))
        if rev == "workspace":
            rows.append(_row(record, "workspace", "workspace"))
        else:
            name = record.get("name")
            rows.append(_row(record, "baseline", f"{name} ({rev[:7]})" if name else rev[:7]))
        for experiment in record.get("experiments") or []:
            state = (experiment.get("executor") or {}).get("state")
            for entry in experiment.get("revs") or []:
                label = entry.get("name") or experiment.get("name") or str(entry.get("rev"))[:7]
                row = _row(entry, "experiment", label, baseline=rev)
                row.state = row.state or (state if state not in (None, "success") else None)
                rows.append(row)
    return rows


def read_experiments(extra_args: list[str] | None = None) -> list[Row]:
    """Run ``dvc exp show --json`` in this DVC repository and parse it."""
    root = dvc_root()
    text = run_dvc(["exp", "show", "--json", *(extra_args or [])], root)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise DvcError(f"dvc exp show --json printed no JSON ({error})") from error
    if not isinstance(records, list):
        raise DvcError("dvc exp show --json: expected a list of revisions")
    return parse_exp_show(records)


def _key(value: Any) -> str:
    """A comparable, printable form of a param value (lists and dicts as compact JSON)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def changed_params(rows: list[Row]) -> list[str]:
    """The params whose value (or presence) differs between the rows, in first-seen order."""
    names = list(dict.fromkeys(name for row in rows for name in row.params))
    return [n for n in names if len({_key(r.params.get(n, MISSING)) for r in rows}) > 1]


def all_models(rows: list[Row]) -> list[str]:
    """Every model with metrics in some row, in the order of ``dvc.yaml`` (first seen)."""
    return list(dict.fromkeys(model for row in rows for model in row.auc))


def changed_models(rows: list[Row]) -> list[str]:
    """Models whose mean AUC (or seeds) differ between the rows that have metrics."""
    measured = [row for row in rows if row.auc]
    return [m for m in all_models(rows)
            if len({(r.mean_auc(m), tuple(sorted(r.auc.get(m, {})))) for r in measured}) > 1]


@dataclass
class Comparison:
    """What the table shows: the rows, the changed params and the models."""

    rows: list[Row]
    params: list[str]
    models: list[str]
    notes: list[str]


def compare(rows: list[Row], every_model: bool = False) -> Comparison:
    """Choose the params and models of the table (see the module docstring)."""
    models = all_models(rows) if every_model else changed_models(rows)
    notes: list[str] = []
    if not models:
        models = all_models(rows)
        if len(rows) > 1 and models:
            notes.append("no model's AUC differs between the rows: all models are shown")
    params = changed_params(rows)
    if len(rows) > 1 and not params:
        notes.append("no param differs between the rows")
    return Comparison(rows, params, models, notes)


def _common_seed_count(comparison: Comparison) -> int:
    """The most frequent number of seeds behind a shown AUC (1 without any)."""
    counts = Counter(len(r.auc[m]) for r in comparison.rows for m in comparison.models
                     if r.auc.get(m))
    return counts.most_common(1)[0][0] if counts else 1


def _seed_note(comparison: Comparison) -> str:
    """How the seeds are averaged, for the heading (empty with one seed everywhere)."""
    seeds = _common_seed_count(comparison)
    other = any(len(r.auc.get(m, {})) not in (0, seeds)
                for r in comparison.rows for m in comparison.models)
    note = f", averaged over {seeds} seeds" if seeds > 1 else ""
    return note + ("; (n=K): over K seeds" if other else "")


def _auc_cell(row: Row, model: str, precision: int, seeds: int) -> str:
    """A mean AUC, ``(n=K)`` when K seeds differ from the usual count; ``-`` without one."""
    value = row.mean_auc(model)
    if value is None:
        return MISSING
    count = len(row.auc[model])
    return f"{value:.{precision}f}" + (f" (n={count})" if count != seeds else "")


def _label(row: Row) -> str:
    """The row's name, with its state when it is not a finished run."""
    return f"{row.label} [{row.state}]" if row.state else row.label


def _param_cell(row: Row, name: str) -> str:
    """A param value as in params.yaml; ``-`` when the row lacks the param."""
    return _key(row.params[name]) if name in row.params else MISSING


def by_experiment(comparison: Comparison, precision: int) -> tuple[list[str], list[list[str]]]:
    """Headers and cells with one row per experiment."""
    seeds = _common_seed_count(comparison)
    headers = ["experiment", *comparison.params, *comparison.models]
    cells = [[_label(row), *(_param_cell(row, p) for p in comparison.params),
              *(_auc_cell(row, m, precision, seeds) for m in comparison.models)]
             for row in comparison.rows]
    return headers, cells


def by_model(comparison: Comparison, precision: int) -> tuple[list[str], list[list[str]]]:
    """Headers and cells with one row per changed param and per model, a column per experiment."""
    headers, cells = by_experiment(comparison, precision)
    columns = list(zip(headers, *cells, strict=True))
    return ["param / model AUC", *columns[0][1:]], [list(c) for c in columns[1:]]


def render_table(headers: list[str], cells: list[list[str]]) -> str:
    """A plain-text table (tabulate's ``simple`` format), numbers kept as formatted."""
    from tabulate import tabulate

    return tabulate(cells, headers=headers, tablefmt="simple", disable_numparse=True)


def width(text: str) -> int:
    """The widest line of ``text``."""
    return max((len(line) for line in text.splitlines()), default=0)


def format_comparison(comparison: Comparison, precision: int = 3, by: str = "auto",
                      columns: int | None = None) -> str:
    """The table and its notes; ``by`` is ``experiment``, ``model`` or ``auto`` (fits)."""
    tables = {name: render_table(*build(comparison, precision))
              for name, build in (("experiment", by_experiment), ("model", by_model))}
    if by == "auto":
        limit = columns or shutil.get_terminal_size().columns
        fits = width(tables["experiment"]) <= limit
        by = "experiment" if fits else min(tables, key=lambda name: width(tables[name]))
    title = ["Mean AUC per model and the params that differ between the rows",
             f"(AUC: mean.auc of reports/metrics/NAME-seedK.json{_seed_note(comparison)})", ""]
    return "\n".join([*title, tables[by], *(f"note: {note}" for note in comparison.notes)])


def comparison_json(comparison: Comparison) -> list[dict[str, Any]]:
    """Every row with its changed params and every model's mean AUC and seeds (no rounding)."""
    models = all_models(comparison.rows)
    return [{"experiment": row.label, "rev": row.rev, "kind": row.kind,
             "baseline": row.baseline, "state": row.state,
             "params": {p: row.params[p] for p in comparison.params if p in row.params},
             "auc": {m: row.mean_auc(m) for m in models if row.auc.get(m)},
             "seeds": {m: sorted(row.auc[m]) for m in models if row.auc.get(m)}}
            for row in comparison.rows]


def _precision(text: str) -> int:
    """argparse type: 0 to 12 decimals."""
    value = int(text)
    if not 0 <= value <= 12:
        raise argparse.ArgumentTypeError(f"must be 0 to 12, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` command to the sub-commands ``sub``."""
    parser = sub.add_parser(
        "compare",
        help="experiments x models: mean AUC and the params that differ (dvc exp show)",
        description="One table from `dvc exp show --json`: the workspace, the baseline commit "
        "and every experiment, with each model's mean AUC (mean over its seeds) and the params "
        "that differ between them. Arguments after `--` go to dvc exp show (e.g. -- -A).",
    )
    parser.add_argument("--all-models", action="store_true",
                        help="every model (default: those whose AUC differs between the rows)")
    parser.add_argument("--precision", type=_precision, default=3,
                        help="decimals of the AUC (default: %(default)s)")
    parser.add_argument("--by", choices=["auto", "experiment", "model"], default="auto",
                        help="one row per experiment or per model (default: %(default)s, the "
                        "per-experiment table when it fits the terminal)")
    parser.add_argument("--json", action="store_true",
                        help="JSON: every row, its changed params, every model's AUC and seeds")
    parser.add_argument("dvc_args", nargs="*", metavar="DVC_ARGS",
                        help="arguments of dvc exp show (-A, --rev REV, -n N, ...)")
    parser.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """``compare`` command; returns the exit code."""
    try:
        rows = read_experiments(args.dvc_args)
    except DvcError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    comparison = compare(rows, every_model=args.all_models)
    if args.json:
        print(json.dumps(comparison_json(comparison), indent=2))
    else:
        print(format_comparison(comparison, args.precision, args.by))
    return 0

"""Scoring backends in the report: reports/backends.json, reports/backends.md, leaderboard rows.

Fixture runs (2 types x 2 IDs x 10 clips) are written as the train and score stages would:
``models/NAME/seed-K/scores.csv``, ``reports/metrics/NAME-seedK.json``,
``models/NAME/scores-seed-K/test.csv`` and ``reports/backends/NAME-seedK.json``. Backends:
``loss`` (the model's score), ``knn`` (a monotone transform of ``loss`` within each ID: the same
AUC), ``kmeans`` (planted far better), ``mahalanobis`` (noise) and, for ``idnn`` only,
``selective_mahalanobis`` (skipped for ``proposed``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation import uncertainty as unc
from benchmark.evaluation.metrics import summarise
from benchmark.report import ReportParams, ReproductionParams, render_tables, write_tables
from benchmark.reporting import tables
from benchmark.reporting.backends import (
    BACKENDS_FILE,
    backend_scores_path,
    backends_json_path,
    compute_backends,
    load_backend_runs,
    load_backends,
)
from benchmark.reporting.results import (
    compute_uncertainty,
    load_runs,
    load_uncertainty,
    write_json,
)

ROOT = Path(__file__).resolve().parents[1]
RESAMPLES = 200
TYPES = ("fan", "pump")
IDS = ("id_00", "id_02")
SKIP_REASON = "needs reconstruction residuals (frame models only)"
CONFIGS = {
    "loss": ("loss", "score", {}),
    "knn": ("knn", "embedding", {"k": 1, "density_k": 0}),
    "kmeans": ("kmeans", "embedding", {"n_clusters": 4}),
    "mahalanobis": ("mahalanobis", "embedding", {"shrinkage": "ledoit_wolf"}),
    "selective_mahalanobis": ("selective_mahalanobis", "residual", {"location": "zero"}),
}
RUNS = {"proposed": ((0, 0.5), (1, 0.8)), "idnn": ((0, 1.0),)}  # model -> (seed, loss shift)


def _clips() -> pd.DataFrame:
    rows = [(f"{t}/test/{label}_{i}_{k:08d}.wav", t, i, label)
            for t in TYPES for i in IDS
            for label, n in (("normal", 6), ("anomaly", 4)) for k in range(n)]
    return pd.DataFrame(rows, columns=["path", "machine_type", "machine_id", "label"])


def _backend_scores(model: str, seed: int, shift: float) -> pd.DataFrame:
    """The score stage's test.csv of one run: a column per backend that applies to it."""
    test = _clips()
    rng = np.random.default_rng(100 * len(model) + seed)
    anomalous = (test["label"] == "anomaly").to_numpy()
    loss = rng.normal(size=len(test)) + shift * anomalous
    id_rank = test["machine_id"].map({i: k for k, i in enumerate(IDS)}).to_numpy()
    test["loss"] = loss
    test["knn"] = np.exp(loss) * (1 + id_rank) + 10 * id_rank  # monotone within each ID
    test["kmeans"] = loss + 4.0 * anomalous
    test["mahalanobis"] = rng.normal(size=len(test))
    if model == "idnn":
        test["selective_mahalanobis"] = rng.normal(size=len(test))
    return test


def _write_run(reports: Path, model: str, seed: int, shift: float, backends: bool = True) -> None:
    """What the train stage (scores.csv, metrics JSON) and the score stage (test.csv, backends
    JSON) write for one run."""
    models = reports.parent / "models"
    test = _backend_scores(model, seed, shift)
    scores = test[["path", "machine_type", "machine_id", "label"]].assign(score=test["loss"])
    (models / model / f"seed-{seed}").mkdir(parents=True, exist_ok=True)
    scores.to_csv(models / model / f"seed-{seed}" / "scores.csv", index=False)
    info = {"model": model, "data_source": "synthetic", "epochs": 3, "seed": seed}
    metrics = summarise(scores, **info, num_train_clips=96)
    metrics.pop("per_id")
    (reports / "metrics").mkdir(parents=True, exist_ok=True)
    (reports / "metrics" / f"{model}-seed{seed}.json").write_text(json.dumps(metrics))
    if not backends:
        return
    path = backend_scores_path(models, model, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    test.to_csv(path, index=False)
    entries = {}
    for name, (backend, kind, params) in CONFIGS.items():
        if name in test:
            summary = summarise(test.rename(columns={name: "score"}))
            entries[name] = {"backend": backend, "input": kind, "params": params,
                             "mean": summary["mean"], "per_type": summary["per_type"]}
    skipped = {} if "selective_mahalanobis" in test else {"selective_mahalanobis": SKIP_REASON}
    document = info | {"backends": entries, "skipped": skipped}
    json_path = backends_json_path(reports / "backends", model, seed)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document))


def _params(reports: Path) -> ReportParams:
    return ReportParams(
        metrics_dir=str(reports / "metrics"), complexity=str(reports / "complexity.json"),
        roc_dir=str(reports / "roc"), models_dir=str(reports.parent / "models"),
        features_dir=str(reports.parent / "features"), out_dir=str(reports),
        table_models=["idnn", "proposed"], figure_model="proposed", figure_machine_type="fan",
        figure_clips=4, batch_size=2, device="cpu", reference_model="proposed",
        bootstrap_resamples=RESAMPLES, bootstrap_seed=0,
        reproduction=ReproductionParams(2.0, 5, str(ROOT / "profiles" / "paper.yaml"), 10),
    )


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    for model, seeds in RUNS.items():
        for seed, shift in seeds:
            _write_run(root, model, seed, shift)
    return root


@pytest.fixture
def written(reports: Path) -> Path:
    """The fixture after the report stage's tables (uncertainty.json, backends.json, *.md)."""
    write_tables(_params(reports))
    return reports


def _rows(text: str) -> list[dict[str, str]]:
    """Every row of the markdown tables of ``text`` as header -> cell (per table)."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set("".join(cells)) <= set("-:"):
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _row(text: str, model: str, backend: str) -> dict[str, str]:
    return next(r for r in _rows(text) if r.get("Model") == f"`{model}`"
                and r.get("Backend") == backend)


def test_intervals_contain_the_estimate_and_pool_the_seeds(written: Path) -> None:
    backends = load_backends(written / BACKENDS_FILE)
    assert set(backends.models) == {"idnn", "proposed"} and backends.resamples == RESAMPLES
    proposed = backends.models["proposed"]
    assert list(proposed.results) == ["loss", "knn", "kmeans", "mahalanobis"]  # the JSON's order
    for scored in backends.models.values():
        for result in scored.results.values():
            for key in ("auc", "pauc"):
                ci = result.cells.interval(unc.MEAN_CELL, key)
                assert ci.low <= ci.estimate <= ci.high
                assert ci.estimate == pytest.approx(result.mean[key], abs=1e-9)
    assert proposed.results["knn"].cells.seeds == (0, 1)  # both seeds pooled
    assert proposed.results["knn"].std is not None and backends.models["idnn"].results[
        "knn"].std is None


def test_loss_against_itself_is_exactly_zero(written: Path) -> None:
    document = json.loads((written / BACKENDS_FILE).read_text())
    for model in RUNS:
        paired = document["models"][model]["backends"]["loss"]["vs_loss"]
        assert (paired["estimate"], paired["low"], paired["high"]) == (0.0, 0.0, 0.0)
        assert paired["p_value"] == 1.0
    text = (written / "backends.md").read_text()
    assert _row(text, "proposed", "loss")["ΔAUC vs loss"] == tables.REFERENCE


def test_a_monotone_transform_per_id_of_loss_has_the_same_auc(written: Path) -> None:
    """knn = exp(loss) scaled and shifted per ID: every ID's ranking, so every resample's AUC,
    is that of loss: the same figures and a paired difference of exactly 0."""
    test = pd.read_csv(backend_scores_path(written.parent / "models", "idnn", 0))
    by_column = unc.bootstrap(test, RESAMPLES, 0, column="knn")
    renamed = unc.bootstrap(test.drop(columns="loss").rename(columns={"knn": "score"}),
                            RESAMPLES, 0)
    assert np.array_equal(by_column.auc_samples, renamed.auc_samples)  # the column argument
    for result in (m.results for m in load_backends(written / BACKENDS_FILE).models.values()):
        assert result["knn"].mean["auc"] == pytest.approx(result["loss"].mean["auc"], abs=1e-9)
        ci = result["knn"].vs_loss.interval
        assert ci.estimate == pytest.approx(0.0, abs=1e-9)
        assert ci.low == pytest.approx(0.0, abs=1e-9) and ci.high == pytest.approx(0.0, abs=1e-9)


def test_a_planted_better_backend_ranks_above(written: Path) -> None:
    board = (written / "leaderboard.md").read_text()
    rows = _rows(board)
    assert {r["Backend"] for r in rows[:2]} == {"kmeans"}  # both kmeans rows above all others
    ranks = {(r["Model"], r["Backend"]): int(r["Rank"]) for r in rows}
    for model in RUNS:
        assert ranks[(f"`{model}`", "kmeans")] < ranks[(f"`{model}`", "loss")]
        assert ranks[(f"`{model}`", "loss")] == ranks[(f"`{model}`", "knn")] - 1  # tie: loss first
    kmeans = _row(board, "proposed", "kmeans")
    assert float(kmeans["ΔAUC vs proposed"]) > 10 and "n.s." not in kmeans["p"]
    assert kmeans["Seeds"] == "2 seeds (0, 1)" and kmeans["AUC"].count("±") == 1
    detail = _row((written / "backends.md").read_text(), "idnn", "kmeans")
    assert float(detail["ΔAUC vs loss"]) > 10 and float(detail["p"]) < 0.05


def test_loss_rows_are_those_of_uncertainty_json(written: Path) -> None:
    """The loss backend's tests equal uncertainty.json's, and the leaderboard's loss rows do not
    change when backend rows join them (only their rank)."""
    document = json.loads((written / BACKENDS_FILE).read_text())
    uncertainty = json.loads((written / "uncertainty.json").read_text())
    loss = document["models"]["idnn"]["backends"]["loss"]
    assert {k: v for k, v in loss["vs_reference"].items() if k != "seed"} == uncertainty[
        "models"]["idnn"]["vs_reference"]
    assert loss["cells"] == uncertainty["models"]["idnn"]["cells"]["test"]
    runs, loaded = load_runs(written / "metrics"), load_uncertainty(written / "uncertainty.json")
    with_backends = tables.leaderboard(runs, loaded, load_backends(written / BACKENDS_FILE))
    without = tables.leaderboard(runs, loaded)
    for model in RUNS:
        old, new = _row(without, model, "loss"), _row(with_backends, model, "loss")
        assert {k: v for k, v in old.items() if k != "Rank"} == {
            k: v for k, v in new.items() if k != "Rank"}


TODAY = """\
<!-- generated by python -m benchmark.report, do not edit -->

# Leaderboard of our runs

**Our own runs only, not the paper's figures.** Runs whose data source is `synthetic` are quic\
k pipeline checks on generated machine sounds: they are NOT DCASE 2020 Task 2 results and must\
 not be compared with published numbers. Only runs on `dcase2020` data (ideally 300 epochs, as\
 in the paper) are. One table per data source, ranked within it.

## Data source: `synthetic`

_Not DCASE 2020 results: `synthetic` runs check the pipeline only._

|   Rank | Model      |           AUC |    AUC 95 % CI |         pAUC |   pAUC 95 % CI |     A\
UC hmean |   pAUC hmean |   ΔAUC vs proposed |     ΔAUC 95 % CI |     p | Data source   |   Ep\
ochs | Seeds          |   Train clips |
|--------|------------|---------------|----------------|--------------|----------------|------\
---------|--------------|--------------------|------------------|-------|---------------|-----\
-----|----------------|---------------|
|      1 | `idnn`     |         81.25 | [66.64, 94.79] |        70.39 |              – |      \
   80.40 |        69.01 |             +31.25 | [+10.36, +55.21] | 0.010 | synthetic     |     \
   3 | 1 seed (0)     |            96 |
|      2 | `proposed` | 64.06 ± 19.89 | [34.35, 87.50] | 63.82 ± 4.65 |              – | 61.81\
 ± 18.66 | 62.17 ± 3.33 |          reference |                  |       | synthetic     |     \
   3 | 2 seeds (0, 1) |            96 |

- Mean over machine types of the per-type AUC / pAUC (max FPR 0.1), in %; hmean: harmonic mean\
 over machine types (DCASE 2020 ranking).
- Seeds: the model's runs in reports/metrics/ (one per seed); with several, every figure is th\
e mean ± standard deviation over seeds.
- [low, high]: 95 % confidence interval of our figure, percentile bootstrap over test clips, s\
tratified by machine ID and by label within ID (normal and anomalous clips of each ID resample\
d separately, with replacement); each resample is averaged as the point estimate (per ID, mean\
 per type, mean over types); 200 resamples, seed 0. With several seeds it is the interval of t\
he mean over seeds and covers the training too: at each resample as many seeds as there are ar\
e drawn with replacement (a two-level bootstrap, as in reports/reproduction.md); a figure foll\
owed by (seed K) has the interval of that run only (the scores of another seed were missing or\
 stale).
- No pAUC interval: 6 normal test clips per machine ID, fewer than the 100 a pAUC interval nee\
ds. With few normal clips the pAUC (max FPR 0.1) is biased upward and its bootstrap more so, s\
o the interval misses the true pAUC (simulated scores: covered in 0 of 100 sets at 6 normal cl\
ips per ID, 75 at 30, 90 at 100; the AUC interval in 94-96 at all three). The AUC intervals ar\
e not affected.
- ΔAUC vs proposed: mean AUC of the model minus that of `proposed`, in percentage points, on t\
he same test clips (paired bootstrap: the same 200 resamples for both); [95 % interval]; p: tw\
o-sided bootstrap p-value (twice the share of resampled differences on the far side of 0, at l\
east 0.010); n.s.: not significant, the interval contains 0.
"""
"""``tables.leaderboard`` of the fixture's runs (no backend files) made by the code before the
Backend column (commit c4d9253)."""


def _without_backend_column(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("|"):
            cells = line.split("|")
            line = "|".join(cells[:3] + cells[4:])
        lines.append(line)
    return "".join(lines)


def test_leaderboard_without_backend_files_is_todays_plus_the_backend_column(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    for model, seeds in RUNS.items():
        for seed, shift in seeds:
            _write_run(reports, model, seed, shift, backends=False)
    params = _params(reports)
    write_tables(params)
    board = (reports / "leaderboard.md").read_text()
    assert {r["Backend"] for r in _rows(board)} == {"loss"}
    assert _without_backend_column(board) == TODAY
    assert "Backend:" not in board and "backends.md" not in board
    document = json.loads((reports / BACKENDS_FILE).read_text())
    assert document["models"] == {} and document["notes"] == []
    text = (reports / "backends.md").read_text()
    assert "`dvc repro` runs the score@NAME-K stages" in text and "|" not in text


def test_skipped_backends_and_models_without_backends_are_noted(reports: Path) -> None:
    _write_run(reports, "mobilenetv2", 0, 0.3, backends=False)  # trained, never scored
    write_tables(_params(reports))
    text = (reports / "backends.md").read_text()
    matrix = next(r for r in _rows(text) if r["Model"] == "`proposed`")
    assert matrix["selective_mahalanobis"] == "skipped" and matrix["loss"] != tables.MISSING
    idnn = next(r for r in _rows(text) if r["Model"] == "`idnn`")
    assert idnn["selective_mahalanobis"] not in ("skipped", tables.MISSING)
    assert f"`selective_mahalanobis` skipped for `proposed`: {SKIP_REASON}." in text
    assert "`knn`: backend `knn`, input `embedding`, k = 1, density_k = 0." in text
    assert "`loss`: the model's own anomaly score" in text and "NOT DCASE 2020" in text
    assert "no backend results (no reports/backends/NAME-seedK.json) for `mobilenetv2`" in text
    unscored = [r for r in _rows(text) if r["Model"] == "`mobilenetv2`"]
    assert unscored and all(set(r.values()) - {"`mobilenetv2`"} == {tables.MISSING}
                            for r in unscored)
    models = [r["Model"] for r in _rows(text) if "Backend" not in r]  # table_models, then a-z
    assert models == ["`idnn`", "`proposed`", "`mobilenetv2`"]
    board = (reports / "leaderboard.md").read_text()
    assert "- Backend: how the row's anomaly scores" in board and "reports/backends.md" in board
    assert not any(r["Model"] == "`mobilenetv2`" and r["Backend"] != "loss" for r in _rows(board))


def test_backends_md_renders_from_the_git_tracked_jsons_alone(written: Path) -> None:
    """Without models/ and reports/backends/ (DVC-tracked) backends.md and the leaderboard come
    out byte for byte the same from backends.json and the metrics."""
    params = _params(written)
    committed = {name: (written / name).read_text() for name in ("backends.md", "leaderboard.md")}
    shutil.rmtree(written.parent / "models")
    shutil.rmtree(written / "backends")
    documents = render_tables(params.metrics_dir, params.complexity, written / "uncertainty.json",
                              params.table_models, params.reproduction)
    for name, text in committed.items():
        assert documents[name] == text


def test_stale_or_missing_backend_scores_get_no_interval(reports: Path) -> None:
    stale = backend_scores_path(reports.parent / "models", "idnn", 0)
    test = pd.read_csv(stale)
    test.assign(kmeans=-test["kmeans"]).to_csv(stale, index=False)
    backend_scores_path(reports.parent / "models", "proposed", 1).unlink()
    runs = load_runs(reports / "metrics")
    document = compute_backends(runs, reports / "backends", reports.parent / "models",
                                "proposed", RESAMPLES, 0)
    notes = "\n".join(document["notes"])
    assert "`idnn` `kmeans`: seed 0 left out of its intervals" in notes and "(stale)" in notes
    assert "`proposed`: seed 1 left out of every backend's intervals" in notes
    assert "scores-seed-1/test.csv not found" in notes and "`proposed` `knn`" not in notes
    idnn = document["models"]["idnn"]["backends"]
    assert idnn["kmeans"]["cells"] is None and idnn["kmeans"]["vs_loss"] is None
    assert idnn["knn"]["cells"]["seeds"] == [0]
    assert document["models"]["proposed"]["backends"]["knn"]["cells"]["seeds"] == [0]
    path = write_json(document, reports / BACKENDS_FILE)
    uncertainty = load_uncertainty(write_json(compute_uncertainty(
        runs, reports.parent / "models", "proposed", RESAMPLES, 0), reports / "u.json"))
    backends = load_backends(path)
    board = tables.leaderboard(runs, uncertainty, backends)
    kmeans = _row(board, "idnn", "kmeans")
    assert kmeans["AUC 95 % CI"] == tables.MISSING and kmeans["ΔAUC vs proposed"] == tables.MISSING
    knn = _row(board, "proposed", "knn")  # the interval of seed 0 only, named
    assert knn["AUC 95 % CI"].endswith("] (seed 0)")


def test_malformed_backends_json_names_the_file_and_key(reports: Path) -> None:
    path = backends_json_path(reports / "backends", "idnn", 0)
    document = json.loads(path.read_text())
    del document["backends"]["knn"]["per_type"]
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"idnn-seed0.json: missing key 'backends.knn.per_type'"):
        load_backend_runs(reports / "backends")
    document["backends"]["knn"]["per_type"], document["epochs"] = {}, 7
    path.write_text(json.dumps(document))
    other = backends_json_path(reports / "backends", "idnn", 1)
    other.write_text(json.dumps(document | {"seed": 1, "epochs": 3}))
    with pytest.raises(ValueError, match="differ in 'epochs'"):
        load_backend_runs(reports / "backends")


def test_eval_sections_fill_the_eval_columns_of_backend_rows(reports: Path) -> None:
    for seed, _ in RUNS["proposed"]:
        path = backends_json_path(reports / "backends", "proposed", seed)
        document = json.loads(path.read_text())
        mean = {"auc": 0.6 + 0.1 * seed, "pauc": 0.55, "auc_hmean": 0.6, "pauc_hmean": 0.5,
                "official": 0.6}
        document["backends"]["kmeans"]["eval"] = {"clips": 8, "mean": mean, "per_type": {}}
        path.write_text(json.dumps(document))
    write_tables(_params(reports))
    board = (reports / "leaderboard.md").read_text()
    assert _row(board, "proposed", "kmeans")["Eval AUC"] == "65.00 ± 7.07"
    assert _row(board, "proposed", "knn")["Eval AUC"] == tables.MISSING
    assert _row(board, "proposed", "loss")["Eval AUC"] == tables.MISSING

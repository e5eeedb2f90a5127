"""reports/reproduction.md (a verdict per paper cell), the two-level bootstrap of the cells, the
evaluation-set table and the leaderboard's eval columns, on fixtures written into tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmark.config import ConfigError, from_dict, load_section
from benchmark.data.layout import MACHINE_TYPES
from benchmark.evaluation.metrics import official_score, summarise
from benchmark.evaluation.uncertainty import bootstrap, bootstrap_cells, interval
from benchmark.report import ReportParams, ReproductionParams, render_tables
from benchmark.reporting import reproduction as rep
from benchmark.reporting import tables
from benchmark.reporting.results import (
    compute_uncertainty,
    load_paper,
    load_runs,
    load_uncertainty,
    write_uncertainty,
)

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "profiles" / "paper.yaml"
RESAMPLES = 200


def _rule(**overrides: Any) -> ReproductionParams:
    values = {"tolerance_pp": 2.0, "min_seeds": 5, "protocol": str(PROTOCOL), "largest_gaps": 10}
    return from_dict(ReproductionParams, values | overrides, "report.reproduction")


def _paper(auc: float = 93.0, pauc: float = 85.0) -> dict[str, Any]:
    """A paper of one method (the proposed model): Table 1 per type, Table 2 mean."""
    per_type = {t: [auc, pauc] for t in MACHINE_TYPES}
    method = {"name": "Proposed", "model": "proposed", "params": "884 k",
              "mean": {"auc": auc, "pauc": pauc}, "per_type": per_type}
    skipped = {"name": "Glow-Aff", "model": None, "params": "30 M",
               "mean": {"auc": 1.0, "pauc": 1.0}, "per_type": per_type}
    return {"methods": [skipped, method], "features_study": [], "ablation": []}


def _metrics(folder: Path, model: str, seed: int, auc: float = 0.9, pauc: float = 0.8,
             source: str = "dcase2020", epochs: int = 300, **extra: Any) -> None:
    """reports/metrics/NAME-seedK.json: every type at ``auc`` / ``pauc`` (fractions)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"model": model, "data_source": source, "epochs": epochs, "seed": seed,
            "num_train_clips": 100,
            "mean": {"auc": auc, "pauc": pauc, "auc_hmean": auc, "pauc_hmean": pauc},
            "per_type": {t: {"auc": auc, "pauc": pauc} for t in MACHINE_TYPES}} | extra
    (folder / f"{model}-seed{seed}.json").write_text(json.dumps(data))


def _ci(estimate: float, low: float, high: float) -> dict[str, float]:
    return {"estimate": estimate, "low": low, "high": high}


def _uncertainty(path: Path, cells: dict[str, dict[str, Any]], normal: int = 100) -> Path:
    """An uncertainty.json whose models have ``cells.test`` of ``{model: {"seeds", "auc": (low,
    high), "pauc": (low, high)}}`` (fractions), the same interval for every cell."""
    models = {}
    for model, spec in cells.items():
        auc, pauc = (_ci(0.9, *spec["auc"]), _ci(0.8, *spec["pauc"]))
        test = {"seeds": spec["seeds"], "min_normal_per_id": normal,
                "mean": {"auc": auc, "pauc": pauc},
                "per_type": {t: {"auc": auc, "pauc": pauc} for t in MACHINE_TYPES}}
        models[model] = {"seed": spec["seeds"][0], "data_source": "dcase2020",
                         "test_clips": 600, "min_normal_per_id": normal, "auc": auc,
                         "pauc": pauc, "vs_reference": None, "cells": {"test": test}}
    document = {"method": "m", "cells_method": "two-level test bootstrap", "level": 0.95,
                "resamples": 1000, "seed": 0, "max_fpr": 0.1, "reference": "proposed",
                "models": models, "notes": []}
    return write_uncertainty(document, path)


def _five_seeds(tmp_path: Path, seeds: int = 5, **kwargs: Any) -> Path:
    metrics = tmp_path / "metrics"
    for seed in range(seeds):
        _metrics(metrics, "proposed", seed, **kwargs)
    return metrics


def _reproduce(tmp_path: Path, paper: dict[str, Any], auc_ci=(0.88, 0.92), pauc_ci=(0.78, 0.82),
               seeds: int = 5, rule: ReproductionParams | None = None,
               **kwargs: Any) -> rep.Reproduction:
    metrics = _five_seeds(tmp_path, seeds, **kwargs)
    path = _uncertainty(tmp_path / "u.json", {"proposed": {
        "seeds": list(range(seeds)), "auc": auc_ci, "pauc": pauc_ci}})
    rule = rule or _rule()
    return rep.reproduce(paper, load_runs(metrics), load_uncertainty(path), rule,
                         rule.protocol_epochs())


def _verdicts(result: rep.Reproduction, table: int, metric: str) -> set[str]:
    return {r.verdict for r in result.rows if r.cell.table == table and r.cell.metric == metric}


# --- the verdicts ---------------------------------------------------------------------------


def test_each_verdict(tmp_path: Path) -> None:
    # ours: 90 [88, 92] AUC, 80 [78, 82] pAUC; widened by 2 pp: [86, 94] and [76, 84]
    result = _reproduce(tmp_path / "a", _paper(auc=93.0, pauc=85.0))
    assert len(result.rows) == 2 * 6 + 2  # Table 1 (6 types x 2) + Table 2; Glow-Aff skipped
    assert _verdicts(result, 1, "auc") == {rep.REPRODUCED}
    assert _verdicts(result, 1, "pauc") == {rep.BELOW}  # 85 > 82 + 2: ours below the paper
    assert _verdicts(result, 2, "auc") == {rep.REPRODUCED}
    result = _reproduce(tmp_path / "b", _paper(auc=85.9, pauc=76.0))
    assert _verdicts(result, 2, "auc") == {rep.ABOVE}  # 85.9 < 88 - 2
    assert _verdicts(result, 2, "pauc") == {rep.REPRODUCED}  # the low edge, inclusive
    row = next(r for r in result.rows if r.cell.table == 2 and r.cell.metric == "auc")
    assert row.difference == pytest.approx(90.0 - 85.9) and row.reason == ""
    assert row.ours == pytest.approx(90.0) and row.std == pytest.approx(0.0)
    assert (row.seeds, row.epochs, row.protocol_epochs) == (5, 300, 300)


def test_the_tolerance_edge_holds_in_floating_point(tmp_path: Path) -> None:
    """high 0.8009 -> 80.08999999999999 %: the paper's 82.09 = high + 2 exactly in decimal."""
    assert 100 * 0.8009 + 2.0 < 82.09  # a strict float comparison would call it "below"
    edge = _reproduce(tmp_path / "a", _paper(pauc=82.09), pauc_ci=(0.78, 0.8009))
    assert _verdicts(edge, 2, "pauc") == {rep.REPRODUCED}
    above_edge = _reproduce(tmp_path / "b", _paper(pauc=82.09 + 1e-6), pauc_ci=(0.78, 0.8009))
    assert _verdicts(above_edge, 2, "pauc") == {rep.BELOW}
    assert rep.verdict(10.0, 12.0, 14.0, 2.0) == rep.REPRODUCED
    assert rep.verdict(10.0 - 1e-6, 12.0, 14.0, 2.0) == rep.ABOVE
    assert rep.verdict(16.0, 12.0, 14.0, 0.0) == rep.BELOW


def test_a_missing_seed_is_too_few_runs(tmp_path: Path) -> None:
    result = _reproduce(tmp_path, _paper(), seeds=4)
    assert {r.verdict for r in result.rows} == {rep.TOO_FEW}
    assert all("4 of 5 seeds" in r.reason for r in result.rows)
    assert all(r.difference is not None for r in result.rows)  # the figures are still shown
    # five runs, but the scores of only four reproduce their metrics: the interval counts
    metrics = _five_seeds(tmp_path / "five")
    path = _uncertainty(tmp_path / "u4.json", {"proposed": {
        "seeds": [0, 1, 2, 4], "auc": (0.88, 0.92), "pauc": (0.78, 0.82)}})
    rule = _rule()
    result = rep.reproduce(_paper(), load_runs(metrics), load_uncertainty(path), rule,
                           rule.protocol_epochs())
    assert {r.verdict for r in result.rows} == {rep.TOO_FEW}
    assert "4 of 5 seeds behind the interval (of 5 runs)" in result.rows[0].reason
    assert "| 5 (interval: 4) |" in rep.render(result, load_uncertainty(path))


def test_a_short_run_is_too_few_runs_and_names_both_epochs(tmp_path: Path) -> None:
    result = _reproduce(tmp_path, _paper(), epochs=2)
    assert {r.verdict for r in result.rows} == {rep.TOO_FEW}
    reason = result.rows[0].reason
    assert "2 epochs" in reason and "protocol's 300" in reason
    assert "models.proposed.epochs" in reason


def test_no_interval_is_too_few_runs(tmp_path: Path) -> None:
    metrics = _five_seeds(tmp_path)
    rule = _rule()
    runs, epochs = load_runs(metrics), rule.protocol_epochs()
    result = rep.reproduce(_paper(), runs, None, rule, epochs)
    assert {r.verdict for r in result.rows} == {rep.TOO_FEW}
    assert "no interval" in result.rows[0].reason and result.rows[0].interval is None
    # an uncertainty.json without the model (stale scores): its note is the reason
    path = _uncertainty(tmp_path / "u.json", {})
    document = json.loads(path.read_text())
    document["notes"] = ["`proposed`: no interval, models/proposed/seed-0/scores.csv does not "
                         "match its metrics JSON (stale)"]
    path.write_text(json.dumps(document))
    result = rep.reproduce(_paper(), runs, load_uncertainty(path), rule, epochs)
    assert {r.verdict for r in result.rows} == {rep.TOO_FEW}
    assert "(stale)" in result.rows[0].reason
    # too few normal clips per machine ID: no pAUC interval (as in the tables), AUC judged
    path = _uncertainty(tmp_path / "few.json", {"proposed": {
        "seeds": [0, 1, 2, 3, 4], "auc": (0.88, 0.92), "pauc": (0.78, 0.82)}}, normal=6)
    result = rep.reproduce(_paper(), runs, load_uncertainty(path), rule, epochs)
    assert _verdicts(result, 2, "pauc") == {rep.TOO_FEW}
    assert _verdicts(result, 2, "auc") == {rep.REPRODUCED}


def test_synthetic_runs_get_no_verdict_but_the_list_of_cells(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    for model in ("proposed", "idnn"):
        _metrics(metrics, model, 0, source="synthetic", epochs=2)
    rule = _rule()
    paper = load_paper()
    result = rep.reproduce(paper, load_runs(metrics), None, rule, rule.protocol_epochs())
    assert result.rows == ()
    # proposed: Table 1 (12) + 2 + Table 3 (2) + Table 4 (2); idnn: 12 + 2
    assert len(result.uncompared) == 18 + 14
    assert "mobilenetv2" in result.untrained
    text = rep.render(result, None)
    assert text.startswith(tables.HEADER)
    assert ("No verdicts: our runs are on `synthetic` data, and a figure is never compared "
            "across data sources. Run the paper profile on `dcase2020` data to get verdicts."
            ) in text
    for verdict in (rep.REPRODUCED, rep.BELOW, rep.ABOVE):
        assert f"**{verdict}**" not in text.split("- The rule")[0]
    assert "## Summary" not in text
    assert _cells(text, "Table 1") == ["Table 1", "IDNN (`idnn`)", "Fan", "AUC", "67.71",
                                       "`synthetic`"]
    table2 = [c for c in _rows(text) if c[0] == "Table 2" and c[1].startswith("Proposed")]
    assert [c[4] for c in table2] == ["93.44", "85.71"]  # the paper's figures, no verdict
    assert "tolerance_pp" in text  # the rule is still written down


def test_a_synthetic_model_beside_one_on_dcase2020(tmp_path: Path) -> None:
    metrics = _five_seeds(tmp_path)
    _metrics(metrics, "idnn", 0, source="synthetic", epochs=100)
    path = _uncertainty(tmp_path / "u.json", {"proposed": {
        "seeds": [0, 1, 2, 3, 4], "auc": (0.88, 0.92), "pauc": (0.78, 0.82)}})
    rule = _rule()
    result = rep.reproduce(load_paper(), load_runs(metrics), load_uncertainty(path), rule,
                           rule.protocol_epochs())
    assert {r.cell.model for r in result.rows} == {"proposed"}
    assert {u.cell.model for u in result.uncompared} == {"idnn"}
    assert {u.data_source for u in result.uncompared} == {"synthetic"}
    text = rep.render(result, load_uncertainty(path))
    assert "## Summary" in text and "## Not compared: runs on other data" in text
    assert "our runs of these models are on `synthetic` data" in text
    assert text.index("## Table 4") < text.index("## Not compared")
    uncompared = _rows(text.split("## Not compared")[1])
    assert uncompared[1][:5] == ["Table 1", "IDNN (`idnn`)", "Fan", "AUC", "67.71"]


def test_summary_counts_and_the_largest_gaps(tmp_path: Path) -> None:
    paper = _paper(auc=95.0, pauc=85.0)  # AUC: below by 5; pAUC: below by 5
    paper["methods"][1]["per_type"]["fan"] = [99.0, 80.0]  # fan AUC below by 9, pAUC reproduced
    paper["methods"][1]["per_type"]["pump"] = [80.0, 71.0]  # pump AUC above by 10 and pAUC by 9
    result = _reproduce(tmp_path, paper, rule=_rule(largest_gaps=3))
    counts = rep.summary_counts(result.rows).set_index("Table")
    assert counts.loc["Table 1"].to_dict() == {rep.REPRODUCED: 1, rep.BELOW: 9, rep.ABOVE: 2,
                                               rep.TOO_FEW: 0, "Cells": 12}
    assert counts.loc["Table 2"].to_dict() == {rep.REPRODUCED: 0, rep.BELOW: 2, rep.ABOVE: 0,
                                               rep.TOO_FEW: 0, "Cells": 2}
    assert counts.loc["Table 3", "Cells"] == 0
    assert counts.loc["Total"].to_dict() == {rep.REPRODUCED: 1, rep.BELOW: 11, rep.ABOVE: 2,
                                             rep.TOO_FEW: 0, "Cells": 14}
    gaps = rep.largest_gaps(result.rows, 3)
    assert [(g.cell.cell, g.cell.metric) for g in gaps] == [
        ("pump", "auc"), ("fan", "auc"), ("pump", "pauc")]
    assert [round(g.difference, 6) for g in gaps] == [10.0, -9.0, 9.0]
    text = rep.render(result, None)
    section = text.split("## Largest gaps")[1].split("## Table 1")[0]
    assert [(c[2], c[3], c[6]) for c in _rows(section)[1:]] == [
        ("Pump", "AUC", "+10.00"), ("Fan", "AUC", "-9.00"), ("Pump", "pAUC", "+9.00")]
    total = _cells(text, "Total")
    assert total == ["Total", "1", "11", "2", "0", "14"]
    assert "2 percentage points" in text and "5 seeds" in text
    assert "two-level test bootstrap" not in text  # no uncertainty given: says there is none
    assert rep.largest_gaps(result.rows, 0) == []


def test_rule_params_are_validated_and_name_file_and_key(tmp_path: Path) -> None:
    for key, bad in (("tolerance_pp", -0.5), ("min_seeds", 0), ("largest_gaps", -1)):
        with pytest.raises(ConfigError, match=f"report.reproduction.{key}"):
            _rule(**{key: bad})
    with pytest.raises(ConfigError, match="nope.yaml not found"):
        _rule(protocol=str(tmp_path / "nope.yaml"))
    partial = tmp_path / "partial.yaml"
    partial.write_text("models:\n  proposed: {epochs: 300}\n")
    with pytest.raises(ConfigError, match=r"partial.yaml: .*'models.idnn.epochs'"):
        _rule(protocol=str(partial))
    with pytest.raises(ConfigError, match="unknown key 'report.reproduction.slack'"):
        _rule(slack=1.0)
    epochs = rep.protocol_epochs(PROTOCOL, ["proposed_no_attention", "idnn"])  # YAML anchors
    assert epochs == {"proposed_no_attention": 300, "idnn": 100}
    params = load_section("report", ReportParams, ROOT / "params.yaml")
    assert params.reproduction.protocol == "profiles/paper.yaml"


# --- the two-level bootstrap of the cells (scores.csv -> uncertainty.json) --------------------


def _test_clips(types: tuple[str, ...] = ("fan", "pump"), normal: int = 20) -> pd.DataFrame:
    rows = [(f"{t}/test/{label}_{i}_{k:08d}.wav", t, i, label)
            for t in types for i in ("id_00", "id_02")
            for label, n in (("normal", normal), ("anomaly", 20)) for k in range(n)]
    return pd.DataFrame(rows, columns=["path", "machine_type", "machine_id", "label"])


def _scored_run(root: Path, model: str, seed: int, shift: float, noise: int,
                eval_shift: float | None = None) -> None:
    """models/NAME/seed-K/scores.csv (and eval_scores.csv) with the metrics JSON they give."""
    rng = np.random.default_rng(noise)
    test = _test_clips()
    scores = test.assign(score=rng.normal(size=len(test)) + shift * (test["label"] == "anomaly"))
    folder = root / "models" / model / f"seed-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    scores.to_csv(folder / "scores.csv", index=False)
    metrics = summarise(scores, model=model, data_source="dcase2020", epochs=300, seed=seed,
                        num_train_clips=100)
    metrics.pop("per_id")
    if eval_shift is not None:
        clips = _test_clips(("fan",), normal=30)
        evaluated = clips.assign(score=rng.normal(size=len(clips))
                                 + eval_shift * (clips["label"] == "anomaly"))
        evaluated.to_csv(folder / "eval_scores.csv", index=False)
        summary = summarise(evaluated)
        metrics["eval"] = {"clips": len(evaluated), "per_type": summary["per_type"],
                           "mean": summary["mean"] | {"official": official_score(summary)}}
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / f"{model}-seed{seed}.json").write_text(json.dumps(metrics))


def _document(root: Path) -> dict[str, Any]:
    return compute_uncertainty(load_runs(root / "metrics"), root / "models", "proposed",
                               RESAMPLES, 0)


def _width(cell: dict[str, float]) -> float:
    return cell["high"] - cell["low"]


def test_one_seed_cells_are_the_plain_clip_bootstrap(tmp_path: Path) -> None:
    _scored_run(tmp_path, "proposed", 0, 1.0, noise=0)
    document = _document(tmp_path)
    entry = document["models"]["proposed"]
    cells = entry["cells"]["test"]
    assert cells["seeds"] == [0] and set(cells["per_type"]) == {"fan", "pump"}
    assert cells["mean"]["auc"] == entry["auc"] and cells["mean"]["pauc"] == entry["pauc"]
    assert "eval" not in entry["cells"] and "two-level" in document["cells_method"]
    scores = pd.read_csv(tmp_path / "models" / "proposed" / "seed-0" / "scores.csv")
    boot = bootstrap_cells(scores, RESAMPLES, 0)
    fan = interval(boot.estimates["fan"]["auc"], boot.samples["fan"]["auc"])
    assert cells["per_type"]["fan"]["auc"] == {"estimate": fan.estimate, "low": fan.low,
                                               "high": fan.high}
    plain = bootstrap(scores, RESAMPLES, 0)  # the existing function: unchanged
    np.testing.assert_array_equal(boot.samples["mean"]["auc"], plain.auc_samples)


def test_seeds_widen_the_interval_only_when_they_differ(tmp_path: Path) -> None:
    one, same, apart = tmp_path / "one", tmp_path / "same", tmp_path / "apart"
    _scored_run(one, "proposed", 0, 1.0, noise=0)
    for seed in range(3):
        _scored_run(same, "proposed", seed, 1.0, noise=0)  # three identical runs
    for seed, shift in enumerate((0.2, 1.0, 3.0)):
        _scored_run(apart, "proposed", seed, shift, noise=0)  # three very different runs
    cells = {name: _document(root)["models"]["proposed"]["cells"]["test"]
             for name, root in (("one", one), ("same", same), ("apart", apart))}
    for key in ("estimate", "low", "high"):
        assert cells["same"]["mean"]["auc"][key] == pytest.approx(cells["one"]["mean"]["auc"][key],
                                                                  abs=1e-12)
    assert cells["apart"]["seeds"] == [0, 1, 2]
    assert _width(cells["apart"]["mean"]["auc"]) > 2 * _width(cells["same"]["mean"]["auc"])
    assert _width(cells["apart"]["per_type"]["fan"]["auc"]) > _width(
        cells["same"]["per_type"]["fan"]["auc"])
    runs = load_runs(apart / "metrics")["proposed"]
    assert 100 * cells["apart"]["mean"]["auc"]["estimate"] == pytest.approx(runs.mean["auc"])
    path = write_uncertainty(_document(apart), apart / "uncertainty.json")
    loaded = load_uncertainty(path).models["proposed"].cells["test"]
    assert loaded.seeds == (0, 1, 2)
    assert loaded.interval("fan", "pauc").high == pytest.approx(
        100 * cells["apart"]["per_type"]["fan"]["pauc"]["high"])


def test_a_stale_seed_is_left_out_of_the_cells_with_a_note(tmp_path: Path) -> None:
    for seed in range(3):
        _scored_run(tmp_path, "proposed", seed, 1.0, noise=seed)
    stale = tmp_path / "models" / "proposed" / "seed-1" / "scores.csv"
    frame = pd.read_csv(stale)
    frame.assign(score=frame["score"][::-1].to_numpy()).to_csv(stale, index=False)
    (tmp_path / "models" / "proposed" / "seed-2" / "scores.csv").unlink()
    document = _document(tmp_path)
    assert document["models"]["proposed"]["cells"]["test"]["seeds"] == [0]
    notes = document["notes"]
    assert any("seed 1 left out of the test cells" in n and str(stale) in n and "(stale)" in n
               for n in notes)
    assert any("seed 2 left out" in n and "not found" in n for n in notes)


def test_eval_cells_come_from_eval_scores(tmp_path: Path) -> None:
    for seed in range(2):
        _scored_run(tmp_path, "proposed", seed, 1.0, noise=seed, eval_shift=2.0)
    document = _document(tmp_path)
    cells = document["models"]["proposed"]["cells"]
    assert cells["eval"]["seeds"] == [0, 1] and set(cells["eval"]["per_type"]) == {"fan"}
    runs = load_runs(tmp_path / "metrics")["proposed"]
    assert 100 * cells["eval"]["mean"]["auc"]["estimate"] == pytest.approx(runs.eval_mean["auc"])
    assert cells["eval"]["mean"]["auc"] != cells["test"]["mean"]["auc"]


# --- the evaluation set: runs, table_eval.md, the leaderboard's columns ------------------------


def _eval_section(auc: float, pauc: float) -> dict[str, Any]:
    per_type = {t: {"auc": auc, "pauc": pauc} for t in MACHINE_TYPES}
    mean = {"auc": auc, "pauc": pauc, "auc_hmean": auc - 0.01, "pauc_hmean": pauc - 0.01,
            "official": (auc + pauc) / 2}
    return {"clips": 1200, "mean": mean, "per_type": per_type}


def test_table_eval_rows_and_leaderboard_columns(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    for seed, auc in ((0, 0.9), (1, 0.8)):
        _metrics(metrics, "proposed", seed, eval=_eval_section(auc, 0.7))
    _metrics(metrics, "idnn", 0, source="synthetic", epochs=100, eval=_eval_section(0.6, 0.55))
    _metrics(metrics, "mobilenetv2", 0)  # no eval section: not in table_eval, "–" in the board
    path = _uncertainty(tmp_path / "u.json", {"proposed": {
        "seeds": [0, 1], "auc": (0.8, 0.9), "pauc": (0.7, 0.8)}})
    document = json.loads(path.read_text())
    test = document["models"]["proposed"]["cells"]["test"]
    document["models"]["proposed"]["cells"]["eval"] = test | {
        "mean": {"auc": _ci(0.85, 0.81, 0.89), "pauc": _ci(0.7, 0.66, 0.74)}}
    path.write_text(json.dumps(document))
    runs, uncertainty = load_runs(metrics), load_uncertainty(tmp_path / "u.json")
    assert runs["proposed"].eval_mean["official"] == pytest.approx(77.5)
    assert runs["mobilenetv2"].eval_mean is None
    text = tables.table_eval(load_paper(), runs, ["idnn", "mobilenetv2", "proposed"], uncertainty)
    assert text.startswith(tables.HEADER) and f"# {tables.EVAL_TITLE}" in text
    header = _cells(text, "Method")
    assert "paper" not in " ".join(header).lower() and "Official" in header
    proposed = dict(zip(header, _cells(text, "Proposed"), strict=True))
    assert proposed["AUC"] == "85.00 ± 7.07" and proposed["AUC 95 % CI"] == "[81.00, 89.00]"
    assert proposed["Fan AUC"] == "85.00 ± 7.07" and proposed["Official"] == "77.50 ± 3.54"
    assert proposed["Data source"] == "dcase2020" and proposed["Seeds"] == "2 seeds (0, 1)"
    idnn = dict(zip(header, _cells(text, "IDNN"), strict=True))
    assert idnn["AUC"] == "60.00" and idnn["AUC 95 % CI"] == tables.MISSING  # synthetic: unmarked
    assert "MobileNetV2" not in text.split("\n- ")[0]
    assert "arithmetic mean over a machine type's IDs" in text and "no verdict" in text
    assert "pipeline checks" in text
    board = tables.leaderboard(runs, uncertainty)
    header = _cells(board, "Rank")
    assert header[-7:-4] == ["Eval AUC", "Eval pAUC", "Eval official"]
    by_model = {r[1]: r for r in _rows(board)}
    assert by_model["`mobilenetv2`"][-7:-4] == [tables.MISSING] * 3  # no eval section
    assert by_model["`proposed`"][-7:-4] == ["85.00 ± 7.07", "70.00 ± 0.00", "77.50 ± 3.54"]
    assert by_model["`idnn`"][-7:-4] == ["60.00", "55.00", "57.50"]


def _rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row of ``text`` (header included, rulers left out)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    return [r for r in rows if not set("".join(r)) <= set("-:")]


def _cells(text: str, first: str) -> list[str]:
    """The first row of ``text`` whose first cell starts with ``first``."""
    for cells in _rows(text):
        if cells[0].startswith(first):
            return cells
    raise AssertionError(f"no row {first!r} in\n{text}")


def test_without_eval_sections_table_eval_says_how_and_the_board_has_no_eval_columns(
    tmp_path: Path,
) -> None:
    _metrics(tmp_path / "metrics", "proposed", 0)
    runs = load_runs(tmp_path / "metrics")
    text = tables.table_eval(load_paper(), runs, ["proposed"])
    lines = text.splitlines()
    assert lines[0] == tables.HEADER and lines[2] == f"# {tables.EVAL_TITLE}" and len(lines) == 5
    assert "`data.dcase2020.eval_test: true`" in lines[4]
    assert "`data.synthetic.eval_ids_per_type: 1`" in lines[4]
    assert "Eval" not in tables.leaderboard(runs)


def test_some_seeds_with_eval_and_others_without_is_an_error(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    _metrics(metrics, "proposed", 0, eval=_eval_section(0.9, 0.8))
    _metrics(metrics, "proposed", 1)
    with pytest.raises(ValueError, match=r"proposed-seed1.json: no 'eval' section.*seed0.json"):
        load_runs(metrics)
    _metrics(metrics, "proposed", 1, eval={"clips": 3, "mean": {"auc": 0.5}, "per_type": {}})
    with pytest.raises(ValueError, match=r"proposed-seed1.json: missing key 'eval.mean.pauc'"):
        load_runs(metrics)


def test_render_tables_writes_reproduction_and_table_eval(tmp_path: Path) -> None:
    metrics = _five_seeds(tmp_path)
    path = _uncertainty(tmp_path / "u.json", {"proposed": {
        "seeds": [0, 1, 2, 3, 4], "auc": (0.88, 0.92), "pauc": (0.78, 0.82)}})
    documents = render_tables(metrics, tmp_path / "none.json", path, ["proposed"],
                              rule=_rule(tolerance_pp=0.0))
    text = documents["reproduction.md"]
    assert "## Summary" in text and "0 percentage points" in text
    assert "two-level test bootstrap; 1000 resamples, seed 0" in text
    # paper 93.44 vs ours [88, 92] with no tolerance: below; its pAUC 85.71 > 82: below
    row = _cells(text.split("## Table 2")[1], "Table 2")
    assert row[-2:] == ["**below**", ""] and row[6] == "[88.00, 92.00]"
    assert documents["table_eval.md"].count("\n") == 5  # no eval section: header, title, a line

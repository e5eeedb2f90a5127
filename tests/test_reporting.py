"""Tables 1-4, the leaderboard and the figures of ``python -m benchmark.report`` on fixtures."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from tiny_models import save_untrained

from benchmark.config import ConfigError, load_section
from benchmark.data.layout import MACHINE_TYPES
from benchmark.evaluation.metrics import summarise
from benchmark.report import (
    ReportParams,
    ReproductionParams,
    build_report,
    render_tables,
    spread,
    write_tables,
)
from benchmark.reporting import figures, tables
from benchmark.reporting.results import (
    load_complexity,
    load_paper,
    load_runs,
    load_uncertainty,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]
PAPER_METHODS = [
    "IDNN", "MobileNetV2", "Glow-Aff", "GMM + ArcFace", "STgram-MFN", "SW-WaveNet",
    "Noisy-ArcMix", "Proposed",
]


def _metrics(model: str, auc: float, **overrides) -> dict:
    per_type = {t: {"auc": auc - 0.01 * k, "pauc": auc - 0.1} for k, t in enumerate(MACHINE_TYPES)}
    data = {
        "model": model,
        "data_source": "synthetic",
        "epochs": 3,
        "seed": 0,
        "num_train_clips": 288,
        "mean": {"auc": auc, "pauc": auc - 0.1, "auc_hmean": auc - 0.01, "pauc_hmean": auc - 0.11},
        "per_type": per_type,
    }
    return data | overrides


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """reports/ with metrics of three models, complexity counts and two ROC files."""
    root = tmp_path / "reports"
    (root / "metrics").mkdir(parents=True)
    for model, auc in (("proposed", 0.9), ("idnn", 0.8), ("stgram_mfn", 0.85)):
        (root / "metrics" / f"{model}.json").write_text(json.dumps(_metrics(model, auc)))
    complexity = {
        "flop_convention": "fvcore: one multiply-add = one FLOP",
        "models": {
            "proposed": {"params": 884_376, "flops": 512_000_000},
            "idnn": {"params": 46_032, "flops": 14_000_000},
        },
    }
    (root / "complexity.json").write_text(json.dumps(complexity))
    (root / "roc").mkdir()
    for model in ("proposed", "idnn"):
        rows = [(t, f, f**0.5) for t in MACHINE_TYPES for f in (0.0, 0.1, 0.5, 1.0)]
        pd.DataFrame(rows, columns=["machine_type", "fpr", "tpr"]).to_csv(
            root / "roc" / f"{model}.csv", index=False
        )
    return root


def _params(root: Path, **overrides) -> ReportParams:
    base = {
        "metrics_dir": str(root / "metrics"),
        "complexity": str(root / "complexity.json"),
        "roc_dir": str(root / "roc"),
        "models_dir": str(root.parent / "models"),
        "features_dir": str(root.parent / "features"),
        "out_dir": str(root),
        "table_models": ["idnn", "dcase2020_ae", "mobilenetv2", "stgram_mfn", "proposed"],
        "figure_model": "proposed",
        "figure_machine_type": "fan",
        "figure_clips": 4,
        "batch_size": 2,
        "device": "cpu",
        "reference_model": "proposed",
        "bootstrap_resamples": 200,
        "bootstrap_seed": 0,
        "reproduction": ReproductionParams(2.0, 5, str(ROOT / "profiles" / "paper.yaml"), 10),
    }
    return ReportParams(**(base | overrides))


def _row(table: str, label: str) -> list[str]:
    """Cells of the markdown row whose first cell starts with ``label``."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith(label):
            return cells
    raise AssertionError(f"no row {label!r} in\n{table}")


def test_rank_marks_ties_missing_and_lone_values() -> None:
    assert tables.rank_marks([1.0, 3.0, 2.0, None]) == [None, 0, 1, None]
    assert tables.rank_marks([3.0, 3.0, 2.0]) == [0, 0, 1]
    assert tables.rank_marks([5.0, None]) == [None, None]
    assert tables.emphasise("1.00", 0) == "**1.00**"
    assert tables.emphasise("1.00", 1) == "<u>1.00</u>"


def test_paper_results_file_matches_the_paper() -> None:
    paper = load_paper()
    assert [m["name"] for m in paper["methods"]] == PAPER_METHODS
    proposed = paper["methods"][-1]
    assert proposed["per_type"]["ToyConveyor"] == [84.59, 73.55]
    assert proposed["mean"] == {"auc": 93.44, "pauc": 85.71}
    assert [e["model"] for e in paper["features_study"]] == [
        "proposed_mel_only", "proposed_wave_only", "proposed_h256", "proposed_h64", "proposed"
    ]
    assert [e["model"] for e in paper["ablation"]][-1] == "proposed"


def _dcase(root: Path, *models: str) -> None:
    """Turn the fixture runs of ``models`` into runs on the real DCASE 2020 data."""
    for model in models:
        path = root / "metrics" / f"{model}.json"
        data = json.loads(path.read_text())
        path.write_text(json.dumps(data | {"data_source": "dcase2020"}))


def test_table1_marks_only_runs_on_dcase2020_data(reports: Path) -> None:
    _dcase(reports, "proposed", "stgram_mfn")  # idnn (80 %) and mobilenetv2 (95 %) stay synthetic
    (reports / "metrics" / "mobilenetv2.json").write_text(json.dumps(_metrics("mobilenetv2", 0.95)))
    paper, runs = load_paper(), load_runs(reports / "metrics")
    models = ["idnn", "dcase2020_ae", "mobilenetv2", "stgram_mfn", "proposed"]
    text = tables.table1(paper, runs, models)
    assert text.startswith(tables.HEADER)
    assert "generated by python -m benchmark.report, do not edit" in text
    for name in PAPER_METHODS:
        assert f"| {name} (reported)" in text
    fan = 1  # Method | Fan AUC | Fan pAUC | Pump AUC ...
    # reported: Noisy-ArcMix best fan AUC (98.32), SW-WaveNet second (97.53)
    assert _row(text, "Noisy-ArcMix (reported)")[fan] == "**98.32**"
    assert _row(text, "SW-WaveNet (reported)")[fan] == "<u>97.53</u>"
    assert _row(text, "Proposed (reported)")[fan] == "95.10"
    # ours on dcase2020, ranked among themselves: proposed 90.00 best, STgram-MFN 85.00 second
    assert _row(text, "Proposed (ours, dcase2020, 3 ep, 1 seed)")[fan] == "**90.00**"
    assert _row(text, "STgram-MFN (ours, dcase2020, 3 ep, 1 seed)")[fan] == "<u>85.00</u>"
    # synthetic runs carry their data source and are never marked, not even the highest value
    assert _row(text, "MobileNetV2 (ours, synthetic, 3 ep, 1 seed)")[fan] == "95.00"
    assert _row(text, "IDNN (ours, synthetic, 3 ep, 1 seed)")[fan] == "80.00"
    # a model without metrics is a row of dashes with a note, not a crash
    assert set(_row(text, "DCASE 2020 AE baseline (ours, not trained)")[1:]) == {tables.MISSING}
    assert "`dcase2020_ae`" in text and "never marked" in text


def _our_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if "(ours," in line]


def test_synthetic_runs_are_never_marked_best(reports: Path) -> None:
    paper, runs = load_paper(), load_runs(reports / "metrics")
    complexity = load_complexity(reports / "complexity.json")
    models = ["idnn", "stgram_mfn", "proposed"]
    rows = _our_rows(tables.table1(paper, runs, models))
    assert len(rows) == 3 and all("synthetic" in r and "**" not in r and "<u>" not in r
                                  for r in rows)
    for text in (tables.table2(paper, runs, complexity, models), tables.table3(paper, runs, None),
                 tables.table4(paper, runs, complexity)):
        ours = _column(text, "AUC (ours)") + _column(text, "pAUC (ours)")
        assert "90.00" in ours and not any("**" in c or "<u>" in c for c in ours)
        assert "**" in "".join(_column(text, "AUC (paper)"))  # the paper's figures still are


def _column(table: str, header: str) -> list[str]:
    """Cells of the markdown column ``header``."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    k = rows[0].index(header)
    return [row[k] for row in rows[2:]]


def test_table2_shows_paper_beside_ours_with_fvcore_counts(reports: Path) -> None:
    _dcase(reports, "proposed", "idnn", "stgram_mfn")
    paper, runs = load_paper(), load_runs(reports / "metrics")
    complexity = load_complexity(reports / "complexity.json")
    text = tables.table2(paper, runs, complexity, ["idnn", "dcase2020_ae", "proposed"])
    row = _row(text, "Proposed")
    assert row[1:5] == ["884 k", "884.4 k", "512.00 M", "<u>93.44</u>"]
    assert row[5] == "**90.00**"  # ours: proposed best of idnn / stgram_mfn / proposed
    assert row[-2] == "dcase2020, 3 ep, 1 seed (0)"
    assert row[-1] == "the paper's (AdamW, mixup, ArcFace); one model, all types"
    assert _row(text, "STgram-MFN")[-1].startswith("faithful: its own log-Mel, Adam, no mixup")
    assert _row(text, "Glow-Aff")[2] == tables.NOT_REIMPLEMENTED
    assert _row(text, "Noisy-ArcMix")[4] == "**94.65**"
    assert _row(text, "DCASE 2020 AE baseline")[5] == tables.MISSING
    assert "multiply-add" in text and "fvcore" in text
    assert "STgram-MFN" in text and _row(text, "STgram-MFN")[2] == tables.MISSING  # no counts
    assert "reports/uncertainty.json not found" in text  # no intervals: said so, no Δ column
    assert "ΔAUC" not in text


def test_tables_3_and_4_list_every_variant_missing_ones_as_dashes(reports: Path) -> None:
    paper, runs = load_paper(), load_runs(reports / "metrics")
    text3 = tables.table3(paper, runs, None)
    assert _row(text3, "[X_Wav]")[5] == "63.48"
    assert _row(text3, "[X_Mel]")[6] == tables.MISSING
    assert "`proposed_h64`" in text3 and "complexity.json not found" in text3
    text4 = tables.table4(paper, runs, load_complexity(reports / "complexity.json"))
    row = _row(text4, "proposed")
    assert row[1] == "`proposed`" and row[2] == "884 k" and row[3] == "884.4 k"
    assert _row(text4, "w/o attention")[2] == "882 k"
    assert "`proposed_no_separable`" in text4


def test_leaderboard_ranks_runs_per_data_source_and_warns_about_synthetic_data(
    reports: Path,
) -> None:
    (reports / "metrics" / "mobilenetv2.json").write_text(
        json.dumps(_metrics("mobilenetv2", 0.7, data_source="dcase2020", epochs=300))
    )
    text = tables.leaderboard(load_runs(reports / "metrics"))
    assert "NOT DCASE 2020 Task 2 results" in text
    dcase = text.index("## Data source: `dcase2020`")
    synthetic = text.index("## Data source: `synthetic`")
    assert dcase < text.index("`mobilenetv2`") < synthetic  # the real-data block comes first
    assert synthetic < text.index("`proposed`") < text.index("`stgram_mfn`") < text.index("`idnn`")
    assert _row(text[dcase:synthetic], "1")[1] == "`mobilenetv2`"
    row = _row(text[synthetic:], "1")  # ranks restart within each data source
    assert row[1:] == ["`proposed`", "loss", "90.00", "80.00", "89.00", "79.00", "synthetic",
                       "3", "1 seed (0)", "288"]


def test_several_seeds_show_mean_and_std(reports: Path) -> None:
    for seed, auc in ((1, 0.7), (2, 0.5)):
        path = reports / "metrics" / f"proposed_seed{seed}.json"
        path.write_text(json.dumps(_metrics("proposed", auc, seed=seed)))
    runs = load_runs(reports / "metrics")
    assert runs["proposed"].seeds == (0, 1, 2)
    board = tables.leaderboard(runs)  # 90 / 70 / 50 -> 70 ± 20: below stgram_mfn and idnn
    row = _row(board, "3")
    assert row[1:4] == ["`proposed`", "loss", "70.00 ± 20.00"] and row[-2] == "3 seeds (0, 1, 2)"
    assert _row(board, "1")[-2] == "1 seed (0)"
    table1 = tables.table1(load_paper(), runs, ["proposed"])
    assert _row(table1, "Proposed (ours, synthetic, 3 ep, 3 seeds)")[1] == "70.00 ± 20.00"


def test_runs_of_one_model_must_share_data_and_epochs(reports: Path) -> None:
    path = reports / "metrics" / "proposed_seed1.json"
    path.write_text(json.dumps(_metrics("proposed", 0.8, seed=1, epochs=300)))
    with pytest.raises(ValueError, match="differ in 'epochs'"):
        load_runs(reports / "metrics")
    path.write_text(json.dumps(_metrics("proposed", 0.8)))  # seed 0 twice
    with pytest.raises(ValueError, match="share a seed"):
        load_runs(reports / "metrics")


# --- uncertainty: models/NAME/scores.csv -> reports/uncertainty.json -> tables -----------------


def _test_clips(normal: int = 8) -> pd.DataFrame:
    """Test clips of 6 types x 2 IDs, ``normal`` + 8 anomalous each (the same for every model)."""
    rows = [
        (f"{t}/test/{label}_{i}_{k:08d}.wav", t, i, label)
        for t in MACHINE_TYPES for i in ("id_00", "id_02")
        for label, n in (("normal", normal), ("anomaly", 8)) for k in range(n)
    ]
    return pd.DataFrame(rows, columns=["path", "machine_type", "machine_id", "label"])


def _score(root: Path, model: str, shift: float, seed: int = 0, normal: int = 8, **info) -> None:
    """models/NAME/scores.csv and the metrics JSON the train stage would write from them."""
    test = _test_clips(normal)
    rng = np.random.default_rng(seed)
    scores = test.assign(score=rng.normal(size=len(test)) + shift * (test["label"] == "anomaly"))
    folder = root.parent / "models" / model
    folder.mkdir(parents=True, exist_ok=True)
    scores.to_csv(folder / "scores.csv", index=False)
    metrics = summarise(scores, model=model, data_source="synthetic", epochs=3, seed=0,
                        num_train_clips=288)
    metrics.pop("per_id")  # the train stage writes it elsewhere: the tables must not need it
    (root / "metrics" / f"{model}.json").write_text(json.dumps(metrics | info))


@pytest.fixture
def scored(reports: Path) -> Path:
    """The reports fixture with scores behind the metrics: proposed, idnn (far better), a copy of
    proposed (identical scores) and stgram_mfn (other noise, same true AUC)."""
    _score(reports, "proposed", 0.5)
    _score(reports, "idnn", 3.0, seed=1)
    _score(reports, "stgram_mfn", 0.5, seed=2)
    _score(reports, "proposed_h64", 0.5)  # the very same scores as proposed
    return reports


def test_uncertainty_file_and_tables_show_intervals_and_the_paired_test(scored: Path) -> None:
    written = write_tables(_params(scored))
    assert scored / "uncertainty.json" in written
    uncertainty = load_uncertainty(scored / "uncertainty.json")
    assert uncertainty.resamples == 200 and uncertainty.reference == "proposed"
    runs = load_runs(scored / "metrics")
    for model, entry in uncertainty.models.items():
        assert entry.auc.estimate == pytest.approx(runs[model].mean["auc"], abs=1e-9)
        assert entry.auc.low <= entry.auc.estimate <= entry.auc.high
    board = (scored / "leaderboard.md").read_text()
    assert "200 resamples, seed 0" in board and "95 % confidence interval" in board
    header = _row(board, "Rank")
    assert header[:9] == ["Rank", "Model", "Backend", "AUC", "AUC 95 % CI", "pAUC",
                          "pAUC 95 % CI", "AUC hmean", "pAUC hmean"]
    assert header[9:12] == ["ΔAUC vs proposed", "ΔAUC 95 % CI", "p"]
    idnn = _row(board, "1")
    assert idnn[1] == "`idnn`" and idnn[4].startswith("[") and float(idnn[9]) > 20
    assert float(idnn[11]) < 0.05 and "n.s." not in idnn[11]
    proposed = _board_row(board, "proposed")
    assert proposed["ΔAUC vs proposed"] == tables.REFERENCE
    copy = _board_row(board, "proposed_h64")
    assert copy["ΔAUC vs proposed"] == "+0.00" and copy["p"] == "1.000 n.s."
    assert copy["ΔAUC 95 % CI"] == "[+0.00, +0.00]"
    table4 = (scored / "table4.md").read_text()
    row = _row(table4, "proposed")  # Variant | Model | Params x2 | FLOPs | AUC x2 | pAUC x2 | Δ
    ci = uncertainty.models["proposed"].auc
    assert row[6] == f"{ci.estimate:.2f} [{ci.low:.2f}, {ci.high:.2f}]"
    assert row[9] == tables.REFERENCE
    table3 = (scored / "table3.md").read_text()
    assert "+0.00 [+0.00, +0.00], p = 1.000 n.s." in _column(table3, "ΔAUC vs proposed")
    table2 = (scored / "table2.md").read_text()
    assert "paired bootstrap" in table2 and "200 resamples" in table2
    # 8 normal clips per ID: no pAUC interval (it would be biased), and the tables say why
    assert proposed["pAUC 95 % CI"] == tables.MISSING and "[" not in row[8]
    for text in (board, table2, table4):
        assert "No pAUC interval: 8 normal test clips per machine ID" in text


def _board_row(board: str, model: str) -> dict[str, str]:
    """The leaderboard row of ``model`` as column -> cell."""
    lines = [line for line in board.splitlines() if line.startswith("|")]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header = rows[0]
    return next(dict(zip(header, r, strict=True)) for r in rows if r[1] == f"`{model}`")


def test_pauc_interval_shown_with_enough_normal_clips(reports: Path) -> None:
    _score(reports, "proposed", 0.5, normal=100)
    _score(reports, "idnn", 1.0, seed=1, normal=100)
    write_tables(_params(reports))
    board = (reports / "leaderboard.md").read_text()
    assert _board_row(board, "proposed")["pAUC 95 % CI"].startswith("[")
    assert _board_row(board, "idnn")["pAUC 95 % CI"].startswith("[")
    assert "No pAUC interval" not in board
    assert _row((reports / "table2.md").read_text(), "Proposed")[7].endswith("]")


def test_stale_or_missing_scores_get_no_interval(scored: Path) -> None:
    (scored / "metrics" / "idnn.json").write_text(json.dumps(_metrics("idnn", 0.99)))
    (scored.parent / "models" / "stgram_mfn" / "scores.csv").unlink()
    write_tables(_params(scored))
    uncertainty = load_uncertainty(scored / "uncertainty.json")
    assert set(uncertainty.models) == {"proposed", "proposed_h64"}
    board = (scored / "leaderboard.md").read_text()
    assert "`idnn`: no interval" in board and "(stale)" in board
    assert "`stgram_mfn`: no interval" in board and "not found" in board
    assert _row(board, "1")[1:5] == ["`idnn`", "loss", "99.00", tables.MISSING]


def test_tables_render_from_git_tracked_files_alone(scored: Path) -> None:
    """Without models/ (DVC-tracked, absent from a git checkout) the tables come out the same."""
    params = _params(scored)
    write_tables(params)
    committed = {name: (scored / name).read_text() for name in ("table1.md", "leaderboard.md")}
    (scored.parent / "models").rename(scored.parent / "elsewhere")
    documents = render_tables(params.metrics_dir, params.complexity,
                              scored / "uncertainty.json", params.table_models,
                              params.reproduction)
    for name, text in committed.items():
        assert documents[name] == text


def test_malformed_metrics_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"model": "x"}))
    with pytest.raises(ValueError, match="bad.json"):
        load_runs(tmp_path)


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_figures_write_non_empty_pngs(tmp_path: Path, reports: Path) -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(2, 128, 20)).astype(np.float32)
    assert _is_png(figures.plot_features(feats, "clip", tmp_path / "f.png"))
    attention = rng.uniform(size=(2, 128, 20))
    assert _is_png(figures.plot_attention(attention, "clip", tmp_path / "a.png"))
    stats = figures.AttentionStats()
    stats.update(rng.uniform(size=(3, 128, 20)))
    stats.update(np.full((2, 128, 20), 0.5))
    assert stats.count == 5 and stats.mean().shape == (128, 20)
    mean, std = stats.band_mean_std()
    assert mean.shape == std.shape == (128,) and np.all(std >= 0)
    assert _is_png(figures.plot_attention_stats(stats, "stats", tmp_path / "s.png"))
    assert _is_png(figures.plot_roc(figures.read_roc_dir(reports / "roc"), tmp_path / "roc.png"))
    centres = figures.mel_band_centres()
    assert centres.shape == (128,) and 0 < centres[0] < centres[-1] < 8000


def test_roc_lines_are_unique_in_colour_and_style_for_20_models() -> None:
    curve = pd.DataFrame({"machine_type": "fan", "fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.7, 1.0]})
    curves = {f"model_{k:02d}": curve for k in range(20)}
    fig = figures.roc_figure(curves)
    lines = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("model_")]
    assert len(lines) == 20
    colours = [matplotlib.colors.to_hex(line.get_color()) for line in lines]
    styles = [line.get_linestyle() for line in lines]
    assert len(set(colours)) == 20  # distinct colours ...
    assert len(set(zip(colours, styles, strict=True))) == 20  # ... and distinct pairs
    assert all(a != b for a, b in zip(styles, styles[1:], strict=False))  # neighbours differ
    assert len({figures.line_style(k) for k in range(80)}) == 80
    plt.close(fig)


def test_roc_title_and_legend_name_data_source_epochs_and_seed(reports: Path) -> None:
    runs = load_runs(reports / "metrics")
    fig = figures.roc_figure(figures.read_roc_dir(reports / "roc"), runs)
    assert "synthetic data" in fig._suptitle.get_text()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "idnn (synthetic data, 3 epochs, seed 0)" in labels
    plt.close(fig)


@pytest.fixture
def saved_figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, plt.Figure]:
    """Every figure the report saves, by file name (inspected after saving)."""
    saved: dict[str, plt.Figure] = {}
    original = figures._save

    def save(fig: plt.Figure, path: Path) -> Path:
        saved[Path(path).name] = fig
        return original(fig, path)

    monkeypatch.setattr(figures, "_save", save)
    return saved


def test_attention_maps_use_the_fixed_range_and_say_so(
    tmp_path: Path, saved_figures: dict[str, plt.Figure]
) -> None:
    attention = np.random.default_rng(0).uniform(0.6, 0.7, size=(2, 128, 20))  # a narrow spread
    figures.plot_attention(attention, "clip", tmp_path / "a.png")
    stats = figures.AttentionStats()
    stats.update(attention[:1])
    stats.update(attention[1:])
    figures.plot_attention_stats(stats, "stats", tmp_path / "s.png")
    maps = [ax for ax in saved_figures["a.png"].axes if ax.images]
    assert len(maps) == 2 and all(ax.images[0].get_clim() == (0.5, 1.0) for ax in maps)
    mean = saved_figures["s.png"].axes[0]
    assert mean.images[0].get_clim() == (0.5, 1.0)
    labels = [ax.get_ylabel() for fig in saved_figures.values() for ax in fig.axes]
    assert labels.count(figures.ATTENTION_LABEL) == 3 and "0.5-1" in figures.ATTENTION_LABEL


def test_report_without_trained_models_writes_everything(tmp_path: Path) -> None:
    """Nothing trained yet: tables of dashes and placeholder figures, no crash."""
    root = tmp_path / "reports"
    written = build_report(_params(root))
    names = {p.name for p in written}
    assert {"table1.md", "table2.md", "table3.md", "table4.md", "leaderboard.md"} <= names
    assert {"roc.png", "features.png", "attention.png", "attention_stats.png"} <= names
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert "No trained runs" in (root / "leaderboard.md").read_text()


def test_report_tables_follow_the_metrics(reports: Path) -> None:
    """Changing a model's results and re-running changes the tables."""
    params = _params(reports)
    write_tables(params)
    before = (reports / "table1.md").read_text()
    (reports / "metrics" / "idnn.json").write_text(json.dumps(_metrics("idnn", 0.95)))
    write_tables(params)
    after = (reports / "table1.md").read_text()
    assert before != after and "| IDNN (ours, synthetic, 3 ep, 1 seed)" in after
    assert _row(after, "IDNN (ours")[1] == "95.00"  # synthetic: never marked


def test_params_yaml_report_section_loads() -> None:
    params = load_section("report", ReportParams, Path(__file__).parents[1] / "params.yaml")
    assert params.figure_model == "proposed" and params.figure_clips >= 1


def test_bad_report_params_are_named(reports: Path) -> None:
    from benchmark.config import from_dict

    data = asdict(_params(reports)) | {"figure_machine_type": "drill"}
    with pytest.raises(ConfigError, match="report.figure_machine_type"):
        from_dict(ReportParams, data, "report")
    data = asdict(_params(reports)) | {"bootstrap_resamples": 10}
    with pytest.raises(ConfigError, match="report.bootstrap_resamples"):
        from_dict(ReportParams, data, "report")


def test_spread_picks_evenly() -> None:
    rows = np.arange(100)
    assert list(spread(rows, 3)) == [0, 50, 99]
    assert list(spread(rows[:2], 5)) == [0, 1]


# --- with a (tiny, untrained) proposed model: Figures 2-4 --------------------------------------

CLASSES = [("fan", "id_00"), ("pump", "id_00")]
CLIP = 16_000  # 1 s keeps the model cheap on CPU


def _write_cache(folder: Path) -> None:
    """A feature cache by hand: 2 classes x (2 train, 1 normal + 1 anomalous test) clips."""
    rows = []
    for k, (machine, mid) in enumerate(CLASSES):
        for split, label, n in (("train", "normal", 2), ("test", "normal", 1),
                                ("test", "anomaly", 1)):
            for i in range(n):
                name = f"{label}_{mid}_{i:08d}.wav"
                rows.append([f"{machine}/{split}/{name}", machine, mid, split, label, k])
    index = pd.DataFrame(
        rows, columns=["path", "machine_type", "machine_id", "split", "label", "class_index"]
    )
    index["row"] = np.arange(len(index))
    folder.mkdir(parents=True)
    index.to_csv(folder / "index.csv", index=False)
    rng = np.random.default_rng(0)
    np.save(folder / "waveforms.npy", rng.integers(-3000, 3000, (len(index), CLIP), np.int16))
    np.save(folder / "logmel.npy", np.zeros((len(index), 128, 32), np.float16))
    np.save(folder / "logmel_dcase.npy", np.zeros((len(index), 128, 32), np.float16))
    meta = {"sample_rate": 16000, "clip_samples": CLIP, "classes": [list(c) for c in CLASSES],
            "data_source": "synthetic", "fingerprint": "test"}
    (folder / "meta.json").write_text(json.dumps(meta))


def test_report_draws_attention_figures_of_the_proposed_model(
    reports: Path, saved_figures: dict[str, plt.Figure]
) -> None:
    _write_cache(reports.parent / "features")
    save_untrained(reports.parent / "models" / "proposed", CLASSES)
    written = build_report(_params(reports))
    folder = reports / "figures"
    for name in ("features.png", "attention.png", "attention_stats.png", "roc.png"):
        assert folder / name in written and _is_png(folder / name)
    # real figures, not the small placeholders
    assert (folder / "attention_stats.png").stat().st_size > 20_000
    for name in ("features.png", "attention.png", "attention_stats.png"):
        title = saved_figures[name]._suptitle.get_text()
        assert "proposed: synthetic data, 3 epochs, seed 0" in title, title
        assert ") (" not in title and "))" not in title, title
    assert "fan id_00, anomaly" in saved_figures["attention.png"]._suptitle.get_text()
    assert "synthetic data" in saved_figures["roc.png"]._suptitle.get_text()


def _score_seed(root: Path, model: str, shift: float, seed: int) -> None:
    """models/NAME/seed-K/scores.csv and reports/metrics/NAME-seedK.json of one seed's run."""
    test = _test_clips(8)
    rng = np.random.default_rng(seed)
    scores = test.assign(score=rng.normal(size=len(test)) + shift * (test["label"] == "anomaly"))
    folder = root.parent / "models" / model / f"seed-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    scores.to_csv(folder / "scores.csv", index=False)
    metrics = summarise(scores, model=model, data_source="synthetic", epochs=3, seed=seed,
                        num_train_clips=288)
    metrics.pop("per_id")
    (root / "metrics" / f"{model}-seed{seed}.json").write_text(json.dumps(metrics))


def test_several_seeds_get_the_interval_over_clips_and_seeds(reports: Path) -> None:
    """The tables' interval of a mean over seeds is the two-level one (clips and seeds), and
    that of one run, named by its seed, when a seed's scores are missing."""
    for path in (reports / "metrics").glob("proposed*.json"):
        path.unlink()
    for seed, shift in ((0, 0.3), (1, 2.0)):  # very different seeds: a wide pooled interval
        _score_seed(reports, "proposed", shift, seed)
    write_tables(_params(reports))
    uncertainty = load_uncertainty(reports / "uncertainty.json")
    entry = uncertainty.models["proposed"]
    pooled = entry.cells["test"].interval("mean", "auc")
    assert entry.cells["test"].seeds == (0, 1)
    assert pooled.high - pooled.low > entry.auc.high - entry.auc.low  # the seeds widen it
    shown = _board_row((reports / "leaderboard.md").read_text(), "proposed")["AUC 95 % CI"]
    assert shown == tables.interval_text(pooled.low, pooled.high)
    (reports.parent / "models" / "proposed" / "seed-1" / "scores.csv").unlink()
    write_tables(_params(reports))
    entry = load_uncertainty(reports / "uncertainty.json").models["proposed"]
    shown = _board_row((reports / "leaderboard.md").read_text(), "proposed")["AUC 95 % CI"]
    assert shown == f"{tables.interval_text(entry.auc.low, entry.auc.high)} (seed 0)"

"""``python -m benchmark leaderboard``: ranking every run of a real (temporary) MLflow store."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from benchmark.__main__ import main
from benchmark.reporting.runs import collect_runs, leaderboard_markdown, recipe

EXPERIMENT = "asd-benchmark"
PAPER = {"epochs": 300, "lr": 1e-4, "batch_size": 64, "clips_per_epoch": 0}
SMOKE = {"epochs": 2, "lr": 1e-3, "batch_size": 8, "clips_per_epoch": 48}
PAPER_RECIPE = "adamw lr 1e-04 wd 0.01 bs 64 eta_min 0.1 mixup 0.2 clips/epoch all"
SMOKE_RECIPE = "adamw lr 1e-03 wd 0.01 bs 8 eta_min 0.1 mixup 0.2 clips/epoch 48"

# (key, model, data source, training, seed, auc, pauc, status, extra tags), oldest first
RUNS = [
    ("p0_old", "proposed", "dcase2020", PAPER, 0, 0.50, 0.50, "FINISHED", {}),  # repeated seed
    ("p0", "proposed", "dcase2020", PAPER, 0, 0.90, 0.80, "FINISHED", {}),
    ("p1", "proposed", "dcase2020", PAPER, 1, 0.92, 0.82, "FINISHED", {}),
    ("m0", "mobilenetv2", "dcase2020", PAPER, 0, 0.95, 0.85, "FINISHED", {}),
    ("i0_failed", "idnn", "dcase2020", PAPER, 0, 0.99, 0.99, "FAILED", {}),
    ("p100", "proposed", "dcase2020", {**PAPER, "epochs": 100}, 0, 0.85, 0.75, "FINISHED", {}),
    ("s_p", "proposed", "synthetic", SMOKE, 0, 0.57, 0.58, "FINISHED", {}),
    ("s_m", "mobilenetv2", "synthetic", SMOKE, 0, 0.68, 0.70, "FINISHED", {}),
    ("s_tag", "proposed", "synthetic", SMOKE, 0, 0.61, 0.60, "FINISHED", {"recipe": "my-recipe"}),
    ("s_noauc", "idnn", "synthetic", SMOKE, 0, None, None, "FINISHED", {}),
]


def _log_run(client, experiment_id: str, start: int, spec: tuple) -> str:
    from mlflow.entities import Metric, Param

    _, model, source, training, seed, auc, pauc, status, extra = spec
    model_params = {"optimizer": "adamw", "weight_decay": 0.01, "eta_min_ratio": 0.1,
                    "mixup_alpha": 0.2, **training}
    params = {f"model.{k}": v for k, v in model_params.items()}
    params.update({"arch": model, "data_source": source, "train.seed": seed,
                   "num_train_clips": 288})
    tags = {"model": model, "data_source": source, "seed": str(seed), "data_fingerprint": "f" * 32,
            "dvc_stage": f"train@{model}", "git_commit": "abc", **extra}
    run = client.create_run(experiment_id, start_time=start, tags=tags, run_name=model)
    metrics = {} if auc is None else {"auc_mean": auc, "pauc_mean": pauc, "auc_fan": auc}
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    client.set_terminated(run.info.run_id, status=status, end_time=start + 1000)
    return run.info.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """(tracking URI, run key -> run id) of a SQLite store with the runs of :data:`RUNS`."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'm.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=(folder / "artifacts").as_uri()
    )
    start = int(time.time() * 1000)
    ids = {spec[0]: _log_run(client, experiment_id, start + 1000 * i, spec)
           for i, spec in enumerate(RUNS)}
    return uri, ids


@pytest.fixture(scope="module")
def markdown(store) -> str:
    return leaderboard_markdown(collect_runs(store[0], EXPERIMENT))


def _section(text: str, title_start: str) -> str:
    """The lines of the ``### title_start...`` group, up to the next heading."""
    match = re.search(rf"^### {re.escape(title_start)}.*?(?=^#)", text, re.M | re.S)
    assert match, f"no group {title_start!r} in:\n{text}"
    return match.group(0)


def _row(section: str, model: str) -> list[str]:
    line = next(li for li in section.splitlines() if f"`{model}`" in li)
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_collect_runs_keeps_finished_runs_with_auc(store):
    uri, ids = store
    frame = collect_runs(uri, EXPERIMENT)
    assert set(frame["run_id"]) == {v for k, v in ids.items() if k not in ("i0_failed", "s_noauc")}
    assert frame.attrs == {"tracking_uri": uri, "experiment": EXPERIMENT, "skipped": 2}
    row = frame.set_index("run_id").loc[ids["p100"]]
    assert (row["model"], row["data_source"], row["epochs"], row["seed"]) == (
        "proposed", "dcase2020", 100, "0")
    assert row["recipe"] == PAPER_RECIPE and row["auc"] == pytest.approx(0.85)


def test_recipe_from_params_unless_given():
    params = {"model.optimizer": "adam", "model.lr": "0.001", "model.weight_decay": "0.0",
              "model.batch_size": "512", "model.eta_min_ratio": "1.0", "model.mixup_alpha": "0.0",
              "model.clips_per_epoch": "0"}
    assert recipe(params, {}) == "adam lr 1e-03 wd 0 bs 512 eta_min 1 mixup 0 clips/epoch all"
    assert recipe(params, {"recipe": "dcase-ae"}) == "dcase-ae"
    assert recipe({**params, "recipe": "paper"}, {}) == "paper"
    assert recipe({}, {}).startswith("? lr ? wd ?")


def test_groups_dcase_first_then_by_epochs(markdown):
    titles = re.findall(r"^### (.*)$", markdown, re.M)
    assert titles == [
        f"dcase2020 · 300 epochs · {PAPER_RECIPE}",
        f"dcase2020 · 100 epochs · {PAPER_RECIPE}",
        f"synthetic · 2 epochs · {SMOKE_RECIPE}",
        "synthetic · 2 epochs · my-recipe",  # the run's recipe tag: a group of its own
    ]
    assert markdown.index("## Data source `dcase2020`") < markdown.index("## Data source `synth")


def test_rank_mean_std_and_seeds(markdown, store):
    ids = store[1]
    paper = _section(markdown, "dcase2020 · 300 epochs")
    assert _row(paper, "mobilenetv2")[:5] == ["1", "`mobilenetv2`", "95.00", "85.00", "1 (0)"]
    proposed = _row(paper, "proposed")
    # the latest run of seed 0 (0.90), not the repeated older one (0.50); sample std of 90, 92
    assert proposed[:5] == ["2", "`proposed`", "91.00 ± 1.41", "81.00 ± 1.41", "2 (0, 1)"]
    assert proposed[5] == f"`{ids['p0'][:8]}` (seed 0), `{ids['p1'][:8]}` (seed 1)"
    assert "idnn" not in markdown  # FAILED, and FINISHED without auc_mean
    smoke = _section(markdown, f"synthetic · 2 epochs · {SMOKE_RECIPE}")
    assert [_row(smoke, m)[0] for m in ("mobilenetv2", "proposed")] == ["1", "2"]
    assert _row(smoke, "proposed")[2] == "57.00"  # one seed: no "±"


def test_lists_runs_used_and_left_out(markdown, store):
    uri, ids = store
    used = set(re.findall(r"`([0-9a-f]{8})` \(seed", markdown))
    assert used == {ids[k][:8] for k in ("p0", "p1", "m0", "p100", "s_p", "s_m", "s_tag")}
    assert f"superseded by a later run of the same model and seed: 1 run (`{ids['p0_old'][:8]}`)"\
        in markdown
    assert "Left out: 2 runs not FINISHED or without an `auc_mean` metric" in markdown
    assert f"MLflow store `{uri}`, experiment `{EXPERIMENT}`" in markdown
    assert ids["i0_failed"][:8] not in markdown


def test_synthetic_is_a_pipeline_check_and_output_is_reproducible(markdown, store):
    assert "**Pipeline checks, NOT comparable with the paper**" in markdown
    assert "Groups on the real DCASE 2020 data (`dcase2020`) come first" in markdown
    frame = collect_runs(store[0], EXPERIMENT)
    assert leaderboard_markdown(frame) == markdown
    synthetic = leaderboard_markdown(frame[frame["data_source"] == "synthetic"])
    assert "**No run on the real DCASE 2020 data (`dcase2020`): nothing here is comparable" \
        in synthetic
    assert time.strftime("%Y-%m-%d") not in markdown and time.strftime("%H:%M") not in markdown


def test_cli_out_and_params(store, markdown, tmp_path, monkeypatch, capsys):
    uri = store[0]
    out = tmp_path / "reports" / "runs_leaderboard.md"
    assert main(["leaderboard", "--tracking-uri", uri, "--experiment", EXPERIMENT,
                 "--out", str(out)]) == 0
    assert out.read_text() == markdown
    # the params file's relative sqlite store resolves against the repository root (DVC_ROOT)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copy(uri[len("sqlite:///"):], tmp_path / "m.db")
    params = tmp_path / "params.yaml"
    params.write_text(f"train:\n  mlflow_tracking_uri: sqlite:///m.db\n"
                      f"  mlflow_experiment: {EXPERIMENT}\n")
    capsys.readouterr()
    assert main(["leaderboard", "--params", str(params)]) == 0
    printed = capsys.readouterr().out
    assert printed == markdown.replace(uri, f"sqlite:///{tmp_path / 'm.db'}")


def test_cli_empty_or_missing_experiment_or_store(store, tmp_path, capsys):
    uri = store[0]
    assert main(["leaderboard", "--tracking-uri", uri, "--experiment", "Default"]) == 0
    assert "No finished runs with an `auc_mean` metric in the MLflow store" in \
        capsys.readouterr().out
    assert main(["leaderboard", "--tracking-uri", uri, "--experiment", "nope"]) == 1
    err = capsys.readouterr().err
    assert f"error: experiment 'nope' not found in the MLflow store {uri}" in err
    assert f"experiments there: Default, {EXPERIMENT}" in err and "Traceback" not in err
    missing = tmp_path / "absent.db"
    assert main(["leaderboard", "--tracking-uri", f"sqlite:///{missing}",
                 "--experiment", EXPERIMENT]) == 1
    err = capsys.readouterr().err
    assert f"error: MLflow store sqlite:///{missing} not found" in err
    assert not missing.exists()  # never created by reading
    assert main(["leaderboard", "--params", str(Path(tmp_path) / "none.yaml")]) == 1
    assert "params file not found" in capsys.readouterr().err


def test_different_data_in_a_group_is_flagged(store):
    frame = collect_runs(store[0], EXPERIMENT)
    frame.loc[frame["run_id"] == store[1]["m0"], "data_fingerprint"] = "e" * 32
    text = leaderboard_markdown(frame)
    flagged = _section(text, "dcase2020 · 300 epochs")
    assert "used 2 different data sets (`data_fingerprint` tags: eeeeeeee, ffffffff)" in flagged
    assert "different data sets" not in _section(text, "dcase2020 · 100 epochs")


def test_evaluation_set_columns_only_when_runs_logged_them(markdown, tmp_path):
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    assert "Eval AUC" not in markdown  # no run of the module's store has an evaluation set
    uri = f"sqlite:///{tmp_path / 'eval.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=(tmp_path / "artifacts").as_uri())
    start = int(time.time() * 1000)
    for seed, value in ((0, 0.80), (1, 0.90)):
        spec = (f"e{seed}", "proposed", "dcase2020", PAPER, seed, 0.9, 0.8, "FINISHED", {})
        run_id = _log_run(client, experiment_id, start + 1000 * seed, spec)
        figures = {"eval_auc_mean": value, "eval_pauc_mean": value - 0.1,
                   "eval_official": value - 0.05}
        client.log_batch(run_id, metrics=[Metric(k, v, start, 0) for k, v in figures.items()])
    text = leaderboard_markdown(collect_runs(uri, EXPERIMENT))
    line = next(li for li in text.splitlines() if li.startswith("|") and "Rank" in li)
    header = [cell.strip() for cell in line.strip().strip("|").split("|")]
    row = dict(zip(header, _row(text, "proposed"), strict=True))
    assert row["Eval AUC (%)"] == "85.00 ± 7.07" and row["Eval pAUC (%)"] == "75.00 ± 7.07"
    assert row["Eval official (%)"] == "80.00 ± 7.07"
    assert "Eval AUC / pAUC / official (%): the same runs on the DCASE 2020 evaluation set" in text

"""``python -m benchmark years``: every DCASE year's tables from a real (temporary) MLflow store."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.__main__ import main
from benchmark.evaluation.domain_metrics import official_interval, official_metrics
from benchmark.reporting.runs import collect_runs, leaderboard_markdown
from benchmark.reporting.years import cross_year_markdown

EXPERIMENT = "asd-benchmark"


def _scores(seed: int, shift: float) -> pd.DataFrame:
    """A DCASE 2023-style score table: 2 types x 1 section x 2 domains x 10 normal + 10 anomalous
    clips; anomalies score ``shift`` higher on average."""
    rng = np.random.default_rng(seed)
    rows = []
    for machine_type in ("fan", "valve"):
        for domain in ("source", "target"):
            for label in ("normal", "anomaly"):
                for n in range(10):
                    score = rng.normal(shift if label == "anomaly" else 0.0, 1.0)
                    rows.append({"path": f"{machine_type}/test/{domain}_{label}_{n}.wav",
                                 "machine_type": machine_type, "machine_id": "section_00",
                                 "label": label, "score": score, "section": "section_00",
                                 "domain": domain})
    return pd.DataFrame(rows)


def _log(client, experiment_id: str, start: int, *, model: str, dataset: str | None,
         source: str, seed: int, metrics: dict[str, float], tmp: Path,
         scores: pd.DataFrame | None = None) -> str:
    from mlflow.entities import Metric, Param

    tags = {"model": model, "data_source": source, "seed": str(seed)}
    if dataset is not None:
        tags["dataset"] = dataset
    run = client.create_run(experiment_id, start_time=start, tags=tags, run_name=model)
    params = {"model.epochs": "3", "model.optimizer": "adamw", "arch": model}
    client.log_batch(run.info.run_id,
                     metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in params.items()])
    if scores is not None:
        path = tmp / run.info.run_id / "scores.csv"
        path.parent.mkdir(parents=True)
        scores.to_csv(path, index=False)
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id, status="FINISHED", end_time=start + 1000)
    return run.info.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("years")
    uri = f"sqlite:///{folder / 'm.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(EXPERIMENT,
                                             artifact_location=(folder / "art").as_uri())
    start = int(time.time() * 1000)
    scores = {seed: _scores(seed, 1.5) for seed in (0, 1)}
    official = {seed: official_metrics(s, "dcase2023")["official"] for seed, s in scores.items()}
    ids = {
        # a 2020 run logged before the dataset tag existed: dcase2020, official = (AUC+pAUC)/2
        "old2020": _log(client, experiment_id, start, model="proposed", dataset=None,
                        source="synthetic", seed=0, metrics={"auc_mean": 0.8, "pauc_mean": 0.6},
                        tmp=folder),
    }
    for seed in (0, 1):
        ids[f"y23_{seed}"] = _log(
            client, experiment_id, start + 1000 * (seed + 1), model="proposed",
            dataset="dcase2023", source="synthetic", seed=seed, tmp=folder,
            metrics={"auc_mean": 0.7, "pauc_mean": 0.6, "official": official[seed]},
            scores=scores[seed])
    ids["idnn23"] = _log(client, experiment_id, start + 5000, model="idnn", dataset="dcase2023",
                         source="synthetic", seed=0, tmp=folder, scores=scores[0],
                         metrics={"auc_mean": 0.7, "pauc_mean": 0.6, "official": official[0]})
    return {"uri": uri, "folder": folder, "ids": ids, "scores": scores, "official": official}


def test_cross_year_leaderboard_has_a_column_per_year_and_names_source_epochs_seeds(store):
    text = cross_year_markdown(collect_runs(store["uri"], EXPERIMENT))
    header = next(line for line in text.splitlines() if line.startswith("| Model"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "Model", "Data source", "Epochs", "dcase2020", "dcase2023", "Seeds", "Recipe"]
    proposed = next(line for line in text.splitlines() if line.startswith("| `proposed`"))
    assert "70.00 [1]" in proposed  # 2020: (80 + 60) / 2 from an untagged run
    mean = 100 * np.mean(list(store["official"].values()))
    std = 100 * np.std(list(store["official"].values()), ddof=1)
    assert f"{mean:.2f} ± {std:.2f} [2]" in proposed
    assert "2 (0, 1)" in proposed and "synthetic" in proposed and "| 3 " in proposed


def test_the_2020_leaderboard_leaves_other_years_out_and_says_where_they_are(store):
    text = leaderboard_markdown(collect_runs(store["uri"], EXPERIMENT))
    assert "3 runs on other DCASE years (`dcase2023`)" in text
    assert "python -m benchmark years" in text


def test_years_command_writes_each_year_with_intervals_from_the_runs_scores(store, tmp_path):
    out = tmp_path / "years"
    code = main(["years", "--tracking-uri", store["uri"], "--experiment", EXPERIMENT,
                 "--out-dir", str(out), "--resamples", "200"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["dcase2023.md", "leaderboard.md"]
    text = (out / "dcase2023.md").read_text()
    assert "# DCASE 2023 Task 2: official scores" in text
    ci = official_interval(store["scores"][0], "dcase2023", resamples=200)
    idnn = next(line for line in text.splitlines() if line.startswith("| `idnn`"))
    expected = (f"{100 * ci['official']['estimate']:.2f} [{100 * ci['official']['low']:.2f}, "
                f"{100 * ci['official']['high']:.2f}]")
    assert expected in idnn  # one seed: the estimate and its interval
    per_type = text.split("per machine type")[1]
    assert "| `idnn`" in per_type and "fan" in per_type and "valve" in per_type
    fan = official_metrics(store["scores"][0], "dcase2023")["per_type"]["fan"]
    assert f"{100 * fan['auc_source']:.2f}" in per_type
    assert "Evaluation set" not in text  # no run logged eval_scores.csv


def test_years_command_names_a_missing_store(tmp_path, capsys):
    code = main(["years", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}",
                 "--out-dir", str(tmp_path / "out")])
    assert code == 1
    assert "none.db" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

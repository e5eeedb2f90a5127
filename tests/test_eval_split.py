"""Every model is also scored on the DCASE 2020 evaluation set (split ``eval``) if the data has it.

A tiny data set in the DCASE download's layout (``dev/``, ``additional/``, ``eval/``: 2 types x a
development ID and an evaluation ID) is trained on once with the tiny classifier and MLflow on,
and once without its ``eval/`` clips; the loopback download (fake archives on 127.0.0.1) runs
through to a per-type frame model's eval metrics.
"""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from http_fixtures import dcase_archives, publish, serving
from tiny_models import (
    CLIP_SAMPLES,
    TINY_AE,
    TINY_CLS,
    register_tiny_models,
    tiny_features_params,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.__main__ import main
from benchmark.data.download import prepare_dcase2020
from benchmark.data.index import build_index, check_scorable, write_index
from benchmark.data.layout import clip_relpath
from benchmark.evaluation.metrics import official_score, summarise
from benchmark.features.cache import build_cache, open_cache
from benchmark.train import EVAL_SCORES, SCORE_COLUMNS, train_model

TYPES = ("fan", "slider")
DEV_ID, EVAL_ID = "id_00", "id_01"  # id_01: an ID of the additional training / evaluation set
EVAL_CLIPS = 4  # per (type, eval ID): 2 normal + 2 anomalous
MEAN_KEYS = {"auc", "pauc", "auc_hmean", "pauc_hmean"}


def _write_clip(path: Path, anomalous: bool) -> None:
    """A 0.5-s clip of noise (a loud 3-kHz tone on top when anomalous), drawn from its path."""
    rng = np.random.default_rng(zlib.crc32(path.as_posix().encode()))
    wave = rng.normal(0.0, 0.05, CLIP_SAMPLES)
    if anomalous:
        wave += 0.5 * np.sin(2 * np.pi * 3000 * np.arange(CLIP_SAMPLES) / 16000)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, 16000, subtype="PCM_16")


def _clip_sets(with_eval: bool) -> list[tuple[str, str, str, str, int]]:
    """(folder, split, label, ID, count) of each type's clips."""
    clips = [("dev", "train", "normal", DEV_ID, 4), ("dev", "test", "normal", DEV_ID, 2),
             ("dev", "test", "anomaly", DEV_ID, 2), ("additional", "train", "normal", EVAL_ID, 4)]
    if with_eval:
        clips += [("eval", "test", "normal", EVAL_ID, 2), ("eval", "test", "anomaly", EVAL_ID, 2)]
    return clips


def _make_cache(base: Path, with_eval: bool) -> Path:
    """The tiny data set under ``base/raw`` (index.csv beside it) and its feature cache."""
    root = base / "raw"
    for machine_type in TYPES:
        for folder, split, label, machine_id, count in _clip_sets(with_eval):
            for number in range(count):
                relpath = clip_relpath(machine_type, split, label, machine_id, number)
                _write_clip(root / folder / relpath, label == "anomaly")
    write_index(build_index(root, TYPES), root / "index.csv")
    return build_cache(tiny_features_params(base))


def _train(base: Path, features: Path, name: str = TINY_CLS, **model: object):
    """Train ``name`` with MLflow on (a SQLite store and artifacts under ``base``)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DVC_ROOT", str(base))
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        train = tiny_train_params(base, features, mlflow=True)
        return train_model(name, train, tiny_model_params(**model))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One run on data with an eval split, one on the same data without its eval clips."""
    register_tiny_models()
    with_base, without_base = tmp_path_factory.mktemp("eval"), tmp_path_factory.mktemp("dev")
    with_cache, without_cache = _make_cache(with_base, True), _make_cache(without_base, False)
    return SimpleNamespace(
        base=with_base, cache=open_cache(with_cache), out=_train(with_base, with_cache),
        dev_base=without_base, dev_cache=without_cache, dev=_train(without_base, without_cache))


def _per_id(out) -> dict:
    return json.loads((out.metrics_path.parents[1] / "per_id" / out.metrics_path.name)
                      .read_text())


def test_the_eval_split_is_scored_and_summarised(runs):
    section = runs.out.metrics["eval"]
    assert section == json.loads(runs.out.metrics_path.read_text())["eval"]
    assert set(section) == {"clips", "mean", "per_type"}
    assert section["clips"] == len(TYPES) * EVAL_CLIPS == len(runs.cache.split("eval"))
    assert set(section["per_type"]) == set(TYPES)
    assert set(section["mean"]) == MEAN_KEYS | {"official"}
    mean = section["mean"]
    assert mean["official"] == pytest.approx((mean["auc"] + mean["pauc"]) / 2)
    values = [*mean.values()] + [v for t in section["per_type"].values() for v in t.values()]
    assert all(0.0 <= v <= 1.0 for v in values)
    eval_scores = pd.read_csv(runs.out.model_dir / EVAL_SCORES, dtype={"machine_id": str})
    assert list(eval_scores.columns) == SCORE_COLUMNS
    assert len(eval_scores) == section["clips"]
    assert set(eval_scores["machine_id"]) == {EVAL_ID}
    assert all(Path(p).parts[0] == "eval" for p in eval_scores["path"])  # relative paths
    assert summarise(eval_scores)["mean"] == {k: mean[k] for k in MEAN_KEYS}


def test_the_per_id_detail_has_the_eval_ids(runs):
    detail = _per_id(runs.out)
    assert set(detail) == {"model", "seed", "per_id", "eval"}
    assert set(detail["eval"]) == {"per_id"}
    assert {t: set(ids) for t, ids in detail["eval"]["per_id"].items()} == {
        t: {EVAL_ID} for t in TYPES}
    assert {t: set(ids) for t, ids in detail["per_id"].items()} == {t: {DEV_ID} for t in TYPES}
    by_id = detail["eval"]["per_id"]["fan"][EVAL_ID]
    assert by_id == runs.out.metrics["eval"]["per_type"]["fan"]  # one eval ID per type
    assert "per_id" not in runs.out.metrics["eval"]  # the DVC metric stays compact


def test_without_an_eval_split_the_outputs_are_the_development_ones(runs):
    dev = json.loads(runs.dev.metrics_path.read_text())
    assert set(dev) == {"model", "data_source", "dataset", "epochs", "seed", "num_train_clips",
                            "mean",
                        "per_type"}
    assert set(_per_id(runs.dev)) == {"model", "seed", "per_id"}
    assert not (runs.dev.model_dir / EVAL_SCORES).exists()
    # the same training clips: the eval split changes none of the development figures
    with_eval = json.loads(runs.out.metrics_path.read_text())
    assert {k: v for k, v in with_eval.items() if k != "eval"} == dev
    assert _per_id(runs.out)["per_id"] == _per_id(runs.dev)["per_id"]


def test_a_rerun_without_an_eval_split_removes_a_stale_eval_scores_csv(runs, caplog):
    """``models/NAME`` persists between runs: an earlier run's eval scores must not survive."""
    stale = runs.dev.model_dir / EVAL_SCORES
    stale.write_text("path,machine_type,machine_id,label,score\n")
    train = tiny_train_params(runs.dev_base, runs.dev_cache)  # the same run, resumed at its end
    with caplog.at_level(logging.INFO, logger="benchmark.train"):
        out = train_model(TINY_CLS, train, tiny_model_params())
    assert f"{TINY_CLS}: scored 16 train + 8 test (+ 0 eval) clips" in caplog.text
    assert out.model_dir == runs.dev.model_dir and not stale.exists()
    assert out.metrics == runs.dev.metrics


def test_the_eval_metrics_and_scores_are_logged_to_mlflow(runs):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{runs.base / 'mlflow.db'}")
    run = client.get_run(runs.out.mlflow_run_id)
    section, logged = runs.out.metrics["eval"], run.data.metrics
    expected = {"eval_auc_mean": section["mean"]["auc"], "eval_pauc_mean": section["mean"]["pauc"],
                **{f"eval_{k}": section["mean"][k] for k in ("auc_hmean", "pauc_hmean",
                                                              "official")}}
    for machine_type, values in section["per_type"].items():
        expected |= {f"eval_auc_{machine_type}": values["auc"],
                     f"eval_pauc_{machine_type}": values["pauc"]}
    assert {k: logged[k] for k in expected} == pytest.approx(expected)
    assert logged["auc_mean"] == pytest.approx(runs.out.metrics["mean"]["auc"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"scores.csv", EVAL_SCORES, "roc.png"} <= artifacts
    contexts = {i.dataset.name: {t.key: t.value for t in i.tags}["mlflow.data.context"]
                for i in run.inputs.dataset_inputs}
    source = runs.cache.data_source
    assert contexts == {f"{source}-{s}": s for s in ("train", "test", "eval")}
    dev_client = MlflowClient(f"sqlite:///{runs.dev_base / 'mlflow.db'}")
    dev_run = dev_client.get_run(runs.dev.mlflow_run_id)
    assert "auc_mean" in dev_run.data.metrics
    assert not [k for k in dev_run.data.metrics if k.startswith("eval_")]
    assert sorted(i.dataset.name for i in dev_run.inputs.dataset_inputs) == [
        f"{source}-test", f"{source}-train"]
    assert EVAL_SCORES not in {a.path for a in dev_client.list_artifacts(runs.dev.mlflow_run_id)}


def test_an_eval_clip_is_decided_with_its_own_id_s_threshold(runs, tmp_path):
    """``benchmark score`` on ``.../eval/fan/test/<label>_id_01_N.wav``: the fan/id_01 threshold."""
    clip = runs.base / "raw" / "eval" / clip_relpath("fan", "test", "normal", EVAL_ID, 1)
    out = tmp_path / "scored.csv"
    models_dir = runs.out.model_dir.parents[1]
    assert main(["score", "--model", TINY_CLS, "--models-dir", str(models_dir), str(clip),
                 "--out", str(out)]) == 0
    row = pd.read_csv(out, dtype={"machine_id": str}).iloc[0]
    assert (row["machine_type"], row["machine_id"]) == ("fan", EVAL_ID)
    train_scores = pd.read_csv(runs.out.model_dir / "train_scores.csv", dtype={"machine_id": str})
    by_id = {i: np.percentile(g["score"], 90) for i, g in
             train_scores[train_scores["machine_type"] == "fan"].groupby("machine_id")}
    assert by_id[EVAL_ID] != pytest.approx(by_id[DEV_ID])  # the IDs' thresholds differ
    assert row["threshold"] == pytest.approx(by_id[EVAL_ID])
    eval_scores = pd.read_csv(runs.out.model_dir / EVAL_SCORES).set_index("path")
    relpath = clip.relative_to(runs.base / "raw").as_posix()  # as the cache names it
    assert row["score"] == pytest.approx(eval_scores.loc[relpath, "score"], abs=1e-5)


def test_an_eval_split_no_model_can_score_is_refused_before_training(runs):
    cache = open_cache(runs.cache.root)
    index = cache.index
    eval_rows = index["split"] == "eval"
    index.loc[eval_rows & (index["machine_type"] == "fan"), "label"] = "normal"
    slider_training = ((index["split"] == "train") & (index["machine_type"] == "slider")
                       & (index["machine_id"] == EVAL_ID))
    with pytest.raises(ValueError) as info:
        check_scorable(index[~slider_training], "eval", str(cache.root / "index.csv"))
    message = str(info.value)
    assert str(cache.root / "index.csv") in message
    assert f"without training clips: slider/{EVAL_ID}" in message
    assert "additional_train" in message
    assert f"without anomaly eval clips: fan/{EVAL_ID}" in message
    check_scorable(runs.cache.index, "eval", "index.csv")  # the real one is fine


def test_the_official_score_is_the_dcase_2020_rule():
    summary = {"per_id": {"fan": {"id_01": {"auc": 0.9, "pauc": 0.7},
                                  "id_03": {"auc": 0.5, "pauc": 0.5}},
                          "valve": {"id_01": {"auc": 0.6, "pauc": 0.4}}},
               "per_type": {"fan": {"auc": 0.7, "pauc": 0.6}, "valve": {"auc": 0.6, "pauc": 0.4}}}
    assert official_score(summary) == pytest.approx(0.575)  # fan 0.65, valve 0.5
    assert official_score({"per_type": summary["per_type"]}) == pytest.approx(0.575)
    with pytest.raises(ValueError, match="DCASE 2021"):
        official_score(summary, year=2021)
    with pytest.raises(ValueError, match="per_type"):
        official_score({"mean": {}})


def test_the_loopback_download_is_scored_on_its_eval_ids(data_params, tmp_path, caplog):
    """Fake DCASE archives on 127.0.0.1 (additional training + evaluation set) -> prepare ->
    features -> a per-type frame model -> eval metrics of the evaluation IDs."""
    register_tiny_models()
    with serving() as server:
        archives = {}
        for machine_type in ("fan", "valve"):
            archives |= dcase_archives(machine_type, DEV_ID, EVAL_ID, clip_samples=CLIP_SAMPLES)
        md5s = publish(server, archives)
        params = data_params(source="dcase2020", machine_types=["fan", "valve"], dcase2020={
            "base_url": server.url, "ground_truth_url": f"{server.url}/gt/eval_data_list.csv",
            "additional_train": True, "eval_test": True})
        index = prepare_dcase2020(params, md5s=md5s)
    features = build_cache(tiny_features_params(tmp_path, index=str(index)))
    with caplog.at_level(logging.INFO, logger="benchmark.train"):
        out = train_model(TINY_AE, tiny_train_params(tmp_path, features),
                          tiny_model_params(scope="per_type", mixup_alpha=0.0, loss="mse"))
    assert f"{TINY_AE}: scored 6 train + 4 test (+ 4 eval) clips" in caplog.text
    section = out.metrics["eval"]
    assert section["clips"] == 4 and set(section["per_type"]) == {"fan", "valve"}
    assert section["mean"]["official"] == pytest.approx(
        (section["mean"]["auc"] + section["mean"]["pauc"]) / 2)
    detail = _per_id(out)["eval"]["per_id"]
    assert {t: set(ids) for t, ids in detail.items()} == {"fan": {EVAL_ID}, "valve": {EVAL_ID}}
    eval_scores = pd.read_csv(out.model_dir / EVAL_SCORES, dtype={"machine_id": str})
    assert sorted(eval_scores["label"]) == ["anomaly", "anomaly", "normal", "normal"]
    assert np.isfinite(eval_scores["score"]).all()

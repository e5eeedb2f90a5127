"""The ``score@NAME-K`` stage on real tiny training runs: what training writes for it
(``embeddings.npz``), the ``loss`` backend bit for bit against the training metrics, kNN and
the cross-fitted training scores against direct computations, the frame models' residuals, the
``scoring`` params' errors and the MLflow metrics in the training run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import (
    TINY_AE,
    TINY_CLS,
    make_tiny_cache,
    register_tiny_models,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.config import ConfigError, from_dict, load_section
from benchmark.evaluation.scores import clip_outputs
from benchmark.features.cache import open_cache
from benchmark.scoring import stage
from benchmark.scoring.params import ScoringParams
from benchmark.train import EMBEDDINGS, train_model
from benchmark.training.checkpoint import load_trained

ROOT = Path(__file__).resolve().parents[1]


def scoring_params(root: Path, **overrides) -> ScoringParams:
    """The real ``scoring`` section, pointed at ``root``, with 2 folds of the 4 tiny references."""
    section = load_section("scoring", ScoringParams, ROOT / "params.yaml")
    backends = {name: dict(entry) for name, entry in section.backends.items()}
    backends["knn_density"]["density_k"] = 1  # < the 2 references per fold
    values = {"models_dir": str(root / "models"), "reports_dir": str(root / "reports"),
              "threshold_folds": 2, "backends": backends, **overrides}
    return from_dict(ScoringParams, values, "scoring")


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    register_tiny_models()
    return make_tiny_cache(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def runs(features, tmp_path_factory) -> Path:
    """One tiny classifier and one tiny per-type autoencoder run, trained for real."""
    root = tmp_path_factory.mktemp("runs")
    train = tiny_train_params(root, features)
    train_model(TINY_CLS, train, tiny_model_params(epochs=1))
    train_model(TINY_AE, train, tiny_model_params(epochs=1, batch_size=64, mixup_alpha=0.0,
                                                  scope="per_type", loss="mse",
                                                  weight_decay=0.0, optimizer="adam"))
    return root


@pytest.fixture(scope="module")
def scored(runs) -> dict[str, tuple[stage.StageOutputs, stage.BackendScores]]:
    return {name: stage.score_stage(name, 0, scoring_params(runs)) for name in (TINY_CLS, TINY_AE)}


def read_scores(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"machine_id": str})


@pytest.mark.parametrize("name", [TINY_CLS, TINY_AE])
def test_loss_backend_is_bit_identical_to_the_training_metrics(runs, scored, name):
    outputs, _ = scored[name]
    metrics = json.loads((runs / "reports" / "metrics" / f"{name}-seed0.json").read_text())
    loss = outputs.metrics["backends"]["loss"]
    assert loss["mean"] == metrics["mean"] and loss["per_type"] == metrics["per_type"]
    per_id = json.loads((runs / "reports" / "per_id" / f"{name}-seed0.json").read_text())
    detail = json.loads((runs / "reports" / "backends" / "per_id" / f"{name}-seed0.json")
                        .read_text())
    assert detail["backends"]["loss"]["per_id"] == per_id["per_id"]
    own = read_scores(runs / "models" / name / "seed-0" / "scores.csv")
    test = read_scores(outputs.scores_dir / "test.csv")
    assert test["path"].tolist() == own["path"].tolist()
    assert np.array_equal(test["loss"].to_numpy(), own["score"].to_numpy())
    assert outputs.metrics["data_source"] == "synthetic" and outputs.metrics["epochs"] == 1


def test_embeddings_are_the_head_input_of_the_trained_model(runs, features):
    run = runs / "models" / TINY_CLS / "seed-0"
    with np.load(run / EMBEDDINGS) as npz:
        arrays = dict(npz)
    test = read_scores(run / "scores.csv")
    assert arrays["test_path"].tolist() == test["path"].tolist()
    assert arrays["test_embedding"].shape == (len(test), 8)  # TinyClassifier h = 8
    assert "test_residual" not in arrays
    trained = load_trained(run)
    cache = open_cache(features)
    rows = cache.split("test")
    again = clip_outputs(trained.model, trained.spec, cache.waves(rows["row"].to_numpy()),
                         torch.tensor(rows["class_index"].to_numpy()))
    np.testing.assert_allclose(again.embedding, arrays["test_embedding"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.score, test["score"], rtol=1e-5)


def unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_knn_is_the_cosine_distance_to_the_nearest_reference_of_the_id(runs, scored):
    outputs, _ = scored[TINY_CLS]
    run = runs / "models" / TINY_CLS / "seed-0"
    with np.load(run / EMBEDDINGS) as npz:
        train, test_x = unit(npz["train_embedding"]), unit(npz["test_embedding"])
    train_ids = stage.id_groups(read_scores(run / "train_scores.csv"))
    table = read_scores(outputs.scores_dir / "test.csv")
    test_ids = stage.id_groups(table)
    expected = [np.min(1 - train[train_ids == g] @ x) for x, g in zip(test_x, test_ids,
                                                                      strict=True)]
    np.testing.assert_allclose(table["knn"], expected, rtol=1e-6, atol=1e-9)


def test_cross_fitted_training_scores_never_use_the_clip_itself(runs, scored):
    outputs, _ = scored[TINY_CLS]
    run = runs / "models" / TINY_CLS / "seed-0"
    with np.load(run / EMBEDDINGS) as npz:
        train = unit(npz["train_embedding"])
    ids = stage.id_groups(read_scores(run / "train_scores.csv"))
    fold = pd.Series(ids).groupby(ids).cumcount().to_numpy() % 2
    expected = [np.min(1 - train[(ids == g) & (fold != f)] @ x)
                for x, g, f in zip(train, ids, fold, strict=True)]
    table = read_scores(outputs.scores_dir / "train.csv")
    np.testing.assert_allclose(table["knn"], expected, rtol=1e-6, atol=1e-9)
    assert (table["knn"] > 1e-6).all()  # no clip is its own nearest reference
    own = read_scores(run / "train_scores.csv")
    assert np.array_equal(table["loss"].to_numpy(), own["score"].to_numpy())


def test_frame_model_has_residuals_and_the_classifier_skips_them(runs, scored):
    ae, ae_result = scored[TINY_AE]
    with np.load(runs / "models" / TINY_AE / "seed-0" / EMBEDDINGS) as npz:
        assert npz["train_residual"].shape[1] == 640 and npz["train_embedding"].shape[1] == 4
    assert "selective_mahalanobis" in ae.metrics["backends"] and not ae.metrics["skipped"]
    assert ae.metrics["backends"]["selective_mahalanobis"]["input"] == "residual"
    cls, cls_result = scored[TINY_CLS]
    assert set(cls.metrics["skipped"]) == {"selective_mahalanobis"}
    assert "residual" in cls.metrics["skipped"]["selective_mahalanobis"]
    assert "selective_mahalanobis" not in cls_result.tables["test"].columns
    saved = json.loads((cls.scores_dir / "backends.json").read_text())
    assert list(saved["backends"]) == ["loss", "knn", "knn_density", "kmeans", "mahalanobis"]
    assert saved["threshold_folds"] == 2


def test_every_output_file_is_written(runs, scored):
    outputs, _ = scored[TINY_AE]
    assert sorted(p.name for p in outputs.scores_dir.iterdir()) == [
        "backends.json", "test.csv", "train.csv"]  # no eval split in the tiny cache
    roc = pd.read_csv(runs / "reports" / "backends" / "roc" / f"{TINY_AE}-seed0.csv")
    assert list(roc.columns) == ["backend", "machine_type", "fpr", "tpr"]
    assert roc["backend"].unique().tolist() == list(outputs.metrics["backends"])
    board = json.loads(outputs.metrics_path.read_text())
    assert board["model"] == TINY_AE and set(board["backends"]["knn"]) == {
        "backend", "input", "params", "mean", "per_type"}


def test_mlflow_names_of_the_backend_metrics(scored):
    outputs, _ = scored[TINY_CLS]
    names = stage.mlflow_metrics(outputs.metrics["backends"])
    assert {"knn_auc_mean", "knn_pauc_mean", "knn_auc_hmean", "loss_auc_mean",
            "mahalanobis_pauc_fan", "kmeans_auc_slider"} <= set(names)
    assert names["loss_auc_mean"] == outputs.metrics["backends"]["loss"]["mean"]["auc"]


def test_the_backend_metrics_land_in_the_training_runs_mlflow_run(features, tmp_path):
    from mlflow import MlflowClient

    train = tiny_train_params(tmp_path, features, mlflow=True)
    out = train_model(TINY_CLS, train, tiny_model_params(epochs=1))
    outputs, _ = stage.score_stage(TINY_CLS, 0, scoring_params(tmp_path))
    stage.track(outputs, out.model_dir, True, train.mlflow_tracking_uri, train.mlflow_experiment)
    client = MlflowClient(train.mlflow_tracking_uri)
    run = client.get_run(out.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["knn_auc_mean"] == outputs.metrics["backends"]["knn"]["mean"]["auc"]
    assert run.data.metrics["loss_auc_mean"] == run.data.metrics["auc_mean"]
    assert run.data.tags["scoring_backends"] == "loss,knn,knn_density,kmeans,mahalanobis"
    artifacts = [a.path for a in client.list_artifacts(out.mlflow_run_id, "backends")]
    assert artifacts == ["backends/test.csv", f"backends/{TINY_CLS}-seed0.json"] or sorted(
        artifacts) == sorted(["backends/test.csv", f"backends/{TINY_CLS}-seed0.json"])


def test_a_run_trained_before_embeddings_says_how_to_fix_it(runs, tmp_path):
    import shutil

    copy = tmp_path / "models" / TINY_CLS / "seed-0"
    shutil.copytree(runs / "models" / TINY_CLS / "seed-0", copy)
    (copy / EMBEDDINGS).unlink()
    with pytest.raises(FileNotFoundError, match=rf"embeddings.npz: missing.*dvc repro --force "
                                                rf"train@{TINY_CLS}-0"):
        stage.read_run(copy)


def test_too_many_folds_for_the_references_are_named(runs):
    params = scoring_params(runs, threshold_folds=4)
    params.backends["knn_density"]["density_k"] = 3  # fits the 4 references, not 3 of them
    with pytest.raises(ConfigError, match="scoring.threshold_folds: 4 folds leave too few "
                                          "reference clips per ID for scoring.backends."
                                          "knn_density"):
        stage.score_stage(TINY_CLS, 0, params)


def bad_params(**entries) -> dict:
    return {"models_dir": "m", "reports_dir": "r", "threshold_folds": 2,
            "backends": {"loss": {"backend": "loss", "input": "score"}, **entries}}


@pytest.mark.parametrize(("entries", "folds", "message"), [
    ({"knn": {"backend": "knn", "input": "embedding", "k": 1}}, 2,
     "missing key 'scoring.backends.knn.density_k'"),
    ({"knn": {"backend": "knn", "input": "embedding", "k": 1, "density_k": 0, "n": 2}}, 2,
     "unknown key 'scoring.backends.knn.n'"),
    ({"knn": {"backend": "nearest", "input": "embedding"}}, 2,
     r"'scoring.backends.knn.backend' must be one of \['loss', 'knn'"),
    ({"knn": {"backend": "knn", "input": "logits", "k": 1, "density_k": 0}}, 2,
     "'scoring.backends.knn.input' must be one of"),
    ({"knn": {"backend": "knn", "input": "score", "k": 1, "density_k": 0}}, 2,
     "'scoring.backends.knn.input': knn reads embeddings"),
    ({"knn": {"backend": "knn", "input": "embedding", "k": 0, "density_k": 0}}, 2,
     "scoring.backends.knn: knn: k must be an int >= 1, got 0"),
    ({"Knn-2": {"backend": "knn", "input": "embedding", "k": 1, "density_k": 0}}, 2,
     "'scoring.backends.Knn-2': a backend name must be a lower-case identifier"),
    ({"score": {"backend": "loss", "input": "score"}}, 2, "none of"),
    ({}, 1, "'scoring.threshold_folds' must be 0 .* or >= 2, got 1"),
])
def test_bad_scoring_params_are_named(entries, folds, message):
    values = bad_params(**entries)
    values["threshold_folds"] = folds
    with pytest.raises(ConfigError, match=message):
        from_dict(ScoringParams, values, "scoring")


def test_the_real_params_and_the_paper_profile_load():
    from benchmark.config import read_params
    from benchmark.profiles import merge, read_profile

    section = load_section("scoring", ScoringParams, ROOT / "params.yaml")
    assert [c.name for c in section.configs()][0] == "loss"
    paper = merge(read_params(ROOT / "params.yaml"), read_profile("paper", ROOT / "profiles"))
    profile = from_dict(ScoringParams, paper["scoring"], "scoring")
    assert profile.config("kmeans").params["n_clusters"] == 16
    assert paper["train"]["train_score_clips_per_class"] == 0  # every training clip: the refs


def test_the_stage_constants_match_the_training_stage():
    from benchmark.training.tracking import RUN_FILE

    assert stage.EMBEDDINGS == EMBEDDINGS and stage.RUN_FILE == RUN_FILE

"""``python -m benchmark score --backend BACKEND``: a scoring backend fitted on the run's
reference embeddings scores new recordings, with the thresholds of its cross-fitted training
scores (``models/NAME/scores-seed-K/train.csv``).

One tiny synthetic data set; a tiny classifier and the IDNN (a frame model, with residuals) are
trained on it and scored by the scoring stage once per module.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from tiny_models import (
    TINY_CLS,
    make_tiny_cache,
    register_tiny_models,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.__main__ import main
from benchmark.config import from_dict
from benchmark.data.audio import load_clip_with_length
from benchmark.evaluation.scores import clip_outputs
from benchmark.score import OUTPUT_COLUMNS, input_format
from benchmark.scoring.params import ScoringParams
from benchmark.scoring.stage import score_stage
from benchmark.train import train_model
from benchmark.training.checkpoint import load_trained

FRAME = {"epochs": 2, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.0, "optimizer": "adam",
         "eta_min_ratio": 1.0, "mixup_alpha": 0.0, "scope": "per_type", "validation_split": 0.1,
         "loss": "mse"}
BACKENDS = {
    "loss": {"backend": "loss", "input": "score"},
    "knn": {"backend": "knn", "input": "embedding", "k": 1, "density_k": 0},
    "mahalanobis": {"backend": "mahalanobis", "input": "embedding", "shrinkage": "ledoit_wolf",
                    "location": "mean"},
    "selective_mahalanobis": {"backend": "selective_mahalanobis", "input": "residual",
                              "shrinkage": "ledoit_wolf", "location": "zero"},
}


def _params_file(path: Path, root: Path, backends: dict) -> Path:
    section = {"models_dir": str(root / "models"), "reports_dir": str(root / "reports"),
               "threshold_folds": 2, "backends": backends}
    path.write_text(yaml.safe_dump({"scoring": section}))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Both models trained (4 reference clips per ID) and scored by every backend."""
    root = tmp_path_factory.mktemp("backends")
    register_tiny_models()
    features = make_tiny_cache(root)
    train = tiny_train_params(root, features)
    train_model(TINY_CLS, train, tiny_model_params(epochs=1))
    train_model("idnn", train, tiny_model_params(**FRAME))
    params_path = _params_file(root / "params.yaml", root, BACKENDS)
    params = from_dict(ScoringParams, yaml.safe_load(params_path.read_text())["scoring"],
                       "scoring")
    for model in (TINY_CLS, "idnn"):
        score_stage(model, 0, params)
    return SimpleNamespace(root=root, models=root / "models", params=params_path,
                           raw=root / "raw")


def _score(tiny: SimpleNamespace, out: Path, *args: str, model: str = TINY_CLS,
           models: Path | None = None) -> int:
    return main(["score", "--model", model, "--models-dir", str(models or tiny.models),
                 "--params", str(tiny.params), "--out", str(out), *args])


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"machine_id": str})


def _test_clips(tiny: SimpleNamespace) -> list[str]:
    return sorted(str(p) for p in tiny.raw.glob("*/test/*.wav"))


def _stage_table(tiny: SimpleNamespace, model: str, split: str) -> pd.DataFrame:
    return _read(tiny.models / model / "scores-seed-0" / f"{split}.csv")


def _copy_run(tiny: SimpleNamespace, tmp_path: Path) -> Path:
    """A copy of the classifier's models/NAME (run and scores) to change."""
    models = tmp_path / "models"
    shutil.copytree(tiny.models / TINY_CLS, models / TINY_CLS)
    return models


def test_backend_loss_is_the_default_and_reads_no_params(tiny, tmp_path):
    default, loss = tmp_path / "default.csv", tmp_path / "loss.csv"
    clips = _test_clips(tiny)
    assert main(["score", "--model", TINY_CLS, "--models-dir", str(tiny.models),
                 "--out", str(default), *clips]) == 0
    assert main(["score", "--model", TINY_CLS, "--models-dir", str(tiny.models), "--backend",
                 "loss", "--params", str(tmp_path / "absent.yaml"), "--out", str(loss),
                 *clips]) == 0
    assert loss.read_bytes() == default.read_bytes()
    table = _read(default)
    train_scores = _read(tiny.models / TINY_CLS / "seed-0" / "train_scores.csv")
    first = table.iloc[0]
    own = train_scores[train_scores["machine_id"] == first["machine_id"]]
    own = own[own["machine_type"] == first["machine_type"]]
    assert first["threshold"] == pytest.approx(np.percentile(own["score"], 90))


def _knn_by_hand(tiny: SimpleNamespace, paths: list[str]) -> np.ndarray:
    """1 - the largest cosine similarity of each file's embedding (computed here, one clip at a
    time) to the reference embeddings of its (type, ID) in embeddings.npz."""
    run = tiny.models / TINY_CLS / "seed-0"
    trained = load_trained(run)
    reference = _read(run / "train_scores.csv")
    with np.load(run / "embeddings.npz") as npz:
        assert (npz["train_path"] == reference["path"].to_numpy(str)).all()
        embeddings = npz["train_embedding"].astype(np.float64)
    rate, samples = input_format(trained)
    expected = []
    for path in paths:
        machine_type, machine_id = Path(path).parts[-3], "_".join(Path(path).stem.split("_")[1:3])
        wave, _ = load_clip_with_length(Path(path), sample_rate=rate, num_samples=samples)
        target = torch.tensor([trained.class_to_index[(machine_type, machine_id)]])
        emb = clip_outputs(trained.model, trained.spec, torch.from_numpy(wave)[None],
                           target).embedding[0].astype(np.float64)
        rows = ((reference["machine_type"] == machine_type)
                & (reference["machine_id"] == machine_id)).to_numpy()
        refs = embeddings[rows]
        cos = refs @ emb / (np.linalg.norm(refs, axis=1) * np.linalg.norm(emb))
        expected.append(1.0 - cos.max())
    return np.array(expected)


def test_knn_scores_are_cosine_distances_to_the_ids_references(tiny, tmp_path, caplog):
    reference_clip = tiny.raw / "fan" / "train" / "normal_id_02_00000001.wav"
    copied = tmp_path / "new" / "fan" / "test" / "normal_id_02_00000099.wav"
    copied.parent.mkdir(parents=True)
    shutil.copy(reference_clip, copied)
    clips = [*_test_clips(tiny), str(copied)]
    out = tmp_path / "knn.csv"
    with caplog.at_level(logging.INFO, logger="benchmark"):
        assert _score(tiny, out, "--backend", "knn", *clips) == 0
    assert any("backend knn" in r.getMessage() for r in caplog.records)
    table = _read(out)
    assert list(table.columns) == OUTPUT_COLUMNS and table["path"].tolist() == clips
    np.testing.assert_allclose(table["score"], _knn_by_hand(tiny, clips), rtol=1e-3, atol=1e-7)
    others = table["score"].to_numpy()[:-1]
    assert table["score"].iloc[-1] < 1e-3 * np.median(others)  # a reference clip: its own NN
    stage = _stage_table(tiny, TINY_CLS, "test").set_index("path")["knn"]  # the stage agrees
    names = ["/".join(Path(p).parts[-3:]) for p in clips[:-1]]
    np.testing.assert_allclose(others, stage.loc[names], rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("backend", ["knn", "mahalanobis"])
def test_thresholds_are_percentiles_of_the_backends_cross_fitted_scores(tiny, tmp_path,
                                                                        backend):
    clips = _test_clips(tiny)
    train = _stage_table(tiny, TINY_CLS, "train")
    for args, group, pct in (((), ["machine_type", "machine_id"], 90),
                             (("--percentile", "50", "--scope", "type"), ["machine_type"], 50)):
        out = tmp_path / "scored.csv"
        assert _score(tiny, out, "--backend", backend, *args, *clips) == 0
        table = _read(out)
        expected = train.groupby(group)[backend].quantile(pct / 100)
        keys = [tuple(row) if len(group) > 1 else row[0] for row in table[group].to_numpy()]
        np.testing.assert_allclose(table["threshold"], expected.loc[keys].to_numpy(), rtol=1e-12)
        assert (table["threshold"] > 0).all()  # knn fitted on the clips themselves: all 0
        assert (table["decision"] == np.where(table["score"] > table["threshold"], "anomalous",
                                              "normal")).all()
    assert train[backend].nunique() > 4  # thresholds that differ per ID and percentile
    out = tmp_path / "fixed.csv"
    assert _score(tiny, out, "--backend", backend, "--threshold", "7.5", *clips) == 0
    assert (_read(out)["threshold"] == 7.5).all()


def test_the_configuration_that_scored_the_run_wins_with_a_warning(tiny, tmp_path, caplog):
    clips = _test_clips(tiny)
    as_run, changed = tmp_path / "as_run.csv", tmp_path / "changed.csv"
    assert _score(tiny, as_run, "--backend", "knn", *clips) == 0
    other = _params_file(tmp_path / "params.yaml", tiny.root,
                         {**BACKENDS, "knn": {**BACKENDS["knn"], "k": 3}})
    with caplog.at_level(logging.WARNING, logger="benchmark.score"):
        assert main(["score", "--model", TINY_CLS, "--models-dir", str(tiny.models), "--params",
                     str(other), "--backend", "knn", "--out", str(changed), *clips]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("scoring.backends.knn" in w and "'k': 3" in w and "'k': 1" in w
               and "using the run's" in w for w in warnings)
    assert changed.read_bytes() == as_run.read_bytes()  # k = 1, as the stage scored


def test_skipped_and_unknown_backends_name_the_valid_choices(tiny, tmp_path, capsys):
    clips = _test_clips(tiny)
    out = tmp_path / "x.csv"
    assert _score(tiny, out, "--backend", "selective_mahalanobis", *clips) == 2
    err = capsys.readouterr().err
    assert "selective_mahalanobis was skipped" in err and "residual" in err
    assert "valid choices for this model" in err and "loss, knn, mahalanobis" in err
    assert _score(tiny, out, "--backend", "nope", *clips) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'nope'" in err and err.rstrip().endswith("loss, knn, mahalanobis")
    assert not out.exists()


def test_missing_cross_fitted_scores_ask_for_a_threshold(tiny, tmp_path, capsys):
    models = _copy_run(tiny, tmp_path)
    (models / TINY_CLS / "scores-seed-0" / "train.csv").unlink()  # threshold_folds: 0
    clips = _test_clips(tiny)
    out = tmp_path / "x.csv"
    assert _score(tiny, out, "--backend", "knn", *clips, models=models) == 2
    err = capsys.readouterr().err
    assert "train.csv not found" in err and "--threshold" in err
    assert "scoring.threshold_folds" in err and "dvc repro" in err
    assert _score(tiny, out, "--backend", "knn", "--threshold", "0.5", *clips,
                  models=models) == 0
    assert len(_read(out)) == len(clips)


def test_a_clip_without_reference_clips_is_a_per_file_error(tiny, tmp_path, capsys):
    """slider/id_02 is known to the model but left out of the reference set; fan/id_04 is
    unknown to the model: both named, the other clips still scored."""
    models = _copy_run(tiny, tmp_path)
    run = models / TINY_CLS / "seed-0"
    reference = _read(run / "train_scores.csv")
    keep = ~((reference["machine_type"] == "slider") & (reference["machine_id"] == "id_02"))
    reference[keep].to_csv(run / "train_scores.csv", index=False)
    with np.load(run / "embeddings.npz") as npz:
        arrays = {k: npz[k][keep.to_numpy()] if k.startswith("train_") else npz[k]
                  for k in npz.files}
    np.savez(run / "embeddings.npz", **arrays)
    unknown = tmp_path / "new" / "fan" / "test" / "normal_id_04_00000000.wav"
    unknown.parent.mkdir(parents=True)
    shutil.copy(tiny.raw / "fan" / "test" / "normal_id_00_00000000.wav", unknown)
    clips = _test_clips(tiny)
    out = tmp_path / "x.csv"
    assert _score(tiny, out, "--backend", "knn", *clips, str(unknown), models=models) == 1
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("error:")]
    without = [c for c in clips if "slider/test" in c and "_id_02_" in c]
    assert len(errors) == len(without) + 1
    assert all(any(c in e and "slider/id_02 has no reference clips" in e for e in errors)
               for c in without)
    assert any(str(unknown) in e and "fan/id_04 is unknown to model" in e for e in errors)
    table = _read(out)
    assert table["path"].tolist() == [c for c in clips if c not in without]
    np.testing.assert_allclose(table["score"], _knn_by_hand(tiny, table["path"].tolist()),
                               rtol=1e-3, atol=1e-7)


def test_a_frame_models_residual_backend_matches_the_stage(tiny, tmp_path):
    clips = _test_clips(tiny)
    out = tmp_path / "x.csv"
    assert _score(tiny, out, "--backend", "selective_mahalanobis", *clips, model="idnn") == 0
    table = _read(out)
    stage = _stage_table(tiny, "idnn", "test").set_index("path")
    names = ["/".join(Path(p).parts[-3:]) for p in clips]
    # the stage reads the float16 log-Mel cache, the command the waveform
    np.testing.assert_allclose(table["score"], stage.loc[names, "selective_mahalanobis"],
                               rtol=5e-3)
    assert not np.allclose(table["score"], stage.loc[names, "loss"], rtol=0.1)


def test_a_clip_the_backend_refuses_is_a_per_file_error_and_the_batch_still_scores():
    """A non-finite embedding (kNN refuses it) fails its own clip only."""
    from benchmark.evaluation.scores import ClipOutputs
    from benchmark.score import ClipError, FittedBackend, _backend_scores, _Clip
    from benchmark.scoring.backends import create_backend
    from benchmark.scoring.params import BackendConfig

    rng = np.random.default_rng(0)
    refs = rng.normal(size=(6, 3))
    config = BackendConfig("knn", "knn", "embedding", {"k": 1, "density_k": 0})
    fitted = FittedBackend(config, config.create().fit(refs, np.array(["fan/id_00"] * 6)))
    clips = [_Clip(Path(f"fan/test/normal_id_00_0000000{k}.wav"), "fan", "id_00", 0)
             for k in range(3)]
    embedding = rng.normal(size=(3, 3))
    embedding[1, 0] = np.nan
    errors: list[ClipError] = []
    scored = _backend_scores(fitted, ClipOutputs(np.zeros(3), embedding), clips, errors)
    assert [c for c, _ in scored] == [clips[0], clips[2]]
    expected = create_backend("knn", k=1).fit(refs, np.zeros(6)).score(embedding[[0, 2]],
                                                                        np.zeros(2))
    np.testing.assert_allclose([s for _, s in scored], expected)
    assert len(errors) == 1 and errors[0].path == clips[1].path
    assert str(clips[1].path) in errors[0].message and "non-finite" in errors[0].message

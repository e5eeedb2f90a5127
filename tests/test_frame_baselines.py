"""The DCASE 2020 baselines as their authors ran them: the DCASE log-Mel of whole clips in the
cache, one model per machine type, each clip scored by its type's model, Keras' held-out tenth."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from tiny_models import (
    make_tiny_cache,
    tiny_data_params,
    tiny_features_params,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.architectures.per_type import PerTypeModel
from benchmark.architectures.registry import create_model
from benchmark.config import ConfigError, load_section
from benchmark.data.local import prepare_local
from benchmark.evaluation.scores import reconstruction_errors
from benchmark.features.baselines import DcaseLogMel
from benchmark.features.cache import PCM_SCALE, build_cache, open_cache
from benchmark.train import train_model
from benchmark.training.checkpoint import LAST, load_checkpoint, load_trained
from benchmark.training.loop import FrameVectors, make_optimizer
from benchmark.training.params import ModelParams

ROOT = Path(__file__).resolve().parents[1]
FRAME = {"epochs": 2, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.0, "optimizer": "adam",
         "eta_min_ratio": 1.0, "mixup_alpha": 0.0, "scope": "per_type", "validation_split": 0.1,
         "loss": "mse"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("frames")
    make_tiny_cache(root)
    return root


def _real_cache(root: Path, clips: Path) -> Path:
    params = tiny_data_params(root)
    params.source, params.local.path = "local", str(clips)
    params.machine_types = ["fan", "ToyCar"]
    params.clip_samples = 160_000
    prepare_local(params)
    return build_cache(tiny_features_params(root, clip_samples=160_000,
                                            dcase_clip_samples=176_000), for_scoring=False)


def test_cache_holds_the_dcase_logmel_of_each_whole_real_clip(tmp_path, real_clips):
    cache = open_cache(_real_cache(tmp_path, real_clips / "dcase2020-sample"))
    front = DcaseLogMel()
    assert cache.waveforms.shape[1] == 160_000  # the classifiers' 10 s
    for row in cache.index.itertuples():
        whole, _ = sf.read(real_clips / "dcase2020-sample" / row.path, dtype="int16")
        expected = front(torch.from_numpy(whole.astype(np.float32) / PCM_SCALE))  # (128, T)
        frames = 344 if row.machine_type == "ToyCar" else 313  # 11-s ToyCar, 10-s fan clips
        assert row.dcase_frames == frames == expected.shape[-1]
        logmel, counted = cache.frame_logmel(front, np.array([row.row]))
        assert int(counted[0]) == frames
        # float16 storage (features.logmel_dtype): |x| < 128 dB rounds to within 2**-5 dB
        assert torch.allclose(logmel[0, :, :frames], expected, atol=2**-5 + 1e-4, rtol=0)


def test_the_eleventh_second_of_a_toycar_clip_is_part_of_its_types_fingerprint(
        tmp_path, real_clips):
    clips = tmp_path / "clips"
    shutil.copytree(real_clips / "dcase2020-sample", clips)
    before = open_cache(_real_cache(tmp_path / "a", clips))
    toycar = next(clips.glob("ToyCar/test/*.wav"))
    audio, rate = sf.read(toycar, dtype="int16")
    audio[-100:] = 1000  # after 10 s: not in waveforms.npy, only in the DCASE features
    sf.write(toycar, audio, rate, subtype="PCM_16")
    after = open_cache(_real_cache(tmp_path / "b", clips))
    assert after.fingerprint != before.fingerprint
    assert after.type_fingerprint("ToyCar") != before.type_fingerprint("ToyCar")
    assert after.type_fingerprint("fan") == before.type_fingerprint("fan")


def test_the_frame_baselines_follow_the_dcase_protocol():
    for name in ("dcase2020_ae", "idnn"):
        recipe = load_section(f"models.{name}", ModelParams, ROOT / "params.yaml")
        assert (recipe.scope, recipe.optimizer, recipe.lr, recipe.batch_size) == (
            "per_type", "adam", 1e-3, 512)
        assert (recipe.weight_decay, recipe.mixup_alpha, recipe.validation_split) == (
            0.0, 0.0, 0.1)
        assert isinstance(create_model(name).frontend, DcaseLogMel)
        opt, _ = make_optimizer(create_model(name), recipe)
        assert type(opt) is torch.optim.Adam and opt.defaults["weight_decay"] == 0.0
    assert type(create_model("idnn", frontend="paper").frontend).__name__ == "LogMel"
    norms = [m for m in create_model("dcase2020_ae").modules()
             if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 9 and all((m.eps, m.momentum) == (1e-3, 0.01) for m in norms)  # Keras


def test_each_clip_is_scored_by_the_model_of_its_machine_type(tiny):
    out = train_model("dcase2020_ae", tiny_train_params(tiny, tiny / "features"),
                      tiny_model_params(**FRAME))
    for machine_type in ("fan", "slider"):
        assert (out.model_dir / machine_type / LAST).is_file()
    trained = load_trained(out.model_dir)
    assert isinstance(trained.model, PerTypeModel)
    assert sorted(trained.model.models) == ["fan", "slider"]
    cache = open_cache(tiny / "features")
    test = cache.split("test")
    scores = pd.read_csv(out.model_dir / "scores.csv", dtype={"machine_id": str})
    assert scores["path"].tolist() == test["path"].tolist()
    logmel, frames = cache.frame_logmel(trained.model.frontend, test["row"].to_numpy())
    with torch.no_grad():
        own = {t: reconstruction_errors(m, logmel, frames).numpy()
               for t, m in trained.model.models.items()}
    is_fan = (test["machine_type"] == "fan").to_numpy()
    expected = np.where(is_fan, own["fan"], own["slider"])
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-5)
    assert not np.allclose(own["fan"], own["slider"])  # two different models
    assert out.metrics["num_train_clips"] == len(cache.split("train"))


def test_a_change_to_one_types_clips_retrains_only_that_type(tmp_path):
    make_tiny_cache(tmp_path)
    train, recipe = tiny_train_params(tmp_path, tmp_path / "features"), tiny_model_params(**FRAME)
    out = train_model("idnn", train, recipe)
    stamp = {t: (out.model_dir / t / LAST).stat().st_mtime_ns for t in ("fan", "slider")}
    index = pd.read_csv(tmp_path / "raw" / "index.csv", dtype={"machine_id": str})
    clip = tmp_path / "raw" / index[(index["machine_type"] == "fan")
                                    & (index["split"] == "train")]["path"].iloc[0]
    audio, rate = sf.read(clip, dtype="int16")
    sf.write(clip, audio // 2, rate, subtype="PCM_16")
    build_cache(tiny_features_params(tmp_path))
    train_model("idnn", train, recipe)
    assert (out.model_dir / "slider" / LAST).stat().st_mtime_ns == stamp["slider"]  # reused
    assert (out.model_dir / "fan" / LAST).stat().st_mtime_ns != stamp["fan"]  # retrained


def test_the_last_tenth_of_the_vectors_is_held_out_as_keras_does(tiny):
    cache = open_cache(tiny / "features")
    rows = cache.split("train").query("machine_type == 'fan'")["row"].to_numpy()
    vectors = FrameVectors(create_model("idnn"), cache, rows, torch.device("cpu"), 0.1)
    total = int((cache.index.loc[rows, "dcase_frames"] - 4).sum())
    assert len(vectors.clip) == total and vectors.train_count == int(total * 0.9)
    held = vectors.held_out()
    assert held.tolist() == list(range(int(total * 0.9), total))  # the last ones, in file order
    logmel, _ = cache.frame_logmel(DcaseLogMel(), rows[-1:])
    last = create_model("idnn").frames(logmel)[0, -1]  # the last clip's last vector
    assert torch.equal(vectors.gather(held[-1:])[0], last)


def test_the_held_out_loss_is_tracked_per_epoch(tiny):
    seen = []
    train_model("dcase2020_ae", tiny_train_params(tiny, tiny / "features",
                                                  models_dir=str(tiny / "val")),
                tiny_model_params(**FRAME), on_epoch_end=seen.append)
    assert len(seen) == 4  # 2 types x 2 epochs
    assert all(r.val_loss is not None and np.isfinite(r.val_loss) for r in seen)
    ckpt = load_checkpoint(tiny / "val" / "dcase2020_ae" / "seed-0" / "fan" / LAST)
    assert [h["val_loss"] for h in ckpt["history"]] == [r.val_loss for r in seen[:2]]


def test_per_type_is_refused_for_a_classifier(tiny):
    with pytest.raises(ConfigError, match="models.mobilenetv2.scope: per_type"):
        train_model("mobilenetv2", tiny_train_params(tiny, tiny / "features"),
                    tiny_model_params(scope="per_type"))


def test_the_score_command_routes_each_clip_to_its_types_model(tiny, tmp_path):
    from benchmark.__main__ import main

    models = tmp_path / "models"
    out = train_model("idnn", tiny_train_params(tiny, tiny / "features", models_dir=str(models)),
                      tiny_model_params(**FRAME))
    staged = pd.read_csv(out.model_dir / "scores.csv", dtype={"machine_id": str})
    csv = tmp_path / "scores.csv"
    clips = [str(tiny / "raw" / p) for p in staged["path"]]
    assert main(["score", "--model", "idnn", "--models-dir", str(models), "--threshold", "0",
                 "--out", str(csv), *clips]) == 0
    scored = pd.read_csv(csv, dtype={"machine_id": str})
    assert scored["machine_type"].tolist() == staged["machine_type"].tolist()
    # the stage scores the float16 cache, the command the waveform: the same up to that rounding
    np.testing.assert_allclose(scored["score"], staged["score"], rtol=5e-3)

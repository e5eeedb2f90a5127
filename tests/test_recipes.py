"""Each model's training recipe in params.yaml, and the schedule settings the loop honours."""

from __future__ import annotations

import json

import pytest
from tiny_models import (
    TINY_CLS,
    make_tiny_cache,
    register_tiny_models,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.config import load_section
from benchmark.train import train_model
from benchmark.training.params import ModelParams


def _recipe(name: str) -> ModelParams:
    return load_section(f"models.{name}", ModelParams)


def test_stgram_mfn_is_trained_as_its_authors_train_it():
    """liuyoude/STgram-MFN: Adam (no weight decay), no mixup, cosine stepped from epoch 20."""
    recipe = _recipe("stgram_mfn")
    assert (recipe.optimizer, recipe.weight_decay, recipe.mixup_alpha) == ("adam", 0.0, 0.0)
    assert recipe.schedule_start_epoch == 20 and recipe.eta_min_ratio == 0.1


def test_stgram_mfn_equal_uses_the_proposed_models_recipe():
    proposed, equal = _recipe("proposed").to_dict(), _recipe("stgram_mfn_equal").to_dict()
    assert equal == proposed


def test_the_cosine_schedule_starts_at_schedule_start_epoch(tmp_path):
    register_tiny_models()
    features = make_tiny_cache(tmp_path)
    out = train_model(TINY_CLS, tiny_train_params(tmp_path, features),
                      tiny_model_params(epochs=4, lr=0.01, schedule_start_epoch=2))
    lrs = [h.lr for h in out.history]  # the lr each epoch trained with
    assert lrs[:3] == [pytest.approx(0.01)] * 3 and lrs[3] < 0.01


def test_profile_keys_must_exist_and_values_must_validate(tmp_path):
    from benchmark.config import ConfigError
    from benchmark.profiles import profile_args

    (tmp_path / "typo.yaml").write_text("train: {devise: cuda}\n")
    with pytest.raises(ConfigError, match="'train.devise' is not in params.yaml"):
        profile_args("typo", folder=tmp_path)
    (tmp_path / "bad.yaml").write_text("models: {idnn: {epochs: -1}}\n")
    with pytest.raises(ConfigError, match="models.idnn.epochs"):
        profile_args("bad", folder=tmp_path)
    with pytest.raises(ConfigError, match="profile 'nope' not found.*profiles: bad, typo"):
        profile_args("nope", folder=tmp_path)


def test_the_paper_profile_switches_every_model_in_one_dvc_experiment(tmp_path):
    """A dry run: the paper profile queued as one DVC experiment holds every recipe."""
    import yaml
    from dvc_repo import DVC, ROOT, make_repo, run

    from benchmark.profiles import profile_args

    args = profile_args("paper", ROOT / "params.yaml", ROOT / "profiles")
    repo = make_repo(tmp_path / "repo", params=yaml.safe_load((ROOT / "params.yaml").read_text()))
    run([DVC, "exp", "run", "--queue", "-n", "paper", *args], repo)
    try:
        shown = json.loads(run([DVC, "exp", "show", "--json"], repo).stdout)
    finally:
        run([DVC, "queue", "remove", "--all"], repo)
    (queued,) = [r for row in shown for e in (row.get("experiments") or []) for r in e["revs"]]
    params = queued["data"]["params"]["params.yaml"]["data"]
    assert params["seeds"] == [0, 1, 2, 3, 4] and params["data"]["source"] == "dcase2020"
    assert params["train"]["device"] == "auto"
    smoke = yaml.safe_load((ROOT / "params.yaml").read_text())["models"]
    assert set(params["models"]) == set(smoke)  # every model switched, none added
    assert all(m["epochs"] in (100, 200, 300) and m["clips_per_epoch"] == 0
               for m in params["models"].values())  # SW-WaveNet's code: 200 epochs
    assert params["models"]["stgram_mfn"] | {"overrides": {}} == {
        "epochs": 300, "clips_per_epoch": 0, "batch_size": 128, "lr": 1.0e-4,
        "weight_decay": 0.0, "optimizer": "adam", "eta_min_ratio": 0.1,
        "schedule_start_epoch": 20, "mixup_alpha": 0.0, "scope": "all_types",
        "validation_split": 0.0, "loss": "arcface", "overrides": {}}
    for frame_model in ("dcase2020_ae", "idnn"):  # the DCASE 2020 baseline's protocol
        assert params["models"][frame_model] | {"overrides": {}} == {
            "epochs": 100, "clips_per_epoch": 0, "batch_size": 512, "lr": 1.0e-3,
            "weight_decay": 0.0, "optimizer": "adam", "eta_min_ratio": 1.0,
            "schedule_start_epoch": 0, "mixup_alpha": 0.0, "scope": "per_type",
            "validation_split": 0.1, "loss": "mse", "overrides": {}}

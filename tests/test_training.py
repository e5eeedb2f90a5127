"""Training stage: mixup, loss, determinism, resume, NaN handling, outputs (tiny models)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from tiny_models import (
    TINY_AE,
    TINY_CLS,
    TinyClassifier,
    make_tiny_cache,
    register_tiny_models,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.architectures.frontends import mix_pairs
from benchmark.evaluation.scores import anomaly_scores
from benchmark.features.cache import open_cache
from benchmark.train import main, train_model
from benchmark.training.checkpoint import load_checkpoint, load_trained
from benchmark.training.loop import TrainingError
from benchmark.training.losses import arcmix_loss, noisy_arcmix_loss
from benchmark.training.mixup import draw_mixup, partners


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    register_tiny_models()
    return make_tiny_cache(tmp_path_factory.mktemp("data"))


def _mixup(x: torch.Tensor, y: torch.Tensor, alpha: float, rng: np.random.Generator):
    """The loop's mixup: the draw, the partners' classes, the inputs the model mixes."""
    draw = draw_mixup(alpha, x.shape[0], rng)
    perm, y_b = partners(y, draw)
    return mix_pairs(x, perm, draw.lam), y_b, draw.lam


def test_mixup_pairs_a_permutation_with_one_lambda():
    x = torch.arange(12.0).view(6, 2)
    y = torch.arange(6)
    inputs, y_b, lam = _mixup(x, y, 0.2, np.random.default_rng(0))
    assert 0 <= lam <= 1
    assert sorted(y_b.tolist()) == list(range(6))
    expected = lam * x + (1 - lam) * x[y_b]
    assert torch.allclose(inputs, expected)
    again = _mixup(x, y, 0.2, np.random.default_rng(0))
    assert again[2] == lam and torch.equal(again[1], y_b)
    none = _mixup(x, y, 0.0, np.random.default_rng(0))
    assert none[2] == 1.0 and torch.equal(none[0], x) and torch.equal(none[1], y)


def test_noisy_arcmix_loss_applies_the_margin_to_y_a_for_both_targets():
    torch.manual_seed(0)
    model = TinyClassifier(num_classes=5)
    emb = torch.randn(4, 8)
    y_a, y_b = torch.tensor([0, 1, 2, 3]), torch.tensor([4, 3, 2, 1])
    logits = model.head(emb, y_a)
    expected = 0.3 * F.cross_entropy(logits, y_a) + 0.7 * F.cross_entropy(logits, y_b)
    assert torch.allclose(noisy_arcmix_loss(model, emb, y_a, y_b, 0.3), expected)
    # ArcMix proper scores y_b on a second set of logits, with the margin at y_b
    true_arcmix = (0.3 * F.cross_entropy(logits, y_a)
                   + 0.7 * F.cross_entropy(model.head(emb, y_b), y_b))
    assert torch.allclose(arcmix_loss(model, emb, y_a, y_b, 0.3), true_arcmix)
    assert not torch.allclose(arcmix_loss(model, emb, y_a, y_b, 0.3), expected)


def _train(features: Path, root: Path, name: str = TINY_CLS, **params):
    return train_model(name, tiny_train_params(root, features), tiny_model_params(**params))


def test_classifier_stage_writes_every_output(features, tmp_path):
    out = _train(features, tmp_path)
    model_dir = tmp_path / "models" / TINY_CLS / "seed-0"
    for name in ("final.pt", "last.pt", "scores.csv", "train_scores.csv", "roc.png"):
        assert (model_dir / name).is_file(), name
    metrics = json.loads((tmp_path / "reports" / "metrics" / f"{TINY_CLS}-seed0.json").read_text())
    assert metrics == out.metrics
    assert set(metrics) == {"model", "data_source", "dataset", "epochs", "seed", "num_train_clips",
                            "mean",
                            "per_type"}  # per-ID detail is not a DVC metric (dvc exp show)
    detail = json.loads((tmp_path / "reports" / "per_id" / f"{TINY_CLS}-seed0.json").read_text())
    assert set(detail["per_id"]) == set(metrics["per_type"])
    assert metrics["num_train_clips"] == 16 and metrics["data_source"] == "synthetic"
    assert set(metrics["mean"]) == {"auc", "pauc", "auc_hmean", "pauc_hmean"}
    assert set(detail["per_id"]["fan"]) == {"id_00", "id_02"}
    roc = pd.read_csv(tmp_path / "reports" / "roc" / f"{TINY_CLS}-seed0.csv")
    assert list(roc.columns) == ["machine_type", "fpr", "tpr"]
    scores = pd.read_csv(model_dir / "scores.csv")
    assert list(scores.columns) == ["path", "machine_type", "machine_id", "label", "score"]
    assert len(scores) == 16 and len(pd.read_csv(model_dir / "train_scores.csv")) == 16
    final = load_checkpoint(model_dir / "final.pt")
    assert {"arch", "model_kwargs", "classes", "state_dict", "objective", "input_kind", "epoch",
            "params", "train_score_stats"} <= set(final)
    assert final["epoch"] == 2 and final["model_kwargs"] == {"num_classes": 4}
    # the loaded model reproduces the written scores
    trained = load_trained(model_dir)
    assert not trained.model.training and trained.class_to_index[("fan", "id_02")] == 1
    cache = open_cache(features)
    test = cache.split("test")
    again = anomaly_scores(trained.model, trained.spec, cache.waves(test["row"].to_numpy()),
                           torch.tensor(test["class_index"].to_numpy()))
    np.testing.assert_allclose(again, scores["score"], rtol=1e-5)
    assert trained.train_score_stats["all"]["count"] == 16


def test_same_params_same_metrics(features, tmp_path):
    a = _train(features, tmp_path / "a", epochs=1)
    b = _train(features, tmp_path / "b", epochs=1)
    assert a.metrics == b.metrics
    pd.testing.assert_frame_equal(pd.read_csv(a.model_dir / "scores.csv"),
                                  pd.read_csv(b.model_dir / "scores.csv"))


class _Stop(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_result(features, tmp_path, caplog):
    straight = _train(features, tmp_path / "straight", epochs=3)

    def interrupt(result):
        if result.epoch == 2:
            raise _Stop

    with pytest.raises(_Stop):
        train_model(TINY_CLS, tiny_train_params(tmp_path / "resumed", features),
                    tiny_model_params(epochs=3), on_epoch_end=interrupt)
    model_dir = tmp_path / "resumed" / "models" / TINY_CLS / "seed-0"
    assert load_checkpoint(model_dir / "last.pt")["epoch"] == 2
    assert not (model_dir / "final.pt").exists()
    epochs: list[int] = []
    with caplog.at_level(logging.INFO):
        resumed = train_model(TINY_CLS, tiny_train_params(tmp_path / "resumed", features),
                              tiny_model_params(epochs=3),
                              on_epoch_end=lambda r: epochs.append(r.epoch))
    assert "resuming" in caplog.text and epochs == [3]
    assert resumed.metrics == straight.metrics
    assert [h.loss for h in resumed.history] == [h.loss for h in straight.history]


def test_other_params_train_from_scratch(features, tmp_path, caplog):
    _train(features, tmp_path, epochs=1)
    epochs: list[int] = []
    with caplog.at_level(logging.INFO):
        train_model(TINY_CLS, tiny_train_params(tmp_path, features),
                    tiny_model_params(epochs=1, lr=0.02),
                    on_epoch_end=lambda r: epochs.append(r.epoch))
    assert "other params or data; training from scratch" in caplog.text and epochs == [1]


def test_nan_loss_stops_with_a_clear_error(features, tmp_path):
    with pytest.raises(TrainingError, match=rf"model '{TINY_CLS}': loss is nan at epoch 1"):
        _train(features, tmp_path, overrides={"nan": True})


def test_reconstruction_model(features, tmp_path):
    out = _train(features, tmp_path, name=TINY_AE, epochs=1, batch_size=16, optimizer="adam",
                 weight_decay=0.0, lr=0.001, mixup_alpha=0.0, loss="mse")
    assert 0.0 <= out.metrics["mean"]["auc"] <= 1.0
    final = load_checkpoint(tmp_path / "models" / TINY_AE / "seed-0" / "final.pt")
    assert final["objective"] == "reconstruction" and final["model_kwargs"] == {}


def test_stage_cli_reads_train_and_its_model_section(features, tmp_path):
    train = tiny_train_params(tmp_path, features)
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump({
        "train": asdict(train),
        "models": {TINY_CLS: asdict(tiny_model_params(epochs=1)), "other": {"bad": 1}},
        "report": {"anything": 1},
    }))
    main(["--model", TINY_CLS, "--params", str(file)])
    assert (tmp_path / "reports" / "metrics" / f"{TINY_CLS}-seed0.json").is_file()


def test_clips_per_epoch_draws_a_seeded_subset():
    from benchmark.training.loop import epoch_order, epoch_rng

    order = epoch_order(10, 4, epoch_rng(0, 0))
    assert len(order) == 4 and len(set(order.tolist())) == 4
    assert order.tolist() == epoch_order(10, 4, epoch_rng(0, 0)).tolist()
    assert sorted(epoch_order(10, 0, epoch_rng(0, 1)).tolist()) == list(range(10))


def test_subset_training_and_train_score_subset(features, tmp_path):
    train = tiny_train_params(tmp_path, features, train_score_clips_per_class=1)
    out = train_model(TINY_CLS, train, tiny_model_params(epochs=1, clips_per_epoch=6))
    assert out.history[0].clips_per_s > 0
    train_scores = pd.read_csv(out.model_dir / "train_scores.csv")
    assert len(train_scores) == 4  # one per (type, ID)


def test_each_seed_is_its_own_run_and_the_report_aggregates_them(features, tmp_path):
    from benchmark.reporting.results import load_runs

    train = tiny_train_params(tmp_path, features)
    outs = [train_model(TINY_CLS, train, tiny_model_params(epochs=1), seed=s) for s in (0, 1)]
    assert [o.model_dir.name for o in outs] == ["seed-0", "seed-1"]
    assert outs[0].metrics["seed"] == 0 and outs[1].metrics["seed"] == 1
    s0 = pd.read_csv(outs[0].model_dir / "scores.csv")["score"]
    s1 = pd.read_csv(outs[1].model_dir / "scores.csv")["score"]
    assert not np.allclose(s0, s1)  # another seed, another model
    runs = load_runs(tmp_path / "reports" / "metrics")[TINY_CLS]
    assert [r.seed for r in runs.runs] == [0, 1]
    assert runs.mean["auc"] == pytest.approx(
        50 * (outs[0].metrics["mean"]["auc"] + outs[1].metrics["mean"]["auc"]))
    with pytest.raises(SystemExit):
        main(["--model", TINY_CLS, "--seed", "-1"])


# ---------------------------------------------------------------- the accelerator-friendly loop


def test_prefetching_gives_the_same_batches_and_metrics_as_the_simple_loop(features, tmp_path):
    runs = {}
    for prefetch in (0, 3):
        params = tiny_train_params(tmp_path / f"p{prefetch}", features, prefetch=prefetch)
        runs[prefetch] = train_model(TINY_CLS, params, tiny_model_params(epochs=2))
    assert runs[0].metrics == runs[3].metrics
    assert [h.loss for h in runs[0].history] == [h.loss for h in runs[3].history]
    first, second = (load_checkpoint(r.model_dir / "last.pt") for r in runs.values())
    assert all(torch.equal(first["model"][k], second["model"][k]) for k in first["model"])


def test_the_prefetched_batches_are_the_simple_loops_batches(features):
    from benchmark.training.loop import (
        Prefetcher,
        TrainData,
        clip_batches,
        epoch_batches,
        epoch_rng,
    )

    cache = open_cache(features)
    train = cache.split("train")
    data = TrainData(train["row"].to_numpy(), train["class_index"].to_numpy())
    params = tiny_model_params(batch_size=3)

    def batches(rng):
        return clip_batches(cache, data, epoch_batches(data, params, rng), params.mixup_alpha,
                            rng)

    simple = list(batches(epoch_rng(0, 1)))
    ahead = list(Prefetcher(batches(epoch_rng(0, 1)), depth=2))
    assert len(simple) == len(ahead) > 1
    for a, b in zip(simple, ahead, strict=True):
        assert torch.equal(a.wave, b.wave) and torch.equal(a.target, b.target)
        assert a.draw.lam == b.draw.lam and np.array_equal(a.draw.perm, b.draw.perm)


def test_the_prefetcher_raises_the_sources_error_and_stops_when_left():
    import threading

    from benchmark.training.loop import Prefetcher

    def failing():
        yield 1
        raise OSError("disk read failed at batch 2")

    got = []
    with pytest.raises(OSError, match="batch 2"):
        for item in Prefetcher(failing(), depth=2):
            got.append(item)
    assert got == [1]
    before = threading.active_count()
    for item in Prefetcher(iter(range(1000)), depth=2):
        if item == 3:
            break
    assert threading.active_count() == before  # the producer thread has ended


def test_cuda_only_switches_are_ignored_on_the_cpu_with_a_warning(features, tmp_path, caplog):
    plain = train_model(TINY_CLS, tiny_train_params(tmp_path / "plain", features, amp=False,
                                                     compile=False),
                        tiny_model_params(epochs=1))
    with caplog.at_level(logging.WARNING, logger="benchmark.train"):
        switched = train_model(TINY_CLS, tiny_train_params(tmp_path / "on", features, amp=True,
                                                            compile=True),
                               tiny_model_params(epochs=1))
    assert "train.compile applies to CUDA only" in caplog.text
    assert switched.metrics == plain.metrics  # float32, uncompiled: the same numbers
    assert "cuda_rng" not in load_checkpoint(switched.model_dir / "last.pt")


def test_the_loss_is_checked_without_a_sync_per_step(features, tmp_path, monkeypatch):
    from benchmark.training import loop

    reads = []
    original = loop._LossSum.check

    def counted(self):
        reads.append(self.steps)
        return original(self)

    monkeypatch.setattr(loop._LossSum, "check", counted)
    monkeypatch.setattr(loop, "CHECK_EVERY", 3)
    train_model(TINY_CLS, tiny_train_params(tmp_path, features), tiny_model_params(epochs=1,
                                                                                   batch_size=2))
    steps = len(open_cache(features).split("train")) // 2
    assert reads == [3 * k for k in range(1, steps // 3 + 1)] + [steps]  # every 3rd + epoch end


def test_the_angular_head_runs_in_float32_under_bf16_autocast():
    from types import SimpleNamespace

    from benchmark.architectures.heads import ArcFace
    from benchmark.training.losses import head_logits

    torch.manual_seed(0)
    model = SimpleNamespace(head=ArcFace(128, 41))  # the proposed model's head, s 40, m 0.7
    emb, target = torch.randn(64, 128), torch.randint(0, 41, (64,))
    exact = model.head(emb, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain = model.head(emb, target)  # what autocast alone would compute
        ours = head_logits(model, emb, target)
    assert ours.dtype == torch.float32 and torch.allclose(ours, exact, atol=1e-5)
    assert (plain.float() - exact).abs().max() > 1e-2  # bf16 cosines: off by > 0.01 logit

"""Noisy-ArcMix and SW-WaveNet: counts, shapes, losses, front ends, causality, recipes, training.

The two state-of-the-art baselines of Tables 1-2 (see ``benchmark/architectures/noisy_arcmix.py``
and ``sw_wavenet.py``) are checked against their definitions computed independently here: the
parameter counts from the layer formulas, the Noisy-ArcMix / ArcMix losses from hand-built
ArcFace logits, the TAgram with explicit loops, Noisy-ArcMix's log-Mel against torchaudio, the
mixing in the front end, the WaveNet's causality; then their recipes in ``params.yaml`` and
``profiles/paper.yaml``, the loss/objective checks, and one real training step of each on real
DCASE clips through the whole pipeline (index, feature cache, train, score).
"""

from __future__ import annotations

import math
import shutil
import sys
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
    make_tiny_cache,
    register_tiny_models,
    tiny_data_params,
    tiny_features_params,
    tiny_model_params,
    tiny_train_params,
)
from torch import nn

from benchmark.architectures import create_model
from benchmark.architectures.frontends import mix_pairs
from benchmark.architectures.heads import ArcFace
from benchmark.architectures.noisy_arcmix import TAgram, TAStgramFrontend
from benchmark.architectures.sw_wavenet import CausalConv1d, GatedResidualLayer
from benchmark.config import ConfigError, load_section, read_params
from benchmark.features.baselines import NoisyArcMixLogMel
from benchmark.features.logmel import LogMel
from benchmark.training.losses import arcface_loss, arcmix_loss, noisy_arcmix_loss
from benchmark.training.params import ModelParams

ROOT = Path(__file__).resolve().parents[1]
CLIP = 160_000  # 10 s at 16 kHz: 313 frames at hop 512
FRAMES = 313
CLASSES = 41


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    """The four registered variants, seeded, in eval mode."""
    out = {}
    for name in ("noisy_arcmix", "noisy_arcmix_equal", "sw_wavenet", "sw_wavenet_equal"):
        torch.manual_seed(0)
        out[name] = create_model(name).eval()
    return out


@pytest.fixture(scope="module")
def waves() -> torch.Tensor:
    torch.manual_seed(0)
    return 0.1 * torch.randn(2, CLIP)


# ------------------------------------------------------------------ 1. parameter counts


def _conv_block(cin: int, cout: int, kernel: int | tuple[int, int], depthwise: bool = False,
                linear: bool = False) -> int:
    """MobileFaceNet's ConvBlock: Conv2d without bias, BN (2 per channel), PReLU (1 per channel)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    weights = cout * (1 if depthwise else cin) * kh * kw
    return weights + 2 * cout + (0 if linear else cout)


def _mobilefacenet(in_channels: int, embedding: int = 128) -> int:
    """STgram-MFN's shallow MobileFaceNet (its code's bottleneck table), without ``fc_out``."""
    count = _conv_block(in_channels, 64, 3) + _conv_block(64, 64, 3, depthwise=True)
    channels = 64
    for t, c, n, _stride in ((2, 128, 2, 2), (4, 128, 2, 2), (4, 128, 2, 2)):
        for _ in range(n):
            hidden = channels * t
            count += (_conv_block(channels, hidden, 1) + _conv_block(hidden, hidden, 3, True)
                      + _conv_block(hidden, c, 1, linear=True))
            channels = c
    count += _conv_block(channels, 512, 1)  # conv to 512
    count += _conv_block(512, 512, (8, 20), depthwise=True, linear=True)  # GDC
    return count + _conv_block(512, embedding, 1, linear=True)  # linear embedding


TGRAM = 1 * 128 * 1024 + 3 * (2 * FRAMES + 128 * 128 * 3)  # extractor + 3 x (LayerNorm, conv)
ARCFACE_128 = 128 * CLASSES
FC_OUT = 128 * CLASSES + CLASSES  # the official MobileFaceNet's unused Linear(128, 41)

GATED_LAYER = 2 * 512 * 512 * 3 + 2 * 1024 + 2 * (512 * 512 + 512)  # filter/gate, BNs, 1x1s
BRANCH = (128 * 512 * 2  # causal input conv, k 2, no bias
          + 8 * GATED_LAYER  # 2 cycles x 4 dilations
          + 1024 + (512 * FRAMES + 512) + 1024 + (512 * 128 + 128))  # BN, depthwise, BN, 1x1
WAVEGRAM = 128 * 1024  # Conv1d(1, 128, 1024), no bias
ARCFACE_256 = 256 * CLASSES


def test_noisy_arcmix_parameter_count_from_the_layer_formulas(models):
    stgram = TGRAM + _mobilefacenet(2) + ARCFACE_128
    assert stgram == 1_155_990 == n_params(create_model("stgram_mfn"))
    expected = TGRAM + _mobilefacenet(3) + ARCFACE_128
    assert expected == stgram + 64 * 9 == 1_156_566  # the 3rd input channel of the first conv
    for name in ("noisy_arcmix", "noisy_arcmix_equal"):
        model = models[name]
        assert n_params(model) == expected, name
        assert n_params(model.frontend) == n_params(model.frontend.tgram) == TGRAM  # TAgram: 0
        assert n_params(model.backbone) == _mobilefacenet(3)
        assert n_params(model.id_head) == ARCFACE_128
    code = expected + FC_OUT  # the official code's count, with its unused fc_out
    assert code == 1_161_855
    assert abs(code - 1.16e6) / 1.16e6 < 0.05  # "about 1.16 M" (reference facts)
    assert abs(expected - code) / code < 0.05
    assert abs(expected - 1.1e6) / 1.1e6 < 0.06  # the paper's Table 2: 1.1 M (+5.1 %)


def test_sw_wavenet_parameter_count_from_the_layer_formulas(models):
    assert GATED_LAYER == 2_100_224 and BRANCH == 17_161_344
    expected = 2 * BRANCH + WAVEGRAM + ARCFACE_256
    assert expected == 34_464_256
    for name in ("sw_wavenet", "sw_wavenet_equal"):
        model = models[name]
        assert n_params(model) == expected, name
        assert n_params(model.frontend) == WAVEGRAM  # the log-Mel has no parameters
        assert [n_params(b) for b in model.backbone.branches] == [BRANCH, BRANCH]
        assert n_params(model.backbone.branches[0].layers[0]) == GATED_LAYER
        assert n_params(model.id_head) == ARCFACE_256
    code = expected + 128 * CLASSES  # + the unused ArcFace inside the code's Wavegram branch
    assert code == 34_469_504 and round(code / 1e6, 1) == 34.5
    assert 0.27 < (expected - 27e6) / 27e6 < 0.28  # vs the paper's "27 M": +27.6 %, unreconciled


# ------------------------------------------------------------------ 2. shapes


@pytest.mark.parametrize(("name", "channels", "dim"), [
    ("noisy_arcmix", 3, 128), ("noisy_arcmix_equal", 3, 128),
    ("sw_wavenet", 2, 256), ("sw_wavenet_equal", 2, 256),
])
def test_shapes(models, waves, name: str, channels: int, dim: int):
    model = models[name]
    target = torch.tensor([3, 40])
    with torch.no_grad():
        features = model.features(waves)
        emb = model(waves)
        logits, margin = model.head(emb), model.head(emb, target)
    assert features.shape == (2, channels, 128, FRAMES)
    assert emb.shape == (2, dim) == (2, model.embedding_dim)
    assert logits.shape == margin.shape == (2, CLASSES)
    assert all(torch.isfinite(t).all() for t in (features, emb, logits, margin))
    assert model.attention_map(waves) is None


# ------------------------------------------------------------------ 3. the losses


class _HeadOnly(nn.Module):
    """The model API's ``head(emb, target)`` around a real ArcFace (s 30, m 0.7)."""

    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.id_head = ArcFace(dim, classes, s=30.0, m=0.7)

    def head(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return self.id_head(emb, target)


def _arcface_logits(emb: torch.Tensor, weight: torch.Tensor, target: torch.Tensor,
                    s: float = 30.0, m: float = 0.7) -> torch.Tensor:
    """ArcFace logits by hand, in float64: ``s cos`` with ``s cos(theta + m)`` at ``target``
    (``s (cos - sin(pi - m) m)`` where ``cos <= cos(pi - m)``)."""
    e, w = emb.double(), weight.double()
    cosine = (e / e.norm(dim=1, keepdim=True)) @ (w / w.norm(dim=1, keepdim=True)).T
    out = cosine.clone()
    for i, y in enumerate(target.tolist()):
        c = cosine[i, y].item()
        if c > math.cos(math.pi - m):
            out[i, y] = c * math.cos(m) - math.sqrt(1.0 - c * c) * math.sin(m)
        else:
            out[i, y] = c - math.sin(math.pi - m) * m
    return s * out


def test_the_noisy_arcmix_loss_puts_the_margin_at_y_a_only():
    torch.manual_seed(0)
    model = _HeadOnly(8, 5)
    weight = model.id_head.weight.detach()
    emb = torch.randn(4, 8)
    y_a, y_b = torch.tensor([0, 1, 2, 3]), torch.tensor([4, 3, 2, 1])
    emb[1] = -weight[1]  # theta = pi at y_a: the fallback branch of the margin
    lam = 0.3
    z_a = _arcface_logits(emb, weight, y_a)  # margin at y_a
    z_b = _arcface_logits(emb, weight, y_b)  # margin at y_b
    assert z_a[1, 1] == pytest.approx(30 * (-1.0 - math.sin(math.pi - 0.7) * 0.7), abs=1e-4)

    noisy = noisy_arcmix_loss(model, emb, y_a, y_b, lam)
    expected = lam * F.cross_entropy(z_a, y_a) + (1 - lam) * F.cross_entropy(z_a, y_b)
    assert noisy.item() == pytest.approx(expected.item(), abs=1e-5)

    arcmix = arcmix_loss(model, emb, y_a, y_b, lam)
    true_arcmix = lam * F.cross_entropy(z_a, y_a) + (1 - lam) * F.cross_entropy(z_b, y_b)
    assert arcmix.item() == pytest.approx(true_arcmix.item(), abs=1e-5)
    # the y_b term of the Noisy-ArcMix loss sees no margin at y_b (it sits at y_a): not ArcMix
    assert abs(noisy.item() - arcmix.item()) > 0.1

    plain = F.cross_entropy(z_a, y_a).item()  # lam = 1: every loss is the ArcFace CE
    for loss in (arcface_loss, noisy_arcmix_loss, arcmix_loss):
        assert loss(model, emb, y_a, y_b, 1.0).item() == pytest.approx(plain, abs=1e-5)
    assert arcface_loss(model, emb, y_a, y_a, 1.0).item() == pytest.approx(plain, abs=1e-5)


# ------------------------------------------------------------------ 4. the TAgram


def test_tagram_is_the_log_mel_times_a_per_frame_sigmoid_gate():
    torch.manual_seed(0)
    x = 20 * torch.randn(2, 16, 11) - 30  # (B, F, T) dB-like
    out = TAgram()(x).numpy()
    xn = x.numpy().astype(np.float64)
    expected = np.empty_like(xn)
    for b in range(xn.shape[0]):
        for t in range(xn.shape[2]):
            frame = xn[b, :, t]
            gate = 1.0 / (1.0 + np.exp(-(frame.max() + frame.mean())))
            expected[b, :, t] = frame * gate
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    assert list(TAgram().parameters()) == [] and list(TAgram().buffers()) == []


# ------------------------------------------------------------------ 5. Noisy-ArcMix's log-Mel


def test_noisy_arcmix_logmel_is_its_codes_torchaudio_transform(real_clips: Path):
    import soundfile as sf
    import torchaudio

    path = next((real_clips / "dcase2020-sample" / "fan" / "test").glob("*.wav"))
    samples, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    wave = torch.from_numpy(samples[:CLIP])
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=2048, hop_length=512, n_mels=128, power=2,
        pad_mode="constant", norm="slaney", mel_scale="slaney")
    expected = 10.0 * torch.log10(reference(wave) + sys.float_info.epsilon)
    ours = NoisyArcMixLogMel()(wave)
    assert ours.shape == expected.shape == (128, FRAMES)
    assert torch.allclose(ours, expected, atol=1e-4, rtol=0)


# ------------------------------------------------------------------ 6. mixing in the front end


def _tagram(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x.amax(dim=1, keepdim=True) + x.mean(dim=1, keepdim=True))


def test_noisy_arcmix_mixes_the_log_mel_in_db_and_the_waveform_for_the_tgram():
    torch.manual_seed(0)
    wave = 0.1 * torch.randn(3, CLIP)
    perm, lam = torch.tensor([2, 0, 1]), 0.3
    mixed_wave = lam * wave + (1 - lam) * wave[perm]
    front = TAStgramFrontend(mix_features=True).eval()
    with torch.no_grad():
        out = front(wave, perm, lam)  # (3, 3, 128, 313)
        logmel = NoisyArcMixLogMel()(wave)
        mixed_mel = lam * logmel + (1 - lam) * logmel[perm]
        assert out.shape == (3, 3, 128, FRAMES)
        assert torch.allclose(out[:, 1], mixed_mel, atol=1e-4)
        assert torch.allclose(out[:, 0], front.tgram(mixed_wave), atol=1e-5)
        assert torch.allclose(out[:, 2], _tagram(mixed_mel), atol=1e-4)
        # mixing in dB is not the log-Mel of the mixed waveform
        assert (out[:, 1] - NoisyArcMixLogMel()(mixed_wave)).abs().max() > 1.0

        equal = create_model("noisy_arcmix_equal").eval().frontend
        assert isinstance(equal, TAStgramFrontend) and not equal.mix_features
        out = equal(wave, perm, lam)
        logmel_of_mixed = LogMel()(mixed_wave)
        assert torch.allclose(out[:, 1], logmel_of_mixed, atol=1e-4)
        assert torch.allclose(out[:, 0], equal.tgram(mixed_wave), atol=1e-5)
        assert torch.allclose(out[:, 2], _tagram(logmel_of_mixed), atol=1e-4)


def test_sw_wavenet_mixes_the_waveform(models):
    torch.manual_seed(0)
    wave = 0.1 * torch.randn(3, CLIP)
    perm, lam = torch.tensor([1, 2, 0]), 0.6
    front = models["sw_wavenet"].frontend
    with torch.no_grad():
        assert torch.equal(front(wave, perm, lam), front(mix_pairs(wave, perm, lam)))
        assert not torch.allclose(front(wave, perm, lam), front(wave))


@pytest.mark.parametrize("name", ["noisy_arcmix", "sw_wavenet"])
def test_without_a_partner_nothing_is_mixed(models, waves, name: str):
    model = models[name]
    with torch.no_grad():
        assert torch.equal(model(waves), model(waves, None, 1.0))


# ------------------------------------------------------------------ 7. causality


def test_the_wavenet_layers_are_causal():
    torch.manual_seed(0)
    conv = CausalConv1d(3, 4, 2)
    layers = nn.ModuleList(GatedResidualLayer(4, 5, d) for d in (1, 2, 4, 1, 2, 4))
    for module in [conv, *layers]:
        module.eval()
    for bn in (m for m in layers.modules() if isinstance(m, nn.BatchNorm1d)):
        bn.running_mean.normal_()  # eval mode: a per-step affine map, as when scoring
        bn.running_var.uniform_(0.5, 2.0)

    def run(x: torch.Tensor) -> torch.Tensor:
        h, skips = conv(x), 0
        for layer in layers:
            skip, h = layer(h)
            skips = skips + skip
        return torch.cat([h, skips], dim=1)  # (B, 4 + 5, T)

    x = torch.randn(2, 3, 40)
    assert conv(x).shape == (2, 4, 40)  # the input's length
    assert CausalConv1d(3, 4, 3, dilation=8)(x).shape == (2, 4, 40)
    with torch.no_grad():
        base = run(x)
        assert base.shape == (2, 9, 40)
        for t in (0, 7, 25, 38):
            changed = x.clone()
            changed[..., t + 1:] = torch.randn_like(changed[..., t + 1:]) * 5
            out = run(changed)
            assert torch.equal(out[..., :t + 1], base[..., :t + 1]), t
            assert not torch.allclose(out[..., t + 1:], base[..., t + 1:])


# ------------------------------------------------------------------ 8. recipes


def _paper_recipe(tmp_path: Path, name: str) -> dict:
    """``models.NAME`` of ``profiles/paper.yaml`` merged onto ``params.yaml`` (as ``python -m
    benchmark profile paper`` merges and checks it), loaded into :class:`ModelParams`."""
    from benchmark.profiles import check, merge, read_profile

    merged = merge(read_params(ROOT / "params.yaml"), read_profile("paper", ROOT / "profiles"))
    check(merged)
    path = tmp_path / "paper-params.yaml"
    if not path.exists():
        path.write_text(yaml.safe_dump(merged))
    return load_section(f"models.{name}", ModelParams, path).to_dict()


RECIPE_KEYS = ("optimizer", "weight_decay", "lr", "batch_size", "epochs", "eta_min_ratio",
               "mixup_alpha", "loss", "schedule_start_epoch", "clips_per_epoch")


def test_noisy_arcmix_paper_recipe_is_its_codes(tmp_path):
    """soonhyeon/Noisy-ArcMix: AdamW (wd 0.01) lr 1e-4, batch 64, 300 epochs, cosine to 1e-5,
    mixup Beta(0.5, 0.5), the Noisy-ArcMix loss, every clip each epoch."""
    recipe = _paper_recipe(tmp_path, "noisy_arcmix")
    assert {k: recipe[k] for k in RECIPE_KEYS} == {
        "optimizer": "adamw", "weight_decay": 0.01, "lr": 1e-4, "batch_size": 64,
        "epochs": 300, "eta_min_ratio": 0.1, "mixup_alpha": 0.5, "loss": "noisy_arcmix",
        "schedule_start_epoch": 0, "clips_per_epoch": 0}
    assert recipe["lr"] * recipe["eta_min_ratio"] == pytest.approx(1e-5)


def test_sw_wavenet_paper_recipe_is_its_codes(tmp_path):
    """chen-hhaa/SW-WaveNet4ASD: Adam lr 1e-4, batch 64, 200 epochs, cosine to 0 from epoch 20,
    no mixup, the ArcFace cross-entropy."""
    recipe = _paper_recipe(tmp_path, "sw_wavenet")
    assert {k: recipe[k] for k in RECIPE_KEYS} == {
        "optimizer": "adam", "weight_decay": 0.0, "lr": 1e-4, "batch_size": 64,
        "epochs": 200, "eta_min_ratio": 0.0, "mixup_alpha": 0.0, "loss": "arcface",
        "schedule_start_epoch": 20, "clips_per_epoch": 0}


@pytest.mark.parametrize("name", ["noisy_arcmix_equal", "sw_wavenet_equal"])
def test_the_equal_variants_use_the_proposed_models_paper_recipe(tmp_path, name: str):
    assert _paper_recipe(tmp_path, name) == _paper_recipe(tmp_path, "proposed")


def test_the_smoke_recipes_keep_each_codes_kind_of_training():
    """params.yaml (smoke scale): the optimizer, mixup, loss and schedule of each code."""
    noisy = load_section("models.noisy_arcmix", ModelParams, ROOT / "params.yaml")
    assert (noisy.optimizer, noisy.weight_decay, noisy.mixup_alpha, noisy.loss) == (
        "adamw", 0.01, 0.5, "noisy_arcmix")
    sw = load_section("models.sw_wavenet", ModelParams, ROOT / "params.yaml")
    assert (sw.optimizer, sw.weight_decay, sw.mixup_alpha, sw.loss, sw.eta_min_ratio,
            sw.schedule_start_epoch) == ("adam", 0.0, 0.0, "arcface", 0.0, 20)


# ------------------------------------------------------------------ 9. loss / objective checks


def test_arcface_with_mixup_is_refused():
    with pytest.raises(ConfigError, match="mixup_alpha"):
        tiny_model_params(loss="arcface", mixup_alpha=0.2)
    assert tiny_model_params(loss="arcface", mixup_alpha=0.0).loss == "arcface"


def test_a_loss_of_the_wrong_objective_is_refused_before_training(tmp_path, monkeypatch):
    from benchmark.architectures import registry
    from benchmark.train import train_model

    # the tiny models are registered for this test only: the registry's order is checked
    # (test_architectures.py) in whatever order the test files run
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_tiny_models()
    features = make_tiny_cache(tmp_path)
    train = tiny_train_params(tmp_path, features)
    with pytest.raises(ConfigError, match=f"models.{TINY_CLS}.loss"):
        train_model(TINY_CLS, train, tiny_model_params(loss="mse", mixup_alpha=0.0))
    with pytest.raises(ConfigError, match=f"models.{TINY_AE}.loss"):
        train_model(TINY_AE, train, tiny_model_params(loss="arcface", mixup_alpha=0.0,
                                                      scope="per_type"))
    assert not (tmp_path / "models").exists()  # refused before anything was written


# ------------------------------------------------------------------ 10. real training


# (machine type, its ID in the DCASE development set) of the layout built from the real clips
REAL_TYPES = (("fan", "id_00"), ("ToyCar", "id_02"))


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory) -> Path:
    """A DCASE-layout folder from the real clips of fan (10 s) and ToyCar (11 s: cropped):
    per type one ID with its real normal and anomalous test clips and 2 training clips (copies
    of the normal one), indexed with the ``local`` source and cached at 10 s."""
    from conftest import REAL_CLIPS

    from benchmark.data.local import prepare_local
    from benchmark.features.cache import build_cache

    sample = REAL_CLIPS / "dcase2020-sample"
    if not sample.is_dir():
        pytest.skip(f"real clips not found at {REAL_CLIPS} (set ASD_REAL_CLIPS)")
    root = tmp_path_factory.mktemp("real")
    for machine_type, machine_id in REAL_TYPES:
        source = sample / machine_type / "test"
        normal = next(source.glob("normal_*.wav"))
        anomaly = next(source.glob("anomaly_*.wav"))
        test, train = (root / "dcase" / machine_type / split for split in ("test", "train"))
        test.mkdir(parents=True)
        train.mkdir(parents=True)
        shutil.copy(normal, test / f"normal_{machine_id}_00000000.wav")
        shutil.copy(anomaly, test / f"anomaly_{machine_id}_00000000.wav")
        for k in range(2):
            shutil.copy(normal, train / f"normal_{machine_id}_{k:08d}.wav")
    data = tiny_data_params(root)
    data.source, data.local.path = "local", str(root / "dcase")
    data.machine_types, data.clip_samples = ["fan", "ToyCar"], CLIP
    prepare_local(data)  # root/raw/index.csv
    return build_cache(tiny_features_params(root, clip_samples=CLIP, dcase_clip_samples=176_000))


@pytest.mark.parametrize(("name", "recipe"), [
    ("noisy_arcmix", {"loss": "noisy_arcmix", "mixup_alpha": 0.5}),
    ("sw_wavenet", {"loss": "arcface", "mixup_alpha": 0.0, "optimizer": "adam",
                    "weight_decay": 0.0}),
])
def test_trains_a_step_and_scores_real_clips(real_cache: Path, tmp_path: Path, name: str,
                                             recipe: dict):
    from benchmark.train import train_model

    torch.manual_seed(0)
    out = train_model(name, tiny_train_params(tmp_path, real_cache),
                      tiny_model_params(epochs=1, batch_size=4, clips_per_epoch=4, **recipe))
    assert len(out.history) == 1 and math.isfinite(out.history[0].loss)
    assert 0.0 <= out.metrics["mean"]["auc"] <= 1.0
    assert math.isfinite(out.metrics["mean"]["pauc"])
    scores = pd.read_csv(tmp_path / "models" / name / "seed-0" / "scores.csv")
    assert len(scores) == 4  # 2 types x (1 normal + 1 anomalous) test clips
    assert sorted(set(scores["machine_type"])) == ["ToyCar", "fan"]
    assert sorted(scores["label"]) == ["anomaly", "anomaly", "normal", "normal"]
    assert np.isfinite(scores["score"]).all()

"""Model registry and architectures: shapes, gradients, parameter counts vs the paper."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.architectures import create_model, get_spec, list_models
from benchmark.architectures.autoencoders import context_frames
from benchmark.architectures.frontends import Tgram, Wavegram
from benchmark.architectures.heads import ArcFace

CLIP = 160_000  # MobileFaceNet's GDC (8 x 20) and the Tgram's LayerNorm(313) need 313 frames

EXPECTED_NAMES = [
    "proposed", "proposed_no_attention", "proposed_no_separable",
    "proposed_no_attention_no_separable", "proposed_mel_only", "proposed_wave_only",
    "proposed_h64", "proposed_h256", "stgram_mfn", "stgram_mfn_equal", "noisy_arcmix",
    "noisy_arcmix_equal", "sw_wavenet", "sw_wavenet_equal", "mobilenetv2", "idnn", "dcase2020_ae",
]

# exact counts of our implementation (regression guard; see the module docstrings)
EXPECTED_PARAMS = {
    "proposed": 879_087,
    "proposed_no_attention": 877_123,
    "proposed_no_separable": 1_016_998,
    "proposed_no_attention_no_separable": 1_007_040,
    "proposed_mel_only": 876_878,
    "proposed_wave_only": 878_417,
    "proposed_h64": 843_567,
    "proposed_h256": 950_127,
    "stgram_mfn": 1_155_990,
    "stgram_mfn_equal": 1_155_990,
    "noisy_arcmix": 1_156_566,
    "noisy_arcmix_equal": 1_156_566,
    "sw_wavenet": 34_464_256,
    "sw_wavenet_equal": 34_464_256,
    "mobilenetv2": 1_118_041,
    "idnn": 46_416,
    "dcase2020_ae": 267_928,
}

# Paper figures are rounded ("1.1 M"); 5 % everywhere except STgram-MFN: the current official
# code (shallow MobileFaceNet table) has 1,155,990 used parameters, 5.1 % above "1.1 M" (the
# 2022 table would be 1.35 M), so it is held to 6 % and the gap is reported. Noisy-ArcMix is
# STgram-MFN with a third input channel (1,156,566, +5.1 % over its "1.1 M"): 6 % too.
# SW-WaveNet: 34.46 M counted from its code vs the paper's "27 M": +27.6 %, unreconciled
# (reports/complexity.md explains); held to 28 % so that any change of the count is caught.
PAPER_TOLERANCE = {"stgram_mfn": 0.06, "noisy_arcmix": 0.06, "sw_wavenet": 0.28}

UNUSED_FC_OUT = 128 * 41 + 41  # the official MobileFaceNet's unused Linear(128, 41)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def waves() -> torch.Tensor:
    return torch.randn(2, CLIP, generator=torch.Generator().manual_seed(0))


def test_registry_names_and_order():
    assert list_models() == EXPECTED_NAMES


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError, match="valid names: proposed, .*dcase2020_ae"):
        create_model("resnet50")
    with pytest.raises(KeyError, match="idnn"):
        get_spec("nope")


def test_bad_override_names_the_model():
    with pytest.raises(TypeError, match="idnn"):
        create_model("idnn", embedding_dim=41)
    assert isinstance(create_model("idnn", num_classes=41), torch.nn.Module)  # accepted, unused


@pytest.mark.parametrize("name", list_models())
def test_spec_is_consistent(name: str):
    spec = get_spec(name)
    assert spec.name == name
    if spec.objective == "classification":
        assert spec.input_kind == "waveform" and spec.input_shape == (CLIP,)
    else:
        assert spec.input_kind == "logmel_frames" and spec.input_shape == (309, 640)
    assert create_model(name).spec is spec


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name: str, waves: torch.Tensor):
    torch.manual_seed(0)
    spec = get_spec(name)
    model = create_model(name).train()
    if spec.objective == "classification":
        target = torch.tensor([3, 40])
        emb = model(waves)
        assert emb.shape == (2, model.embedding_dim)
        logits = model.head(emb, target)
        assert logits.shape == (2, model.num_classes) == (2, 41)
        loss = F.cross_entropy(logits, target)
        out = logits
    else:
        x = model.frames(model.frontend(waves[:, :16_000]))  # short clip: 32 frames
        assert x.shape == (2, 28, 640)
        pred, target = model(x), model.target(x)
        assert pred.shape == target.shape == ((2, 28, 128) if name == "idnn" else (2, 28, 640))
        loss = F.mse_loss(pred, target)
        out = pred
    assert torch.isfinite(out).all()
    loss.backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient for {pname}"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize(("name", "channels", "attention"), [
    ("proposed", 2, True), ("proposed_no_attention", 2, False), ("proposed_mel_only", 1, True),
    ("proposed_wave_only", 1, True), ("stgram_mfn", 2, False), ("stgram_mfn_equal", 2, False),
    ("noisy_arcmix", 3, False), ("sw_wavenet", 2, False), ("mobilenetv2", 1, False),
])
def test_features_and_attention_map(name: str, channels: int, attention: bool,
                                    waves: torch.Tensor):
    model = create_model(name).eval()
    with torch.no_grad():
        assert model.features(waves).shape == (2, channels, 128, 313)
        amap = model.attention_map(waves)
    if not attention:
        assert amap is None
        return
    assert amap.shape == (2, channels, 128, 313)
    # the separable block's final ReLU before the sigmoid bounds the map to [0.5, 1)
    assert amap.min() >= 0.5 and amap.max() <= 1.0


def test_num_classes_override(waves: torch.Tensor):
    model = create_model("proposed_h64", num_classes=7).eval()
    with torch.no_grad():
        logits = model.head(model(waves[:1]))
    assert logits.shape == (1, 7) and model.embedding_dim == 64


@pytest.mark.parametrize("name", list_models())
def test_parameter_count(name: str):
    model = create_model(name)
    count = n_params(model)
    assert count == EXPECTED_PARAMS[name]
    paper = get_spec(name).paper_params
    if paper is not None:
        tolerance = PAPER_TOLERANCE.get(name, 0.05)
        assert abs(count - paper) / paper <= tolerance, f"{name}: {count} vs paper {paper}"


def test_counts_reconcile_with_the_official_code():
    model = create_model("proposed")
    parts = {
        "wavegram": n_params(model.frontend.branches["wavegram"]),
        "attention": n_params(model.backbone.attention),
        "mobilefacenet": n_params(model.backbone.net),
        "arcface": n_params(model.id_head),
    }
    # official: 1,539 + 1,964 + 875,625 (incl. the unused fc_out) + 5,248 = 884,376
    assert parts == {"wavegram": 1_539, "attention": 1_964,
                     "mobilefacenet": 875_625 - UNUSED_FC_OUT, "arcface": 5_248}
    assert n_params(model) + UNUSED_FC_OUT == 884_376
    assert n_params(create_model("proposed_no_attention")) + UNUSED_FC_OUT == 882_412


def test_frontends_give_128_by_313(waves: torch.Tensor):
    with torch.no_grad():
        assert Wavegram()(waves).shape == (2, 128, 313)
        assert Wavegram(separable=False)(waves).shape == (2, 128, 313)
        assert Tgram()(waves).shape == (2, 128, 313)
    assert n_params(Wavegram(separable=False).conv.conv) == 128 * 1024 + 128


def test_arcface_margin():
    head = ArcFace(4, 3, s=40.0, m=0.7)
    with torch.no_grad():
        head.weight.copy_(torch.eye(3, 4))
    theta = torch.tensor([0.3, 2.8])  # second angle: theta + m > pi -> fallback branch
    emb = torch.stack([torch.cos(theta), torch.sin(theta), torch.zeros(2), torch.zeros(2)], 1)
    plain = head(emb)
    assert torch.allclose(plain[:, 0], 40 * torch.cos(theta), atol=1e-5)
    margin = head(emb, torch.tensor([0, 0]))
    assert torch.allclose(margin[0, 0], 40 * torch.cos(theta[0] + 0.7), atol=1e-4)
    fallback = torch.cos(theta[1]) - math.sin(math.pi - 0.7) * 0.7
    assert torch.allclose(margin[1, 0], 40 * fallback, atol=1e-4)
    assert torch.allclose(margin[:, 1:], plain[:, 1:])  # other classes untouched


def test_context_frames_are_frame_major():
    logmel = torch.arange(2 * 3 * 7, dtype=torch.float32).reshape(2, 3, 7)  # (B, mels, T)
    frames = context_frames(logmel)  # (2, 3, 15)
    assert frames.shape == (2, 3, 15)
    for t in range(3):
        expected = torch.cat([logmel[:, :, t + k] for k in range(5)], dim=-1)
        assert torch.equal(frames[:, t], expected)


def test_idnn_interpolates_the_centre_frame():
    model = create_model("idnn")
    x = torch.randn(4, 640)
    assert torch.equal(model.target(x), x[:, 256:384])
    x2 = x.clone()
    x2[:, 256:384] = 0.0  # the centre frame is not an input
    with torch.no_grad():
        assert torch.equal(model(x), model(x2))


def test_stgram_variants_differ_only_in_their_log_mel(waves: torch.Tensor):
    from benchmark.features.baselines import StgramLogMel
    from benchmark.features.logmel import LogMel

    faithful, equal = create_model("stgram_mfn").eval(), create_model("stgram_mfn_equal").eval()
    assert isinstance(faithful.frontend.branches["stgram_logmel"], StgramLogMel)
    assert isinstance(equal.frontend.branches["logmel"], LogMel)
    equal.load_state_dict(faithful.state_dict(), strict=False)
    with torch.no_grad():
        f, e = faithful.features(waves), equal.features(waves)  # (2, 2, 128, 313)
    assert torch.equal(f[:, 1], e[:, 1])  # the same Tgram
    assert (e[:, 0] - f[:, 0]).median() < -8  # the paper's log-Mel sits 11-22 dB lower

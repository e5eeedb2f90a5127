"""SW-WaveNet: two gated, dilated WaveNet branches (log-Mel and Wavegram) with an ArcFace head.

H. Chen, L. Ran, X. Sun and C. Cai, "SW-WaveNet: Learning Representation from Spectrogram and
WaveGram Using WaveNet for Anomalous Sound Detection", ICASSP 2023 (official code:
chen-hhaa/SW-WaveNet4ASD, ``wavenet.py``, classes ``SpecWaveNet`` and ``WavegramWaveNet``).

Waveform ``(B, 160000)`` -> ``[log-Mel, Wavegram]`` stacked ``(B, 2, 128, 313)``; each map is
read as a 128-channel sequence of 313 steps by its own :class:`WaveNetBranch`::

    causal Conv1d 128 -> 512, k 2, no bias                          (B, 512, 313)
    2 cycles x 4 gated residual layers, dilations 1, 2, 4, 8:
        tanh(BN(causal conv k 3)) * sigmoid(BN(causal conv k 3))     (B, 512, 313)
        fx = 1x1 conv; skip = 1x1 conv of fx; x = x + fx
    sum of the 8 skips -> BN -> ReLU
    depthwise Conv1d, kernel 313 (learned pooling over time) -> BN    (B, 512, 1)
    1x1 conv 512 -> 128                                               (B, 128)

The two 128-d embeddings are concatenated (256) -> ArcFace(41 classes, s = 30, m = 0.7).
Wavegram: one Conv1d(1, 128, 1024, stride 512, padding 512, no bias) on the waveform
(:class:`.frontends.Tgram` without layers). Log-Mel: STgram-MFN's (torchaudio defaults +
``AmplitudeToDB``), which is what SW-WaveNet's test code computes (its training code uses a
128-sample window by mistake; not reproduced). Weights: every Conv1d ~ N(0, 2 / (k * out)), as
the code initialises them.

Causal convolutions pad on the left only; the code pads both sides and drops the right end,
which gives the same output.

Two registered variants: ``sw_wavenet`` (faithful; its recipe: Adam, no mixup) and
``sw_wavenet_equal`` (the proposed model's log-Mel and training recipe).

Parameters: 34,464,256 (each branch 17,161,344 plus the Wavegram's 131,072 and ArcFace's 10,496;
the code also builds an unused ArcFace inside the Wavegram branch, 5,248, left out here), against
the paper's "27 M" (Table 2); ``reports/complexity.md`` explains the difference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.architectures.classifier import IDClassifier
from benchmark.architectures.frontends import make_frontend
from benchmark.architectures.heads import ArcFace
from benchmark.architectures.registry import ModelSpec, register_model

__all__ = ["CausalConv1d", "GatedResidualLayer", "WaveNetBranch", "TwoBranchWaveNet",
           "build_sw_wavenet"]

FRAMES = 313  # a 10-s clip at hop 512: the time-pooling kernel


class CausalConv1d(nn.Conv1d):
    """Conv1d without bias whose output at step t sees only steps <= t (left padding)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__(in_ch, out_ch, kernel_size, dilation=dilation, bias=False)
        self.left = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0)))  # (B, out, T)


class GatedResidualLayer(nn.Module):
    """``x (B, C, T)`` -> ``(skip (B, S, T), x + fx)``, ``fx = 1x1(tanh(f) * sigmoid(g))``."""

    def __init__(self, channels: int, skip_channels: int, dilation: int) -> None:
        super().__init__()
        self.filter = nn.Sequential(CausalConv1d(channels, channels, 3, dilation),
                                    nn.BatchNorm1d(channels))
        self.gate = nn.Sequential(CausalConv1d(channels, channels, 3, dilation),
                                  nn.BatchNorm1d(channels))
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fx = self.residual(torch.tanh(self.filter(x)) * torch.sigmoid(self.gate(x)))  # (B, C, T)
        return self.skip(fx), x + fx  # the code's skip is taken after the residual 1x1


class WaveNetBranch(nn.Module):
    """A ``(B, in_channels, T)`` sequence -> embedding ``(B, out_channels)``; T = ``frames``."""

    def __init__(self, in_channels: int = 128, channels: int = 512, skip_channels: int = 512,
                 out_channels: int = 128, cycles: int = 2, depth: int = 4,
                 frames: int = FRAMES) -> None:
        super().__init__()
        self.input_conv = CausalConv1d(in_channels, channels, 2)
        self.layers = nn.ModuleList(
            GatedResidualLayer(channels, skip_channels, 2 ** i)
            for _ in range(cycles) for i in range(depth)
        )
        self.post = nn.Sequential(
            nn.BatchNorm1d(skip_channels), nn.ReLU(),
            nn.Conv1d(skip_channels, skip_channels, frames, groups=skip_channels),  # (B, S, 1)
            nn.BatchNorm1d(skip_channels),
            nn.Conv1d(skip_channels, out_channels, 1),  # (B, out, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_conv(x)  # (B, C, T)
        skips = 0
        for layer in self.layers:
            skip, x = layer(x)
            skips = skips + skip  # (B, S, T)
        return self.post(skips).flatten(1)  # (B, out)


class TwoBranchWaveNet(nn.Module):
    """``(B, C, 128, T)`` -> one WaveNet per channel, embeddings concatenated ``(B, C * 128)``."""

    def __init__(self, branches: int = 2, **branch_kwargs: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(WaveNetBranch(**branch_kwargs) for _ in range(branches))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x[:, i]) for i, branch in enumerate(self.branches)], dim=1)


def _init_like_the_code(model: nn.Module) -> None:
    """Every Conv1d ~ N(0, 2 / (k * out_channels)); BatchNorm as identity."""
    for module in model.modules():
        if isinstance(module, nn.Conv1d):
            nn.init.normal_(module.weight, 0.0,
                            math.sqrt(2.0 / (module.kernel_size[0] * module.out_channels)))
        elif isinstance(module, nn.BatchNorm1d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def build_sw_wavenet(
    num_classes: int = 41,
    channels: int = 512,
    s: float = 30.0,
    m: float = 0.7,
    logmel: str = "stgram_logmel",
) -> IDClassifier:
    """SW-WaveNet: ``[log-Mel, Wavegram]`` -> two WaveNets -> 256-d embedding -> ArcFace."""
    frontend = make_frontend((logmel, "conv_wavegram"))
    backbone = TwoBranchWaveNet(frontend.out_channels, channels=channels, skip_channels=channels)
    embedding_dim = 128 * frontend.out_channels  # 256
    head = ArcFace(embedding_dim, num_classes, s=s, m=m)
    model = IDClassifier(frontend, backbone, head, embedding_dim, num_classes)
    _init_like_the_code(model)
    return model


register_model(ModelSpec(
    name="sw_wavenet", family="sw_wavenet", input_kind="waveform",
    objective="classification", input_shape=(160_000,), paper_params=27_000_000,
    description="SW-WaveNet (Chen et al. 2023), faithful: STgram-MFN's log-Mel + Wavegram, "
    "two gated dilated WaveNets, ArcFace s=30",
))(build_sw_wavenet)


@register_model(ModelSpec(
    name="sw_wavenet_equal", family="sw_wavenet", input_kind="waveform",
    objective="classification", input_shape=(160_000,), paper_params=None,
    description="SW-WaveNet on equal terms: the proposed model's log-Mel (and training recipe)",
))
def build_sw_wavenet_equal(**kwargs) -> IDClassifier:
    """SW-WaveNet with the proposed model's log-Mel front end."""
    return build_sw_wavenet(**{"logmel": "logmel", **kwargs})

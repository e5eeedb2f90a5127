"""MobileNetV2 machine-ID classifier on the log-Mel spectrogram (Giri et al. 2020).

M. Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018;
used for ASD by R. Giri et al., "Self-supervised classification for detecting anomalous
sounds", DCASE 2020 Workshop (a classifier of machine type and ID on log-Mel spectrograms,
softmax output; the anomaly score is the cross-entropy w.r.t. the clip's own ID).

Waveform ``(B, 160000)`` -> log-Mel ``(B, 1, 128, 313)`` -> MobileNetV2 trunk -> global
average pooling ``(B, last)`` = embedding -> ``Linear(last, 41)`` (target ignored).

Configuration. Neither Giri et al. nor Neri & Carli publish the exact MobileNetV2 behind the
paper's "1.1 M" parameters. We use the standard MobileNetV2 as in the torchvision and Keras
reference implementations (the ImageNet table of Sandler et al., channels rounded to
multiples of 8, width multiplier on every layer except the 1280-channel last 1x1 conv, which
is never narrowed) on a 1-channel log-Mel input, with a linear head for 41 classes, and choose
the width ``WIDTH = 0.65``: the multiplier (in steps of 0.05) whose total is closest to
1.1 M (1,118,041 parameters; width 0.6 gives 988,089, 0.7 gives 1,252,473). The common width
0.5 gives 739,913 (Keras, 3-channel input: 758,745), too far from the reported figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from benchmark.architectures.classifier import IDClassifier
from benchmark.architectures.frontends import make_frontend
from benchmark.architectures.heads import LinearHead
from benchmark.architectures.registry import ModelSpec, register_model

__all__ = ["MobileNetV2", "InvertedResidual", "MOBILENETV2_TABLE", "build_mobilenetv2", "WIDTH"]

# [expansion t, output channels c, repeats n, stride of the first repeat s] (Sandler et al.)
MOBILENETV2_TABLE: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS, LAST_CHANNELS = 32, 1280
WIDTH = 0.65


def round_channels(channels: float, divisor: int = 8) -> int:
    """Nearest multiple of ``divisor`` (at least ``divisor``), never more than 10 % below."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * channels else rounded


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias) -> BN -> ReLU6, 'same' padding for odd kernels."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, groups=groups,
                      bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when t = 1) -> 3x3 depthwise -> 1x1 linear project (+ identity)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        self.residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = [ConvBNReLU6(in_ch, hidden, 1)] if expansion != 1 else []
        layers += [
            ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """Image ``(B, C, 128, 313)`` -> pooled embedding ``(B, 1280)`` (width <= 1)."""

    def __init__(self, in_channels: int = 1, width: float = WIDTH,
                 table: Sequence[Sequence[int]] = MOBILENETV2_TABLE) -> None:
        super().__init__()
        channels = round_channels(STEM_CHANNELS * width)
        layers: list[nn.Module] = [ConvBNReLU6(in_channels, channels, 3, 2)]  # (B, 24, 64, 157)
        for t, c, n, s in table:
            out_ch = round_channels(c * width)
            for i in range(n):
                layers.append(InvertedResidual(channels, out_ch, s if i == 0 else 1, t))
                channels = out_ch
        self.out_channels = round_channels(LAST_CHANNELS * max(1.0, width))
        layers.append(ConvBNReLU6(channels, self.out_channels, 1))  # (B, last, 4, 10)
        self.features = nn.Sequential(*layers)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))  # (B, last)


def build_mobilenetv2(num_classes: int = 41, width: float = WIDTH) -> IDClassifier:
    """Log-Mel -> MobileNetV2(width) -> linear ID head."""
    frontend = make_frontend(("logmel",))
    backbone = MobileNetV2(frontend.out_channels, width)
    head = LinearHead(backbone.out_channels, num_classes)
    nn.init.normal_(head.weight, 0.0, 0.01)
    nn.init.zeros_(head.bias)
    return IDClassifier(frontend, backbone, head, backbone.out_channels, num_classes)


register_model(ModelSpec(
    name="mobilenetv2", family="mobilenetv2", input_kind="waveform",
    objective="classification", input_shape=(160_000,), paper_params=1_100_000,
    description=f"MobileNetV2 (width {WIDTH}) ID classifier on log-Mel (Giri et al. 2020)",
))(build_mobilenetv2)

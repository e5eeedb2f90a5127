"""MobileFaceNet backbone as used for ASD by STgram-MFN and Neri & Carli (2024).

S. Chen et al., "MobileFaceNets: Efficient CNNs for Accurate Real-Time Face Verification on
Mobile Devices", CCBR 2018; the shallow bottleneck table is the one of Liu et al.'s DCASE 2022
Task 2 system, used unchanged by the current STgram-MFN code and by Neri & Carli:
``[t, c, n, s] = [2, 128, 2, 2], [4, 128, 2, 2], [4, 128, 2, 2]``.

Layout for a ``(B, C, 128, 313)`` input::

    ConvBlock C -> 64, 3x3, stride 2, PReLU        (B, 64, 64, 157)
    depthwise ConvBlock 64, 3x3, PReLU            (B, 64, 64, 157)
    6 bottlenecks (table above)                   (B, 128, 8, 20)
    ConvBlock 128 -> 512, 1x1, PReLU              (B, 512, 8, 20)
    GDC: depthwise (8, 20) conv + BN, linear       (B, 512, 1, 1)
    ConvBlock 512 -> h, 1x1 + BN, linear           (B, h)   = embedding

The official code also builds an ``fc_out = Linear(128, num_classes)`` that the ArcFace
models never use (5,289 parameters for 41 classes); it is left out here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MobileFaceNet", "MOBILEFACENET_TABLE", "ConvBlock", "Bottleneck"]

# [expansion t, output channels c, repeats n, stride of the first repeat s]
MOBILEFACENET_TABLE: tuple[tuple[int, int, int, int], ...] = (
    (2, 128, 2, 2),
    (4, 128, 2, 2),
    (4, 128, 2, 2),
)
STEM_CHANNELS = 64
LAST_CHANNELS = 512
GDC_KERNEL = (8, 20)  # spatial size before the GDC for a 128 x 313 input


class ConvBlock(nn.Sequential):
    """Conv (no bias) -> BN -> PReLU (omitted when ``linear``); ``depthwise`` sets groups."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel_size: int | tuple[int, int], stride: int = 1,
        padding: int = 0, depthwise: bool = False, linear: bool = False,
    ) -> None:
        super().__init__()
        groups = in_ch if depthwise else 1
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, groups=groups,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        if not linear:
            self.act = nn.PReLU(out_ch)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand (PReLU) -> 3x3 depthwise (PReLU) -> 1x1 linear project."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        self.residual = stride == 1 and in_ch == out_ch
        self.conv = nn.Sequential(
            ConvBlock(in_ch, hidden, 1),
            ConvBlock(hidden, hidden, 3, stride, 1, depthwise=True),
            ConvBlock(hidden, out_ch, 1, linear=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileFaceNet(nn.Module):
    """Image ``(B, C, 128, 313)`` -> embedding ``(B, embedding_dim)``."""

    def __init__(
        self,
        in_channels: int = 2,
        embedding_dim: int = 128,
        table: Sequence[Sequence[int]] = MOBILEFACENET_TABLE,
        gdc_kernel: tuple[int, int] = GDC_KERNEL,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvBlock(in_channels, STEM_CHANNELS, 3, 2, 1),  # (B, 64, 64, 157)
            ConvBlock(STEM_CHANNELS, STEM_CHANNELS, 3, 1, 1, depthwise=True),
        )
        blocks, channels = [], STEM_CHANNELS
        for t, c, n, s in table:
            for i in range(n):
                blocks.append(Bottleneck(channels, c, s if i == 0 else 1, t))
                channels = c
        self.blocks = nn.Sequential(*blocks)  # (B, 128, 8, 20)
        self.conv_last = ConvBlock(channels, LAST_CHANNELS, 1)  # (B, 512, 8, 20)
        self.gdc = ConvBlock(LAST_CHANNELS, LAST_CHANNELS, gdc_kernel, depthwise=True,
                             linear=True)  # (B, 512, 1, 1)
        self.embedding = ConvBlock(LAST_CHANNELS, embedding_dim, 1, linear=True)  # (B, h, 1, 1)
        self.embedding_dim = embedding_dim
        self._init_weights()

    def _init_weights(self) -> None:
        # He-normal with fan-out = k_h * k_w * out_channels, BN as identity (as in the original)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, 64, 64, 157)
        x = self.blocks(x)  # (B, 128, 8, 20)
        x = self.gdc(self.conv_last(x))  # (B, 512, 1, 1)
        return self.embedding(x).flatten(1)  # (B, h)

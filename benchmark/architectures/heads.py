"""Classification heads: embedding ``(B, h)`` -> logits ``(B, num_classes)``.

* :class:`ArcFace` (additive angular margin; Deng et al., CVPR 2019), as used by STgram-MFN
  (s = 30) and Neri & Carli 2024 (s = 40), both with m = 0.7 and ``easy_margin`` off:
  ``logits = s * cos(theta_j)`` for every class j, with ``cos(theta_y + m)`` for the target y
  when a target is given (and ``cos(theta_y) - m sin(m)`` once ``theta_y + m`` passes pi, to
  keep the logit decreasing in theta). One weight matrix ``(num_classes, h)``, no bias.
* :class:`LinearHead`: a plain ``nn.Linear`` (MobileNetV2); the target is ignored.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ArcFace", "LinearHead"]


class ArcFace(nn.Module):
    """Scaled cosine logits with an additive angular margin on the target class."""

    def __init__(self, in_features: int, num_classes: int, s: float = 40.0,
                 m: float = 0.7) -> None:
        super().__init__()
        if s <= 0 or not 0 <= m < math.pi / 2:
            raise ValueError(f"ArcFace: need s > 0 and 0 <= m < pi/2, got s={s}, m={m}")
        self.in_features, self.num_classes, self.s, self.m = in_features, num_classes, s, m
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_uniform_(self.weight)
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.threshold = math.cos(math.pi - m)  # cos(theta) above this <=> theta + m < pi
        self.fallback = math.sin(math.pi - m) * m

    def forward(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        cosine = F.linear(F.normalize(emb), F.normalize(self.weight))  # (B, num_classes)
        if target is None:
            return self.s * cosine
        sine = (1.0 - cosine.pow(2)).clamp(min=1e-7).sqrt()  # clamp: finite gradient at |cos|=1
        phi = cosine * self.cos_m - sine * self.sin_m  # cos(theta + m)
        phi = torch.where(cosine > self.threshold, phi, cosine - self.fallback)
        is_target = F.one_hot(target.long(), self.num_classes).bool()  # (B, num_classes)
        return self.s * torch.where(is_target, phi, cosine)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, " \
               f"s={self.s}, m={self.m}"


class LinearHead(nn.Linear):
    """``nn.Linear`` with the head signature ``(emb, target=None)``; the target is ignored."""

    def forward(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(emb)

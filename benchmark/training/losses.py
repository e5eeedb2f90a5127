"""Losses: the Noisy-ArcMix-style mixup ArcFace loss and the reconstruction loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def arcmix_loss(model: nn.Module, emb: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor,
                lam: float) -> torch.Tensor:
    """``lam * CE(head(emb, y_a), y_a) + (1 - lam) * CE(head(emb, y_a), y_b)``.

    As in Noisy-ArcMix (Choi et al. 2024) and the paper's code, the angular margin is applied
    once, to the batch's own class ``y_a``; the same logits are scored against both targets.
    """
    logits = head_logits(model, emb, y_a)  # (B, num_classes)
    loss = lam * F.cross_entropy(logits, y_a)
    if lam < 1.0:
        loss = loss + (1.0 - lam) * F.cross_entropy(logits, y_b)
    return loss


def head_logits(model: nn.Module, emb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The angular head's logits in float32, also under bf16 autocast: cos(theta + m) and the
    scale s = 30 need more than bf16's 3 significant digits (no effect outside autocast)."""
    with torch.autocast(emb.device.type, enabled=False):
        return model.head(emb.float(), target)


def reconstruction_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between ``model(x)`` and ``model.target(x)`` (x: (B, 640))."""
    return F.mse_loss(model(x), model.target(x))

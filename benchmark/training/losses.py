"""Training losses, selected by a model's recipe (``models.<NAME>.loss`` in ``params.yaml``).

Classification losses take the mixup pair ``(y_a, y_b, lam)`` of a batch whose inputs the model
mixed (``lam = 1``: no mixup, all three are the ArcFace cross-entropy):

- ``arcface`` (STgram-MFN, SW-WaveNet; Noisy-ArcMix's ``arcface`` mode): ``CE(z_a, y_a)``
  without mixup (``mixup_alpha`` must be 0);
- ``noisy_arcmix`` (Noisy-ArcMix, Choi & Choi 2024, ``utils.py: noisy_arcmix_criterion``; also
  the paper's code): one set of logits, with the angular margin at the batch's own class ``y_a``
  only, scored against both targets: ``lam CE(z_a, y_a) + (1 - lam) CE(z_a, y_b)``. The ``y_b``
  term sees the margin on the other class: that inconsistency is the "noise";
- ``arcmix`` (its sibling mode, ``arcmix_criterion``): a second set of logits with the margin at
  ``y_b``: ``lam CE(z_a, y_a) + (1 - lam) CE(z_b, y_b)``.

Reconstruction models (the frame autoencoders) use ``mse``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.training.params import LossName

__all__ = ["arcface_loss", "noisy_arcmix_loss", "arcmix_loss", "reconstruction_loss", "head_logits",
           "CLASSIFICATION_LOSSES", "RECONSTRUCTION_LOSSES", "LOSSES", "loss_objective"]

MixupLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


def arcface_loss(model: nn.Module, emb: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor,
                 lam: float) -> torch.Tensor:
    """``CE(head(emb, y_a), y_a)``: the recipe has no mixup (``lam`` is 1, ``y_b`` is ``y_a``)."""
    return F.cross_entropy(head_logits(model, emb, y_a), y_a)


def noisy_arcmix_loss(model: nn.Module, emb: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor,
                      lam: float) -> torch.Tensor:
    """``lam * CE(head(emb, y_a), y_a) + (1 - lam) * CE(head(emb, y_a), y_b)``."""
    logits = head_logits(model, emb, y_a)  # (B, num_classes), margin at y_a
    loss = lam * F.cross_entropy(logits, y_a)
    if lam < 1.0:
        loss = loss + (1.0 - lam) * F.cross_entropy(logits, y_b)
    return loss


def arcmix_loss(model: nn.Module, emb: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor,
                lam: float) -> torch.Tensor:
    """``lam * CE(head(emb, y_a), y_a) + (1 - lam) * CE(head(emb, y_b), y_b)``."""
    loss = lam * F.cross_entropy(head_logits(model, emb, y_a), y_a)
    if lam < 1.0:
        loss = loss + (1.0 - lam) * F.cross_entropy(head_logits(model, emb, y_b), y_b)
    return loss


def head_logits(model: nn.Module, emb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The angular head's logits in float32, also under bf16 autocast: cos(theta + m) and the
    scale s = 30 need more than bf16's 3 significant digits (no effect outside autocast)."""
    with torch.autocast(emb.device.type, enabled=False):
        return model.head(emb.float(), target)


def reconstruction_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between ``model(x)`` and ``model.target(x)`` (x: (B, 640))."""
    return F.mse_loss(model(x), model.target(x))


CLASSIFICATION_LOSSES: dict[str, MixupLoss] = {
    "arcface": arcface_loss, "noisy_arcmix": noisy_arcmix_loss, "arcmix": arcmix_loss,
}
RECONSTRUCTION_LOSSES: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "mse": reconstruction_loss,
}
LOSSES = {**CLASSIFICATION_LOSSES, **RECONSTRUCTION_LOSSES}
if tuple(LOSSES) != get_args(LossName):
    raise RuntimeError("benchmark.training.params.LossName must list every loss of LOSSES")


def loss_objective(name: str) -> str:
    """``classification`` or ``reconstruction``: the models a loss trains (KeyError if unknown)."""
    if name in CLASSIFICATION_LOSSES:
        return "classification"
    if name in RECONSTRUCTION_LOSSES:
        return "reconstruction"
    raise KeyError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")

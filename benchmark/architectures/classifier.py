"""The machine-ID classifier shared by every classification model of the benchmark.

``IDClassifier = frontend -> backbone -> head``: the front end turns a waveform into a
``(B, C, 128, T)`` image, the backbone into an embedding ``(B, h)``, the head into logits.
Self-supervised ASD (Giri et al. 2020; Liu et al. 2022; Neri & Carli 2024) trains it to
recognise the machine type and ID of normal clips; the anomaly score of a clip is the
cross-entropy of its logits w.r.t. its own ID.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["IDClassifier"]


class IDClassifier(nn.Module):
    """Waveform ``(B, L)`` -> embedding ``(B, h)``; :meth:`head` -> logits ``(B, classes)``."""

    def __init__(
        self, frontend: nn.Module, backbone: nn.Module, head: nn.Module,
        embedding_dim: int, num_classes: int,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.id_head = head  # ``head`` is the method of the model API
        self.embedding_dim, self.num_classes = embedding_dim, num_classes

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """Front-end output ``(B, C, 128, T)``."""
        return self.frontend(wave)

    def forward(self, wave: torch.Tensor, perm: torch.Tensor | None = None,
                lam: float = 1.0) -> torch.Tensor:
        """Embedding ``(B, h)``; with ``perm`` (training mixup) each clip is mixed with clip
        ``perm[i]`` at weight ``lam``, where the front end mixes (waveform or features)."""
        return self.backbone(self.frontend(wave, perm, lam))  # (B, h)

    def head(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, num_classes)``; ArcFace applies its margin to ``target`` when given."""
        return self.id_head(emb, target)

    def attention_map(self, wave: torch.Tensor) -> torch.Tensor | None:
        """The attention map ``(B, C, 128, T)`` the features are multiplied by, or ``None``."""
        attention = getattr(self.backbone, "attention", None)
        return None if attention is None else attention.map(self.features(wave))

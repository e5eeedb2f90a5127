"""Anomaly scores: larger means more anomalous.

- classification models: the cross-entropy of the head's logits (angular margin applied) with
  respect to the clip's true class (machine ID), as in the paper's code;
- reconstruction models: the mean squared reconstruction error over the clip's 5-frame vectors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@torch.inference_mode()
def anomaly_scores(model: nn.Module, spec, waveforms: torch.Tensor,
                   class_index: torch.Tensor) -> np.ndarray:
    """Scores ``(B,)`` of waveforms ``(B, L)`` (float in [-1, 1]) with classes ``(B,)``."""
    if spec.objective == "classification":
        if (class_index < 0).any():
            raise ValueError(
                f"{spec.name}: cannot score clips of a machine ID without training data "
                "(class_index -1) with a classification model"
            )
        emb = model(waveforms)  # (B, h)
        logits = model.head(emb, class_index)  # (B, num_classes)
        return F.cross_entropy(logits, class_index, reduction="none").cpu().numpy()
    if spec.objective == "reconstruction":
        return reconstruction_errors(model, model.frontend(waveforms)).cpu().numpy()
    raise ValueError(f"{spec.name}: unknown objective {spec.objective!r}")


def reconstruction_errors(model: nn.Module, logmel: torch.Tensor) -> torch.Tensor:
    """Mean squared error per clip ``(B,)`` of log-Mel spectrograms ``(B, n_mels, T)``."""
    frames = model.frames(logmel.float())  # (B, T-4, 640)
    flat = frames.reshape(-1, frames.shape[-1])  # (B*(T-4), 640)
    error = (model(flat) - model.target(flat)).pow(2).mean(dim=-1)  # (B*(T-4),)
    return error.view(frames.shape[0], frames.shape[1]).mean(dim=1)

"""Anomaly scores: larger means more anomalous.

- classification models: the cross-entropy of the head's logits (angular margin applied) with
  respect to the clip's true class (machine ID), as in the paper's code;
- reconstruction models: the mean squared reconstruction error over the clip's 5-frame vectors
  (with one model per machine type, the model of the clip's type).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.architectures.per_type import PerTypeModel


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
        with torch.autocast(emb.device.type, enabled=False):  # the head in float32 (see losses)
            logits = model.head(emb.float(), class_index)  # (B, num_classes)
        return F.cross_entropy(logits, class_index, reduction="none").cpu().numpy()
    if spec.objective == "reconstruction":
        return frame_scores(model, model.frontend(waveforms), class_index).cpu().numpy()
    raise ValueError(f"{spec.name}: unknown objective {spec.objective!r}")


@torch.inference_mode()
def frame_scores(model: nn.Module, logmel: torch.Tensor, class_index: torch.Tensor,
                 num_frames: torch.Tensor | None = None) -> torch.Tensor:
    """Frame models: :func:`reconstruction_errors` ``(B,)``, each clip by its own type's model
    when ``model`` is a :class:`PerTypeModel` (routed by ``class_index``)."""
    if isinstance(model, PerTypeModel):
        return model.route(class_index, lambda sub, where: reconstruction_errors(
            sub, logmel[where], None if num_frames is None else num_frames[where]))
    return reconstruction_errors(model, logmel, num_frames)


def reconstruction_errors(model: nn.Module, logmel: torch.Tensor,
                          num_frames: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per clip ``(B,)`` of log-Mel spectrograms ``(B, n_mels, T)``.

    ``num_frames (B,)``: frames of each row that are the clip's (the rest, padding, is left out
    of its mean); None = all ``T``.
    """
    frames = model.frames(logmel.float())  # (B, T-4, 640)
    batch, steps = frames.shape[0], frames.shape[1]
    flat = frames.reshape(-1, frames.shape[-1])  # (B*(T-4), 640)
    error = (model(flat).float() - model.target(flat)).pow(2).mean(dim=-1)  # (B*(T-4),)
    error = error.view(batch, steps)  # (B, T-4)
    if num_frames is None:
        return error.mean(dim=1)
    valid = (torch.arange(steps, device=error.device).unsqueeze(0)
             < (num_frames.to(error.device) - (logmel.shape[-1] - steps)).unsqueeze(1))  # (B, T-4)
    return (error * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)

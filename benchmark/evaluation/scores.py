"""Anomaly scores: larger means more anomalous.

- classification models: the cross-entropy of the head's logits (angular margin applied) with
  respect to the clip's true class (machine ID), as in the paper's code; where a section has
  several classes (DCASE 2023+: one per attribute combination), ``-log`` of the summed softmax
  of the section's classes (``groups``), from the logits without margin: the clip's section is
  known, its attributes need not be, and the score does not depend on which class it names;
- reconstruction models: the mean squared reconstruction error over the clip's 5-frame vectors
  (with one model per machine type, the model of the clip's type).

:func:`clip_outputs` / :func:`frame_outputs` return, from the same forward pass, what the
scoring backends (:mod:`benchmark.scoring`) read besides the score: the clip's *embedding*
(classifiers: the ``(h,)`` vector the ArcFace head reads, MobileNetV2's pooled features, the
two WaveNet branches' concatenation; frame models: the mean over the clip's frames of the
bottleneck code, :meth:`~benchmark.architectures.autoencoders.FrameModel.encode`) and, for the
frame models, the *residual*: the mean over the clip's frames of ``target - reconstruction``
(the DCASE 2023 baseline's Mahalanobis score of a clip is a quadratic form of exactly this mean,
see :mod:`benchmark.scoring.backends`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.architectures.per_type import PerTypeModel


@dataclass(frozen=True)
class ClipOutputs:
    """Per clip: ``score (B,)`` float64, ``embedding (B, D)`` float32 and, for the frame
    models, ``residual (B, R)`` float32 (None for the classifiers)."""

    score: np.ndarray
    embedding: np.ndarray
    residual: np.ndarray | None = None


@torch.inference_mode()
def anomaly_scores(model: nn.Module, spec, waveforms: torch.Tensor,
                   class_index: torch.Tensor, groups: torch.Tensor | None = None) -> np.ndarray:
    """Scores ``(B,)`` of waveforms ``(B, L)`` (float in [-1, 1]) with classes ``(B,)``;
    ``groups (num_classes,)``: each class's section group (None: a class is its section)."""
    if spec.objective == "classification":
        return _classify(model, spec, waveforms, class_index, groups)[0]
    if spec.objective == "reconstruction":
        return frame_scores(model, model.frontend(waveforms), class_index).cpu().numpy()
    raise ValueError(f"{spec.name}: unknown objective {spec.objective!r}")


@torch.inference_mode()
def clip_outputs(model: nn.Module, spec, waveforms: torch.Tensor,
                 class_index: torch.Tensor, groups: torch.Tensor | None = None) -> ClipOutputs:
    """:func:`anomaly_scores` of waveforms ``(B, L)`` with the embeddings (and residuals)."""
    if spec.objective == "classification":
        score, emb = _classify(model, spec, waveforms, class_index, groups)
        return ClipOutputs(score, emb.float().cpu().numpy())
    if spec.objective == "reconstruction":
        return frame_outputs(model, model.frontend(waveforms), class_index)
    raise ValueError(f"{spec.name}: unknown objective {spec.objective!r}")


def _classify(model: nn.Module, spec, waveforms: torch.Tensor, class_index: torch.Tensor,
              groups: torch.Tensor | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """An ID classifier's score ``(B,)`` (the cross-entropy of its margin logits for the true
    class; with ``groups``, of the true class's group) and its embedding ``(B, h)`` on the
    device, the head's input."""
    if (class_index < 0).any():
        raise ValueError(
            f"{spec.name}: cannot score clips of a machine ID without training data "
            "(class_index -1) with a classification model"
        )
    emb = model(waveforms)  # (B, h)
    with torch.autocast(emb.device.type, enabled=False):  # the head in float32 (see losses)
        if groups is None:
            logits = model.head(emb.float(), class_index)  # (B, num_classes)
            return F.cross_entropy(logits, class_index, reduction="none").cpu().numpy(), emb
        logits = model.head(emb.float())  # (B, num_classes), no margin: no class is "the" one
    return group_cross_entropy(logits, class_index, groups).cpu().numpy(), emb


def group_cross_entropy(logits: torch.Tensor, class_index: torch.Tensor,
                        groups: torch.Tensor) -> torch.Tensor:
    """``-log`` of the softmax mass of the classes in each clip's group ``(B,)``: logits
    ``(B, C)``, true classes ``(B,)``, ``groups (C,)`` the group of every class."""
    log_probs = F.log_softmax(logits, dim=1)  # (B, C)
    same = groups.unsqueeze(0) == groups[class_index].unsqueeze(1)  # (B, C)
    return -torch.logsumexp(log_probs.masked_fill(~same, float("-inf")), dim=1)


@torch.inference_mode()
def frame_scores(model: nn.Module, logmel: torch.Tensor, class_index: torch.Tensor,
                 num_frames: torch.Tensor | None = None) -> torch.Tensor:
    """Frame models: :func:`reconstruction_errors` ``(B,)``, each clip by its own type's model
    when ``model`` is a :class:`PerTypeModel` (routed by ``class_index``)."""
    if isinstance(model, PerTypeModel):
        return model.route(class_index, lambda sub, where: reconstruction_errors(
            sub, logmel[where], None if num_frames is None else num_frames[where]))
    return reconstruction_errors(model, logmel, num_frames)


@torch.inference_mode()
def frame_outputs(model: nn.Module, logmel: torch.Tensor, class_index: torch.Tensor,
                  num_frames: torch.Tensor | None = None) -> ClipOutputs:
    """:func:`frame_scores` with each clip's mean bottleneck code and mean residual, every clip
    by its own type's model (a :class:`PerTypeModel`). The scores are bit-identical to
    :func:`frame_scores`'s (the same operations)."""
    if isinstance(model, PerTypeModel):
        out = model.route(class_index, lambda sub, where: _packed_frame_outputs(
            sub, logmel[where], None if num_frames is None else num_frames[where]))
        width = next(iter(model.models.values())).bottleneck_width
    else:
        out = _packed_frame_outputs(model, logmel, num_frames)  # (B, 1 + D + R)
        width = model.bottleneck_width
    out = out.cpu()
    return ClipOutputs(out[:, 0].numpy().astype(np.float64), out[:, 1:1 + width].numpy(),
                       out[:, 1 + width:].numpy())


def _packed_frame_outputs(model: nn.Module, logmel: torch.Tensor,
                          num_frames: torch.Tensor | None) -> torch.Tensor:
    """``(B, 1 + D + R)`` float32: the reconstruction error, the mean code, the mean residual
    (reconstruction - target; its sign does not matter to a Mahalanobis distance)."""
    flat, residual, error = _frame_residuals(model, logmel)
    valid = _valid_frames(error, logmel.shape[-1], num_frames)  # (B, S) bool
    counts = valid.sum(dim=1).clamp(min=1).unsqueeze(-1)  # (B, 1)
    batch, steps = error.shape

    def clip_mean(values: torch.Tensor) -> torch.Tensor:  # (B*S, W) -> (B, W)
        return (values.view(batch, steps, -1) * valid.unsqueeze(-1)).sum(dim=1) / counts

    code = model.encode(flat).float()  # (B*S, D)
    score = _clip_error(error, valid, num_frames)  # (B,)
    return torch.cat([score.unsqueeze(1), clip_mean(code), clip_mean(residual)], dim=1)


def _frame_residuals(model: nn.Module, logmel: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Context vectors ``(B*S, 640)``, residuals ``(B*S, R)`` and squared errors ``(B, S)``
    of log-Mels ``(B, n_mels, T)`` (``S = T - 4``)."""
    frames = model.frames(logmel.float())  # (B, S, 640)
    batch, steps = frames.shape[0], frames.shape[1]
    flat = frames.reshape(-1, frames.shape[-1])  # (B*S, 640)
    residual = model(flat).float() - model.target(flat)  # (B*S, R)
    return flat, residual, residual.pow(2).mean(dim=-1).view(batch, steps)


def _valid_frames(error: torch.Tensor, total_frames: int,
                  num_frames: torch.Tensor | None) -> torch.Tensor:
    """``(B, S)`` True where a context vector lies inside the clip's own ``num_frames``."""
    steps = error.shape[1]
    if num_frames is None:
        return torch.ones_like(error, dtype=torch.bool)
    return (torch.arange(steps, device=error.device).unsqueeze(0)
            < (num_frames.to(error.device) - (total_frames - steps)).unsqueeze(1))


def _clip_error(error: torch.Tensor, valid: torch.Tensor,
                num_frames: torch.Tensor | None) -> torch.Tensor:
    """The mean of each clip's valid squared errors ``(B,)``."""
    if num_frames is None:
        return error.mean(dim=1)
    return (error * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)


def reconstruction_errors(model: nn.Module, logmel: torch.Tensor,
                          num_frames: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per clip ``(B,)`` of log-Mel spectrograms ``(B, n_mels, T)``.

    ``num_frames (B,)``: frames of each row that are the clip's (the rest, padding, is left out
    of its mean); None = all ``T``.
    """
    _, _, error = _frame_residuals(model, logmel)  # (B, S)
    return _clip_error(error, _valid_frames(error, logmel.shape[-1], num_frames), num_frames)

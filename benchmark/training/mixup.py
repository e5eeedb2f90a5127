"""Waveform mixup (Zhang et al. 2018) as used by Noisy-ArcMix and Neri & Carli (2024).

One mixing weight ``lam ~ Beta(alpha, alpha)`` per batch and a random pairing of the batch with
itself; the raw waveforms are mixed, the targets are kept as the pair ``(y_a, y_b)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Mixed(NamedTuple):
    inputs: torch.Tensor  # (B, L) lam * x + (1 - lam) * x[perm]
    y_a: torch.Tensor  # (B,) the batch's own classes
    y_b: torch.Tensor  # (B,) the partners' classes
    lam: float


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float, rng: np.random.Generator) -> Mixed:
    """Mix ``x`` (B, ...) with a random permutation of itself; ``alpha == 0`` is the identity."""
    if alpha <= 0:
        return Mixed(x, y, y, 1.0)
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(x.shape[0])).to(x.device)
    return Mixed(lam * x + (1.0 - lam) * x[perm], y, y[perm], lam)

"""Mixup (Zhang et al. 2018) as used by Noisy-ArcMix and Neri & Carli (2024).

One mixing weight ``lam ~ Beta(alpha, alpha)`` per batch and a random pairing of the batch with
itself; the targets are kept as the pair ``(y_a, y_b)``. The model mixes its inputs itself
(``model(wave, perm, lam)``, see :mod:`benchmark.architectures.frontends`): the raw waveforms
for most models, the waveform and the log-Mel for Noisy-ArcMix.

The draws (:func:`draw_mixup`, on the host from the epoch's generator, where the batches are
prepared) are separate from the mixing (on the device), so the batch pipeline can run ahead of
the accelerator without changing a single draw.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class MixupDraw(NamedTuple):
    lam: float  # 1.0 = no mixing
    perm: np.ndarray | None  # (B,) partner of each clip; None = no mixing


def draw_mixup(alpha: float, batch: int, rng: np.random.Generator) -> MixupDraw:
    """``lam ~ Beta(alpha, alpha)`` then a permutation of ``batch``; ``alpha == 0``: none."""
    if alpha <= 0:
        return MixupDraw(1.0, None)
    lam = float(rng.beta(alpha, alpha))
    return MixupDraw(lam, rng.permutation(batch))


def partners(y: torch.Tensor, draw: MixupDraw) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(perm, y[perm])`` on ``y``'s device; ``(None, y)`` when the draw does not mix."""
    if draw.perm is None:
        return None, y
    perm = torch.from_numpy(draw.perm).to(y.device, non_blocking=True)
    return perm, y[perm]

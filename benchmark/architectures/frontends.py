"""Front ends: waveform ``(B, L)`` -> time-frequency images ``(B, C, 128, T)``.

* log-Mel: :class:`benchmark.features.logmel.LogMel` (16 kHz, n_fft 1024, hop 512, 128 Mels, dB).
* Wavegram (Neri & Carli, IEEE Sensors Letters 2024): one *separable* learnable Conv1d,
  1 -> 128 filters, kernel 1024, stride 512, padding 512, so that a 10-s clip (160,000
  samples) gives 128 x 313 like the log-Mel. ``separable=False`` gives the ablation's ordinary
  Conv1d (131,072 weights instead of 1,024 + 128).
* Tgram (Liu et al., "Anomalous sound detection using spectral-temporal information fusion",
  ICASSP 2022, STgram-MFN): Conv1d 1 -> 128 (kernel 1024, stride 512, padding 512, no bias),
  then 3 x [LayerNorm over the 313 frames, LeakyReLU(0.2), Conv1d 128 -> 128 (kernel 3)].
  With no layers (``conv_wavegram``) it is SW-WaveNet's Wavegram: the bare strided Conv1d.

:class:`StackedFrontend` runs named branches on the same waveform and stacks their
``(B, 128, T)`` outputs as channels: ``[log-Mel, Wavegram]`` -> ``(B, 2, 128, 313)``.

Mixup happens in the front end: ``frontend(wave, perm, lam)`` feeds the branches
``lam * wave + (1 - lam) * wave[perm]`` (:func:`mix_pairs`), so that a model whose recipe
mixes features instead of waveforms (Noisy-ArcMix mixes its log-Mel in dB) is one front end,
not a branch in the training loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from benchmark.architectures.layers import conv_bn_relu
from benchmark.features.logmel import LogMel, num_frames

__all__ = ["Wavegram", "Tgram", "StackedFrontend", "make_frontend", "mix_pairs",
           "FRONTEND_BRANCHES"]

CLIP_SAMPLES = 160_000  # one 10-s clip at 16 kHz
N_BINS = 128  # Mel bands = Wavegram / Tgram filters
WIN, HOP = 1024, 512


def mix_pairs(x: torch.Tensor, perm: torch.Tensor | None, lam: float) -> torch.Tensor:
    """Mixup with the partners: ``lam * x + (1 - lam) * x[perm]``; ``x`` itself without ``perm``."""
    if perm is None:
        return x
    return lam * x + (1.0 - lam) * x[perm]


class Wavegram(nn.Module):
    """Learnable filterbank: waveform ``(B, L)`` -> ``(B, 128, 1 + L // 512)``."""

    def __init__(self, channels: int = N_BINS, separable: bool = True) -> None:
        super().__init__()
        # separable: depthwise Conv1d(1, 1, 1024) + pointwise Conv1d(1, 128, 1), both with bias
        self.conv = conv_bn_relu(1, 1, channels, WIN, HOP, WIN // 2, bias=True,
                                 separable=separable)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.conv(wave.unsqueeze(1))  # (B, 1, L) -> (B, 128, T)


class Tgram(nn.Module):
    """STgram-MFN's temporal branch: waveform ``(B, L)`` -> ``(B, 128, T)``; T fixed (313)."""

    def __init__(
        self, channels: int = N_BINS, frames: int = num_frames(CLIP_SAMPLES, HOP),
        num_layers: int = 3,
    ) -> None:
        super().__init__()
        self.extractor = nn.Conv1d(1, channels, WIN, HOP, WIN // 2, bias=False)
        self.encoder = nn.Sequential(*[
            nn.Sequential(
                nn.LayerNorm(frames),  # normalises over time, per channel
                nn.LeakyReLU(0.2),
                nn.Conv1d(channels, channels, 3, 1, 1, bias=False),
            )
            for _ in range(num_layers)
        ])

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.extractor(wave.unsqueeze(1))  # (B, 128, 313)
        return self.encoder(x)  # (B, 128, 313)


def _logmel(separable: bool) -> nn.Module:
    return LogMel()


def _stgram_logmel(separable: bool) -> nn.Module:
    from benchmark.features.baselines import StgramLogMel

    return StgramLogMel()


def _noisy_arcmix_logmel(separable: bool) -> nn.Module:
    from benchmark.features.baselines import NoisyArcMixLogMel

    return NoisyArcMixLogMel()


def _wavegram(separable: bool) -> nn.Module:
    return Wavegram(separable=separable)


def _tgram(separable: bool) -> nn.Module:
    return Tgram()


def _conv_wavegram(separable: bool) -> nn.Module:
    return Tgram(num_layers=0)


# branch name -> constructor(separable); the names are the model's ``features`` argument.
# ``stgram_logmel``: STgram-MFN's own log-Mel (torchaudio defaults + AmplitudeToDB), also
# SW-WaveNet's; ``noisy_arcmix_logmel``: Noisy-ArcMix's (n_fft 2048, Slaney scale and norm);
# ``conv_wavegram``: SW-WaveNet's Wavegram (one strided Conv1d, no bias).
FRONTEND_BRANCHES = {"logmel": _logmel, "stgram_logmel": _stgram_logmel,
                     "noisy_arcmix_logmel": _noisy_arcmix_logmel, "wavegram": _wavegram,
                     "tgram": _tgram, "conv_wavegram": _conv_wavegram}


class StackedFrontend(nn.Module):
    """Runs each branch on the waveform and stacks the ``(B, 128, T)`` maps as channels."""

    def __init__(self, branches: dict[str, nn.Module]) -> None:
        super().__init__()
        if not branches:
            raise ValueError("StackedFrontend needs at least one branch")
        self.branches = nn.ModuleDict(branches)

    @property
    def out_channels(self) -> int:
        return len(self.branches)

    def forward(self, wave: torch.Tensor, perm: torch.Tensor | None = None,
                lam: float = 1.0) -> torch.Tensor:
        wave = mix_pairs(wave, perm, lam)  # (B, L): waveform mixup when ``perm`` is given
        maps = [branch(wave) for branch in self.branches.values()]  # C x (B, 128, T)
        return torch.stack(maps, dim=1)  # (B, C, 128, T)


def make_frontend(features: Sequence[str], separable: bool = True) -> StackedFrontend:
    """``StackedFrontend`` of the named branches (keys of :data:`FRONTEND_BRANCHES`)."""
    features = tuple(features)
    unknown = [f for f in features if f not in FRONTEND_BRANCHES]
    if unknown or not features or len(set(features)) != len(features):
        raise ValueError(
            f"features must be distinct names from {sorted(FRONTEND_BRANCHES)}, got {features}"
        )
    return StackedFrontend({f: FRONTEND_BRANCHES[f](separable) for f in features})

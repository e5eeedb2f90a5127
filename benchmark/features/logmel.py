"""Log-Mel front end shared by training, scoring, feature caching and FLOP counting.

Settings follow Neri & Carli (2024) and the DCASE 2020 Task 2 baseline: 16 kHz audio,
Hann window of 1024 samples (64 ms), hop 512 (50 % overlap), 128 Mel bands (Slaney
normalised, HTK scale), power spectrogram, ``10 * log10(x + 1e-8)``. A 10-s clip of
160,000 samples gives 128 x 313.
"""

from __future__ import annotations

import torch
from torch import nn
from torchaudio.transforms import MelSpectrogram

__all__ = ["LogMel", "num_frames"]


def num_frames(num_samples: int, hop_length: int = 512) -> int:
    """Frames produced by a centred STFT: ``1 + num_samples // hop_length`` (313 for 10 s)."""
    return 1 + num_samples // hop_length


def _check_positive(name: str, value: int | float) -> None:
    if not value > 0:
        raise ValueError(f"LogMel: {name} must be positive, got {value!r}")


class LogMel(nn.Module):
    """Waveform ``(..., L)`` -> log-Mel power spectrogram in dB ``(..., n_mels, T)``."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        win_length: int = 1024,
        hop_length: int = 512,
        n_mels: int = 128,
        power: float = 2.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        for name, value in [("sample_rate", sample_rate), ("n_fft", n_fft),
                            ("win_length", win_length), ("hop_length", hop_length),
                            ("n_mels", n_mels), ("power", power), ("eps", eps)]:
            _check_positive(name, value)
        if win_length > n_fft:
            raise ValueError(f"LogMel: win_length {win_length} exceeds n_fft {n_fft}")
        if n_mels > n_fft // 2 + 1:
            raise ValueError(f"LogMel: n_mels {n_mels} exceeds the {n_fft // 2 + 1} FFT bins")
        self.sample_rate, self.hop_length, self.n_mels = sample_rate, hop_length, n_mels
        self.eps = eps
        self.mel = MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, win_length=win_length,
            hop_length=hop_length, n_mels=n_mels, power=power,
            norm="slaney", mel_scale="htk", center=True, pad_mode="reflect",
        )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.shape[-1] < 2:
            raise ValueError(f"LogMel: need at least 2 samples, got shape {tuple(waveform.shape)}")
        power = self.mel(waveform.float())  # (..., n_mels, T)
        return 10.0 * torch.log10(power + self.eps)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, hop_length={self.hop_length}"

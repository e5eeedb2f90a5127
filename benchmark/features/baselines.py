"""The baselines' own log-Mel front ends, as batched torch modules.

The benchmark's shared front end (:class:`benchmark.features.logmel.LogMel`, Neri & Carli
2024) uses the HTK Mel scale, Slaney area normalisation and ``10 * log10(x + 1e-8)``. The
published baselines computed their features differently; these modules reproduce each
recipe so a baseline can be run on its own features:

``DcaseLogMel``
    DCASE 2020 Task 2 baseline (y-kawagu/dcase2020_task2_baseline, ``common.py``,
    ``file_to_vector_array``)::

        librosa.feature.melspectrogram(y, sr=16000, n_fft=1024, hop_length=512,
                                       n_mels=128, power=2.0)
        20.0 / power * np.log10(mel + sys.float_info.epsilon)

    i.e. librosa's defaults: Slaney Mel scale (``htk=False``), Slaney area normalisation,
    ``fmin=0``, ``fmax=sr/2``, periodic Hann window of ``n_fft``, centred STFT. Differences
    from the paper's front end: Slaney instead of HTK Mel scale (band edges differ, below
    1 kHz the Slaney scale is linear) and an additive floor of 2.2e-16 instead of 1e-8.
    Centre padding: librosa >= 0.10 pads with zeros (``pad_mode="constant"``, the default
    here, matching the installed librosa); the baseline pinned ``librosa==0.6.0``, whose
    default was ``"reflect"`` -- pass ``pad_mode="reflect"`` to reproduce that release.
    Only the first and last frame differ between the two.

``StgramLogMel``
    STgram-MFN (liuyoude/STgram-MFN, ``utils.py``, class ``Wave2Mel``)::

        torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=1024,
                                             win_length=1024, hop_length=512,
                                             n_mels=128, power=2.0)
        torchaudio.transforms.AmplitudeToDB(stype="power")

    i.e. torchaudio's defaults: HTK Mel scale, NO filter normalisation (triangles of peak
    1), reflect-padded centred STFT, ``10 * log10(max(x, 1e-10))`` with no ``top_db``.
    Differences from the paper's front end: no Slaney normalisation, so every band is
    ``-10 * log10(2 / bandwidth_Hz)`` dB higher (about +11 dB in the lowest band, +22 dB in
    the highest, for 128 bands at 16 kHz), and a floor of 1e-10 (clamp) instead of +1e-8.

``NoisyArcMixLogMel``
    Noisy-ArcMix (soonhyeon/Noisy-ArcMix, ``dataloader.py``,
    ``file_to_log_mel_spectrogram``)::

        torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=2048, hop_length=512,
                                             n_mels=128, power=2, pad_mode="constant",
                                             norm="slaney", mel_scale="slaney")
        20.0 / power * torch.log10(mel + sys.float_info.epsilon)

    i.e. a 2048-sample window (128 ms, twice the others'), zero-padded centred STFT,
    torchaudio's float32 Slaney-scale, Slaney-normalised filterbank and an additive floor of
    2.2e-16. SW-WaveNet (chen-hhaa/SW-WaveNet4ASD) computes STgram-MFN's log-Mel.

All take a float waveform ``(..., L)`` in [-1, 1) and return float32 dB ``(..., n_mels, T)``
with ``T = 1 + L // hop_length`` (313 for 10 s, 344 for an 11-s ToyCar clip).
"""

from __future__ import annotations

import math
import numbers
import sys

import torch
from torch import nn
from torchaudio.functional import melscale_fbanks

__all__ = ["DcaseLogMel", "StgramLogMel", "NoisyArcMixLogMel", "slaney_mel_filterbank"]

_PAD_MODES = ("constant", "reflect")


def _hz_to_slaney_mel(freq: torch.Tensor) -> torch.Tensor:
    """Slaney (Auditory Toolbox) Mel scale: linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz, min_log_mel = 200.0 / 3, 1000.0, 15.0
    logstep = math.log(6.4) / 27.0
    linear = freq / f_sp
    log = min_log_mel + torch.log(freq.clamp(min=min_log_hz) / min_log_hz) / logstep
    return torch.where(freq >= min_log_hz, log, linear)


def _slaney_mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz, min_log_mel = 200.0 / 3, 1000.0, 15.0
    logstep = math.log(6.4) / 27.0
    linear = f_sp * mel
    log = min_log_hz * torch.exp(logstep * (mel - min_log_mel))
    return torch.where(mel >= min_log_mel, log, linear)


def slaney_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """librosa's default ``filters.mel`` (Slaney scale, Slaney norm) as float32 ``(F, n_mels)``.

    Built in float64 and rounded once, as librosa does: torchaudio's
    ``melscale_fbanks`` builds it in float32, which leaves up to 2 % relative error in the
    tiny tail weights and about 6e-4 dB of error in the output.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft  # (F,)
    mel_lo, mel_hi = _hz_to_slaney_mel(torch.tensor([f_min, f_max], dtype=torch.float64))
    f_pts = _slaney_mel_to_hz(torch.linspace(mel_lo, mel_hi, n_mels + 2,
                                             dtype=torch.float64))  # (n_mels + 2,)
    f_diff = f_pts[1:] - f_pts[:-1]  # (n_mels + 1,)
    ramps = f_pts.unsqueeze(0) - fft_freqs.unsqueeze(1)  # (F, n_mels + 2)
    lower = -ramps[:, :-2] / f_diff[:-1]  # (F, n_mels)
    upper = ramps[:, 2:] / f_diff[1:]  # (F, n_mels)
    fb = torch.minimum(lower, upper).clamp(min=0.0)  # (F, n_mels)
    fb = fb * (2.0 / (f_pts[2:] - f_pts[:-2]))  # Slaney area normalisation
    return fb.to(torch.float32)


class _MelFrontEnd(nn.Module):
    """Shared STFT -> power -> Mel part; subclasses set the filterbank and the log."""

    def __init__(
        self,
        sample_rate: int,
        n_fft: int,
        win_length: int | None,
        hop_length: int,
        n_mels: int,
        power: float,
        pad_mode: str,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        win_length = n_fft if win_length is None else win_length
        for arg, value in [("sample_rate", sample_rate), ("n_fft", n_fft),
                           ("win_length", win_length), ("hop_length", hop_length),
                           ("n_mels", n_mels), ("power", power)]:
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
                raise ValueError(f"{name}: {arg} must be positive, got {value!r}")
        for arg, value in [("sample_rate", sample_rate), ("n_fft", n_fft),
                           ("win_length", win_length), ("hop_length", hop_length),
                           ("n_mels", n_mels)]:
            if not isinstance(value, numbers.Integral):
                raise ValueError(f"{name}: {arg} must be an integer, got {value!r}")
        if win_length > n_fft:
            raise ValueError(f"{name}: win_length {win_length} exceeds n_fft {n_fft}")
        if hop_length > n_fft:
            raise ValueError(f"{name}: hop_length {hop_length} exceeds n_fft {n_fft} "
                             "(samples between frames would be skipped)")
        if n_mels > n_fft // 2 + 1:
            raise ValueError(f"{name}: n_mels {n_mels} exceeds the {n_fft // 2 + 1} FFT bins")
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"{name}: pad_mode must be one of {_PAD_MODES}, got {pad_mode!r}")
        self.sample_rate, self.n_fft, self.win_length = sample_rate, n_fft, win_length
        self.hop_length, self.n_mels, self.power = hop_length, n_mels, power
        self.pad_mode = pad_mode
        # periodic Hann (= scipy get_window("hann", fftbins=True), librosa's "hann")
        self.register_buffer("window", torch.hann_window(win_length, periodic=True),
                             persistent=False)  # (win_length,)

    def num_frames(self, num_samples: int) -> int:
        """Frames of a centred STFT: ``1 + num_samples // hop_length``."""
        return 1 + num_samples // self.hop_length

    def _mel_power(self, waveform: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        if not waveform.is_floating_point():
            raise TypeError(f"{name}: expected a float waveform in [-1, 1), got {waveform.dtype}")
        if waveform.dim() < 1 or waveform.shape[-1] < 2:
            raise ValueError(f"{name}: need at least 2 samples, got shape {tuple(waveform.shape)}")
        if self.pad_mode == "reflect" and waveform.shape[-1] <= self.n_fft // 2:
            raise ValueError(f"{name}: reflect padding needs more than {self.n_fft // 2} "
                             f"samples, got shape {tuple(waveform.shape)}")
        lead, length = waveform.shape[:-1], waveform.shape[-1]
        x = waveform.to(torch.float32).reshape(-1, length)  # (B, L)
        spec = torch.stft(x, n_fft=self.n_fft, hop_length=self.hop_length,
                          win_length=self.win_length, window=self.window, center=True,
                          pad_mode=self.pad_mode, normalized=False, onesided=True,
                          return_complex=True)  # (B, n_fft // 2 + 1, T)
        power = spec.abs().pow(self.power)  # (B, F, T)
        mel = torch.matmul(power.transpose(-1, -2), self.fb).transpose(-1, -2)  # (B, n_mels, T)
        return mel.reshape(*lead, self.n_mels, mel.shape[-1])  # (..., n_mels, T)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, "
                f"hop_length={self.hop_length}, n_mels={self.n_mels}, pad_mode={self.pad_mode!r}")


class DcaseLogMel(_MelFrontEnd):
    """DCASE 2020 Task 2 baseline log-Mel: ``(..., L)`` -> ``(..., 128, T)`` float32 dB.

    Matches ``20/power * log10(librosa.feature.melspectrogram(...) + sys.float_info.epsilon)``
    (librosa defaults) to < 1e-3 dB on the DCASE clips; see the module docstring. The STFT
    runs in float32 (librosa's numpy FFT runs in float64 and rounds): the largest error,
    about 4e-4 dB, sits in the quietest bins (top band, ~-66 dB), where float32 FFT round-off
    is largest relative to the bin; louder bins agree to ~3e-5 dB.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        win_length: int | None = None,
        hop_length: int = 512,
        n_mels: int = 128,
        power: float = 2.0,
        f_min: float = 0.0,
        f_max: float | None = None,
        pad_mode: str = "constant",
        eps: float = sys.float_info.epsilon,
    ) -> None:
        super().__init__(sample_rate, n_fft, win_length, hop_length, n_mels, power, pad_mode)
        f_max = sample_rate / 2 if f_max is None else f_max
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ValueError(f"DcaseLogMel: need 0 <= f_min < f_max <= sample_rate / 2, got "
                             f"f_min={f_min!r}, f_max={f_max!r}")
        if not eps > 0:
            raise ValueError(f"DcaseLogMel: eps must be positive, got {eps!r}")
        self.f_min, self.f_max, self.eps = f_min, f_max, eps
        self.register_buffer("fb", slaney_mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max),
                             persistent=False)  # (n_fft // 2 + 1, n_mels)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = self._mel_power(waveform)  # (..., n_mels, T)
        return (20.0 / self.power) * torch.log10(mel + self.eps)  # (..., n_mels, T) dB


class StgramLogMel(_MelFrontEnd):
    """STgram-MFN log-Mel: ``(..., L)`` -> ``(..., 128, T)`` float32 dB.

    Equals torchaudio ``MelSpectrogram`` (defaults: HTK scale, no norm, reflect padding)
    followed by ``AmplitudeToDB(stype="power")``; see the module docstring.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        win_length: int | None = 1024,
        hop_length: int = 512,
        n_mels: int = 128,
        power: float = 2.0,
        amin: float = 1e-10,
    ) -> None:
        super().__init__(sample_rate, n_fft, win_length, hop_length, n_mels, power, "reflect")
        if not amin > 0:
            raise ValueError(f"StgramLogMel: amin must be positive, got {amin!r}")
        self.amin = amin
        # torchaudio's own float32 filterbank, bit for bit what STgram-MFN used
        self.register_buffer("fb", melscale_fbanks(n_fft // 2 + 1, 0.0, float(sample_rate // 2),
                                                    n_mels, sample_rate, norm=None,
                                                    mel_scale="htk"),
                             persistent=False)  # (n_fft // 2 + 1, n_mels)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = self._mel_power(waveform)  # (..., n_mels, T)
        return 10.0 * torch.log10(mel.clamp(min=self.amin))  # (..., n_mels, T) dB, ref 1


class NoisyArcMixLogMel(_MelFrontEnd):
    """Noisy-ArcMix log-Mel: ``(..., L)`` -> ``(..., 128, T)`` float32 dB.

    Equals torchaudio ``MelSpectrogram(n_fft=2048, hop_length=512, n_mels=128,
    pad_mode="constant", norm="slaney", mel_scale="slaney")`` followed by
    ``10 * log10(x + sys.float_info.epsilon)``; see the module docstring.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 2048,
        hop_length: int = 512,
        n_mels: int = 128,
        power: float = 2.0,
        eps: float = sys.float_info.epsilon,
    ) -> None:
        super().__init__(sample_rate, n_fft, None, hop_length, n_mels, power, "constant")
        if not eps > 0:
            raise ValueError(f"NoisyArcMixLogMel: eps must be positive, got {eps!r}")
        self.eps = eps
        # torchaudio's own float32 filterbank, as Noisy-ArcMix's MelSpectrogram builds it
        self.register_buffer("fb", melscale_fbanks(n_fft // 2 + 1, 0.0, float(sample_rate // 2),
                                                    n_mels, sample_rate, norm="slaney",
                                                    mel_scale="slaney"),
                             persistent=False)  # (n_fft // 2 + 1, n_mels)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = self._mel_power(waveform)  # (..., n_mels, T)
        return (20.0 / self.power) * torch.log10(mel + self.eps)  # (..., n_mels, T) dB

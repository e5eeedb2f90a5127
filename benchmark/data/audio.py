"""Reading clips as fixed-length mono float32 waveforms.

Every clip becomes ``num_samples`` samples at ``sample_rate``: longer clips keep their first
``num_samples`` samples (the paper's code cuts to the first 160,000), shorter ones are zero-padded
at the end, multichannel files keep channel 0 (the MIMII convention: DCASE 2020 used the first
microphone) and other sample rates are resampled with ``torchaudio.functional.resample``.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

_warned_multichannel: set[str] = set()
_warned_lock = threading.Lock()


class AudioError(ValueError):
    """A missing, unreadable, empty or corrupt audio file (the message names it)."""


@dataclass
class LoadStats:
    """Counts of what :func:`load_clip` had to fix; ``summary()`` gives one log line."""

    loaded: int = 0
    cropped: int = 0
    padded: int = 0
    resampled: int = 0
    multichannel: int = 0

    def summary(self) -> str:
        return (
            f"loaded {self.loaded} clips: {self.cropped} cropped, {self.padded} zero-padded, "
            f"{self.resampled} resampled, {self.multichannel} multichannel (channel 0 kept)"
        )

    def merge(self, other: LoadStats) -> None:
        """Add the counts of ``other`` (e.g. from a worker) to these."""
        for name in ("loaded", "cropped", "padded", "resampled", "multichannel"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def load_clip(
    path: str | Path,
    *,
    sample_rate: int,
    num_samples: int,
    stats: LoadStats | None = None,
) -> np.ndarray:
    """Read ``path`` as float32 samples in [-1, 1], shape ``(num_samples,)``.

    Raises :class:`AudioError` naming the file when it is missing, unreadable, empty or holds
    non-finite samples.
    """
    path = Path(path)
    if num_samples <= 0 or sample_rate <= 0:
        raise ValueError(
            f"num_samples and sample_rate must be > 0, got {num_samples}, {sample_rate}"
        )
    frames, rate, channels = _info(path)
    wanted = num_samples
    if rate != sample_rate:  # source frames for num_samples, plus context for the filter
        wanted = math.ceil(num_samples * rate / sample_rate) + 64 * math.ceil(rate / sample_rate)
    data = _read(path, min(frames, wanted))  # (frames, channels)
    if channels > 1:
        _warn_multichannel(path, channels)
    wave = np.ascontiguousarray(data[:, 0])
    length = frames
    if rate != sample_rate:
        wave = _resample(wave, rate, sample_rate)
        length = round(frames * sample_rate / rate)
    wave = _fit(wave, num_samples)
    if not np.isfinite(wave).all():
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    if stats is not None:
        stats.loaded += 1
        stats.cropped += int(length > num_samples)
        stats.padded += int(length < num_samples)
        stats.resampled += int(rate != sample_rate)
        stats.multichannel += int(channels > 1)
    return np.clip(wave, -1.0, 1.0).astype(np.float32, copy=False)


def _info(path: Path) -> tuple[int, int, int]:
    """``(frames, sample_rate, channels)`` of an audio file."""
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError) as error:
        raise AudioError(f"{path}: not a readable audio file ({error})") from error
    if info.frames <= 0:
        raise AudioError(f"{path}: audio file is empty (0 samples)")
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioError(f"{path}: bad header ({info.samplerate} Hz, {info.channels} channels)")
    return info.frames, info.samplerate, info.channels


def _read(path: Path, frames: int) -> np.ndarray:
    try:
        data, _ = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as error:
        raise AudioError(f"{path}: cannot decode audio ({error})") from error
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file is empty (0 samples decoded)")
    return data


def _warn_multichannel(path: Path, channels: int) -> None:
    key = str(path.resolve())
    with _warned_lock:
        if key in _warned_multichannel:
            return
        _warned_multichannel.add(key)
    log.warning("%s: %d channels, keeping channel 0 (MIMII convention)", path, channels)


def _resample(wave: np.ndarray, orig: int, new: int) -> np.ndarray:
    import torch
    import torchaudio.functional as AF

    divisor = math.gcd(orig, new)
    tensor = torch.from_numpy(wave)
    return AF.resample(tensor, orig // divisor, new // divisor).numpy()


def _fit(wave: np.ndarray, num_samples: int) -> np.ndarray:
    if wave.shape[0] >= num_samples:
        return wave[:num_samples]
    return np.pad(wave, (0, num_samples - wave.shape[0]))

"""Reading clips as fixed-length mono float32 waveforms.

Every clip becomes ``num_samples`` samples at ``sample_rate``: longer clips keep their first
``num_samples`` samples (the paper's code cuts to the first 160,000), shorter ones are zero-padded
at the end, multichannel files keep channel 0 (the MIMII convention: DCASE 2020 used the first
microphone) and other sample rates are resampled with ``torchaudio.functional.resample``.

A *truncated* file, whose header declares more frames than the file holds (a download or copy cut
short), is read as far as it goes, padded like a short clip, and logged as a warning naming the
file and both lengths: libsndfile silently shortens a WAV's length to the bytes present (its log
then says ``data : DECLARED (should be PRESENT)``), and for other formats decoding stops early.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

_warned_multichannel: set[str] = set()
_warned_lock = threading.Lock()

# libsndfile's log of a WAV whose data chunk claims more bytes than the file holds
_WAV_DATA_CUT = re.compile(r"^data\s*:\s*(\d+)\s*\(should be \d+\)", re.MULTILINE)
_WAV_BLOCK_ALIGN = re.compile(r"^\s*Block Align\s*:\s*(\d+)", re.MULTILINE)
_WAV_SIZE_UNKNOWN = 0xFFFFFFFF  # data size of a WAV streamed to a pipe (ffmpeg): not a cut file


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
    truncated: int = 0  # header declares more frames than the file holds

    def summary(self) -> str:
        return (
            f"loaded {self.loaded} clips: {self.cropped} cropped, {self.padded} zero-padded, "
            f"{self.resampled} resampled, {self.multichannel} multichannel (channel 0 kept), "
            f"{self.truncated} truncated (shorter than their header says)"
        )

    def merge(self, other: LoadStats) -> None:
        """Add the counts of ``other`` (e.g. from a worker) to these."""
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def load_clip(
    path: str | Path,
    *,
    sample_rate: int,
    num_samples: int,
    stats: LoadStats | None = None,
) -> np.ndarray:
    """Read ``path`` as float32 samples in [-1, 1], shape ``(num_samples,)``.

    Raises :class:`AudioError` naming the file when it is missing, unreadable, empty or holds
    non-finite samples; warns (naming it) when it is truncated.
    """
    return load_clip_with_length(path, sample_rate=sample_rate, num_samples=num_samples,
                                 stats=stats)[0]


def load_clip_with_length(
    path: str | Path,
    *,
    sample_rate: int,
    num_samples: int,
    stats: LoadStats | None = None,
    nominal_samples: int | None = None,
) -> tuple[np.ndarray, int]:
    """:func:`load_clip` and the clip's own length in samples at ``sample_rate``.

    The wave has ``num_samples`` samples (cropped or zero-padded); the length says how many of
    them are the clip's (``min(length, num_samples)``). ``stats`` counts crops and pads against
    ``nominal_samples`` (default ``num_samples``): the feature cache reads clips up to 11 s for
    the DCASE front end and counts against its 10-s clip length.
    """
    path = Path(path)
    if num_samples <= 0 or sample_rate <= 0:
        raise ValueError(
            f"num_samples and sample_rate must be > 0, got {num_samples}, {sample_rate}"
        )
    frames, rate, channels, declared = _info(path)
    wanted = num_samples
    if rate != sample_rate:  # source frames for num_samples, plus context for the filter
        wanted = math.ceil(num_samples * rate / sample_rate) + 64 * math.ceil(rate / sample_rate)
    data = _read(path, min(frames, wanted))  # (frames, channels)
    if data.shape[0] < min(frames, wanted):  # decoding stopped before the header's length
        frames = data.shape[0]
    truncated = declared > frames
    if truncated:
        log.warning(
            "%s: truncated file: its header declares %d frames (%.2f s) but it holds only %d "
            "(%.2f s)", path, declared, declared / rate, frames, frames / rate,
        )
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
        nominal = num_samples if nominal_samples is None else nominal_samples
        stats.loaded += 1
        stats.cropped += int(length > nominal)
        stats.padded += int(length < nominal)
        stats.resampled += int(rate != sample_rate)
        stats.multichannel += int(channels > 1)
        stats.truncated += int(truncated)
    return np.clip(wave, -1.0, 1.0).astype(np.float32, copy=False), min(length, num_samples)


def _info(path: Path) -> tuple[int, int, int, int]:
    """``(frames, sample_rate, channels, declared_frames)`` of an audio file.

    ``frames`` is what libsndfile will read, ``declared_frames`` what the header says (larger
    for a truncated WAV, see :func:`_declared_frames`).
    """
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
    return info.frames, info.samplerate, info.channels, _declared_frames(info)


def _declared_frames(info: sf._SoundFileInfo) -> int:
    """Frames the header declares. For a WAV whose data chunk runs past the end of the file,
    libsndfile reports only the frames present and logs the declared byte count."""
    cut = _WAV_DATA_CUT.search(info.extra_info)
    align = _WAV_BLOCK_ALIGN.search(info.extra_info)
    if cut is None or align is None or int(cut.group(1)) == _WAV_SIZE_UNKNOWN:
        return info.frames
    return max(info.frames, int(cut.group(1)) // max(int(align.group(1)), 1))


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

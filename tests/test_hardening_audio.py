"""load_clip on truncated files: a header longer than the data is warned about, not hidden."""

from __future__ import annotations

import logging
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.data import audio
from benchmark.data.audio import LoadStats, load_clip

N = 160000
PUMP = "dcase2020-sample/pump/test/normal_id_00_00000016.wav"


def _truncate(path: Path, keep_frames: int, bytes_per_frame: int) -> None:
    """Cut ``path`` after ``keep_frames`` frames of its data, leaving the header as it was."""
    frames = sf.info(path).frames
    data_start = path.stat().st_size - frames * bytes_per_frame  # the data chunk comes last
    with path.open("r+b") as handle:
        handle.truncate(data_start + keep_frames * bytes_per_frame)


def _truncation_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "truncated file" in r.getMessage()]


def test_truncated_wav_warns_naming_the_file_and_both_lengths(real_clips, tmp_path, caplog):
    source, _ = sf.read(real_clips / PUMP, dtype="float32")
    cut = tmp_path / "cut.wav"
    sf.write(cut, source, 16000, subtype="PCM_16")  # 10 s in the header
    _truncate(cut, 16000, 2)  # 1 s of data left
    stats = LoadStats()
    with caplog.at_level(logging.WARNING, logger="benchmark.data.audio"):
        wave = load_clip(cut, sample_rate=16000, num_samples=N, stats=stats)
    [message] = _truncation_warnings(caplog)
    assert str(cut) in message and "160000" in message and "16000 " in message
    np.testing.assert_allclose(wave[:16000], source[:16000], atol=1 / 32768)
    assert not wave[16000:].any()  # still read and padded as before
    assert (stats.truncated, stats.padded) == (1, 1) and "1 truncated" in stats.summary()


def test_truncated_multichannel_extensible_wav_warns(real_clips, tmp_path, caplog):
    cut = tmp_path / "fan_8ch.wav"
    shutil.copy(real_clips / "mimii-8ch" / "fan_id_06_normal_8ch.wav", cut)
    _truncate(cut, 40000, 16)  # 8 channels x 16 bit
    audio._warned_multichannel.discard(str(cut.resolve()))
    with caplog.at_level(logging.WARNING, logger="benchmark.data.audio"):
        load_clip(cut, sample_rate=16000, num_samples=N)
    [message] = _truncation_warnings(caplog)
    assert str(cut) in message and "160000" in message and "40000" in message


def test_short_clip_with_an_honest_header_is_padded_without_warning(real_clips, tmp_path, caplog):
    source, _ = sf.read(real_clips / PUMP, dtype="float32")
    short = tmp_path / "short.wav"
    sf.write(short, source[:16000], 16000, subtype="PCM_16")
    stats = LoadStats()
    with caplog.at_level(logging.WARNING, logger="benchmark.data.audio"):
        wave = load_clip(short, sample_rate=16000, num_samples=N, stats=stats)
    assert not _truncation_warnings(caplog)
    assert not wave[16000:].any() and (stats.padded, stats.truncated) == (1, 0)


def test_streamed_wav_of_unknown_length_is_not_called_truncated(tmp_path, caplog):
    """ffmpeg writing to a pipe leaves the sizes at 0xFFFFFFFF: no length was ever declared."""
    streamed = tmp_path / "streamed.wav"
    sf.write(streamed, np.zeros(16000), 16000, subtype="PCM_16")
    raw = bytearray(streamed.read_bytes())
    at = raw.index(b"data") + 4
    raw[at:at + 4] = raw[4:8] = struct.pack("<I", 0xFFFFFFFF)
    streamed.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="benchmark.data.audio"):
        load_clip(streamed, sample_rate=16000, num_samples=16000)
    assert not _truncation_warnings(caplog)


def test_stats_merge_adds_every_count():
    total, worker = LoadStats(loaded=1, truncated=1), LoadStats(loaded=2, padded=1, truncated=2)
    total.merge(worker)
    assert (total.loaded, total.padded, total.truncated) == (3, 1, 3)

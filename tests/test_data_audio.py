"""load_clip on real clips and edge cases: crop, pad, channel 0, resampling, bad files."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from benchmark.data import audio
from benchmark.data.audio import AudioError, LoadStats, load_clip

N = 160000


def test_long_toycar_clip_is_cropped(real_clips):
    path = next((real_clips / "dcase2020-sample" / "ToyCar" / "test").glob("normal_*.wav"))
    assert sf.info(path).frames == 176000
    stats = LoadStats()
    wave = load_clip(path, sample_rate=16000, num_samples=N, stats=stats)
    assert wave.shape == (N,) and wave.dtype == np.float32
    expected, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(wave, expected[:N])
    assert (stats.loaded, stats.cropped, stats.padded) == (1, 1, 0)
    assert "1 cropped" in stats.summary()


def test_ten_second_clips_are_unchanged(real_clips):
    stats = LoadStats()
    for path in sorted((real_clips / "dcase2020-sample").rglob("*.wav")):
        wave = load_clip(path, sample_rate=16000, num_samples=N, stats=stats)
        assert wave.shape == (N,) and np.abs(wave).max() <= 1.0 and np.abs(wave).max() > 0
    assert stats.loaded == 12 and stats.cropped == 2 and stats.padded == stats.resampled == 0


def test_multichannel_keeps_channel_zero_and_warns_once(real_clips, caplog):
    path = real_clips / "mimii-8ch" / "fan_id_06_normal_8ch.wav"
    audio._warned_multichannel.discard(str(path.resolve()))
    stats = LoadStats()
    with caplog.at_level(logging.WARNING, logger="benchmark.data.audio"):
        wave = load_clip(path, sample_rate=16000, num_samples=N, stats=stats)
        load_clip(path, sample_rate=16000, num_samples=N, stats=stats)
    everything, _ = sf.read(path, dtype="float32")
    assert everything.shape[1] == 8
    np.testing.assert_array_equal(wave, everything[:N, 0])
    warnings = [r for r in caplog.records if "8 channels" in r.getMessage()]
    assert len(warnings) == 1 and path.name in warnings[0].getMessage()
    assert stats.multichannel == 2


def test_short_clip_is_zero_padded(real_clips, tmp_path):
    source, _ = sf.read(real_clips / "dcase2020-sample/pump/test/normal_id_00_00000016.wav")
    short = tmp_path / "short.wav"
    sf.write(short, source[:50000], 16000, subtype="PCM_16")
    stats = LoadStats()
    wave = load_clip(short, sample_rate=16000, num_samples=N, stats=stats)
    np.testing.assert_allclose(wave[:50000], source[:50000], atol=1 / 32768)
    assert not wave[50000:].any() and stats.padded == 1


def test_other_sample_rate_is_resampled(tmp_path):
    t = np.arange(8000 * 3) / 8000
    path = tmp_path / "tone_8k.wav"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), 8000, subtype="PCM_16")
    stats = LoadStats()
    wave = load_clip(path, sample_rate=16000, num_samples=32000, stats=stats)
    assert wave.shape == (32000,) and stats.resampled == 1 and stats.cropped == 1
    spectrum = np.abs(np.fft.rfft(wave[1000:31000]))
    peak_hz = np.argmax(spectrum) * 16000 / 30000
    assert abs(peak_hz - 440) < 2
    assert 0.3 < np.abs(wave[1000:31000]).max() < 0.6


def test_bad_files_are_errors_naming_them(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioError, match="missing.wav"):
        load_clip(missing, sample_rate=16000, num_samples=N)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(AudioError, match="garbage.wav"):
        load_clip(garbage, sample_rate=16000, num_samples=N)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="empty.wav.*empty"):
        load_clip(empty, sample_rate=16000, num_samples=N)
    nothing = tmp_path / "zero_bytes.wav"
    nothing.write_bytes(b"")
    with pytest.raises(AudioError, match="zero_bytes.wav"):
        load_clip(nothing, sample_rate=16000, num_samples=N)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(100, np.nan), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav"):
        load_clip(nan, sample_rate=16000, num_samples=N)

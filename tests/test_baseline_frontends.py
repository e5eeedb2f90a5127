"""The baselines' own front ends, pinned against the reference computations on real clips."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from benchmark.features.baselines import DcaseLogMel, StgramLogMel, slaney_mel_filterbank
from benchmark.features.logmel import LogMel

TOYCAR = "ToyCar/test/normal_id_02_00000024.wav"  # 11 s: 176,000 samples -> 344 frames
FAN = "fan/test/normal_id_00_00000030.wav"


def _clips(real_clips: Path) -> list[Path]:
    clips = sorted((real_clips / "dcase2020-sample").glob("*/test/*.wav"))
    assert clips, "no wav files in the real-clips sample"
    return clips


def _load(path: Path) -> np.ndarray:
    y, sr = sf.read(path, dtype="float32")  # full length, int16 / 32768 as librosa.load
    assert sr == 16000 and y.ndim == 1
    return y


def _librosa_db(y: np.ndarray, **kwargs) -> np.ndarray:
    librosa = pytest.importorskip("librosa")
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=512, n_mels=128,
                                         power=2.0, **kwargs)
    return 20.0 / 2.0 * np.log10(mel + sys.float_info.epsilon)  # the baseline's common.py


@torch.no_grad()
def test_dcase_logmel_matches_librosa_on_every_real_clip(real_clips):
    front = DcaseLogMel()
    worst = {}
    for path in _clips(real_clips):
        y = _load(path)
        ref = _librosa_db(y)
        out = front(torch.from_numpy(y))
        assert out.dtype == torch.float32 and out.shape == ref.shape
        worst[f"{path.parent.parent.name}/{path.name}"] = float(np.abs(out.numpy() - ref).max())
    assert max(worst.values()) < 0.01, worst
    assert front(torch.from_numpy(_load(real_clips / "dcase2020-sample" / TOYCAR))).shape == (
        128, 344)


@torch.no_grad()
def test_dcase_logmel_reflect_padding_matches_librosa_0_6(real_clips):
    """The baseline pinned librosa 0.6.0, whose STFT reflect-padded; only edge frames change."""
    y = _load(real_clips / "dcase2020-sample" / TOYCAR)
    reflect = DcaseLogMel(pad_mode="reflect")(torch.from_numpy(y)).numpy()
    assert np.abs(reflect - _librosa_db(y, pad_mode="reflect")).max() < 0.01
    zeros = DcaseLogMel()(torch.from_numpy(y)).numpy()
    assert np.array_equal(reflect[:, 1:-1], zeros[:, 1:-1])
    assert np.abs(reflect - zeros)[:, [0, -1]].max() > 1.0


def test_dcase_default_pad_mode_is_the_installed_librosa_default():
    librosa = pytest.importorskip("librosa")
    default = inspect.signature(librosa.feature.melspectrogram).parameters["pad_mode"].default
    assert DcaseLogMel().pad_mode == default == "constant"


def test_dcase_filterbank_is_librosa_default_mel():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128)  # (128, 513)
    fb = DcaseLogMel().fb  # (513, 128)
    assert fb.dtype == torch.float32 and fb.shape == (513, 128)
    np.testing.assert_allclose(fb.numpy().T, ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(slaney_mel_filterbank(22050, 2048, 40, 20.0, 8000.0).numpy().T,
                               librosa.filters.mel(sr=22050, n_fft=2048, n_mels=40, fmin=20.0,
                                                   fmax=8000.0), rtol=1e-6, atol=1e-9)


@torch.no_grad()
def test_stgram_logmel_equals_torchaudio_recipe(real_clips):
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=1024, win_length=1024,
                                               hop_length=512, n_mels=128, power=2.0)
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power")
    front = StgramLogMel()
    for name in (TOYCAR, FAN):
        y = torch.from_numpy(_load(real_clips / "dcase2020-sample" / name))
        ref = to_db(mel(y))
        out = front(y)
        assert out.dtype == torch.float32 and out.shape == ref.shape
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=0.0)


@torch.no_grad()
def test_stgram_logmel_sits_11_to_22_db_above_the_paper_logmel(real_clips):
    """Same HTK triangles and padding; the paper's Slaney norm scales band i by 2 / width_i."""
    y = torch.from_numpy(_load(real_clips / "dcase2020-sample" / FAN))
    paper_minus_stgram = LogMel()(y) - StgramLogMel()(y)  # (128, T)
    median = paper_minus_stgram.median(dim=-1).values.numpy()  # (128,)
    # measured on this clip: -11.44 dB (lowest band) to -22.22 dB (highest band)
    assert np.all((median > -25.0) & (median < -8.0)), median
    assert -12.0 < median[0] < -11.0 and -23.0 < median[-1] < -21.5
    # and exactly the Slaney area norm of each HTK band, 10 log10(2 / (f[i+2] - f[i]))
    mels = np.linspace(0.0, 2595.0 * np.log10(1.0 + 8000.0 / 700.0), 130)
    f_pts = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    np.testing.assert_allclose(median, 10.0 * np.log10(2.0 / (f_pts[2:] - f_pts[:-2])),
                               atol=0.01)


@pytest.mark.parametrize("cls", [DcaseLogMel, StgramLogMel])
@pytest.mark.parametrize(("kwargs", "named"), [
    ({"n_mels": 0}, "n_mels"),
    ({"n_mels": 600}, "n_mels"),
    ({"hop_length": 2048}, "hop_length"),
    ({"hop_length": 0}, "hop_length"),
    ({"win_length": 2048}, "win_length"),
    ({"n_fft": 1024.5}, "n_fft"),
    ({"sample_rate": -16000}, "sample_rate"),
    ({"power": 0.0}, "power"),
])
def test_bad_arguments_raise_naming_them(cls, kwargs, named):
    with pytest.raises(ValueError, match=named):
        cls(**kwargs)


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"pad_mode": "edge"}, "pad_mode"),
    ({"f_max": 9000.0}, "f_max"),
    ({"f_min": 8000.0}, "f_min"),
    ({"eps": 0.0}, "eps"),
])
def test_dcase_specific_bad_arguments(kwargs, named):
    with pytest.raises(ValueError, match=named):
        DcaseLogMel(**kwargs)


@pytest.mark.parametrize("cls", [DcaseLogMel, StgramLogMel])
@torch.no_grad()
def test_batch_of_three_gives_float32_and_matches_single_clips(cls):
    front = cls()
    assert (front.sample_rate, front.n_fft, front.hop_length, front.n_mels) == (
        16000, 1024, 512, 128)
    assert front.num_frames(160000) == 313
    gen = torch.Generator().manual_seed(0)
    batch = torch.rand(3, 16000, generator=gen, dtype=torch.float64) * 2 - 1  # float64 in
    out = front(batch)
    assert out.dtype == torch.float32 and out.shape == (3, 128, 32)  # (B, 128, T)
    for i in range(3):
        torch.testing.assert_close(out[i], front(batch[i].float()), atol=1e-4, rtol=0.0)
    assert front(batch.float().reshape(3, 1, 16000)).shape == (3, 1, 128, 32)


@pytest.mark.parametrize("cls", [DcaseLogMel, StgramLogMel])
def test_bad_waveforms_are_refused(cls):
    front = cls()
    with pytest.raises(TypeError, match="float"):
        front(torch.zeros(3, 16000, dtype=torch.int16))
    with pytest.raises(ValueError, match="samples"):
        front(torch.zeros(1))
    if front.pad_mode == "reflect":
        with pytest.raises(ValueError, match="reflect"):
            front(torch.zeros(2, 100))

"""The synthetic data set: DCASE layout, audio format, determinism, learnable IDs, anomalies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.data import synthetic
from benchmark.data.index import class_list, read_index
from benchmark.data.layout import DEV_IDS, MACHINE_TYPES, parse_clip_path
from benchmark.data.local import MARKER
from benchmark.data.synthetic import ClipSpec, prepare_synthetic, synthesize

SR = 16000


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_format_and_index(data_params):
    params = data_params()
    index_path = prepare_synthetic(params)
    root = Path(params.root)
    assert index_path == root.absolute() / "index.csv"
    wavs = sorted(root.rglob("*.wav"))
    assert len(wavs) == 6 * 2 * (2 + 1 + 1)
    for wav in wavs:
        clip = parse_clip_path(wav)
        assert clip.machine_id in DEV_IDS[clip.machine_type][:2]
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.frames) == (SR, 1, 16000)
        assert info.subtype == "PCM_16"
    index = read_index(index_path)
    assert len(index) == len(wavs) and all(Path(p).is_file() for p in index["path"])
    assert list(index["path"]) == sorted(index["path"])
    expected = [(t, i) for t in MACHINE_TYPES for i in DEV_IDS[t][:2]]
    assert class_list(index) == expected
    for (machine_type, machine_id), group in index.groupby(["machine_type", "machine_id"]):
        assert set(group["class_index"]) == {expected.index((machine_type, machine_id))}
        assert sorted(group["split"] + "/" + group["label"]) == [
            "test/anomaly",
            "test/normal",
            "train/normal",
            "train/normal",
        ]
    assert not list(root.parent.glob(".raw*")), "temporary folders left behind"


def test_deterministic_and_replaces_stale_files(data_params):
    params = data_params(machine_types=["valve", "ToyCar"])
    root = Path(params.root)
    prepare_synthetic(params)
    first = _digests(root)
    prepare_synthetic(params)
    assert _digests(root) == first
    prepare_synthetic(data_params(machine_types=["valve", "ToyCar"], synthetic={"seed": 1}))
    other = _digests(root)
    wavs = [k for k in first if k.endswith(".wav")]
    assert all(other[k] != first[k] for k in wavs)
    # more clips: the existing ones are unchanged; fewer: no stale file remains
    prepare_synthetic(
        data_params(machine_types=["valve", "ToyCar"], synthetic={"train_clips_per_id": 3})
    )
    bigger = _digests(root)
    assert all(bigger[k] == first[k] for k in wavs)
    assert len([k for k in bigger if k.endswith(".wav")]) == len(wavs) + 2 * 2
    prepare_synthetic(data_params(machine_types=["valve"], synthetic={"ids_per_type": 1}))
    assert sorted(p.name for p in root.iterdir()) == sorted([MARKER, "index.csv", "valve"])
    assert len(list(root.rglob("*.wav"))) == 4


def test_refuses_to_replace_a_foreign_folder(data_params):
    params = data_params(machine_types=["fan"])
    root = Path(params.root)
    root.mkdir()
    (root / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not written by benchmark.prepare"):
        prepare_synthetic(params)
    assert (root / "thesis.tex").read_text() == "precious"


def _band_energies(wave: np.ndarray) -> np.ndarray:
    """Log energy in 48 log-spaced bands of the average power spectrum."""
    frames = wave[: wave.size // 1024 * 1024].reshape(-1, 1024) * np.hanning(1024)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(0)
    edges = np.unique(np.geomspace(2, 512, 49).astype(int))
    return np.log10(np.add.reduceat(power, edges)[:-1] + 1e-12)


def _clip(machine_type: str, machine_id: str, label: str, number: int, seconds: float = 3.0):
    spec = ClipSpec(machine_type, machine_id, "test", label, number)
    pcm = synthesize(
        spec, seed=0, sample_rate=SR, num_samples=int(seconds * SR), anomaly_strength=1
    )
    return pcm.astype(np.float64) / 32768


@pytest.mark.parametrize("machine_type", MACHINE_TYPES)
def test_ids_differ_more_than_clips_of_one_id(machine_type):
    ids = DEV_IDS[machine_type][:2]
    feats = {
        i: [_band_energies(_clip(machine_type, i, "normal", n)) for n in range(3)] for i in ids
    }
    within = np.mean(
        [
            np.linalg.norm(a - b)
            for i in ids
            for k, a in enumerate(feats[i])
            for b in feats[i][k + 1 :]
        ]
    )
    between = np.mean([np.linalg.norm(a - b) for a in feats[ids[0]] for b in feats[ids[1]]])
    assert between > 1.3 * within, (machine_type, between, within)


@pytest.mark.parametrize("machine_type", MACHINE_TYPES)
def test_every_anomaly_kind_changes_the_sound(machine_type):
    model = synthetic._MODELS[machine_type]
    params = synthetic.id_parameters(0, machine_type, DEV_IDS[machine_type][0])

    def render(anomaly):
        clip = synthetic._Clip(np.random.default_rng(7), 2 * SR, SR)
        return model.render(clip, params, anomaly, 0.7)

    normal = render(None)
    assert np.array_equal(normal, render(None))
    for kind in model.anomalies:
        change = np.linalg.norm(render(kind) - normal) / np.linalg.norm(normal)
        assert change > 0.1, (machine_type, kind, change)


def test_anomalies_are_detectable_from_spectra():
    """A plain band-energy distance ranks anomalies above normals (pooled over all types)."""
    scores, labels = [], []
    for machine_type in MACHINE_TYPES:
        machine_id = DEV_IDS[machine_type][0]
        train = np.array(
            [_band_energies(_clip(machine_type, machine_id, "normal", n + 10)) for n in range(6)]
        )
        centre, spread = train.mean(0), train.std(0) + 0.05
        for label in ("normal", "anomaly"):
            for n in range(6):
                feat = _band_energies(_clip(machine_type, machine_id, label, n))
                scores.append(float(np.mean(((feat - centre) / spread) ** 2)))
                labels.append(label == "anomaly")
    scores, labels = np.array(scores), np.array(labels)
    auc = np.mean(scores[labels][:, None] > scores[~labels][None, :])
    assert auc > 0.7, auc


def test_anomaly_kinds_and_severity_are_recorded():
    spec = ClipSpec("slider", "id_00", "test", "anomaly", 0)
    kind, severity = synthetic.anomaly_of(spec, seed=0, anomaly_strength=2.0)
    low, high = synthetic._MODELS["slider"].severity
    assert kind in synthetic._MODELS["slider"].anomalies and 2 * low <= severity <= 2 * high
    normal = ClipSpec("slider", "id_00", "test", "normal", 0)
    assert synthetic.anomaly_of(normal, seed=0, anomaly_strength=1.0) == (None, 0.0)

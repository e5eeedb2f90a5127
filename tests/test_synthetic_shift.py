"""Synthetic DCASE 2022+ data: layout, attributes files, determinism, domain shift, classes."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.data import synthetic_shift as shift
from benchmark.data.index import build_index, class_list, read_index
from benchmark.data.layout import parse_year_path
from benchmark.data.marker import read_marker
from benchmark.data.synthetic_shift import RenderOptions, ShiftClip, prepare_synthetic_year
from benchmark.prepare import prepare

SR = 16000
TYPES = ["fan", "ToyCar"]
SIZES = {"ids_per_type": 1, "train_clips_per_id": 4, "target_train_per_id": 1,
         "test_normal_per_id": 2, "test_anomaly_per_id": 1}


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_index_through_prepare(data_params):
    params = data_params(dataset="dcase2023", machine_types=TYPES, synthetic=SIZES)
    index_path = prepare(params)
    root = Path(params.root).absolute()
    assert index_path == root / "index.csv"
    assert read_marker(root)["source"] == "synthetic"
    assert not list(root.parent.glob(".raw*")), "temporary folders left behind"
    wavs = sorted(root.rglob("*.wav"))
    assert len(wavs) == 2 * (4 + 1 + 2 * (2 + 1))
    for wav in wavs:
        parse_year_path(wav, "dcase2022", ("fan", "ToyCar"))
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 1, 16000,
                                                                               "PCM_16")
    index = read_index(index_path)
    assert sorted(index["path"]) == [str(w) for w in wavs]
    assert set(index["section"]) == set(index["machine_id"]) == {"section_00"}
    for row in index.itertuples():
        assert Path(row.path).name.startswith(f"{row.section}_{row.domain}_{row.split}_")
        assert Path(row.path).stem.endswith(row.attributes) and row.attributes
    for machine_type, name in (("fan", "vel"), ("ToyCar", "spd")):
        rows = index[index["machine_type"] == machine_type]
        counts = rows.groupby(["domain", "split", "label"]).size().to_dict()
        assert counts == {("source", "train", "normal"): 4, ("target", "train", "normal"): 1,
                          ("source", "test", "normal"): 2, ("source", "test", "anomaly"): 1,
                          ("target", "test", "normal"): 2, ("target", "test", "anomaly"): 1}
        values = rows.groupby(["domain", "split"])["attributes"].apply(sorted).to_dict()
        assert values[("source", "train")] == [f"{name}_10"] * 2 + [f"{name}_12"] * 2
        assert values[("target", "train")] == [f"{name}_20"]
        assert values[("target", "test")] == [f"{name}_20"] * 3
        assert set(values[("source", "test")]) == {f"{name}_10", f"{name}_12"}


def test_attributes_csv_lists_every_clip_of_its_section(data_params):
    params = data_params(dataset="dcase2022", machine_types=["ToyCar"],
                         synthetic={**SIZES, "ids_per_type": 2})
    prepare_synthetic_year(params)
    root = Path(params.root)
    for number in ("00", "01"):
        with (root / "ToyCar" / f"attributes_{number}.csv").open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["file_name", "d1p", "d1v"]
        files = sorted(p.relative_to(root).as_posix()
                       for p in root.glob(f"ToyCar/*/section_{number}_*.wav"))
        assert sorted(r[0] for r in rows[1:]) == files and len(files) == 11
        assert rows[1][0].startswith("ToyCar/train/") and rows[-1][0].startswith("ToyCar/test/")
        for name, key, value in rows[1:]:
            assert name.endswith(f"_{key}_{value}.wav") and key == "spd", name
    assert sorted(p.name for p in (root / "ToyCar").iterdir()) == [
        "attributes_00.csv", "attributes_01.csv", "test", "train"]


def test_generation_is_deterministic(data_params):
    params = data_params(dataset="dcase2023", machine_types=["valve"], synthetic=SIZES)
    root = Path(params.root)
    prepare_synthetic_year(params)
    first = _digests(root)
    prepare_synthetic_year(params)
    assert _digests(root) == first
    wavs = [k for k in first if k.endswith(".wav")]
    assert len(set(first[k] for k in wavs)) == len(wavs)  # no two clips alike
    prepare_synthetic_year(data_params(dataset="dcase2023", machine_types=["valve"],
                                       synthetic={**SIZES, "train_clips_per_id": 6}))
    bigger = _digests(root)
    assert {k: bigger[k] for k in wavs} == {k: first[k] for k in wavs}
    prepare_synthetic_year(data_params(dataset="dcase2023", machine_types=["valve"],
                                       synthetic={**SIZES, "seed": 1}))
    other = _digests(root)
    assert all(other[k] != first[k] for k in wavs)


def shift_root(params) -> Path:
    """Generate the data set of ``params``; its root."""
    return prepare_synthetic_year(params).parent


def test_classes_follow_the_dataset_rule(data_params):
    params = data_params(dataset="dcase2023", machine_types=TYPES, synthetic=SIZES)
    index = build_index(shift_root(params), TYPES, dataset="dcase2023")
    classes = class_list(index, "dcase2023")
    assert classes == [("fan", f"section_00_vel_{v}") for v in (10, 12, 20)] + [
        ("ToyCar", f"section_00_spd_{v}") for v in (10, 12, 20)]
    for row in index.itertuples():  # test clips too: each attribute value has training clips
        assert classes[row.class_index] == (row.machine_type, f"section_00_{row.attributes}")
    params = data_params(dataset="dcase2022", machine_types=TYPES,
                         synthetic={**SIZES, "ids_per_type": 2})
    index = build_index(shift_root(params), TYPES, dataset="dcase2022")
    assert class_list(index, "dcase2022") == [
        (t, s) for t in ("fan", "ToyCar") for s in ("section_00", "section_01")]
    assert set(index["class_index"]) == {0, 1, 2, 3}


def _band_energies(wave: np.ndarray) -> np.ndarray:
    """Log energy in 48 log-spaced bands of the average power spectrum."""
    frames = wave[: wave.size // 1024 * 1024].reshape(-1, 1024) * np.hanning(1024)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(0)
    edges = np.unique(np.geomspace(2, 512, 49).astype(int))
    return np.log10(np.add.reduceat(power, edges)[:-1] + 1e-12)


def _features(machine_type: str, domain: str, split: str, label: str, count: int,
              domain_shift: float = 1.0, seconds: float = 2.0) -> list[np.ndarray]:
    options = RenderOptions(0, SR, int(seconds * SR), 1.0, domain_shift)
    clips = [ShiftClip(machine_type, "section_00", domain, split, label, n) for n in range(count)]
    return [_band_energies(shift.synthesize(c, options).astype(np.float64) / 32768)
            for c in clips]


def _shift_ratio(machine_type: str, domain_shift: float) -> float:
    """Mean source-target distance over mean source-source distance of normal test clips."""
    source = _features(machine_type, "source", "test", "normal", 12, domain_shift, 3.0)
    target = _features(machine_type, "target", "test", "normal", 6, domain_shift, 3.0)
    within = np.mean([np.linalg.norm(a - b) for k, a in enumerate(source) for b in source[k + 1:]])
    between = np.mean([np.linalg.norm(a - b) for a in source for b in target])
    return float(between / within)


@pytest.mark.parametrize("machine_type", TYPES)
def test_target_domain_sounds_different_unless_shift_is_zero(machine_type):
    """Seeds 0-5 give 1.35-1.64 shifted and 0.88-1.14 unshifted for both types."""
    shifted, unshifted = _shift_ratio(machine_type, 1.0), _shift_ratio(machine_type, 0.0)
    assert shifted > 1.25, (machine_type, shifted)
    assert unshifted < 1.2 and unshifted < shifted - 0.2, (machine_type, unshifted)


def test_zero_shift_runs_every_value_alike():
    for machine_type, attribute in shift.ATTRIBUTES.items():
        renderer = shift.RENDERERS[machine_type]
        machine = shift.section_parameters(0, machine_type, "section_00")
        for value in (*attribute.source, attribute.target):
            assert shift.speed_factor(machine_type, value, 0.0) == 1.0
        same = shift.shift_parameters(renderer, machine, 1.0)
        assert same.keys() == machine.keys()
        assert all(np.array_equal(same[k], machine[k]) for k in machine), machine_type
        factors = [shift.speed_factor(machine_type, v, 1.0)
                   for v in (*attribute.source, attribute.target)]
        assert factors[0] == 1.0 and factors[0] < factors[1] < factors[2]
        faster = shift.shift_parameters(renderer, machine, factors[2])
        assert any(np.any(faster[k] != machine[k]) for k in machine), machine_type


def test_anomalies_differ_from_normals():
    """A band-energy distance to the domain's training normals ranks anomalies higher."""
    scores, labels = [], []
    for machine_type in TYPES:
        for domain in ("source", "target"):
            train = np.array(_features(machine_type, domain, "train", "normal", 6))
            centre, spread = train.mean(0), train.std(0) + 0.05
            for label in ("normal", "anomaly"):
                for feat in _features(machine_type, domain, "test", label, 5):
                    scores.append(float(np.mean(((feat - centre) / spread) ** 2)))
                    labels.append(label == "anomaly")
    scores, labels = np.array(scores), np.array(labels)
    auc = np.mean(scores[labels][:, None] > scores[~labels][None, :])
    assert auc > 0.7, auc


def test_bearing_and_gearbox_are_different_pump_machines():
    slots = {(t, s): shift.machine_slot(t, s) for t in ("bearing", "gearbox")
             for s in ("section_00", "section_01", "section_02")}
    assert sorted(slots.values()) == list(range(6))
    bearing = _features("bearing", "source", "test", "normal", 4)
    gearbox = _features("gearbox", "source", "test", "normal", 4)
    within = np.mean([np.linalg.norm(a - b) for clips in (bearing, gearbox)
                      for k, a in enumerate(clips) for b in clips[k + 1:]])
    between = np.mean([np.linalg.norm(a - b) for a in bearing for b in gearbox])
    assert between > 1.2 * within, (between, within)
    with pytest.raises(ValueError, match="only 3 sections"):
        shift.machine_slot("bearing", "section_03")

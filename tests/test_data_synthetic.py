"""The synthetic data set: DCASE layout, audio format, determinism, learnable IDs, anomalies."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.config import ConfigError
from benchmark.data import synthetic
from benchmark.data.download import check_ground_truth, label_eval_clips, read_ground_truth
from benchmark.data.index import check_coverage, class_list, read_index
from benchmark.data.layout import (
    ADDITIONAL_IDS,
    DEV_IDS,
    MACHINE_TYPES,
    LayoutError,
    parse_clip_path,
)
from benchmark.data.local import MARKER
from benchmark.data.params import eval_ids
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


# ------------------------------------------------------------------ the evaluation split

_EVAL = {"eval_ids_per_type": 1, "test_normal_per_id": 2, "test_anomaly_per_id": 2}


def test_eval_split_is_labelled_from_its_ground_truth_as_the_real_download(
    data_params, monkeypatch
):
    before: dict[str, list[str]] = {}
    real = synthetic.label_eval_clips

    def spy(folder, machine_type, labels, **kwargs):
        before[machine_type] = sorted(p.name for p in (folder / "test").iterdir())
        real(folder, machine_type, labels, **kwargs)

    monkeypatch.setattr(synthetic, "label_eval_clips", spy)
    params = data_params(machine_types=["fan", "ToyConveyor"], synthetic=_EVAL)
    root = Path(params.root)
    index = read_index(prepare_synthetic(params))
    numbered = [f"{{}}_{n:08d}.wav".format for n in range(4)]
    assert before == {"fan": [f("id_01") for f in numbered],
                      "ToyConveyor": [f("id_04") for f in numbered]}
    labels = read_ground_truth(root / synthetic.GROUND_TRUTH)
    assert sorted(labels) == sorted((t, name) for t, names in before.items() for name in names)
    evals = index[index["split"] == "eval"]
    assert len(evals) == 8 and evals["label"].value_counts().to_dict() == {"normal": 4,
                                                                            "anomaly": 4}
    for row in evals.itertuples():
        path = Path(row.path)
        assert path.relative_to(root.absolute()).parts[:3] == ("eval", row.machine_type, "test")
        unlabelled = path.name.removeprefix(f"{row.label}_")
        assert labels[(row.machine_type, unlabelled)] == row.label
    counts = index.groupby(["machine_type", "split"]).size().to_dict()
    assert counts == {(t, s): n for t in ("fan", "ToyConveyor")
                      for s, n in (("train", 6), ("test", 8), ("eval", 4))}
    check_coverage(index, "index.csv")


def test_ground_truth_has_the_format_of_eval_data_list_csv(data_params):
    params = data_params(machine_types=["pump", "ToyCar"], synthetic=_EVAL)
    prepare_synthetic(params)
    lines = (Path(params.root) / "eval_data_list.csv").read_text().splitlines()
    assert lines[0] == "pump" and lines[5] == "ToyCar" and len(lines) == 10
    for line, machine_id in zip(lines[1:5] + lines[6:], ["id_01"] * 4 + ["id_05"] * 4,
                                strict=True):
        name, labelled, flag = line.split(",")
        assert re.fullmatch(rf"{machine_id}_0000000[0-3]\.wav", name), line
        assert labelled == ("anomaly_" if flag == "1" else "normal_") + name, line
    assert [line.split(",")[0] for line in lines[1:5]] == [f"id_01_{n:08d}.wav" for n in range(4)]
    check_ground_truth(Path(params.root) / "eval_data_list.csv", ["pump", "ToyCar"])


def test_eval_ids_are_classes_and_their_clips_are_new(data_params):
    params = data_params(machine_types=["slider"], synthetic=_EVAL)
    root = Path(params.root)
    index = read_index(prepare_synthetic(params))
    assert class_list(index) == [("slider", "id_00"), ("slider", "id_01"), ("slider", "id_02")]
    evals = index[index["split"] == "eval"]
    assert set(evals["class_index"]) == {1}
    digests = [v for k, v in _digests(root).items() if k.endswith(".wav")]
    assert len(set(digests)) == len(digests) == len(index)  # eval clips are no copies
    row = evals.iloc[0]
    number = int(Path(row["path"]).stem[-8:])
    written, _ = sf.read(row["path"], dtype="int16")
    opts = {"seed": 0, "sample_rate": SR, "num_samples": 16000, "anomaly_strength": 1.0}
    for split, same in (("eval", True), ("test", False)):
        spec = ClipSpec("slider", "id_01", split, row["label"], number)
        assert np.array_equal(synthesize(spec, **opts), written) == same, split


def test_eval_labels_are_shuffled_deterministically():
    labels = synthetic.eval_labels(0, "fan", "id_01", 10, 6)
    assert labels == synthetic.eval_labels(0, "fan", "id_01", 10, 6)
    assert sorted(labels) == ["anomaly"] * 6 + ["normal"] * 10
    assert labels != ["normal"] * 10 + ["anomaly"] * 6
    assert labels != synthetic.eval_labels(1, "fan", "id_01", 10, 6)
    assert labels != synthetic.eval_labels(0, "fan", "id_03", 10, 6)


def test_existing_clips_do_not_change_with_the_eval_split(data_params):
    sizes = {"ids_per_type": 4, "train_clips_per_id": 1}
    params = data_params(machine_types=["valve", "ToyConveyor"], synthetic=sizes)
    root = Path(params.root)
    prepare_synthetic(params)
    without = _digests(root)
    assert not (root / "eval").exists() and not (root / "eval_data_list.csv").exists()
    prepare_synthetic(data_params(machine_types=["valve", "ToyConveyor"],
                                  synthetic={**sizes, "eval_ids_per_type": 1}))
    with_eval = _digests(root)
    wavs = [k for k in without if k.endswith(".wav")]
    assert {k: with_eval[k] for k in wavs} == {k: without[k] for k in wavs}
    added = sorted(set(with_eval) - set(without))
    assert "eval_data_list.csv" in added and "ToyConveyor/train/normal_id_05_00000000.wav" in added
    assert "valve/train/normal_id_01_00000000.wav" in added
    assert len([k for k in added if k.startswith("eval/ToyConveyor/test/")]) == 2
    assert not [k for k in added if "id_04" in k]  # ToyConveyor id_04 is an ids_per_type ID


def test_free_space_check_counts_the_eval_clips(data_params, monkeypatch):
    needed = []
    monkeypatch.setattr(synthetic, "ensure_free_space", lambda folder, n, what: needed.append(n))
    monkeypatch.setattr(synthetic, "generate", lambda params, out: [])
    monkeypatch.setattr(synthetic, "build_index", lambda *a: None)
    monkeypatch.setattr(synthetic, "write_index", lambda *a: None)
    for eval_ids_per_type in (0, 2):
        prepare_synthetic(data_params(machine_types=["fan"],
                                      synthetic={"eval_ids_per_type": eval_ids_per_type}))
    per_clip = 2 * 16000 + synthetic.WAV_HEADER_BYTES
    assert needed[1] - needed[0] == 2 * (2 + 1 + 1) * per_clip  # 2 IDs x (train + eval clips)


def test_more_eval_ids_than_free_is_an_error_naming_the_key_and_type(data_params):
    with pytest.raises(ConfigError, match=r"data\.synthetic\.eval_ids_per_type.*ToyConveyor"
                                          r" has only 2 evaluation ID"):
        data_params(machine_types=["fan", "ToyConveyor"],
                    synthetic={"ids_per_type": 4, "eval_ids_per_type": 3})
    with pytest.raises(ConfigError, match=r"data\.synthetic\.eval_ids_per_type.*>= 0"):
        data_params(synthetic={"eval_ids_per_type": -1})
    assert eval_ids("fan", 4, 3) == ADDITIONAL_IDS["fan"]
    assert eval_ids("ToyConveyor", 4, 2) == ("id_05", "id_06")
    assert eval_ids("fan", 5, 2) == ("id_03", "id_05") and eval_ids("pump", 2, 0) == ()


def test_labelling_refuses_a_clip_missing_from_the_ground_truth(tmp_path):
    folder = tmp_path / "fan" / "test"
    folder.mkdir(parents=True)
    (folder / "id_01_00000000.wav").write_bytes(b"")
    (folder / "id_01_00000001.wav").write_bytes(b"")
    labels = {("fan", "id_01_00000000.wav"): "anomaly", ("pump", "id_01_00000001.wav"): "normal"}
    with pytest.raises(LayoutError, match="id_01_00000001.wav of here: not in the ground truth"):
        label_eval_clips(tmp_path / "fan", "fan", labels, source="here", ground_truth="gt.csv")
    assert (folder / "anomaly_id_01_00000000.wav").is_file()

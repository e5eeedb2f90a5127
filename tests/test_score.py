"""Scoring new recordings: ``python -m benchmark score --model NAME PATH...``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_models import save_untrained

from benchmark.__main__ import main
from benchmark.score import (
    OUTPUT_COLUMNS,
    collect_files,
    fixed_thresholds,
    thresholds_from_scores,
    thresholds_from_stats,
)

# every (type, ID) of the shipped real DCASE clips
REAL_CLASSES = [
    ("fan", "id_00"), ("fan", "id_02"), ("pump", "id_00"), ("pump", "id_02"),
    ("slider", "id_00"), ("valve", "id_00"), ("valve", "id_02"), ("ToyCar", "id_02"),
    ("ToyConveyor", "id_01"),
]


def _save_untrained(model_dir: Path, classes: list[tuple[str, str]]) -> None:
    """An untrained ``proposed`` final.pt + train_scores.csv."""
    save_untrained(model_dir, classes)
    rows = [
        (f"{t}/train/normal_{i}_{k:08d}.wav", t, i, "normal", float(k))
        for t, i in classes for k in range(11)
    ]  # scores 0..10 per class: the 90th percentile is 9
    frame = pd.DataFrame(rows, columns=["path", "machine_type", "machine_id", "label", "score"])
    frame.to_csv(model_dir / "train_scores.csv", index=False)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    _save_untrained(root / "proposed", REAL_CLASSES)
    _save_untrained(root / "partial", [c for c in REAL_CLASSES if c[0] != "ToyCar"])
    return root


def test_thresholds_are_percentiles_of_the_training_scores() -> None:
    frame = pd.DataFrame(
        {
            "machine_type": ["fan"] * 5 + ["pump"] * 5,
            "machine_id": ["id_00"] * 5 + ["id_02"] * 5,
            "score": [1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0],
        }
    )
    by_id = thresholds_from_scores(frame, percentile=50, scope="id")
    assert by_id.get("fan", "id_00") == 3.0 and by_id.get("pump", "id_02") == 30.0
    assert by_id.get("fan", "id_04") == 3.0  # unknown ID: its type's threshold
    assert thresholds_from_scores(frame, 50, "all").get("fan", "id_00") == 7.5
    assert thresholds_from_scores(frame, 100, "type").get("pump", "id_02") == 50.0
    assert fixed_thresholds(0.5).get("valve", "id_00") == 0.5
    with pytest.raises(ValueError, match="percentile"):
        thresholds_from_scores(frame, 150)


def test_thresholds_from_the_checkpoint_stats() -> None:
    """Without train_scores.csv: the quantiles ``final.pt`` keeps (train_score_stats)."""
    stats = {"all": {"q90": 5.0, "q95": 6.0}, "per_class": {"fan/id_00": {"q90": 1.0}}}
    thresholds = thresholds_from_stats(stats, 90, "id")
    assert thresholds.get("fan", "id_00") == 1.0 and thresholds.get("pump", "id_00") == 5.0
    assert thresholds_from_stats(stats, 95, "all").get("fan", "id_00") == 6.0
    with pytest.raises(ValueError, match="q80"):
        thresholds_from_stats(stats, 80)


def test_stats_of_the_train_stage_give_the_same_thresholds_as_its_csv() -> None:
    from benchmark.train import score_stats

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "machine_type": ["fan"] * 20 + ["pump"] * 20,
        "machine_id": ["id_00"] * 10 + ["id_02"] * 10 + ["id_00"] * 20,
        "score": rng.normal(size=40),
    })
    from_csv = thresholds_from_scores(frame, 90, "id")
    from_stats = thresholds_from_stats(score_stats(frame), 90, "id")
    assert from_stats.by_class == pytest.approx(from_csv.by_class)
    assert from_stats.overall == pytest.approx(from_csv.overall)


def test_collect_files_expands_folders_recursively(tmp_path: Path) -> None:
    for name in ("b/test/x.wav", "a/y.wav", "a/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    files = collect_files([tmp_path, tmp_path / "a" / "y.wav", tmp_path / "missing.wav"])
    assert files == [tmp_path / "a/y.wav", tmp_path / "b/test/x.wav", tmp_path / "missing.wav"]


def test_score_writes_one_row_per_real_clip(models_dir: Path, real_clips: Path,
                                            tmp_path: Path) -> None:
    sample = real_clips / "dcase2020-sample"
    out = tmp_path / "scores.csv"
    code = main(["score", "--model", "proposed", "--models-dir", str(models_dir),
                 str(sample), "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out, dtype={"machine_id": str})
    assert list(table.columns) == OUTPUT_COLUMNS
    assert sorted(table["path"]) == sorted(str(p) for p in sample.rglob("*.wav"))
    assert len(table) == 12
    assert np.isfinite(table["score"]).all()
    assert (table["threshold"] == 9.0).all()  # 90th percentile of 0..10 per (type, ID)
    expected = np.where(table["score"] > table["threshold"], "anomalous", "normal")
    assert (table["decision"] == expected).all()
    toycar = table[table["machine_type"] == "ToyCar"]  # 11-s clips are cropped, not refused
    assert set(toycar["machine_id"]) == {"id_02"}


def test_bad_files_are_named_and_the_others_still_scored(
    models_dir: Path, real_clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(real_clips / "dcase2020-sample" / "ToyCar", data / "ToyCar")
    shutil.copytree(real_clips / "dcase2020-sample" / "fan", data / "fan")
    corrupt = data / "fan" / "test" / "normal_id_00_00000099.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    misnamed = data / "fan" / "test" / "recording.wav"
    shutil.copy(data / "fan" / "test" / "normal_id_00_00000030.wav", misnamed)
    code = main(["score", "--model", "partial", "--models-dir", str(models_dir), str(data)])
    assert code == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 4  # two ToyCar clips (unknown to the model), corrupt, misnamed
    assert sum("ToyCar/id_02 is unknown to model partial" in e for e in errors) == 2
    assert any(str(corrupt) in e for e in errors)
    assert any(str(misnamed) in e for e in errors)
    table = pd.read_csv(__import__("io").StringIO(captured.out))
    assert sorted(Path(p).name for p in table["path"]) == [
        "anomaly_id_02_00000006.wav", "normal_id_00_00000030.wav"
    ]


def test_machine_can_be_given_and_threshold_fixed(
    models_dir: Path, real_clips: Path, tmp_path: Path
) -> None:
    clip = tmp_path / "new_recording.wav"
    shutil.copy(real_clips / "dcase2020-sample" / "valve" / "test" / "normal_id_00_00000020.wav",
                clip)
    out = tmp_path / "out.csv"
    code = main(["score", "--model", "proposed", "--models-dir", str(models_dir), str(clip),
                 "--machine-type", "valve", "--machine-id", "id_02", "--threshold", "-1",
                 "--out", str(out)])
    assert code == 0
    row = pd.read_csv(out, dtype={"machine_id": str}).iloc[0]
    assert (row["machine_type"], row["machine_id"]) == ("valve", "id_02")
    assert row["threshold"] == -1 and row["decision"] == "anomalous"


def test_missing_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["score", "--model", "nope", "--models-dir", str(tmp_path), str(tmp_path)])
    assert code == 2
    assert "nope" in capsys.readouterr().err

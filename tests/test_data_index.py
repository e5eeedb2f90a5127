"""index.csv: parsing the DCASE layout, class numbering, csv round trip, the local source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmark.data.index import (
    INDEX_COLUMNS,
    build_index,
    check_coverage,
    check_scorable,
    class_list,
    index_from_paths,
    read_index,
    write_index,
)
from benchmark.data.layout import ADDITIONAL_IDS, DEV_IDS, MACHINE_TYPES, LayoutError
from benchmark.data.local import prepare_local
from benchmark.data.marker import MARKER, read_marker


def test_real_clips_are_indexed(real_clips):
    index = build_index(real_clips / "dcase2020-sample")
    assert list(index.columns) == INDEX_COLUMNS
    assert len(index) == 12 and set(index["machine_type"]) == set(MACHINE_TYPES)
    assert list(index["path"]) == sorted(index["path"])
    assert set(index["split"]) == {"test"} and set(index["class_index"]) == {-1}  # no train data
    for row in index.itertuples():
        name = Path(row.path).name
        assert name.startswith(f"{row.label}_{row.machine_id}_")
        assert Path(row.path).parent.parent.name == row.machine_type
    assert index["label"].value_counts().to_dict() == {"anomaly": 6, "normal": 6}


def test_a_bad_file_name_is_an_error_naming_it(real_clips, tmp_path):
    shutil.copytree(real_clips / "dcase2020-sample" / "fan", tmp_path / "fan")
    bad = tmp_path / "fan" / "test" / "normal_id_00_30.wav"
    shutil.copy(real_clips / "dcase2020-sample/fan/test/normal_id_00_00000030.wav", bad)
    with pytest.raises(LayoutError, match="normal_id_00_30.wav"):
        build_index(tmp_path, ["fan"])
    bad.unlink()
    wrong_split = tmp_path / "fan" / "dev" / "normal_id_00_00000001.wav"
    wrong_split.parent.mkdir()
    wrong_split.write_bytes(b"")
    with pytest.raises(LayoutError, match="dev/normal_id_00_00000001.wav"):
        build_index(tmp_path, ["fan"])


def test_missing_machine_type_is_an_error(real_clips):
    with pytest.raises(LayoutError, match="no clips of machine type"):
        build_index(real_clips / "dcase2020-sample" / "fan", ["fan", "pump"])


def _all_ids_paths(root: Path) -> list[Path]:
    paths = []
    for machine_type in MACHINE_TYPES:
        for machine_id in DEV_IDS[machine_type] + ADDITIONAL_IDS[machine_type]:
            paths.append(root / machine_type / "train" / f"normal_{machine_id}_00000000.wav")
            paths.append(root / machine_type / "test" / f"anomaly_{machine_id}_00000000.wav")
    return paths


def test_classes_are_one_to_one_across_types(tmp_path):
    index = index_from_paths(_all_ids_paths(tmp_path), tmp_path)
    pairs = index.groupby(["machine_type", "machine_id"])["class_index"].unique()
    assert all(len(v) == 1 for v in pairs)
    classes = {k: int(v[0]) for k, v in pairs.items()}
    assert sorted(classes.values()) == list(range(41))  # 23 + 18 IDs, no collisions
    assert classes[("pump", "id_06")] != classes[("slider", "id_00")]  # the paper code's bug
    assert classes[("fan", "id_00")] == 0 and classes[("fan", "id_01")] == 1
    assert classes[("pump", "id_00")] == 7 and classes[("ToyConveyor", "id_06")] == 40
    assert class_list(index)[classes[("valve", "id_05")]] == ("valve", "id_05")


def test_test_ids_without_training_data_get_minus_one(tmp_path):
    paths = [
        tmp_path / "fan/train/normal_id_02_00000000.wav",
        tmp_path / "fan/test/normal_id_02_00000000.wav",
        tmp_path / "fan/test/anomaly_id_04_00000000.wav",
        tmp_path / "eval/fan/test/anomaly_id_01_00000003.wav",
    ]
    index = index_from_paths(paths, tmp_path).set_index("path")
    assert index.loc[str(paths[1]), "class_index"] == 0
    assert index.loc[str(paths[2]), "class_index"] == -1
    assert index.loc[str(paths[3]), "split"] == "eval"
    assert index.loc[str(paths[3]), "label"] == "anomaly"


def test_write_and_read_index_round_trip(tmp_path):
    inside = _all_ids_paths(tmp_path / "raw")[:4]
    outside = [tmp_path / "elsewhere" / "fan" / "test" / "normal_id_06_00000001.wav"]
    with pytest.raises(LayoutError, match="normal_id_06_00000001.wav: clip outside"):
        write_index(index_from_paths(inside + outside, tmp_path), tmp_path / "raw" / "index.csv")
    index = index_from_paths(inside, tmp_path)
    csv_path = write_index(index, tmp_path / "raw" / "index.csv")
    stored = pd.read_csv(csv_path)
    assert "fan/test/anomaly_id_00_00000000.wav" in set(stored["path"])  # relative inside
    assert not any(Path(p).is_absolute() for p in stored["path"])  # never absolute
    back = read_index(csv_path)
    assert list(back["path"]) == list(index["path"])
    assert back["class_index"].dtype == "int64"
    assert not list((tmp_path / "raw").glob(".*tmp")), "temporary file left behind"
    stored.loc[0, "split"] = "validation"
    stored.to_csv(csv_path, index=False)
    with pytest.raises(ValueError, match="split"):
        read_index(csv_path)


def test_local_source_indexes_in_place(real_clips, data_params, tmp_path):
    source = real_clips / "dcase2020-sample"
    params = data_params(source="local", local={"path": str(source)})
    index_path = prepare_local(params)
    names = sorted(p.name for p in Path(params.root).iterdir())
    assert names == [MARKER, "index.csv"]  # nothing copied
    assert read_marker(params.root)["source"] == "local"
    index = read_index(index_path)
    assert len(index) == 12 and all(Path(p).is_relative_to(source) for p in index["path"])
    assert not any(Path(p).is_absolute() for p in pd.read_csv(index_path)["path"])
    only_fan = prepare_local(
        data_params(source="local", local={"path": str(source)}, machine_types=["fan"])
    )
    assert set(read_index(only_fan)["machine_type"]) == {"fan"}


_SCORED = [("fan", "id_00", "train", "normal"), ("fan", "id_00", "test", "normal"),
           ("fan", "id_00", "test", "anomaly"), ("fan", "id_01", "train", "normal")]


def _coverage_frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["machine_type", "machine_id", "split", "label"])


@pytest.mark.parametrize(("rows", "message"), [
    ([("fan", "id_03", "eval", "normal"), ("fan", "id_03", "eval", "anomaly")],
     r"eval clips of machine IDs without training clips: fan/id_03 \(evaluation IDs train on "
     r"the additional training set: data.dcase2020.additional_train: true\)"),
    ([("fan", "id_01", "eval", "normal")], "machine IDs without anomaly eval clips: fan/id_01"),
    ([("fan", "id_01", "eval", "anomaly"), ("fan", "id_03", "eval", "anomaly"),
      ("fan", "id_03", "train", "normal")],
     "machine IDs without normal eval clips: fan/id_01, fan/id_03"),
])
def test_eval_clips_every_model_cannot_score_are_refused(rows, message):
    with pytest.raises(LayoutError, match=f"^index.csv: every model .*{message}$"):
        check_coverage(_coverage_frame(_SCORED + rows), "index.csv")


def test_eval_clips_of_trained_ids_with_both_labels_are_covered():
    rows = [("fan", "id_01", "eval", "normal"), ("fan", "id_01", "eval", "anomaly")]
    check_coverage(_coverage_frame(_SCORED + rows), "index.csv")


def test_check_scorable_checks_one_split():
    rows = [("fan", "id_01", "eval", "normal")]
    check_scorable(_coverage_frame(_SCORED), "eval", "index.csv")  # no eval split: nothing to check
    with pytest.raises(LayoutError, match="^index.csv: the eval split cannot be scored: machine "
                       "IDs without anomaly eval clips: fan/id_01$"):
        check_scorable(_coverage_frame(_SCORED + rows), "eval", "index.csv")

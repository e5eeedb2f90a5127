"""The data-set registry (DCASE 2020-2025), the year layouts, ``data.dataset`` and the year
profiles."""

from __future__ import annotations

import pytest

from benchmark.config import ConfigError
from benchmark.data.datasets import DATASETS, DatasetSpec, get_dataset, register_dataset
from benchmark.data.index import class_key, index_from_paths
from benchmark.data.layout import LayoutError, parse_year_path, year_clip_name
from benchmark.profiles import profile_args, read_profile

# From the organisers' baseline download lists (issue 21): dev / additional / eval.
RECORDS = {
    "dcase2021": (4562016, 4660992, 4884786),
    "dcase2022": (6355122, 6462969, 6586456),
    "dcase2023": (7882613, 7830345, 7860847),
    "dcase2024": (10902294, 11259435, 11363076),
    "dcase2025": (15097779, 15392814, 15519362),
}


def test_every_year_is_registered_with_its_records():
    assert list(DATASETS) == [f"dcase{y}" for y in range(2020, 2026)]
    for name, (dev, additional, evaluation) in RECORDS.items():
        records = get_dataset(name).records
        assert (records.dev, records.additional, records.eval) == (dev, additional, evaluation)


def test_years_facts_types_sections_archives():
    d2021, d2023, d2024 = (get_dataset(f"dcase{y}") for y in (2021, 2023, 2024))
    assert d2021.sections("fan") == tuple(f"section_0{k}" for k in range(6))
    assert d2021.is_eval_section("fan", "section_03") and not d2021.is_eval_section("fan",
                                                                                    "section_00")
    assert d2021.archive_name("dev", "fan") == "dev_data_fan.zip"
    assert d2023.archive_name("dev", "fan") == "dev_fan.zip"
    assert d2023.archive_groups("fan") == ("dev",)
    assert d2023.archive_groups("bandsaw") == ("additional", "eval")
    assert d2024.archive_name("additional", "3DPrinter") == "eval_data_3DPrinter_train_r2.zip"
    assert d2024.archive_name("additional", "Scanner") == "eval_data_Scanner_train.zip"
    assert d2024.archive_name("eval", "RoboticArm") == "eval_data_RoboticArm_test.zip"
    assert len(get_dataset("dcase2025").eval_types) == 8
    assert get_dataset("dcase2025").ignored_folders == ("supplemental",)
    assert [get_dataset(n).class_rule for n in DATASETS] == [
        "machine_id", "section", "section", "attributes", "attributes", "attributes"]


def test_a_year_is_registered_once_and_an_unknown_one_is_named():
    with pytest.raises(ValueError, match="dcase2023"):
        register_dataset(DatasetSpec(**{**vars(get_dataset("dcase2023"))}))
    with pytest.raises(KeyError, match="dcase2019.*dcase2020"):
        get_dataset("dcase2019")


def test_year_names_parse_and_a_bad_one_is_named(tmp_path):
    clip = parse_year_path("x/valve/test/section_00_target_test_anomaly_0007_pat_A_v1pat_B.wav",
                           "dcase2022", ("valve",))
    assert (clip.section, clip.domain, clip.label, clip.number) == ("section_00", "target",
                                                                    "anomaly", 7)
    assert clip.attributes == "pat_A_v1pat_B" and clip.machine_id == "section_00"
    name = year_clip_name("section_01", "source", "train", "normal", 12, "vel_6")
    assert parse_year_path(f"x/fan/train/{name}", "dcase2022", ("fan",)).number == 12
    bad = [("x/fan/train/normal_id_00_00000000.wav", "dcase2022", "does not follow"),
           ("x/fan/test/section_00_source_test_normal_0001.wav", "dcase2021", "folder"),
           ("x/fan/source_test/section_00_target_test_normal_0001.wav", "dcase2021",
            "a target clip in the folder 'source_test'"),
           ("x/lathe/train/section_00_source_train_normal_0001.wav", "dcase2022", "lathe")]
    for path, layout, message in bad:
        with pytest.raises(LayoutError, match=message) as error:
            parse_year_path(path, layout, ("fan",))
        assert path in str(error.value)


def test_2021_index_has_domains_from_its_test_folders_and_eval_clips(tmp_path):
    paths = [tmp_path / p for p in (
        "dev/fan/train/section_00_source_train_normal_0000.wav",
        "dev/fan/train/section_00_target_train_normal_0000.wav",
        "dev/fan/source_test/section_00_source_test_anomaly_0000.wav",
        "dev/fan/target_test/section_00_target_test_normal_0001.wav",
        "additional/fan/train/section_03_source_train_normal_0000.wav",
        "eval/fan/target_test/section_03_target_test_anomaly_0000.wav",
    )]
    index = index_from_paths(paths, tmp_path, "dcase2021").set_index("path")
    rows = {str(p.relative_to(tmp_path)): index.loc[str(p)] for p in paths}
    assert rows["dev/fan/target_test/section_00_target_test_normal_0001.wav"]["domain"] == "target"
    assert rows["eval/fan/target_test/section_03_target_test_anomaly_0000.wav"]["split"] == "eval"
    assert set(index["class_index"]) == {0, 1}  # (fan, section_00), (fan, section_03)


def test_attribute_classes_and_hidden_attributes():
    assert class_key("section_00", "vel_6", "attributes") == "section_00_vel_6"
    assert class_key("section_00", "noAttribute", "attributes") == "section_00"
    assert class_key("section_00", "vel_6", "section") == "section_00"
    assert class_key("id_02", "", "machine_id") == "id_02"


@pytest.mark.parametrize("overrides, key", [
    ({"dataset": "dcase2019"}, "data.dataset"),
    ({"dataset": "dcase2023", "machine_types": ["pump"]}, r"data.machine_types\[0\]. is .pump"),
    ({"dataset": "dcase2023", "source": "dcase2020", "machine_types": ["fan"]}, "zenodo"),
    ({"dataset": "dcase2021", "machine_types": ["fan"]}, "2022\\+ layout"),
    ({"dataset": "dcase2023", "machine_types": ["bandsaw"]}, "development types"),
    ({"dataset": "dcase2023", "machine_types": ["fan"], "synthetic": {"ids_per_type": 2}},
     "ids_per_type"),
    ({"source": "zenodo"}, "DCASE 2021-2025"),
    ({"synthetic": {"target_train_per_id": 0}}, "target_train_per_id"),
])
def test_data_dataset_settings_are_checked(data_params, overrides, key):
    with pytest.raises(ConfigError, match=key):
        data_params(**overrides)


@pytest.mark.parametrize("year", [f"dcase{y}" for y in range(2021, 2026)])
def test_each_year_profile_is_the_paper_protocol_on_the_year(year):
    overlay = read_profile(year)
    assert overlay["data"]["dataset"] == year and overlay["data"]["source"] == "zenodo"
    assert overlay["data"]["machine_types"] == list(get_dataset(year).machine_types)
    assert overlay["seeds"] == read_profile("paper")["seeds"]
    assert overlay["models"] == read_profile("paper")["models"]
    assert "-S" in profile_args(year)  # merged onto params.yaml, every section checked


def test_the_smoke_profile_of_a_year_is_valid():
    args = profile_args("dcase2023_smoke")
    assert "data.dataset=dcase2023" in args


def test_a_profile_cannot_extend_itself(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b\n")
    (tmp_path / "b.yaml").write_text("extends: a\n")
    with pytest.raises(ConfigError, match="a -> b -> a"):
        read_profile("a", tmp_path)

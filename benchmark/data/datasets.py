"""The registry of data sets: one entry per DCASE Task 2 year (``dcase2020`` ... ``dcase2025``).

Each :class:`DatasetSpec` holds what the pipeline needs to know about one year: its machine types
(development and evaluation sets), its sections, clip length and sample rate, the file-name
layout, how classifier classes are formed, which official score ranks it, the Zenodo records of
its archives and where the ground truth of its evaluation set comes from. Adding a year is one
:func:`register_dataset` call. ``data.dataset`` in ``params.yaml`` selects the entry.

Sources of the facts:

- machine types and sections: the task pages and ASDKit (Fujimura et al. 2025,
  ``asdkit/utils/dcase_utils/machines.py`` and ``get_official_section_list``), for 2025 the
  organisers' baseline (``nttcslab/dcase2023_task2_baseline_ae``,
  ``datasets/download_path_2025.yaml``);
- Zenodo records and archive names: the organisers' baseline's download lists
  (``data_download_20XX*.sh``, ``datasets/download_path_20XX.yaml``); the file list and MD5s are
  read from each record at run time (:mod:`benchmark.data.zenodo`);
- clip lengths: ASDKit's ``dcase2sec`` (the longest clip of the year);
- evaluation ground truth: the organisers' lists ``datasets/eval_data_list_20XX.csv`` of the
  baseline repository (2020: Zenodo record 3951620): a line naming a machine type, then
  ``unlabelled name, labelled name[, 0|1]`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Layout = Literal["dcase2020", "dcase2021", "dcase2022"]
"""File-name layouts: 2020 (``<label>_id_XX_NNNNNNNN.wav``), 2021 (``section_XX_<domain>_<split>_
<label>_NNNN[_attrs].wav`` in ``train``/``source_test``/``target_test``) and 2022+ (the same names
with attributes, one ``test`` folder, ``attributes_XX.csv``)."""

ClassRule = Literal["machine_id", "section", "attributes"]
"""What a classifier class is: a machine ID (2020), a (type, section) pair (2021-2022), or a
(type, section, attribute combination) triple (2023+; hidden attributes: the section)."""

GROUND_TRUTH_BASE = ("https://raw.githubusercontent.com/nttcslab/dcase2023_task2_baseline_ae/"
                     "main/datasets")


@dataclass(frozen=True)
class Records:
    """The Zenodo records of one year: development, additional training, evaluation test."""

    dev: int
    additional: int
    eval: int


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the pipeline knows about one DCASE Task 2 data set."""

    name: str
    year: int
    dev_types: tuple[str, ...]
    eval_types: tuple[str, ...]
    dev_sections: dict[str, tuple[str, ...]]
    eval_sections: dict[str, tuple[str, ...]]
    clip_seconds: float
    layout: Layout
    class_rule: ClassRule
    records: Records
    archives: dict[str, str]
    """Archive name pattern per group (``dev``, ``additional``, ``eval``); ``{type}`` is filled."""
    ground_truth_url: str
    sample_rate: int = 16_000
    archive_overrides: dict[str, str] = field(default_factory=dict)
    """Archive names that differ from the pattern (2024: the ``_train_r2`` re-releases)."""
    ignored_folders: tuple[str, ...] = ()
    """Folders below a machine type that hold no task clips (2025: ``supplemental``)."""

    @property
    def machine_types(self) -> tuple[str, ...]:
        """Every machine type of the year: development types first, then evaluation-only ones."""
        return self.dev_types + tuple(t for t in self.eval_types if t not in self.dev_types)

    def sections(self, machine_type: str) -> tuple[str, ...]:
        """The sections (2020: machine IDs) of a type, development ones first."""
        return self.dev_sections.get(machine_type, ()) + self.eval_sections.get(machine_type, ())

    def is_eval_section(self, machine_type: str, section: str) -> bool:
        """True for a section of the evaluation set (its test clips are the ``eval`` split)."""
        return section in self.eval_sections.get(machine_type, ())

    def archive_name(self, group: str, machine_type: str) -> str:
        """The file name, in its Zenodo record, of one group's archive of a machine type."""
        name = self.archives[group].format(type=machine_type)
        return self.archive_overrides.get(name, name)

    def archive_groups(self, machine_type: str) -> tuple[str, ...]:
        """The archive groups that hold clips of a machine type."""
        groups = ("dev",) if machine_type in self.dev_types else ()
        return groups + (("additional", "eval") if machine_type in self.eval_types else ())

    def record(self, group: str) -> int:
        return getattr(self.records, group)


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a year to the registry; a second entry of one name is an error."""
    if spec.name in DATASETS:
        raise ValueError(f"data set {spec.name!r} is registered twice")
    DATASETS[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The registered data set ``name``; an unknown name is a KeyError listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; registered: {', '.join(DATASETS)}") from None


def all_machine_types() -> tuple[str, ...]:
    """Every machine type of every registered year, each once, in registry order."""
    seen: dict[str, None] = {}
    for spec in DATASETS.values():
        seen.update(dict.fromkeys(spec.machine_types))
    return tuple(seen)


def _sections(types: tuple[str, ...], numbers: tuple[int, ...]) -> dict[str, tuple[str, ...]]:
    return {t: tuple(f"section_{n:02d}" for n in numbers) for t in types}


_MIMII_DUE_2021 = ("fan", "gearbox", "pump", "slider", "ToyCar", "ToyTrain", "valve")
_MIMII_DG = ("bearing", "fan", "gearbox", "slider", "ToyCar", "ToyTrain", "valve")
_SPLIT_ARCHIVES = {"additional": "eval_data_{type}_train.zip", "eval": "eval_data_{type}_test.zip"}

register_dataset(DatasetSpec(
    name="dcase2020", year=2020,
    dev_types=("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"),
    eval_types=("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"),
    dev_sections={
        **{t: ("id_00", "id_02", "id_04", "id_06") for t in ("fan", "pump", "slider", "valve")},
        "ToyCar": ("id_01", "id_02", "id_03", "id_04"), "ToyConveyor": ("id_01", "id_02", "id_03"),
    },
    eval_sections={
        **{t: ("id_01", "id_03", "id_05") for t in ("fan", "pump", "slider", "valve")},
        "ToyCar": ("id_05", "id_06", "id_07"), "ToyConveyor": ("id_04", "id_05", "id_06"),
    },
    clip_seconds=11.0, layout="dcase2020", class_rule="machine_id",
    records=Records(dev=3678171, additional=3727685, eval=3841772),
    archives={"dev": "dev_data_{type}.zip", "additional": "eval_data_train_{type}.zip",
              "eval": "eval_data_test_{type}.zip"},
    ground_truth_url="https://zenodo.org/records/3951620/files/eval_data_list.csv?download=1",
))

register_dataset(DatasetSpec(
    name="dcase2021", year=2021, dev_types=_MIMII_DUE_2021, eval_types=_MIMII_DUE_2021,
    dev_sections=_sections(_MIMII_DUE_2021, (0, 1, 2)),
    eval_sections=_sections(_MIMII_DUE_2021, (3, 4, 5)),
    clip_seconds=10.0, layout="dcase2021", class_rule="section",
    records=Records(dev=4562016, additional=4660992, eval=4884786),
    archives={"dev": "dev_data_{type}.zip", **_SPLIT_ARCHIVES},
    ground_truth_url=f"{GROUND_TRUTH_BASE}/eval_data_list_2021.csv",
))

register_dataset(DatasetSpec(
    name="dcase2022", year=2022, dev_types=_MIMII_DG, eval_types=_MIMII_DG,
    dev_sections=_sections(_MIMII_DG, (0, 1, 2)), eval_sections=_sections(_MIMII_DG, (3, 4, 5)),
    clip_seconds=10.0, layout="dcase2022", class_rule="section",
    records=Records(dev=6355122, additional=6462969, eval=6586456),
    archives={"dev": "dev_{type}.zip", **_SPLIT_ARCHIVES},
    ground_truth_url=f"{GROUND_TRUTH_BASE}/eval_data_list_2022.csv",
))

_EVAL_2023 = ("bandsaw", "grinder", "shaker", "ToyDrone", "ToyNscale", "ToyTank", "Vacuum")
register_dataset(DatasetSpec(
    name="dcase2023", year=2023, dev_types=_MIMII_DG, eval_types=_EVAL_2023,
    dev_sections=_sections(_MIMII_DG, (0,)), eval_sections=_sections(_EVAL_2023, (0,)),
    clip_seconds=18.0, layout="dcase2022", class_rule="attributes",
    records=Records(dev=7882613, additional=7830345, eval=7860847),
    archives={"dev": "dev_{type}.zip", **_SPLIT_ARCHIVES},
    ground_truth_url=f"{GROUND_TRUTH_BASE}/eval_data_list_2023.csv",
))

_EVAL_2024 = ("3DPrinter", "AirCompressor", "BrushlessMotor", "HairDryer", "HoveringDrone",
              "RoboticArm", "Scanner", "ToothBrush", "ToyCircuit")
register_dataset(DatasetSpec(
    name="dcase2024", year=2024, dev_types=_MIMII_DG, eval_types=_EVAL_2024,
    dev_sections=_sections(_MIMII_DG, (0,)), eval_sections=_sections(_EVAL_2024, (0,)),
    clip_seconds=12.0, layout="dcase2022", class_rule="attributes",
    records=Records(dev=10902294, additional=11259435, eval=11363076),
    archives={"dev": "dev_{type}.zip", **_SPLIT_ARCHIVES},
    archive_overrides={f"eval_data_{t}_train.zip": f"eval_data_{t}_train_r2.zip"
                       for t in ("3DPrinter", "RoboticArm")},
    ground_truth_url=f"{GROUND_TRUTH_BASE}/eval_data_list_2024.csv",
))

_EVAL_2025 = ("AutoTrash", "BandSealer", "CoffeeGrinder", "HomeCamera", "Polisher",
              "ScrewFeeder", "ToyPet", "ToyRCCar")
register_dataset(DatasetSpec(
    name="dcase2025", year=2025, dev_types=_MIMII_DG, eval_types=_EVAL_2025,
    dev_sections=_sections(_MIMII_DG, (0,)), eval_sections=_sections(_EVAL_2025, (0,)),
    clip_seconds=12.0, layout="dcase2022", class_rule="attributes",
    records=Records(dev=15097779, additional=15392814, eval=15519362),
    archives={"dev": "dev_{type}.zip", **_SPLIT_ARCHIVES},
    ground_truth_url=f"{GROUND_TRUTH_BASE}/eval_data_list_2025.csv",
    ignored_folders=("supplemental",),
))

"""Facts of the DCASE Task 2 data layouts shared by every stage.

DCASE 2020 (:func:`parse_clip_path`): ``<machine_type>/<split>/<label>_id_XX_NNNNNNNN.wav`` with
``split`` in ``train``/``test`` and ``label`` in ``normal``/``anomaly`` (Koizumi et al., DCASE
2020 Task 2; Purohit et al. MIMII; Koizumi et al. ToyADMOS).

DCASE 2021-2025 (:func:`parse_year_path`; Kawaguchi et al. 2021, Dohi et al. 2022-2023,
Nishida et al. 2024): ``section_XX_<domain>_<split>_<label>_NNNN[_<attributes>].wav``, with
``domain`` in ``source``/``target``; 2021 keeps its test clips in ``source_test/`` and
``target_test/``, 2022+ in one ``test/`` folder (and an ``attributes_XX.csv`` per section beside
them). The section plays the 2020 machine ID's part (``ClipName.machine_id`` = the section).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MACHINE_TYPES: tuple[str, ...] = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")
"""The six machine types, in the order the paper's tables list them."""

DEV_IDS: dict[str, tuple[str, ...]] = {
    "fan": ("id_00", "id_02", "id_04", "id_06"),
    "pump": ("id_00", "id_02", "id_04", "id_06"),
    "slider": ("id_00", "id_02", "id_04", "id_06"),
    "valve": ("id_00", "id_02", "id_04", "id_06"),
    "ToyCar": ("id_01", "id_02", "id_03", "id_04"),
    "ToyConveyor": ("id_01", "id_02", "id_03"),
}
"""Machine IDs of the development set (record 3678171)."""

ADDITIONAL_IDS: dict[str, tuple[str, ...]] = {
    "fan": ("id_01", "id_03", "id_05"),
    "pump": ("id_01", "id_03", "id_05"),
    "slider": ("id_01", "id_03", "id_05"),
    "valve": ("id_01", "id_03", "id_05"),
    "ToyCar": ("id_05", "id_06", "id_07"),
    "ToyConveyor": ("id_04", "id_05", "id_06"),
}
"""Machine IDs of the additional training set (record 3727685) and evaluation test set."""

SPLITS: tuple[str, ...] = ("train", "test")
LABELS: tuple[str, ...] = ("normal", "anomaly")
SAMPLE_RATE = 16_000
CLIP_SECONDS = 10.0

_NAME = re.compile(r"^(?P<label>normal|anomaly)_(?P<id>id_\d{2})_(?P<num>\d{8})\.wav$")


class LayoutError(ValueError):
    """A file or folder that does not follow the DCASE 2020 Task 2 layout."""


@dataclass(frozen=True)
class ClipName:
    """What a DCASE file name and its two parent folders say about a clip."""

    machine_type: str
    split: str
    label: str
    machine_id: str
    number: int
    section: str = ""
    domain: str = "source"
    attributes: str = ""

    def __post_init__(self) -> None:
        if not self.section:  # DCASE 2020: the machine ID is the section
            object.__setattr__(self, "section", self.machine_id)


def parse_clip_path(path: str | Path) -> ClipName:
    """Parse ``.../<machine_type>/<split>/<label>_id_XX_NNNNNNNN.wav``.

    Raises :class:`LayoutError` naming the file when any part does not parse.
    """
    path = Path(path)
    match = _NAME.match(path.name)
    if match is None:
        raise LayoutError(
            f"{path}: file name does not follow '<normal|anomaly>_id_XX_NNNNNNNN.wav'"
        )
    split = path.parent.name
    machine_type = path.parent.parent.name
    if split not in SPLITS:
        raise LayoutError(f"{path}: parent folder '{split}' is not one of {SPLITS}")
    if machine_type not in MACHINE_TYPES:
        raise LayoutError(f"{path}: machine type '{machine_type}' is not one of {MACHINE_TYPES}")
    return ClipName(
        machine_type=machine_type,
        split=split,
        label=match["label"],
        machine_id=match["id"],
        number=int(match["num"]),
    )


def clip_relpath(machine_type: str, split: str, label: str, machine_id: str, number: int) -> Path:
    """The layout path of a clip relative to the data root."""
    return Path(machine_type) / split / f"{label}_{machine_id}_{number:08d}.wav"


_YEAR_NAME = re.compile(
    r"^(?P<section>section_\d{2})_(?P<domain>source|target)_(?P<split>train|test)_"
    r"(?P<label>normal|anomaly)_(?P<num>\d{4})(?:_(?P<attributes>[^/]+?))?\.wav$"
)
YEAR_FOLDERS: dict[str, dict[str, tuple[str, ...]]] = {
    "dcase2021": {"train": ("train",), "test": ("source_test", "target_test")},
    "dcase2022": {"train": ("train",), "test": ("test",)},
}
"""The folders each split's clips live in, per layout."""


def parse_year_path(path: str | Path, layout: str, machine_types: tuple[str, ...]) -> ClipName:
    """Parse a DCASE 2021-2025 clip path ``.../<type>/<folder>/section_XX_..._NNNN[_attrs].wav``.

    ``layout`` is ``dcase2021`` or ``dcase2022`` (:data:`YEAR_FOLDERS`); ``machine_types`` the
    year's types. Raises :class:`LayoutError` naming the file for a name that fits no pattern, a
    folder of the wrong split or domain, or an unknown machine type.
    """
    path = Path(path)
    match = _YEAR_NAME.match(path.name)
    if match is None:
        raise LayoutError(
            f"{path}: file name does not follow "
            "'section_XX_<source|target>_<train|test>_<normal|anomaly>_NNNN[_<attributes>].wav'"
        )
    folder, machine_type = path.parent.name, path.parent.parent.name
    split, domain = match["split"], match["domain"]
    allowed = YEAR_FOLDERS[layout][split]
    if folder not in allowed:
        raise LayoutError(f"{path}: a {split} clip must be in a folder {allowed}, not '{folder}'")
    if folder.endswith("_test") and not folder.startswith(domain):
        raise LayoutError(f"{path}: a {domain} clip in the folder '{folder}'")
    if machine_type not in machine_types:
        raise LayoutError(f"{path}: machine type '{machine_type}' is not one of {machine_types}")
    return ClipName(machine_type=machine_type, split=split, label=match["label"],
                    machine_id=match["section"], number=int(match["num"]),
                    section=match["section"], domain=domain,
                    attributes=match["attributes"] or "")


def year_clip_name(section: str, domain: str, split: str, label: str, number: int,
                   attributes: str = "") -> str:
    """The DCASE 2021+ file name of a clip (:func:`parse_year_path` reads it back)."""
    tail = f"_{attributes}" if attributes else ""
    return f"{section}_{domain}_{split}_{label}_{number:04d}{tail}.wav"

"""Facts of the DCASE 2020 Task 2 data layout shared by every stage.

Files live at ``<machine_type>/<split>/<label>_id_XX_NNNNNNNN.wav`` with
``split`` in ``train``/``test`` and ``label`` in ``normal``/``anomaly``
(Koizumi et al., DCASE 2020 Task 2; Purohit et al. MIMII; Koizumi et al. ToyADMOS).
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

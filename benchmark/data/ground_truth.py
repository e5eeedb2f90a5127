"""The ground truth of the DCASE 2020 evaluation test set: reading, checking, labelling clips.

The evaluation archives hold unlabelled names ``<type>/test/id_XX_NNNNNNNN.wav``; the ground truth
``eval_data_list.csv`` (Zenodo record 3951620; the format of the DCASE 2020 Task 2 evaluator,
y-kawagu/dcase2020_task2_evaluator) gives each its label. Both the real download
(:mod:`benchmark.data.download`) and the synthetic generator (:mod:`benchmark.data.synthetic`)
label their evaluation clips with :func:`label_eval_clips`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from benchmark.data.layout import MACHINE_TYPES, LayoutError

_GROUND_TRUTH_NAME = re.compile(r"^id_\d{2}_\d{8}\.wav$")


def read_ground_truth(path: Path, machine_type: str | None = None) -> dict[tuple[str, str], str]:
    """Labels of the evaluation clips: ``{(machine_type, "id_XX_NNNNNNNN.wav"): label}``.

    Reads ``eval_data_list.csv`` (a line with one cell names the machine type of the rows that
    follow; a row is ``file name, ..., 0|1``) or, with ``machine_type``, a per-ID file of
    ``file name, 0|1`` rows. The whole file is checked: raises :class:`ValueError` naming the file
    (and line) for an HTML page, an unknown machine type, a malformed file name or label, rows of
    different widths, a clip labelled twice differently or a file without labels.
    """
    labels: dict[tuple[str, str], str] = {}
    current = machine_type
    width = None
    for line, cells in _csv_rows(path):
        where = f"{path}:{line}"
        if len(cells) == 1:
            if cells[0] not in MACHINE_TYPES:
                raise ValueError(f"{where}: unknown machine type {cells[0]!r}")
            current = cells[0]
            continue
        flag = cells[-1]
        if flag not in ("0", "1"):
            if line == 1:
                continue  # a header row
            raise ValueError(f"{where}: label must be 0 or 1, got {flag!r}")
        if current is None:
            raise ValueError(f"{where}: no machine type line before this row")
        name = Path(cells[0]).name
        if not _GROUND_TRUTH_NAME.match(name):
            raise ValueError(f"{where}: file name must look like id_XX_NNNNNNNN.wav, got {name!r}")
        if width is not None and len(cells) != width:
            raise ValueError(f"{where}: {len(cells)} columns, the rows above have {width}")
        width = len(cells)
        label = "anomaly" if flag == "1" else "normal"
        if labels.setdefault((current, name), label) != label:
            raise ValueError(f"{where}: {current} {name} is labelled both normal and anomaly")
    if not labels:
        raise ValueError(f"{path}: no labels found")
    return labels


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line number, non-empty cells)`` of each non-empty row; an HTML page is refused."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        if text.lstrip().startswith("<"):
            raise ValueError(f"{path}: an HTML page, not a CSV file")
        for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if cells:
                yield line, cells
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: not a CSV text file ({error})") from error


def check_ground_truth(
    path: Path,
    machine_types: list[str],
    machine_type: str | None = None,
    machine_id: str | None = None,
) -> dict[tuple[str, str], str]:
    """Raise :class:`ValueError` unless ``path`` reads and labels every one of ``machine_types``;
    returns the labels (:func:`read_ground_truth`).

    With ``machine_id`` (a per-ID file), every clip must be of that ID.
    """
    labels = read_ground_truth(path, machine_type)
    missing = [t for t in machine_types if not any(k[0] == t for k in labels)]
    if missing:
        raise ValueError(f"{path}: no labels for {', '.join(missing)} (truncated file?)")
    prefix = f"{machine_id}_" if machine_id else ""
    others = sorted(name for _, name in labels if not name.startswith(prefix))
    if others:
        raise ValueError(f"{path}: {others[0]} is not a clip of {machine_type} {machine_id}")
    return labels


def label_eval_clips(
    folder: Path,
    machine_type: str,
    labels: Mapping[tuple[str, str], str],
    *,
    source: str,
    ground_truth: str,
) -> None:
    """Rename ``id_XX_NNNNNNNN.wav`` to ``<label>_id_XX_NNNNNNNN.wav`` from the ground truth.

    ``labels`` is :func:`read_ground_truth`'s mapping; every ``.wav`` below ``folder`` not yet
    labelled must be in it as a clip of ``machine_type``, or :class:`LayoutError` names the clip,
    its ``source`` (an archive, a folder) and the ``ground_truth`` it was looked up in.
    """
    for path in sorted(folder.rglob("*.wav")):
        if path.name.startswith(("normal_", "anomaly_")):
            continue
        label = labels.get((machine_type, path.name))
        if label is None:
            raise LayoutError(f"{path.name} of {source}: not in the ground truth ({ground_truth})")
        path.rename(path.with_name(f"{label}_{path.name}"))

"""The clip index (``index.csv``): one row per clip, the single list every later stage reads.

Columns (``INDEX_COLUMNS``): ``path`` (relative to the clips' root: the csv's folder, or for the
``local`` source the folder its marker names; never absolute, so an index is the same wherever the
repository is cloned; :func:`read_index` returns absolute paths), ``machine_type``, ``machine_id``
(``id_00``; from DCASE 2021 the section, ``section_00``: the unit every per-ID figure is taken
over), ``section`` (2020: the machine ID), ``domain`` (``source``/``target``; 2020: ``source``),
``attributes`` (the name's attribute part, e.g. ``vel_6_loc_A``; 2020 and 2021: mostly empty),
``split``, ``label`` (``normal``/``anomaly``) and ``class_index``.

``split`` is ``train`` or ``test`` from the DCASE layout, or ``eval`` for clips of the DCASE 2020
evaluation test set: those live under a folder named ``eval`` (``eval/<type>/test/...``), with the
label the ground truth gives them in their file name.

Classes (:func:`class_key`, by the data set's ``class_rule``): one per (machine type, machine ID)
that has training clips (2020), per (type, section) (2021-2022), per (type, section, attribute
combination) from 2023, as ASDKit (Fujimura et al. 2025) and Wilkinghoff (2023) train their
classifiers; a clip whose attributes are hidden (``noAttribute``, some 2024 types) or empty belongs
to its section's class. Numbered 0.. in (machine type order of the data set, key) order, so each
pair gets its own class (unlike the paper's code, where pump id_06 and slider id_00 collide). A test
clip whose attribute combination no training clip has gets the first class of its section (the
classifier scores a clip by its section: :func:`class_sections`); test clips of a section without
training data get ``-1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from benchmark.data.datasets import DatasetSpec, all_machine_types, get_dataset
from benchmark.data.layout import (
    MACHINE_TYPES,
    ClipName,
    LayoutError,
    parse_clip_path,
    parse_year_path,
)
from benchmark.data.marker import clips_root
from benchmark.io import atomic_path

INDEX_COLUMNS: list[str] = ["path", "machine_type", "machine_id", "section", "domain",
                            "attributes", "split", "label", "class_index"]
HIDDEN_ATTRIBUTES = ("", "noAttribute")
"""Attribute parts that say nothing: such a clip's class is its section."""
SPLITS: tuple[str, ...] = ("train", "test", "eval")
EVAL_DIR = "eval"
"""Clips below a folder of this name are the evaluation test set (split ``eval``)."""


def index_from_paths(paths: Iterable[str | Path], root: str | Path | None = None,
                     dataset: str = "dcase2020") -> pd.DataFrame:
    """Index clips of ``dataset`` from their paths (files need not exist); rows sorted by path.

    ``root`` is the folder the paths were found in: a folder named ``eval`` between it and
    ``<type>/<test folder>/`` marks an evaluation clip (without ``root``, no clip is one).
    Raises :class:`LayoutError` naming a bad file.
    """
    spec = get_dataset(dataset)
    rows = [_row(Path(p), None if root is None else Path(root), spec) for p in paths]
    frame = pd.DataFrame(rows, columns=INDEX_COLUMNS[:-1])
    frame = frame.sort_values("path", kind="stable").reset_index(drop=True)
    return assign_classes(frame, dataset)


def parse_clip(path: Path, spec: DatasetSpec) -> ClipName:
    """What the layout of ``spec``'s year says about a clip path (:class:`LayoutError` if bad)."""
    if spec.layout == "dcase2020":
        return parse_clip_path(path)
    return parse_year_path(path, spec.layout, spec.machine_types)


def _row(path: Path, root: Path | None, spec: DatasetSpec) -> dict[str, str]:
    clip = parse_clip(path, spec)
    above: tuple[str, ...] = ()
    if root is not None and path.is_relative_to(root):
        above = path.relative_to(root).parts[:-3]
    split = clip.split
    if EVAL_DIR in above:
        if clip.split != "test":
            raise LayoutError(f"{path}: evaluation clips must be test clips, not '{split}'")
        split = "eval"
    return {
        "path": str(path),
        "machine_type": clip.machine_type,
        "machine_id": clip.machine_id,
        "section": clip.section,
        "domain": clip.domain,
        "attributes": clip.attributes,
        "split": split,
        "label": clip.label,
    }


def class_key(machine_id: str, attributes: str, rule: str) -> str:
    """The class a clip trains as, within its machine type (see the module docstring)."""
    if rule == "attributes" and attributes not in HIDDEN_ATTRIBUTES:
        return f"{machine_id}_{attributes}"
    return machine_id


def _keys(frame: pd.DataFrame, rule: str) -> list[tuple[str, str]]:
    return [(t, class_key(i, a, rule)) for t, i, a in
            zip(frame["machine_type"], frame["machine_id"], frame["attributes"], strict=True)]


def assign_classes(frame: pd.DataFrame, dataset: str = "dcase2020") -> pd.DataFrame:
    """Add (or overwrite) ``class_index`` from the classes of the train split."""
    spec = get_dataset(dataset)
    classes = class_list(frame, dataset)
    index = {pair: i for i, pair in enumerate(classes)}
    first_of_section: dict[tuple[str, str], int] = {}
    for i, section in enumerate(class_sections(frame, dataset)):
        first_of_section.setdefault((classes[i][0], section), i)
    out = frame.copy()
    pairs = zip(_keys(frame, spec.class_rule), frame["machine_type"], frame["machine_id"],
                strict=True)
    out["class_index"] = [index.get(key, first_of_section.get((t, i), -1)) for key, t, i in pairs]
    out["class_index"] = out["class_index"].astype("int64")
    return out[INDEX_COLUMNS]


def class_list(frame: pd.DataFrame, dataset: str = "dcase2020") -> list[tuple[str, str]]:
    """``[(machine_type, class key), ...]`` with position = class index (train split only);
    the key is the machine ID / section, or ``<section>_<attributes>`` (:func:`class_key`)."""
    spec = get_dataset(dataset)
    train = frame[frame["split"] == "train"]
    order = {t: k for k, t in enumerate(spec.machine_types)}
    return sorted(set(_keys(train, spec.class_rule)), key=lambda p: (order[p[0]], p[1]))


def class_sections(frame: pd.DataFrame, dataset: str = "dcase2020") -> list[str]:
    """The section (machine ID) of every class of :func:`class_list`, in its order: classes of
    one (type, section) are summed when a classifier scores a clip."""
    train = frame[frame["split"] == "train"]
    rule = get_dataset(dataset).class_rule
    section_of = dict(zip(_keys(train, rule), train["machine_id"], strict=True))
    return [section_of[pair] for pair in class_list(frame, dataset)]


def scan_clips(root: str | Path, machine_types: Sequence[str] = MACHINE_TYPES,
               ignored: Sequence[str] = ()) -> list[Path]:
    """Every ``.wav`` file below ``root`` that belongs to one of ``machine_types``.

    Hidden files and folders (``.name``, e.g. temporary folders) are skipped; a ``.wav`` file in
    the folder of another known machine type is skipped; any other ``.wav`` file must follow the
    DCASE layout (checked by :func:`index_from_paths`). Folders named in ``ignored`` are skipped
    (2025: ``supplemental``). Symbolic links to folders and files (as DVC or git-annex leave them)
    are followed, and a clip is named by its link's path, not by the link's target; a link loop is
    visited once.
    """
    root = Path(root).absolute()
    known = set(all_machine_types())
    found = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link back to a folder already walked
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ignored)
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(".wav"):
                continue
            path = Path(dirpath) / name
            owner = path.parent.parent.name
            if owner in known and owner not in machine_types:
                continue
            found.append(path)
    return sorted(found)


def build_index(root: str | Path, machine_types: Sequence[str] = MACHINE_TYPES,
                dataset: str = "dcase2020") -> pd.DataFrame:
    """Index every clip of ``machine_types`` below ``root`` (the layout of ``dataset``); each type
    must have clips."""
    root = Path(root).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    spec = get_dataset(dataset)
    frame = index_from_paths(scan_clips(root, machine_types, spec.ignored_folders), root, dataset)
    missing = [t for t in machine_types if t not in set(frame["machine_type"])]
    if missing:
        raise LayoutError(f"{root}: no clips of machine type(s) {', '.join(missing)}")
    return frame


def write_index(frame: pd.DataFrame, csv_path: str | Path, base: str | Path | None = None) -> Path:
    """Write the index atomically, clip paths relative to ``base`` (default: the csv's folder).

    A clip outside ``base`` is an error naming it: the index never stores an absolute path.
    """
    csv_path = Path(csv_path).absolute()
    base = Path(base).absolute() if base is not None else csv_path.parent
    out = frame[INDEX_COLUMNS].copy()
    out["path"] = relative_paths(out["path"], base)
    with atomic_path(csv_path) as tmp:
        out.to_csv(tmp, index=False)
    return csv_path


def relative_paths(paths: Iterable[str | Path], base: str | Path) -> list[str]:
    """``paths`` relative to ``base`` in POSIX form; a path outside ``base`` is an error."""
    base = Path(base).absolute()
    out = []
    for path in paths:
        path = Path(path).absolute()
        if not path.is_relative_to(base):
            raise LayoutError(f"{path}: clip outside the data folder {base}")
        out.append(path.relative_to(base).as_posix())
    return out


def check_coverage(frame: pd.DataFrame, where: str, dataset: str = "dcase2020") -> None:
    """Every model must be scored on the same clips: refuse an index where that cannot hold.

    Each machine type has test clips; each (type, ID) with test clips has training clips (the
    classifiers cannot score an ID they never saw) and both normal and anomalous test clips (AUC
    needs both); each (type, ID) with training clips has test clips, except the IDs of the DCASE
    additional training set, whose test clips are the evaluation set (split ``eval``). Each
    (type, ID) with evaluation clips has training clips and both normal and anomalous ones too.
    """
    spec = get_dataset(dataset)
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    problems = []
    no_test = sorted(set(frame["machine_type"]) - set(test["machine_type"]) - set(spec.eval_types)
                     .difference(spec.dev_types), key=spec.machine_types.index)
    if no_test:
        problems.append(f"machine type(s) without test clips: {', '.join(no_test)}")
    problems += _scoring_problems(train, test, "test")
    untested = sorted(p for p in _pairs(train) - _pairs(test)
                      if p[0] in no_test or not spec.is_eval_section(*p))
    if untested:
        problems.append("machine IDs with training clips but no test clips: " + _names(untested))
    problems += _scoring_problems(train, frame[frame["split"] == "eval"], "eval")
    if problems:
        raise LayoutError(
            f"{where}: every model must be scored on the same clips, but " + "; ".join(problems)
        )


def check_scorable(frame: pd.DataFrame, split: str, where: str) -> None:
    """:func:`check_coverage`'s rule for one split: every (type, ID) with clips of ``split`` has
    training clips and both normal and anomalous clips of ``split`` (nothing to check when the
    split is empty). The train stage checks the ``eval`` split with it before training."""
    problems = _scoring_problems(frame[frame["split"] == "train"],
                                 frame[frame["split"] == split], split)
    if problems:
        raise LayoutError(f"{where}: the {split} split cannot be scored: " + "; ".join(problems))


def _scoring_problems(train: pd.DataFrame, scored: pd.DataFrame, split: str) -> list[str]:
    """Why the clips of split ``split`` (``scored``) cannot all be scored: IDs without training
    clips, IDs without normal or without anomalous clips (AUC needs both)."""
    problems = []
    untrained = sorted(_pairs(scored) - _pairs(train))
    if untrained:
        hint = (" (evaluation IDs train on the additional training set: "
                "data.dcase2020.additional_train: true)" if split == "eval" else "")
        problems.append(f"{split} clips of machine IDs without training clips: "
                        + _names(untrained) + hint)
    for label in ("normal", "anomaly"):
        lacking = sorted(_pairs(scored) - _pairs(scored[scored["label"] == label]))
        if lacking:
            problems.append(f"machine IDs without {label} {split} clips: " + _names(lacking))
    return problems


def _pairs(rows: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(rows["machine_type"], rows["machine_id"], strict=True))


def _names(pairs: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{t}/{i}" for t, i in pairs)


def read_index(csv_path: str | Path) -> pd.DataFrame:
    """Read ``index.csv`` with ``path`` resolved to absolute paths; checks columns and values.

    Relative paths are resolved against the clips' root (:func:`benchmark.data.marker.clips_root`).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"index not found: {csv_path} (run python -m benchmark.prepare)")
    dtypes = {c: str for c in INDEX_COLUMNS if c != "class_index"}
    frame = pd.read_csv(csv_path, dtype=dtypes, keep_default_na=False)
    if list(frame.columns) != INDEX_COLUMNS:
        raise ValueError(f"{csv_path}: columns {list(frame.columns)}, expected {INDEX_COLUMNS}")
    _check_values(frame, csv_path)
    base = clips_root(csv_path.parent).absolute()
    frame["path"] = [str(base / p) if not Path(p).is_absolute() else p for p in frame["path"]]
    frame["class_index"] = frame["class_index"].astype("int64")
    return frame


def _check_values(frame: pd.DataFrame, csv_path: Path) -> None:
    allowed = {"split": SPLITS, "label": ("normal", "anomaly"), "domain": ("source", "target"),
               "machine_type": all_machine_types()}
    for column, values in allowed.items():
        bad = sorted(set(frame[column]) - set(values))
        if bad:
            raise ValueError(f"{csv_path}: column '{column}' has unknown value(s) {bad}")
    if not pd.api.types.is_integer_dtype(frame["class_index"]):
        raise ValueError(f"{csv_path}: column 'class_index' must hold integers")

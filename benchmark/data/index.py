"""The clip index (``index.csv``): one row per clip, the single list every later stage reads.

Columns (``INDEX_COLUMNS``): ``path`` (relative to the csv's folder when inside it, absolute
otherwise; :func:`read_index` returns absolute paths), ``machine_type``, ``machine_id``
(``id_00``), ``split``, ``label`` (``normal``/``anomaly``) and ``class_index``.

``split`` is ``train`` or ``test`` from the DCASE layout, or ``eval`` for clips of the DCASE 2020
evaluation test set: those live under a folder named ``eval`` (``eval/<type>/test/...``), with the
label the ground truth gives them in their file name.

Classes: one per (machine type, machine ID) that has training clips, numbered 0.. in
(``MACHINE_TYPES`` order, machine ID) order, so each (type, ID) pair gets its own class (unlike the
paper's code, where pump id_06 and slider id_00 collide). Test clips of an ID without training data
get ``-1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from benchmark.data.layout import MACHINE_TYPES, LayoutError, parse_clip_path

INDEX_COLUMNS: list[str] = ["path", "machine_type", "machine_id", "split", "label", "class_index"]
SPLITS: tuple[str, ...] = ("train", "test", "eval")
EVAL_DIR = "eval"
"""Clips below a folder of this name are the evaluation test set (split ``eval``)."""


def index_from_paths(paths: Iterable[str | Path], root: str | Path | None = None) -> pd.DataFrame:
    """Index clips from their paths (files need not exist); rows sorted by path.

    ``root`` is the folder the paths were found in: a folder named ``eval`` between it and
    ``<type>/test/`` marks an evaluation clip (without ``root``, no clip is one).
    Raises :class:`LayoutError` naming a bad file.
    """
    rows = [_row(Path(p), None if root is None else Path(root)) for p in paths]
    frame = pd.DataFrame(rows, columns=INDEX_COLUMNS[:-1])
    frame = frame.sort_values("path", kind="stable").reset_index(drop=True)
    return assign_classes(frame)


def _row(path: Path, root: Path | None) -> dict[str, str]:
    clip = parse_clip_path(path)
    above: tuple[str, ...] = ()
    if root is not None and path.is_relative_to(root):
        above = path.relative_to(root).parts[:-3]
    split = clip.split
    if EVAL_DIR in above:
        if clip.split != "test":
            raise LayoutError(f"{path}: evaluation clips must be in '<type>/test/', not '{split}'")
        split = "eval"
    return {
        "path": str(path),
        "machine_type": clip.machine_type,
        "machine_id": clip.machine_id,
        "split": split,
        "label": clip.label,
    }


def assign_classes(frame: pd.DataFrame) -> pd.DataFrame:
    """Add (or overwrite) ``class_index`` from the (type, ID) pairs of the train split."""
    classes = {pair: i for i, pair in enumerate(class_list(frame))}
    pairs = zip(frame["machine_type"], frame["machine_id"], strict=True)
    out = frame.copy()
    out["class_index"] = [classes.get(pair, -1) for pair in pairs]
    out["class_index"] = out["class_index"].astype("int64")
    return out[INDEX_COLUMNS]


def class_list(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """``[(machine_type, machine_id), ...]`` with position = class index (train split only)."""
    train = frame[frame["split"] == "train"]
    pairs = set(zip(train["machine_type"], train["machine_id"], strict=True))
    return sorted(pairs, key=lambda p: (MACHINE_TYPES.index(p[0]), p[1]))


def scan_clips(root: str | Path, machine_types: Sequence[str] = MACHINE_TYPES) -> list[Path]:
    """Every ``.wav`` file below ``root`` that belongs to one of ``machine_types``.

    Hidden files and folders (``.name``, e.g. temporary folders) are skipped; a ``.wav`` file in
    the folder of another known machine type is skipped; any other ``.wav`` file must follow the
    DCASE layout (checked by :func:`index_from_paths`).
    """
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(".wav"):
                continue
            path = Path(dirpath) / name
            owner = path.parent.parent.name
            if owner in MACHINE_TYPES and owner not in machine_types:
                continue
            found.append(path.resolve())
    return sorted(found)


def build_index(root: str | Path, machine_types: Sequence[str] = MACHINE_TYPES) -> pd.DataFrame:
    """Index every clip of ``machine_types`` below ``root``; each type must have clips."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    frame = index_from_paths(scan_clips(root, machine_types), root)
    missing = [t for t in machine_types if t not in set(frame["machine_type"])]
    if missing:
        raise LayoutError(f"{root}: no clips of machine type(s) {', '.join(missing)}")
    return frame


def write_index(frame: pd.DataFrame, csv_path: str | Path) -> Path:
    """Write the index atomically; paths inside the csv's folder are stored relative to it."""
    csv_path = Path(csv_path).absolute()
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    base = csv_path.parent.resolve()
    out = frame[INDEX_COLUMNS].copy()
    out["path"] = [_stored_path(Path(p), base) for p in out["path"]]
    tmp = csv_path.with_name(f".{csv_path.name}.tmp")
    try:
        out.to_csv(tmp, index=False)
        os.replace(tmp, csv_path)
    finally:
        tmp.unlink(missing_ok=True)
    return csv_path


def _stored_path(path: Path, base: Path) -> str:
    path = path if path.is_absolute() else path.absolute()
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)


def read_index(csv_path: str | Path) -> pd.DataFrame:
    """Read ``index.csv`` with ``path`` resolved to absolute paths; checks columns and values."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"index not found: {csv_path} (run python -m benchmark.prepare)")
    dtypes = {c: str for c in INDEX_COLUMNS[:-1]}
    frame = pd.read_csv(csv_path, dtype=dtypes, keep_default_na=False)
    if list(frame.columns) != INDEX_COLUMNS:
        raise ValueError(f"{csv_path}: columns {list(frame.columns)}, expected {INDEX_COLUMNS}")
    _check_values(frame, csv_path)
    base = csv_path.parent.resolve()
    frame["path"] = [str(base / p) if not Path(p).is_absolute() else p for p in frame["path"]]
    frame["class_index"] = frame["class_index"].astype("int64")
    return frame


def _check_values(frame: pd.DataFrame, csv_path: Path) -> None:
    allowed = {"split": SPLITS, "label": ("normal", "anomaly"), "machine_type": MACHINE_TYPES}
    for column, values in allowed.items():
        bad = sorted(set(frame[column]) - set(values))
        if bad:
            raise ValueError(f"{csv_path}: column '{column}' has unknown value(s) {bad}")
    if not pd.api.types.is_integer_dtype(frame["class_index"]):
        raise ValueError(f"{csv_path}: column 'class_index' must hold integers")

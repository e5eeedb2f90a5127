"""Data roots on the local disk: the ``local`` source, and the bookkeeping of ``data.root``.

``prepare`` marks every data root it fills with a small JSON file (:data:`MARKER`) saying which
source wrote it, so that a later run replaces only folders it wrote itself and never deletes a
DCASE download to make room for generated data.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from benchmark.config import ConfigError
from benchmark.data.index import build_index, write_index
from benchmark.data.params import DataParams

log = logging.getLogger(__name__)

MARKER = ".asd-benchmark-data.json"
"""File that marks a data root written by ``prepare`` (its source and parameters)."""


def prepare_local(params: DataParams) -> Path:
    """Index ``data.local.path`` (DCASE layout) without copying; returns ``<data.root>/index.csv``.

    The index holds absolute paths (the clips are outside ``data.root``). Clips below a folder named
    ``eval`` get the split ``eval`` (see :mod:`benchmark.data.index`).
    """
    if not params.local.path:
        raise ConfigError("'data.local.path' must be set when 'data.source' is 'local'")
    folder = Path(params.local.path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"'data.local.path' is {params.local.path!r}: no such folder")
    index = build_index(folder, params.selected_types())
    log.info("indexed %d clips in %s", len(index), folder.resolve())
    return write_index(index, Path(params.root) / "index.csv")


def read_marker(root: Path) -> dict | None:
    """What ``prepare`` recorded about ``root``, or None when it did not write it."""
    try:
        data = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(root: Path, params: DataParams, source: str) -> None:
    """Record in ``root`` that ``prepare`` wrote it from ``source`` with ``params``."""
    text = json.dumps({"source": source, "params": asdict(params)}, indent=1)
    (root / MARKER).write_text(text + "\n")


def check_replaceable(root: Path, source: str) -> None:
    """Refuse to overwrite a folder ``prepare`` did not write, or a download with other data."""
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"data.root {root} exists and is not a folder")
    if not {p.name for p in root.iterdir()} - {"index.csv", MARKER}:
        return
    marker = read_marker(root)
    if marker is None:
        raise FileExistsError(
            f"data.root {root} is not empty and was not written by benchmark.prepare; "
            "remove it or set another data.root"
        )
    if marker.get("source") == "dcase2020" and source != "dcase2020":
        raise FileExistsError(
            f"data.root {root} holds the downloaded DCASE 2020 data; set another data.root for "
            f"the {source} data, or delete the folder yourself"
        )


def replace_dir(new: Path, target: Path) -> None:
    """Put folder ``new`` in place of ``target`` (two renames; the old folder is deleted)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)

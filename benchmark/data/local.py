"""Data roots on the local disk: the ``local`` source, and the bookkeeping of ``data.root``.

``prepare`` marks every data root it fills with a small JSON file (:data:`MARKER`, see
:mod:`benchmark.data.marker`) saying which source wrote it, so that a later run replaces only
folders it wrote itself, never deletes a DCASE download to make room for generated data, and never
leaves clips of one source beside the index of another.
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.config import ConfigError
from benchmark.data.index import build_index, write_index
from benchmark.data.marker import MARKER, read_marker, write_marker
from benchmark.data.params import DataParams
from benchmark.io import atomic_path

__all__ = ["MARKER", "check_replaceable", "prepare_local", "read_marker", "write_marker"]

log = logging.getLogger(__name__)

DOWNLOADS = ("dcase2020", "zenodo")
"""Sources whose data took hours to download: no other source replaces their folder."""


def prepare_local(params: DataParams) -> Path:
    """Index ``data.local.path`` (DCASE layout) without copying; returns ``<data.root>/index.csv``.

    ``data.root`` is replaced by a folder holding only ``index.csv`` and the marker: the index
    stores clip paths relative to ``data.local.path`` (recorded in the marker as given), so it
    holds no absolute path of this machine. Clips below a folder named ``eval`` get the split
    ``eval`` (see :mod:`benchmark.data.index`).
    """
    if not params.local.path:
        raise ConfigError("'data.local.path' must be set when 'data.source' is 'local'")
    folder = Path(params.local.path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"'data.local.path' is {params.local.path!r}: no such folder")
    root = Path(params.root).absolute()
    check_replaceable(root, "local")
    index = build_index(folder, params.selected_types(), params.dataset)
    with atomic_path(root, directory=True) as tmp:
        write_index(index, tmp / "index.csv", base=folder)
        write_marker(tmp, params, "local", clips_root=params.local.path)
    log.info("indexed %d clips in %s", len(index), folder)
    return root / "index.csv"


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
    downloaded = marker.get("source")
    if downloaded in DOWNLOADS and source != downloaded:
        dataset = (marker.get("params") or {}).get("dataset", "dcase2020")
        raise FileExistsError(
            f"data.root {root} holds the downloaded {dataset} data; set another data.root for "
            f"the {source} data, or delete the folder yourself"
        )

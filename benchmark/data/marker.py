"""The marker file ``prepare`` leaves in every data root it fills.

``<data.root>/.asd-benchmark-data.json`` records which source wrote the folder (``synthetic``,
``dcase2020`` or ``local``), the ``data`` params it used and, for the ``local`` source, the folder
the clips live in (``clips_root``, exactly as ``data.local.path`` gives it: the index stores clip
paths relative to it, so no absolute path of this machine ends up in a DVC-tracked file).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmark.io import write_text_atomic

MARKER = ".asd-benchmark-data.json"
"""File that marks a data root written by ``prepare`` (its source and parameters)."""


def read_marker(root: str | Path) -> dict[str, Any] | None:
    """What ``prepare`` recorded about ``root``, or None when it did not write it."""
    try:
        data = json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(root: str | Path, params: Any, source: str,
                 clips_root: str | None = None) -> None:
    """Record that ``prepare`` wrote ``root`` from ``source`` with ``params`` (a dataclass)."""
    data: dict[str, Any] = {"source": source, "params": asdict(params)}
    if clips_root is not None:
        data["clips_root"] = clips_root
    write_text_atomic(Path(root) / MARKER, json.dumps(data, indent=1) + "\n")


def clips_root(index_folder: str | Path) -> Path:
    """The folder the clip paths of ``<index_folder>/index.csv`` are relative to."""
    marker = read_marker(index_folder) or {}
    given = marker.get("clips_root")
    return Path(given).expanduser() if given else Path(index_folder)


def marker_dataset(root: str | Path) -> str:
    """The data set (``data.dataset``) ``prepare`` wrote ``root`` from; ``dcase2020`` when the
    folder has no marker or its marker predates the key."""
    params = (read_marker(root) or {}).get("params") or {}
    return str(params.get("dataset", "dcase2020"))

"""Stage ``prepare``: get the data set and write ``<data.root>/index.csv``.

``python -m benchmark.prepare [--params params.yaml]`` reads the ``data`` section only. By
``data.source``: ``synthetic`` generates machine sounds in the DCASE 2020 Task 2 layout,
``dcase2020`` downloads the real archives from Zenodo, ``zenodo`` downloads a DCASE 2021-2025 year
(``data.dataset``) through the Zenodo records API (:mod:`benchmark.data.zenodo`), ``local``
indexes a folder in place.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from benchmark.cli import entry_point
from benchmark.config import stage_params
from benchmark.data.params import DataParams

log = logging.getLogger(__name__)


def prepare(params: DataParams) -> Path:
    """Build the data set the params describe; returns the path of its ``index.csv``."""
    if params.source == "synthetic" and params.dataset != "dcase2020":
        from benchmark.data.synthetic_shift import prepare_synthetic_year

        return prepare_synthetic_year(params)
    if params.source == "synthetic":
        from benchmark.data.synthetic import prepare_synthetic

        return prepare_synthetic(params)
    if params.source == "dcase2020":
        from benchmark.data.download import prepare_dcase2020

        return prepare_dcase2020(params)
    if params.source == "zenodo":
        from benchmark.data.zenodo import prepare_zenodo

        return prepare_zenodo(params)
    if params.source == "local":
        from benchmark.data.local import prepare_local

        return prepare_local(params)
    raise ValueError(f"unknown data.source {params.source!r}")


@entry_point
def main(argv: list[str] | None = None) -> None:
    params = stage_params("data", DataParams, __doc__.splitlines()[0], argv)
    start = time.perf_counter()
    index = prepare(params)
    log.info("%s data ready: %s (%.1f s)", params.source, index, time.perf_counter() - start)


if __name__ == "__main__":
    main()

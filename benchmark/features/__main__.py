"""Stage ``features``: ``python -m benchmark.features [--params params.yaml]``.

Reads the ``features`` section only and writes the memory-mapped feature cache (see
:mod:`benchmark.features.cache`).
"""

from __future__ import annotations

import logging
import time

from benchmark.cli import entry_point
from benchmark.config import stage_params
from benchmark.features.cache import FeaturesParams, build_cache, open_cache

log = logging.getLogger("benchmark.features")


@entry_point
def main(argv: list[str] | None = None) -> None:
    params = stage_params("features", FeaturesParams, __doc__.splitlines()[0], argv)
    start = time.perf_counter()
    out = build_cache(params)
    cache = open_cache(out)
    log.info(
        "feature cache %s: %d clips, waveforms %s, log-Mel %s (%.1f s)",
        out, len(cache.index), cache.waveforms.shape, cache.logmel.shape,
        time.perf_counter() - start,
    )


if __name__ == "__main__":
    main()

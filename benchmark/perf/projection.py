"""How long the paper profile would train on this machine: epochs x clips / measured clips/s."""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any

from benchmark.config import ConfigError, read_params
from benchmark.data.layout import ADDITIONAL_IDS, DEV_IDS, MACHINE_TYPES
from benchmark.profiles import PROFILES_DIR, check_seeds, merge, read_profile

DCASE2020_TRAIN_CLIPS_PER_ID = 1_000
"""Normal training clips per machine ID of DCASE 2020 Task 2: "around 1,000", in the development
set (Zenodo 3678171) and in the additional training set (Zenodo 3727685) alike. Source: the task
description (Koizumi et al., arXiv:2006.05822; the DCASE 2020 Task 2 web page, quoted in
soundata's ``dcase2020_task2`` loader) and ``shared/paper/reference-facts.md``. Approximate: the
real count varies from ID to ID; set ``perf.projection_train_clips`` to the train split of a
downloaded data set's ``index.csv`` for the exact figure."""

DCASE2020_TRAIN_IDS = sum(len(DEV_IDS[t]) + len(ADDITIONAL_IDS[t]) for t in MACHINE_TYPES)
"""Machine IDs the paper profile trains on: 23 development + 18 additional = 41, six types."""

DCASE2020_TRAIN_CLIPS = DCASE2020_TRAIN_IDS * DCASE2020_TRAIN_CLIPS_PER_ID
"""About 41,000 training clips per epoch of the paper profile (dev + additional train, all six
machine types; ``data.dcase2020.additional_train: true`` in ``profiles/paper.yaml``)."""


def profile_recipes(profile: str, params_file: str | Path,
                    profiles_dir: str | Path = PROFILES_DIR) -> tuple[dict[str, dict], list[int]]:
    """The ``models:`` recipes and ``seeds`` of ``params_file`` with profile ``profile`` merged.

    Plain mappings: the projection needs only ``epochs`` and ``clips_per_epoch``.
    """
    merged = merge(read_params(params_file), read_profile(profile, profiles_dir))
    seeds = merged.get("seeds")
    try:
        check_seeds(seeds)
    except ConfigError as error:
        raise ConfigError(f"profile {profile!r}: {error}") from None
    recipes = merged.get("models")
    if not isinstance(recipes, dict):
        raise ConfigError(f"profile {profile!r}: 'models' must be a mapping, got {recipes!r}")
    return recipes, seeds


def epoch_clips(recipe: dict[str, Any], train_clips: int) -> int:
    """Clips one epoch of ``recipe`` sees: all ``train_clips``, or its ``clips_per_epoch``."""
    per_epoch = int(recipe.get("clips_per_epoch", 0))
    return min(per_epoch, train_clips) if per_epoch > 0 else train_clips


def projected_seconds(clips_per_s: float, epochs: int, clips_per_epoch: int) -> float:
    """Seconds of ``epochs`` epochs of ``clips_per_epoch`` clips at ``clips_per_s``."""
    if not clips_per_s > 0:
        raise ValueError(f"clips_per_s must be > 0, got {clips_per_s}")
    if epochs < 0 or clips_per_epoch < 0:
        raise ValueError(f"epochs and clips_per_epoch must be >= 0, got {epochs}, "
                         f"{clips_per_epoch}")
    return epochs * clips_per_epoch / clips_per_s


def projection(rates: dict[str, float], recipes: dict[str, dict], seeds: list[int], *,
               train_clips: int, profile: str, train_clips_source: str) -> dict[str, Any]:
    """Projected training time of every measured model under the profile's recipe.

    ``rates``: measured training-stage clips/s per model. Per model: ``seconds`` for one seed,
    ``grid_seconds`` for all ``seeds``; totals over the models projected.
    """
    rows = []
    for name, rate in rates.items():
        recipe = recipes.get(name)
        if recipe is None:
            rows.append({"model": name, "seconds": None, "why": "no recipe under models:"})
            continue
        epochs, clips = int(recipe["epochs"]), epoch_clips(recipe, train_clips)
        seconds = projected_seconds(rate, epochs, clips)
        rows.append({"model": name, "epochs": epochs, "clips_per_epoch": clips,
                     "clips_per_s": rate, "seconds": seconds,
                     "grid_seconds": seconds * len(seeds)})
    one_seed = sum(r["seconds"] for r in rows if r["seconds"] is not None)
    return {
        "profile": profile,
        "train_clips": train_clips,
        "train_clips_source": train_clips_source,
        "seeds": len(seeds),
        "models": rows,
        "one_seed_seconds": one_seed,
        "grid_seconds": one_seed * len(seeds),
        "not_measured": sorted(set(recipes) - set(rates)),
    }


def train_clips_and_source(configured: int) -> tuple[int, str]:
    """The clips per epoch to project (``perf.projection_train_clips``; 0 = the documented count)
    and where that number comes from."""
    if configured > 0:
        return configured, "perf.projection_train_clips"
    return DCASE2020_TRAIN_CLIPS, (
        f"approximate: {DCASE2020_TRAIN_IDS} machine IDs (DCASE 2020 Task 2 development + "
        f"additional training sets) x about {DCASE2020_TRAIN_CLIPS_PER_ID:,} normal training "
        "clips per ID (the task description's figure)"
    )


GRID_DEVICES = (1, 8, 32)
"""Device counts the report projects the paper grid's wall time on."""


def grid_wall_seconds(run_seconds: list[float], devices: int) -> float:
    """Wall time of ``run_seconds`` trainings on ``devices`` identical devices, one training per
    device at a time, the longest first onto the least-loaded device (as ``grid run`` schedules
    them when the long runs come first in ``dvc.yaml``)."""
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    loads = [0.0] * devices
    for seconds in sorted(run_seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + seconds)
    return max(loads)


def grid_walls(proj: dict[str, Any], devices: tuple[int, ...] = GRID_DEVICES) -> dict[int, float]:
    """The projected wall time of every run of ``proj`` (model x seed) on each device count."""
    runs = [r["seconds"] for r in proj["models"] if r["seconds"] is not None
            for _ in range(proj["seeds"])]
    return {n: grid_wall_seconds(runs, n) for n in devices}

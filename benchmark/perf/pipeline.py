"""How long the default pipeline takes a new user: ``python -m benchmark.perf.pipeline``.

A fresh ``git clone`` of the committed HEAD (in a temporary folder, so the workspace is left
alone) runs the README's main job, ``dvc repro`` on the synthetic default, from scratch; each
stage's wall time is read off DVC's ``Running stage '...'`` lines as they stream. Then a second
``dvc repro`` (must run nothing), and two one-model experiments queued and run with
``dvc queue start -j 2`` (what the README's grid recipe does), and the two frame-model train
stages under ``dvc repro`` against ``python -m benchmark grid run`` with two workers. Disk use
is measured on the clone: the data, models and the DVC cache separately and together (``du``
counts a hard-linked file once), so a reader sees whether the data exists once. Writes
``reports/pipeline.{md,json}``; the README takes its run-time figures from there (a test keeps
the two in step).

Not a pipeline stage: it takes as long as the pipeline itself (about a quarter of an hour on a
2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmark.dvc_cli import dvc_executable, run_dvc
from benchmark.io import write_json_atomic, write_text_atomic
from benchmark.perf.machine import machine_info

STAGE_LINE = re.compile(r"^Running stage '([^']+)'")
QUEUED = ("-S models.idnn.epochs=3", "-S models.dcase2020_ae.epochs=4")
"""The two one-model experiments of the queue measurement (one ``dvc exp run --queue`` each)."""


def _env(clone: Path) -> dict[str, str]:
    """The environment of a new user: this interpreter's tools first, no foreign MLflow store."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    for key in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "PYTHONPATH"):
        env.pop(key, None)
    return env


def timed_repro(clone: Path, args: list[str] | None = None) -> dict[str, Any]:
    """Run ``dvc repro`` in ``clone``; its total and per-stage wall seconds (stages in order)."""
    start = time.perf_counter()
    stages: list[list[Any]] = []
    with subprocess.Popen([dvc_executable(), "repro", *(args or [])], cwd=clone,
                          env=_env(clone), text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        tail: list[str] = []
        for line in process.stdout:
            tail = (tail + [line])[-40:]
            match = STAGE_LINE.match(line)
            if match:
                now = time.perf_counter() - start
                if stages:
                    stages[-1][2] = now - stages[-1][1]
                stages.append([match.group(1), now, None])
    total = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"dvc repro failed in {clone} ({process.returncode}):\n"
                           + "".join(tail))
    if stages:
        stages[-1][2] = total - stages[-1][1]
    return {"total_s": round(total, 1),
            "stages": [{"stage": name, "seconds": round(seconds, 1)}
                       for name, _, seconds in stages]}


def timed_queue(clone: Path, experiments: tuple[str, ...] = QUEUED,
                jobs: int = 2) -> dict[str, Any]:
    """Queue ``experiments`` and run them with ``jobs`` workers; wall seconds until all ended."""
    env = _env(clone)

    def call(*args: str) -> str:
        return run_dvc(list(args), clone, timeout=3600, env=env)

    for settings in experiments:
        call("exp", "run", "--queue", *settings.split())
    start = time.perf_counter()
    call("queue", "start", "-j", str(jobs))
    while True:
        status = call("queue", "status")
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(1)
    seconds = time.perf_counter() - start
    return {"experiments": list(experiments), "jobs": jobs, "total_s": round(seconds, 1),
            "succeeded": status.count("Success")}


FRAME_STAGES = ("train@idnn-0", "train@dcase2020_ae-0")
"""The frame-model stages timed under ``dvc repro`` and under ``grid run`` with 2 workers."""


def _forget_runs(clone: Path, stages: tuple[str, ...]) -> None:
    """Delete the run folders of ``stages`` (``persist`` outputs: a kept ``last.pt`` would make
    the next run a no-op resume), so both timings train from scratch."""
    for stage in stages:
        model, seed = stage.removeprefix("train@").rsplit("-", 1)
        shutil.rmtree(clone / "models" / model / f"seed-{seed}", ignore_errors=True)


def timed_grid_vs_repro(clone: Path, stages: tuple[str, ...] = FRAME_STAGES,
                        workers: int = 2) -> dict[str, Any]:
    """``stages`` trained by ``dvc repro`` (one after the other), then by ``grid run`` on a
    ``LocalCluster`` of ``workers`` processes; wall seconds of each and their ratio."""
    env = _env(clone)
    _forget_runs(clone, stages)
    start = time.perf_counter()
    run_dvc(["repro", "--no-run-cache", "--single-item", *stages], clone, timeout=None,
            env=env)
    serial = time.perf_counter() - start
    _forget_runs(clone, stages)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchmark", "grid", "run", "--engine", "local",
                    "--workers", str(workers), "--targets", *stages, "--no-repro",
                    "--no-progress"], cwd=clone, env=env, check=True, capture_output=True,
                   text=True)
    grid = time.perf_counter() - start
    return {"stages": list(stages), "workers": workers, "dvc_repro_s": round(serial, 1),
            "grid_s": round(grid, 1), "speed_up": round(serial / grid, 2)}


def disk_use(clone: Path) -> dict[str, int]:
    """Bytes on disk of data/, models/, .dvc/cache, and all three together (``du -s -B1``)."""
    folders = {"data": clone / "data", "models": clone / "models",
               ".dvc/cache": clone / ".dvc/cache"}

    def du(*paths: Path) -> int:
        out = subprocess.run(["du", "-s", "-c", "-B1", *map(str, paths)], capture_output=True,
                             text=True, check=True).stdout
        return int(out.strip().splitlines()[-1].split()[0])

    sizes = {name: du(path) for name, path in folders.items()}
    sizes["together"] = du(*folders.values())
    return sizes


def _clone(repo: Path, workdir: Path) -> tuple[Path, str]:
    clone = workdir / "asd-benchmark"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout.strip()
    return clone, commit


def measure_grid(repo: Path, workdir: Path) -> dict[str, Any]:
    """Only :func:`timed_grid_vs_repro`, on a fresh clone whose features are made first."""
    clone, commit = _clone(repo, workdir)
    timed_repro(clone, ["features"])
    return {**timed_grid_vs_repro(clone), "commit": commit}


def measure(repo: Path, workdir: Path) -> dict[str, Any]:
    """Clone ``repo``'s HEAD into ``workdir`` and time the README's main job there."""
    clone, commit = _clone(repo, workdir)
    first = timed_repro(clone)  # what a new user's `dvc repro` runs: every stage without outputs
    second = timed_repro(clone)
    if second["stages"]:
        raise RuntimeError(f"a second dvc repro ran {second['stages']}: the pipeline is not "
                           "up to date after the first")
    disk = disk_use(clone)
    queue = timed_queue(clone)
    grid = timed_grid_vs_repro(clone)
    return {"commit": commit, "machine": machine_info(), "repro": first, "second_repro": second,
            "disk_bytes": disk, "queue": queue, "grid_vs_repro": grid}


def render(result: dict[str, Any]) -> str:
    """``reports/pipeline.md``."""
    machine = result["machine"]
    repro, queue, disk = result["repro"], result["queue"], result["disk_bytes"]
    grid = result["grid_vs_repro"]
    lines = [
        "# Pipeline run time", "",
        "Reproduce: `python -m benchmark.perf.pipeline` (a fresh clone of HEAD in a temporary "
        "folder; about as long as the pipeline).", "",
        f"Commit `{result['commit'][:10]}`; machine: {machine['cpu_model']}, "
        f"{machine['logical_cores']} logical cores, torch {machine['torch']}, "
        f"Python {machine['python']}.", "",
        "## The default `dvc repro` from scratch (synthetic data, every model, one seed)", "",
        f"Total: **{repro['total_s']:.0f} s ({repro['total_s'] / 60:.1f} min)**, "
        f"about {round(repro['total_s'] / 60)} minutes.", "",
        "| stage | seconds |", "|---|---|",
        *[f"| `{s['stage']}` | {s['seconds']:.1f} |" for s in repro["stages"]], "",
        *_group_shares(repro),
        f"A second `dvc repro` ran no stage ({result['second_repro']['total_s']:.1f} s).", "",
        "## Two queued one-model experiments", "",
        f"`dvc exp run --queue` with `{queue['experiments'][0]}` and with "
        f"`{queue['experiments'][1]}`, then `dvc queue start -j {queue['jobs']}`: both finished "
        f"in **{queue['total_s']:.0f} s** ({queue['succeeded']} succeeded).", "",
        "## The frame-model stages: `dvc repro` vs `grid run`", "",
        f"{' and '.join(f'`{name}`' for name in grid['stages'])} trained from scratch by "
        f"`dvc repro` (one after the other): {grid['dvc_repro_s']:.0f} s; by `python -m "
        f"benchmark grid run` on a LocalCluster of {grid['workers']} worker processes (each "
        f"stage also `dvc commit`-ed): {grid['grid_s']:.0f} s, **{grid['speed_up']:.2f}x**"
        + (f" (measured at commit `{grid['commit'][:10]}`: `python -m benchmark.perf.pipeline "
           "--only-grid`)" if grid.get("commit", result["commit"]) != result["commit"] else "")
        + ".", "",
        "## Disk use after `dvc repro`", "",
        "| folder | on disk |", "|---|---|",
        *[f"| `{name}` | {size / 2**20:.0f} MiB |" for name, size in disk.items()
          if name != "together"],
        f"| all three together (a hard-linked file counted once) | "
        f"{disk['together'] / 2**20:.0f} MiB |", "",
    ]
    return "\n".join(lines)


STAGE_GROUPS = ("train@", "score@")
"""Stage families whose summed time and share of the total the report states."""


def _group_shares(repro: dict[str, Any]) -> list[str]:
    """One line per stage family of :data:`STAGE_GROUPS` present: its stages' seconds and share
    of the total (``score@``: the scoring backends' cost in the default run)."""
    lines = []
    for prefix in STAGE_GROUPS:
        seconds = [s["seconds"] for s in repro["stages"] if s["stage"].startswith(prefix)]
        if seconds:
            lines.append(f"The {len(seconds)} `{prefix}*` stages: {sum(seconds):.0f} s, "
                         f"{100 * sum(seconds) / repro['total_s']:.1f} % of the total.")
    return [*lines, ""] if lines else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=".", help="repository to clone (default: %(default)s)")
    parser.add_argument("--out", default="reports/pipeline.md",
                        help="markdown report; the JSON goes beside it (default: %(default)s)")
    parser.add_argument("--workdir", default=None,
                        help="where the clone goes (default: a temporary folder, removed after)")
    parser.add_argument("--only-grid", action="store_true",
                        help="re-measure only the dvc repro vs grid run section, into the "
                        "existing JSON beside --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="asd-pipeline-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        if args.only_grid:
            result = json.loads(out.with_suffix(".json").read_text())
            result["grid_vs_repro"] = measure_grid(Path(args.repo).absolute(), workdir)
        else:
            result = measure(Path(args.repo).absolute(), workdir)
    write_json_atomic(out.with_suffix(".json"), result)
    write_text_atomic(out, render(result))
    print(json.dumps({"total_s": result["repro"]["total_s"], "out": str(out)}))


if __name__ == "__main__":
    main()

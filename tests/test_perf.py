"""The performance stage on a tiny budget: two models, four 1-s clips, one call per figure; the
timed training stage on six 1-s clips and the paper-profile projection."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from benchmark.config import ConfigError, from_dict, load_section
from benchmark.perf import (
    DCASE2020_TRAIN_CLIPS,
    DCASE2020_TRAIN_IDS,
    PerfParams,
    apply_overrides,
    format_duration,
    profile_recipes,
    projected_seconds,
    projection,
    render_markdown,
    resolve_threads,
    run_perf,
    write_reports,
)
from benchmark.perf.cli import parse_args
from benchmark.perf.machine import GpuBusySampler, gpu_utilization_reader, nvidia_smi_gpu
from benchmark.perf.projection import train_clips_and_source
from benchmark.perf.train_stage import epoch_summary

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
PROFILES = ROOT / "profiles"


@pytest.fixture
def tiny(tmp_path: Path) -> PerfParams:
    params = load_section("perf", PerfParams, PARAMS)
    return replace(
        params, models=["idnn", "mobilenetv2"], num_clips=4, feature_repeats=1,
        clip_samples=16000, feature_workers=[1], threads=[1], device="cpu",
        train_batch_cpu=2, train_steps=1, latency_repeats=2, throughput_batch_cpu=2,
        throughput_repeats=1, warmup=0, isolate=False, train_stage=True, train_stage_epochs=2,
        train_stage_clips_cpu=6, projection_profile="paper", projection_train_clips=0,
        out_json=str(tmp_path / "performance.json"), out_md=str(tmp_path / "performance.md"),
    )


def test_params_section_rejects_unknown_keys() -> None:
    section = load_section("perf", PerfParams, PARAMS)
    with pytest.raises(ConfigError, match="perf.bogus"):
        from_dict(PerfParams, {**section.__dict__, "bogus": 1}, "perf")
    with pytest.raises(ConfigError, match="feature_workers"):
        from_dict(PerfParams, {**section.__dict__, "feature_workers": [0]}, "perf")


def test_resolve_threads_drops_duplicates() -> None:
    assert resolve_threads([2, 0], default=2) == [2]
    assert resolve_threads([2, 0], default=16) == [2, 16]


def test_run_perf_writes_every_figure(tiny: PerfParams) -> None:
    result = run_perf(replace(tiny, train_stage=False), "python -m benchmark.perf --test",
                      params_file=PARAMS, profiles_dir=PROFILES)
    out_json, out_md = write_reports(result, tiny)
    data = json.loads(out_json.read_text())
    assert data["machine"]["cpu_model"] and data["machine"]["torch"]
    features = data["features"]["by_threads"][0]
    ours = [r for r in features["runs"] if r["path"] == "ours"]
    assert ours and ours[0]["clips_per_s"] > 0 and features["cache_read_clips_per_s"] > 0
    if features["librosa"] is not None:
        assert features["ratio_ours_over_peer"]["1"] > 0
    assert [m["model"] for m in data["models"]] == ["idnn", "mobilenetv2"]
    for model in data["models"]:
        assert model["training"]["clips_per_s"] > 0
        assert model["inference"]["latency_s"] > 0 and model["inference"]["rtf"] > 0
        assert model["training"]["peak_mem_mb"] > 0
    text = out_md.read_text()
    assert "python -m benchmark.perf --test" in text.splitlines()[:8]  # reproduce on top
    assert "mobilenetv2" in text and "idnn" in text
    assert data["train_stage"] is None and "Projected" not in text  # perf.train_stage: false


def test_train_stage_is_timed_and_projected(tiny: PerfParams) -> None:
    """The real training stage on six generated clips, then the paper profile's projection."""
    result = run_perf(replace(tiny, models=["idnn", "mobilenetv2"]), "python -m benchmark.perf "
                      "--models idnn mobilenetv2", params_file=PARAMS, profiles_dir=PROFILES)
    stage = result["train_stage"]
    runs = {r["model"]: r for r in stage["runs"]}
    assert set(runs) == {"idnn", "mobilenetv2"} and stage["clips_per_epoch"] == 6
    for run in runs.values():
        epochs = {e["epoch"] for e in run["epochs"]}
        assert epochs == {1, 2}  # 2 epochs per fitted model (idnn may fit one per type)
        last = [e for e in run["epochs"] if e["epoch"] == 2]
        pooled = sum(e["clips_per_s"] * e["seconds"] for e in last) / sum(
            e["seconds"] for e in last)
        assert run["clips_per_s"] == pytest.approx(pooled) and run["clips_per_s"] > 0
        assert run["gpu_busy_pct"] is None and run["gpu_busy_source"] == "n/a (CPU)"
        assert run["peak_mem_mb"] > 0 and run["device"] == "cpu"
    assert runs["mobilenetv2"]["batch"] == tiny.train_batch_cpu  # clips: perf's batch
    recipes, seeds = profile_recipes("paper", PARAMS, PROFILES)
    assert runs["idnn"]["batch"] == recipes["idnn"]["batch_size"]  # vectors: the recipe's
    proj = stage["projection"]
    rows = {r["model"]: r for r in proj["models"]}
    for name, run in runs.items():
        expected = recipes[name]["epochs"] * DCASE2020_TRAIN_CLIPS / run["clips_per_s"]
        assert rows[name]["seconds"] == pytest.approx(expected)
        assert rows[name]["grid_seconds"] == pytest.approx(expected * len(seeds))
    assert proj["grid_seconds"] == pytest.approx(
        len(seeds) * sum(r["seconds"] for r in rows.values()))
    assert "proposed" in proj["not_measured"]
    text = render_markdown(result)
    section = text[text.index("## Projected paper-profile time on this machine"):]
    assert format_duration(rows["mobilenetv2"]["seconds"]) in section
    assert "python -m benchmark.perf --models idnn mobilenetv2" in section  # how to reproduce
    assert "GPU busy" in text and "n/a" in text


def test_projection_arithmetic() -> None:
    recipes = {"a": {"epochs": 300, "clips_per_epoch": 0},
               "b": {"epochs": 100, "clips_per_epoch": 500}, "c": {"epochs": 1}}
    proj = projection({"a": 10.0, "b": 20.0}, recipes, [0, 1, 2], train_clips=41_000,
                      profile="paper", train_clips_source="test")
    rows = {r["model"]: r for r in proj["models"]}
    assert rows["a"]["seconds"] == pytest.approx(300 * 41_000 / 10.0)  # 1,230,000 s
    assert rows["b"]["clips_per_epoch"] == 500  # a recipe's clips_per_epoch caps the epoch
    assert rows["b"]["seconds"] == pytest.approx(100 * 500 / 20.0)
    assert proj["one_seed_seconds"] == pytest.approx(1_232_500)
    assert proj["grid_seconds"] == pytest.approx(3 * 1_232_500)
    assert rows["a"]["grid_seconds"] == pytest.approx(3 * 1_230_000)
    assert proj["not_measured"] == ["c"]
    assert projected_seconds(4.0, 2, 10) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="clips_per_s must be > 0, got 0"):
        projected_seconds(0.0, 300, 41_000)


def test_epoch_summary_pools_the_models_of_one_epoch() -> None:
    """Per-type training reports each type's epochs: epoch 2 of all of them is one data pass."""
    epochs = [{"epoch": 1, "clips_per_s": 1.0, "seconds": 9.0, "gpu_busy_pct": None,
               "peak_mem_mb": 5.0},
              {"epoch": 2, "clips_per_s": 10.0, "seconds": 1.0, "gpu_busy_pct": 50.0,
               "peak_mem_mb": 7.0},
              {"epoch": 1, "clips_per_s": 1.0, "seconds": 9.0, "gpu_busy_pct": None,
               "peak_mem_mb": 6.0},
              {"epoch": 2, "clips_per_s": 30.0, "seconds": 3.0, "gpu_busy_pct": 90.0,
               "peak_mem_mb": 6.5}]
    last = epoch_summary(epochs, 2, "m")
    assert last["clips_per_s"] == pytest.approx((10 + 90) / 4)  # clips / seconds, not a mean
    assert last["epoch_s"] == 4.0 and last["units"] == 2 and last["peak_mem_mb"] == 7.0
    assert last["gpu_busy_pct"] == pytest.approx((50 * 1 + 90 * 3) / 4)
    assert epoch_summary(epochs, 1, "m")["gpu_busy_pct"] is None
    with pytest.raises(RuntimeError, match="no epoch 3"):
        epoch_summary(epochs, 3, "m")


def test_paper_profile_and_clip_count() -> None:
    recipes, seeds = profile_recipes("paper", PARAMS, PROFILES)
    assert recipes["proposed"]["epochs"] == 300 and recipes["idnn"]["epochs"] == 100
    assert seeds == [0, 1, 2, 3, 4]
    assert DCASE2020_TRAIN_IDS == 41 and DCASE2020_TRAIN_CLIPS == 41_000
    assert train_clips_and_source(0)[0] == 41_000
    assert train_clips_and_source(123) == (123, "perf.projection_train_clips")


def test_format_duration() -> None:
    assert [format_duration(s) for s in (42, 17 * 60, 5.2 * 3600, 3.4 * 86400)] == [
        "42 s", "17 min", "5.2 h", "3.4 d"]


def test_train_stage_params_and_command_line() -> None:
    section = load_section("perf", PerfParams, PARAMS)
    with pytest.raises(ConfigError, match="train_stage_epochs' must be >= 2"):
        from_dict(PerfParams, {**section.__dict__, "train_stage_epochs": 1}, "perf")
    with pytest.raises(ConfigError, match="train_stage_clips_cpu' must be >= 6"):
        from_dict(PerfParams, {**section.__dict__, "train_stage_clips_cpu": 5}, "perf")
    changed = apply_overrides(section, parse_args(["--no-train-stage", "--profile", "x"]))
    assert changed.train_stage is False and changed.projection_profile == "x"


def test_markdown_without_librosa(tiny: PerfParams) -> None:
    result = {
        "command": "python -m benchmark.perf", "device": "cpu", "settings": tiny.__dict__,
        "machine": {"cpu_model": "x", "logical_cores": 2, "torch": "2", "python": "3.11",
                    "torch_default_threads": 2},
        "features": {"our_path": "a", "peer_path": "b", "clips": "synthetic",
                     "by_threads": [{"threads": 2, "num_clips": 4, "librosa": None,
                                     "ratio_ours_over_peer": {}, "cache_read_clips_per_s": 9.0,
                                     "cache_read_batch": 2,
                                     "runs": [{"path": "ours", "workers": 1, "seconds": [1.0],
                                               "clips_per_s": 4.0, "clips_per_s_median": 4.0,
                                               "oversubscribed": False}]}]},
        "models": [],
    }
    assert "librosa is not installed" in render_markdown(result)


def test_gpu_busy_sampler_averages_its_window() -> None:
    sampler = GpuBusySampler(torch.device("cpu"), interval_s=0.01)
    assert sampler.read is None and sampler.source == "n/a (CPU)"
    values = iter([10.0, 30.0] * 1000)
    sampler.read = lambda: next(values)  # a GPU that alternates between 10 and 30 % busy
    start = time.monotonic()
    with sampler:
        time.sleep(0.2)
    assert len(sampler.samples) >= 4
    busy = sampler.busy_pct(start, time.monotonic())
    assert busy is not None and 10.0 <= busy <= 30.0
    assert sampler.busy_pct(start - 10, start - 5) is None  # no sample in that window


def test_gpu_busy_falls_back_to_nvidia_smi(tmp_path: Path, monkeypatch) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text('#!/bin/sh\necho "$1" > "$(dirname "$0")/args"\necho 37\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    monkeypatch.setattr(torch.cuda, "utilization", lambda device=None: 1 / 0)  # no NVML
    read, source = gpu_utilization_reader(torch.device("cuda", 1))
    assert source == "nvidia-smi utilization.gpu" and read is not None and read() == 37.0
    assert (tmp_path / "args").read_text().strip() == "--id=1"  # torch's cuda:1 is GPU 1 of 3,1
    assert nvidia_smi_gpu(0) == "3"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert gpu_utilization_reader(torch.device("cuda", 0)) == (
        None, "n/a (no NVML, no nvidia-smi)")


def test_grid_wall_time_puts_the_longest_runs_first_on_the_least_loaded_device() -> None:
    from benchmark.perf.projection import grid_wall_seconds, grid_walls

    assert grid_wall_seconds([5, 4, 3, 3, 3], 1) == 18
    assert grid_wall_seconds([5, 4, 3, 3, 3], 2) == 10  # LPT: 5+3 and 4+3+3
    assert grid_wall_seconds([5, 4, 3, 3, 3], 8) == 5
    proj = {"seeds": 2, "models": [{"seconds": 10.0}, {"seconds": 1.0}, {"seconds": None}]}
    assert grid_walls(proj, (1, 2, 4)) == {1: 22.0, 2: 11.0, 4: 10.0}
    with pytest.raises(ValueError, match="devices must be >= 1"):
        grid_wall_seconds([1.0], 0)

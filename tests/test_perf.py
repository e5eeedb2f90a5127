"""The performance stage on a tiny budget: two models, four 1-s clips, one call per figure."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark.config import ConfigError, from_dict, load_section
from benchmark.perf import PerfParams, render_markdown, resolve_threads, run_perf, write_reports

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@pytest.fixture
def tiny(tmp_path: Path) -> PerfParams:
    params = load_section("perf", PerfParams, PARAMS)
    return replace(
        params, models=["idnn", "mobilenetv2"], num_clips=4, feature_repeats=1,
        clip_samples=16000, feature_workers=[1], threads=[1], device="cpu",
        train_batch_cpu=2, train_steps=1, latency_repeats=2, throughput_batch_cpu=2,
        throughput_repeats=1, warmup=0, isolate=False,
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
    result = run_perf(tiny, "python -m benchmark.perf --test")
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

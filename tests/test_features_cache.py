"""The feature cache stage: python -m benchmark.features."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tiny_models import CLIP_SAMPLES, make_tiny_cache, tiny_features_params

from benchmark.data.audio import AudioError, load_clip
from benchmark.features.__main__ import main
from benchmark.features.cache import PCM_SCALE, build_cache, open_cache
from benchmark.features.logmel import LogMel


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cache")
    make_tiny_cache(root)
    return root


def test_cache_holds_every_clip_as_int16_and_logmel(tiny):
    cache = open_cache(tiny / "features")
    n = len(cache.index)
    assert n == 2 * 2 * (4 + 2 + 2)
    assert cache.waveforms.dtype == np.int16 and cache.waveforms.shape == (n, CLIP_SAMPLES)
    assert cache.logmel.dtype == np.float16 and cache.logmel.shape == (n, 128, 16)
    assert list(cache.index["row"]) == list(range(n))
    assert cache.classes == [("fan", "id_00"), ("fan", "id_02"), ("slider", "id_00"),
                             ("slider", "id_02")]
    assert cache.data_source == "synthetic"
    row = 5
    assert not Path(cache.index["path"][row]).is_absolute()  # relative: the same in every clone
    wave = load_clip(tiny / "raw" / cache.index["path"][row], sample_rate=16000,
                     num_samples=CLIP_SAMPLES)
    np.testing.assert_allclose(cache.waves([row])[0].numpy(), wave, atol=1.0 / PCM_SCALE)
    mel = LogMel()(cache.waves([row]))[0].numpy()
    np.testing.assert_allclose(cache.logmel[row].astype(np.float32), mel, atol=0.05, rtol=2e-3)
    meta = json.loads((tiny / "features" / "meta.json").read_text())
    assert meta["splits"] == {"test": 16, "train": 16}


def test_chunk_size_does_not_change_the_cache(tiny, tmp_path):
    other = build_cache(tiny_features_params(tiny, out_dir=str(tmp_path / "f"), chunk_clips=64,
                                             workers=1))
    a, b = open_cache(tiny / "features"), open_cache(other)
    np.testing.assert_array_equal(a.waveforms, b.waveforms)
    np.testing.assert_array_equal(a.logmel, b.logmel)
    assert a.fingerprint == b.fingerprint


def test_a_failure_leaves_the_old_cache_and_no_partial_files(tiny, tmp_path):
    out = tmp_path / "features"
    params = tiny_features_params(tiny, out_dir=str(out))
    build_cache(params)
    before = (out / "meta.json").read_text()
    bad = tmp_path / "index.csv"
    text = (tiny / "raw" / "index.csv").read_text().splitlines()
    first = text[1].split(",")
    first[0] = str(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav")
    (tmp_path / "fan" / "train").mkdir(parents=True)
    Path(first[0]).write_bytes(b"not audio")
    bad.write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n")
    with pytest.raises(AudioError, match="normal_id_00_00000000.wav"):
        build_cache(tiny_features_params(tiny, out_dir=str(out), index=str(bad)))
    assert (out / "meta.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fan", "features", "index.csv"]


def test_stage_reads_only_the_features_section(tiny, tmp_path):
    params = tiny_features_params(tiny, out_dir=str(tmp_path / "stage"))
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump({"features": asdict(params), "train": {"x": 1}}))
    main(["--params", str(file)])
    assert open_cache(tmp_path / "stage").waveforms.shape[1] == CLIP_SAMPLES


def test_open_cache_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="index.csv"):
        open_cache(tmp_path)


def test_waves_gathers_rows_in_any_order(tiny):
    cache = open_cache(tiny / "features")
    rows = np.array([7, 2, 9])
    expected = torch.from_numpy(cache.waveforms[[7, 2, 9]].astype(np.float32)) / PCM_SCALE
    assert torch.equal(cache.waves(rows), expected)

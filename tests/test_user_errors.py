"""What a user sees when the input is wrong: floats as DVC writes them, profile overlays checked
against the registry, one ``error:`` line from every stage, a full disk named, checkpoints that
do not fit named (issue 17, items 1-3)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tiny_models import save_untrained

from benchmark.config import ConfigError, load_section, read_params
from benchmark.io import DiskFullError
from benchmark.training.params import ModelParams

ROOT = Path(__file__).resolve().parents[1]
CLASSES = [("fan", "id_00"), ("fan", "id_02")]


def _params_file(tmp_path: Path, **sections) -> Path:
    """The repository's params.yaml with ``sections`` replaced (a new file in ``tmp_path``)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in sections.items():
        params[key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


# ------------------------------------------------------------- 1. floats as YAML 1.2 writes them


@pytest.mark.parametrize(("text", "value"), [("1e-05", 1e-5), ("1e-3", 1e-3), ("1E5", 1e5),
                                             ("-2.5e+3", -2500.0), (".5e2", 50.0),
                                             ("1.0e-4", 1e-4), ("3", 3), ("0.5", 0.5)])
def test_every_float_spelling_dvc_or_a_person_writes_is_a_number(tmp_path, text, value):
    path = tmp_path / "p.yaml"
    path.write_text(f"lr: {text}\nname: '1e-05'\n")
    data = read_params(path)
    assert data["lr"] == value and type(data["lr"]) is type(value)
    assert data["name"] == "1e-05"  # quoted: still a string


def test_a_model_section_with_lr_1e_05_loads(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"]["idnn"]["lr"] = "LR"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False).replace("lr: LR", "lr: 1e-05"))
    assert load_section("models.idnn", ModelParams, path).lr == 1e-5


# ------------------------------------------------------------------- 2. the profile check


@pytest.mark.parametrize(("overlay", "message"), [
    ("seeds: [true]", "'seeds' must be a non-empty list of integers >= 0, got [True]"),
    ("seeds: [0, 0]", "'seeds' lists a seed twice"),
    ("seeds: []", "'seeds' must be a non-empty list"),
    ("models: {dcase2020_aee: {epochs: 3}}",
     "unknown model 'models.dcase2020_aee' (did you mean 'dcase2020_ae'?)"),
])
def test_bad_profile_overlays_are_refused(tmp_path, overlay, message):
    from benchmark.profiles import profile_args

    (tmp_path / "bad.yaml").write_text(overlay + "\n")
    with pytest.raises(ConfigError) as info:
        profile_args("bad", ROOT / "params.yaml", tmp_path)
    assert message in str(info.value)


def test_the_paper_profile_still_passes():
    from benchmark.profiles import profile_args

    assert "seeds=[0,1,2,3,4]" in profile_args("paper", ROOT / "params.yaml", ROOT / "profiles")


# ---------------------------------------------------------- 3. one error line from the stages


def _stage(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ASD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize("stage", ["benchmark.prepare", "benchmark.features",
                                   "benchmark.complexity", "benchmark.report"])
def test_a_stage_prints_one_error_line_naming_the_file(tmp_path, stage):
    done = _stage(stage, "--params", "missing.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "error: params file not found: missing.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(tmp_path):
    done = _stage("benchmark.prepare", "--params", "missing.yaml", "--debug", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stderr
    assert "ConfigError: params file not found: missing.yaml" in done.stderr


def test_a_bad_key_is_one_error_line_naming_the_key(tmp_path):
    params = _params_file(tmp_path)
    params.write_text(params.read_text().replace("  source: synthetic", "  source: synthetik", 1))
    done = _stage("benchmark.prepare", "--params", str(params), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: 'data.source' must be one of" in done.stderr


def test_the_train_stage_names_a_device_the_machine_lacks(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    train = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    params = _params_file(tmp_path, train={**train, "device": "cuda"})
    done = _stage("benchmark.train", "--model", "idnn", "--params", str(params), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: train.device: 'cuda' asks for CUDA" in done.stderr


# -------------------------------------------------------------------------- a full disk


@contextlib.contextmanager
def _small_disk(path: Path, size: str = "1m") -> Iterator[Path]:
    """A real ``size`` tmpfs at ``path`` (root only: skips the test elsewhere)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_prepare_on_a_full_disk_names_the_folder_before_writing(tmp_path):
    with _small_disk(tmp_path / "disk") as disk:
        data = yaml.safe_load((ROOT / "params.yaml").read_text())["data"]
        params = _params_file(tmp_path, data={**data, "root": str(disk / "raw")})
        done = _stage("benchmark.prepare", "--params", str(params), cwd=tmp_path)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert f"error: not enough free disk space in {disk}" in done.stderr
        assert "synthetic clips" in done.stderr and not list(disk.iterdir())


def test_a_clip_that_fills_the_disk_is_a_disk_full_error_naming_it(tmp_path):
    from benchmark.data.synthetic import write_clip

    with _small_disk(tmp_path / "disk") as disk:
        path = disk / "normal_id_00_00000000.wav"
        with pytest.raises(DiskFullError, match=f"disk full while writing {path}"):
            write_clip(path, np.zeros(1_000_000, dtype=np.int16), 16000)


# ------------------------------------------------------------------------------ checkpoints


def test_a_checkpoint_missing_a_key_names_the_file(tmp_path):
    from benchmark.training.checkpoint import load_trained

    model_dir = tmp_path / "models" / "idnn" / "seed-0"
    save_untrained(model_dir, CLASSES, name="proposed")
    checkpoint = torch.load(model_dir / "final.pt", weights_only=True)
    checkpoint["state_dict"].pop(next(iter(checkpoint["state_dict"])))
    torch.save(checkpoint, model_dir / "final.pt")
    with pytest.raises(ValueError, match=r"final\.pt: its state_dict does not fit the proposed "
                                         r"architecture \(.*Missing key"):
        load_trained(model_dir)


def test_a_trained_model_is_named_by_its_model_not_its_run_folder(tmp_path):
    from benchmark.training.checkpoint import load_trained

    model_dir = tmp_path / "models" / "proposed" / "seed-3"
    save_untrained(model_dir, CLASSES, name="proposed")
    trained = load_trained(model_dir)
    assert (trained.name, trained.seed) == ("proposed", 3)


def test_a_profile_applied_to_params_yaml_keeps_its_comments(tmp_path):
    from benchmark.profiles import apply_profile, merge, read_profile

    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    changed = apply_profile("paper", path, ROOT / "profiles")
    expected = merge(read_params(ROOT / "params.yaml"), read_profile("paper", ROOT / "profiles"))
    assert read_params(path) == expected and changed > 10
    text = path.read_text()
    assert "# asd-benchmark: every default of the pipeline lives in this file." in text
    assert "seeds: [0, 1, 2, 3, 4]" in text and "path: null" in text
    assert apply_profile("paper", path, ROOT / "profiles") == 0  # a second time changes nothing

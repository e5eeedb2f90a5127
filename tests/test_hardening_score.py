"""score CLI hardening: bad options refused up front; clips read as the model was trained."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_models import CLIP_SAMPLES, TINY_CLS, register_tiny_models, save_untrained

import benchmark.io
import benchmark.score
import benchmark.training.checkpoint
from benchmark.__main__ import main

FAN = "dcase2020-sample/fan/test/normal_id_00_00000030.wav"
CLASSES = [("fan", "id_00"), ("fan", "id_02")]


def _save(model_dir: Path, data: dict[str, Any] | None) -> None:
    """A tiny untrained classifier's final.pt, with ``data`` (None: an old checkpoint)."""
    register_tiny_models()
    save_untrained(model_dir, CLASSES, name=TINY_CLS)
    if data is not None:
        checkpoint = torch.load(model_dir / "final.pt", weights_only=True)
        torch.save({**checkpoint, "data": data}, model_dir / "final.pt")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    _save(root / "real8k", {"sample_rate": 8000, "clip_samples": 16000,
                            "data_source": "dcase2020"})
    _save(root / "synthetic", {"sample_rate": 16000, "clip_samples": 16000,
                               "data_source": "synthetic"})
    _save(root / "old", None)
    return root


@pytest.fixture
def load_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every ``load_clip_with_length`` call made while scoring."""
    calls: list[dict[str, Any]] = []
    real = benchmark.score.load_clip_with_length

    def spy(path, **kwargs):
        calls.append(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(benchmark.score, "load_clip_with_length", spy)
    return calls


def _score(models_dir: Path, model: str, clip: Path, *options: str) -> int:
    return main(["score", "--model", model, "--models-dir", str(models_dir), "--threshold", "0",
                 *options, str(clip)])


def test_clips_are_read_at_the_models_training_rate_and_length(models_dir, real_clips,
                                                               load_calls, capsys):
    assert _score(models_dir, "real8k", real_clips / FAN) == 0
    assert load_calls == [{"sample_rate": 8000, "num_samples": 16000}]
    assert "fan" in capsys.readouterr().out


def test_old_checkpoints_keep_the_defaults(models_dir, real_clips, load_calls):
    assert _score(models_dir, "old", real_clips / FAN) == 0
    assert load_calls == [{"sample_rate": 16000, "num_samples": CLIP_SAMPLES}]


def test_options_override_the_checkpoint_with_a_warning(models_dir, real_clips, load_calls,
                                                        caplog):
    with caplog.at_level(logging.WARNING, logger="benchmark.score"):
        code = _score(models_dir, "real8k", real_clips / FAN, "--sample-rate", "16000",
                      "--clip-samples", "4000")
    assert code == 0
    assert load_calls == [{"sample_rate": 16000, "num_samples": 4000}]
    assert any("trained on 16000 samples at 8000 Hz" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("model", "warned"), [("synthetic", True), ("real8k", False)])
def test_model_trained_on_synthetic_data_is_warned_about(models_dir, real_clips, caplog,
                                                         model, warned):
    with caplog.at_level(logging.WARNING, logger="benchmark.score"):
        assert _score(models_dir, model, real_clips / FAN) == 0
    messages = [r.getMessage() for r in caplog.records if "synthetic data" in r.getMessage()]
    assert bool(messages) == warned
    assert all(model in m and "real machines" in m for m in messages)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--threshold", "nan"), ("--threshold", "inf"), ("--threshold", "-inf"),
        ("--percentile", "nan"), ("--batch-size", "0"), ("--batch-size", "-2"),
        ("--sample-rate", "0"), ("--clip-samples", "-1"), ("--out", "FOLDER"),
    ],
)
def test_bad_options_are_refused_before_scoring(models_dir, real_clips, tmp_path, monkeypatch,
                                                capsys, option, value):
    def no_scoring(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("scoring started")

    monkeypatch.setattr(benchmark.training.checkpoint, "load_trained", no_scoring)
    monkeypatch.setattr(benchmark.score, "score_files", no_scoring)
    value = str(tmp_path) if value == "FOLDER" else value
    with pytest.raises(SystemExit) as info:
        main(["score", "--model", "real8k", "--models-dir", str(models_dir), f"{option}={value}",
              str(real_clips / FAN)])
    assert info.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


def test_a_device_the_machine_lacks_is_one_error_line(models_dir, real_clips, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert _score(models_dir, "real8k", real_clips / FAN, "--device", "cuda") == 2
    err = capsys.readouterr().err
    assert "error: --device: 'cuda' asks for CUDA, but this machine has no CUDA device" in err
    assert _score(models_dir, "real8k", real_clips / FAN, "--device", "tpu9") == 2
    assert "error: --device: 'tpu9'" in capsys.readouterr().err


def test_an_unwritable_out_is_refused_before_scoring(models_dir, real_clips, monkeypatch,
                                                     capsys):
    def no_scoring(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("scoring started")

    monkeypatch.setattr(benchmark.score, "score_files", no_scoring)
    out = "/proc/nope/x.csv"
    assert _score(models_dir, "real8k", real_clips / FAN, "--out", out) == 2
    assert f"error: cannot write {out}" in capsys.readouterr().err


def test_out_is_written_atomically_and_a_late_failure_keeps_the_scores(models_dir, real_clips,
                                                                       tmp_path, monkeypatch,
                                                                       capsys):
    out = tmp_path / "scores.csv"
    assert _score(models_dir, "real8k", real_clips / FAN, "--out", str(out)) == 0
    assert out.read_text().startswith("path,machine_type") and not list(tmp_path.glob(".*tmp"))

    @contextlib.contextmanager
    def full_disk(path: Path):  # the disk fills up while the table is written
        yield path.with_name("never-renamed.tmp")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(benchmark.io, "atomic_path", full_disk)
    code = _score(models_dir, "real8k", real_clips / FAN, "--out", str(out))
    captured = capsys.readouterr()
    assert code == 1 and f"error: cannot write {out}" in captured.err
    assert "fan/test/normal_id_00_00000030.wav" in captured.out  # the scores are not lost

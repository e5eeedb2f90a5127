"""Regression tests of the "trustworthy pipeline" cases: no stale results, no data loss, no code
run from a file, clone-path independence, atomic outputs (tiny synthetic data, tiny models)."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from tiny_models import (
    TINY_CLS,
    make_tiny_cache,
    register_tiny_models,
    tiny_data_params,
    tiny_features_params,
    tiny_model_params,
    tiny_train_params,
)

from benchmark.data.index import build_index, check_coverage, read_index
from benchmark.data.layout import LayoutError
from benchmark.data.local import prepare_local
from benchmark.data.marker import MARKER, read_marker
from benchmark.features.cache import CACHE_MARKER, build_cache, open_cache
from benchmark.io import DiskFullError, atomic_path, remove_stale_temps, write_json_atomic
from benchmark.prepare import prepare
from benchmark.train import train_model
from benchmark.training.checkpoint import load_checkpoint, load_trained, save_atomic


@pytest.fixture
def tiny(tmp_path) -> Path:
    register_tiny_models()
    make_tiny_cache(tmp_path)
    return tmp_path


# ------------------------------------------------------------------ 1. data identity


def test_changing_one_training_clip_retrains_from_scratch(tmp_path, caplog):
    register_tiny_models()
    data = tiny_data_params(tmp_path)
    data.synthetic.train_clips_per_id = 30  # 136 clips: more than a sample of rows would cover
    prepare(data)
    build_cache(tiny_features_params(tmp_path))
    train = tiny_train_params(tmp_path, tmp_path / "features")
    train_model(TINY_CLS, train, tiny_model_params(epochs=2, clips_per_epoch=8))
    before = open_cache(tmp_path / "features").fingerprint
    index = read_index(tmp_path / "raw" / "index.csv")
    clip = index[index["split"] == "train"]["path"].iloc[-2]  # an odd row
    wave, sr = sf.read(clip, dtype="int16")
    wave[1000] = wave[1000] // 2 + 1  # one sample of one clip
    sf.write(clip, wave, sr, subtype="PCM_16")
    build_cache(tiny_features_params(tmp_path))
    assert open_cache(tmp_path / "features").fingerprint != before
    caplog.set_level("INFO")
    out = train_model(TINY_CLS, train, tiny_model_params(epochs=2, clips_per_epoch=8))
    assert "training from scratch" in caplog.text and "resuming" not in caplog.text
    assert [h.epoch for h in out.history] == [1, 2]


# ------------------------------------------------------------------ 2. clone-path independence


def _prepare_and_cache(clone: Path) -> None:
    """prepare + features with the same relative params, run from inside ``clone``."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from pathlib import Path; from tiny_models import *;"
        "from benchmark.prepare import prepare;"
        "from benchmark.features.cache import build_cache;"
        "prepare(tiny_data_params(Path('.')));"
        "build_cache(tiny_features_params(Path('.')))"
    )
    clone.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], cwd=clone,
                   check=True, capture_output=True)


def test_two_clones_at_different_paths_write_identical_outputs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "deeper" / "clone-b"
    _prepare_and_cache(a)
    _prepare_and_cache(b)
    for folder in ("raw", "features"):
        files = sorted(p.relative_to(a / folder) for p in (a / folder).rglob("*") if p.is_file())
        assert files, folder
        for name in files:
            assert filecmp.cmp(a / folder / name, b / folder / name, shallow=False), name
            if name.suffix in (".csv", ".json"):
                assert str(tmp_path) not in (a / folder / name).read_text(), name


# ------------------------------------------------------------------ 3. data source


def test_local_source_replaces_synthetic_data_and_is_recorded(tmp_path, real_clips):
    prepare(tiny_data_params(tmp_path))  # synthetic clips in tmp_path/raw
    local = tiny_data_params(tmp_path)
    local.source, local.local.path = "local", str(real_clips / "dcase2020-sample")
    local.machine_types = ["fan", "slider"]
    prepare_local(local)
    raw = tmp_path / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [MARKER, "index.csv"]  # no synthetic left
    assert read_marker(raw)["source"] == "local"
    assert all(Path(p).is_file() for p in read_index(raw / "index.csv")["path"])


# ------------------------------------------------------------------ 4. MLflow run reuse


def test_restart_from_scratch_opens_a_new_mlflow_run(tiny, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tiny / 'runs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    train = tiny_train_params(tiny, tiny / "features", mlflow=True)
    first = train_model(TINY_CLS, train, tiny_model_params(epochs=2)).mlflow_run_id
    second = train_model(TINY_CLS, train, tiny_model_params(epochs=3)).mlflow_run_id
    assert first and second and first != second
    client = mlflow.MlflowClient(uri)
    assert client.get_run(first).data.params["model.epochs"] == "2"
    assert len(client.get_metric_history(first, "loss")) == 2
    assert [m.step for m in client.get_metric_history(second, "loss")] == [1, 2, 3]


class _Stop(Exception):
    pass


def test_a_true_resume_reopens_its_mlflow_run(tiny, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tiny / 'runs.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    train = tiny_train_params(tiny, tiny / "features", mlflow=True)

    def interrupt(result):
        if result.epoch == 2:
            raise _Stop

    with pytest.raises(_Stop):
        train_model(TINY_CLS, train, tiny_model_params(epochs=3), on_epoch_end=interrupt)
    client = mlflow.MlflowClient(uri)
    (first,) = client.search_runs([client.get_experiment_by_name("test").experiment_id])
    assert first.info.status == "FAILED"
    resumed = train_model(TINY_CLS, train, tiny_model_params(epochs=3))
    assert resumed.mlflow_run_id == first.info.run_id
    assert [m.step for m in client.get_metric_history(first.info.run_id, "loss")] == [1, 2, 3]
    assert client.get_run(first.info.run_id).info.status == "FINISHED"


# ------------------------------------------------------------------ 5. same clips for every model


def _frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["machine_type", "machine_id", "split", "label"])


@pytest.mark.parametrize(("rows", "message"), [
    ([("fan", "id_00", "train", "normal"), ("fan", "id_02", "test", "normal"),
      ("fan", "id_02", "test", "anomaly"), ("fan", "id_00", "test", "normal"),
      ("fan", "id_00", "test", "anomaly")], "without training clips: fan/id_02"),
    ([("fan", "id_00", "train", "normal"), ("fan", "id_00", "test", "normal")],
     "without anomaly test clips: fan/id_00"),
    ([("fan", "id_00", "train", "normal"), ("fan", "id_00", "test", "normal"),
      ("fan", "id_00", "test", "anomaly"), ("pump", "id_00", "train", "normal")],
     "machine type(s) without test clips: pump"),
    ([("fan", "id_00", "train", "normal"), ("fan", "id_02", "train", "normal"),
      ("fan", "id_00", "test", "normal"), ("fan", "id_00", "test", "anomaly")],
     "training clips but no test clips: fan/id_02"),
])
def test_clip_sets_every_model_cannot_score_are_refused(rows, message):
    with pytest.raises(LayoutError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_coverage(_frame(rows), "index.csv")


def test_additional_training_ids_need_no_test_clips():
    rows = [("fan", "id_00", "train", "normal"), ("fan", "id_01", "train", "normal"),
            ("fan", "id_00", "test", "normal"), ("fan", "id_00", "test", "anomaly")]
    check_coverage(_frame(rows), "index.csv")


def test_features_refuses_an_index_without_anomalies(tmp_path):
    prepare(tiny_data_params(tmp_path))
    index = tmp_path / "raw" / "index.csv"
    table = pd.read_csv(index)
    table[~((table["machine_id"] == "id_02") & (table["label"] == "anomaly"))].to_csv(
        index, index=False)
    with pytest.raises(LayoutError, match="without anomaly test clips: fan/id_02, slider/id_02"):
        build_cache(tiny_features_params(tmp_path))


# ------------------------------------------------------------------ 6. no data loss


@pytest.mark.parametrize("out", ["raw", "."])
def test_features_never_replaces_the_data_folder(tmp_path, out):
    prepare(tiny_data_params(tmp_path))
    (tmp_path / "NOTES.txt").write_text("mine")
    before = sorted(p.name for p in (tmp_path / "raw").rglob("*"))
    with pytest.raises(FileExistsError, match="holds the data index"):
        build_cache(tiny_features_params(tmp_path, out_dir=str(tmp_path / out)))
    assert sorted(p.name for p in (tmp_path / "raw").rglob("*")) == before
    assert (tmp_path / "NOTES.txt").read_text() == "mine"


def test_features_never_replaces_a_folder_it_did_not_write(tmp_path):
    prepare(tiny_data_params(tmp_path))
    other = tmp_path / "mine"
    other.mkdir()
    (other / "NOTES.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not written by benchmark.features"):
        build_cache(tiny_features_params(tmp_path, out_dir=str(other)))
    assert (other / "NOTES.txt").read_text() == "mine"
    build_cache(tiny_features_params(tmp_path))  # its own folder is replaced, as before
    assert (tmp_path / "features" / CACHE_MARKER).is_file()
    build_cache(tiny_features_params(tmp_path))


# ------------------------------------------------------------------ 7. disk full


def _no_space(monkeypatch, free: int = 1000) -> None:
    real = __import__("shutil").disk_usage

    def usage(path):
        return real(path)._replace(free=free)

    monkeypatch.setattr("benchmark.io.shutil.disk_usage", usage)


def test_features_checks_free_space_first_and_leaves_nothing(tmp_path, monkeypatch):
    prepare(tiny_data_params(tmp_path))
    _no_space(monkeypatch)
    with pytest.raises(DiskFullError, match=r"free disk space in .* feature cache of 32 clips"):
        build_cache(tiny_features_params(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_checkpoint_save_checks_free_space_and_names_the_file(tmp_path, monkeypatch):
    _no_space(monkeypatch)
    with pytest.raises(DiskFullError, match=r"checkpoint .*last\.pt"):
        save_atomic({"w": torch.zeros(10_000)}, tmp_path / "m" / "last.pt")
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").iterdir())


def test_a_write_failing_midway_removes_its_temporary_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full while writing .*metrics.json"), \
            atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


# ------------------------------------------------------------------ 8. atomic, unique writes


def test_concurrent_writers_of_one_file_never_collide(tmp_path):
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for step in range(20):
                save_atomic({"k": torch.tensor([k, step])}, tmp_path / "last.pt")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert load_checkpoint(tmp_path / "last.pt")["k"][1] == 19
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_temporary_files_of_killed_writers_are_cleaned(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".m.json.{dead}.abc123.tmp"
    stale.write_text("")  # what kill -9 leaves
    mine = tmp_path / f".m.json.{os.getpid()}.live.tmp"
    mine.write_text("")  # a live writer's file is not touched
    write_json_atomic(tmp_path / "m.json", {"a": 1})
    assert not stale.exists() and mine.exists()
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}
    assert remove_stale_temps(tmp_path / "m.json") == []
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ 9. no code from checkpoints


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path(self.path).touch, ())


def test_a_checkpoint_carrying_a_pickle_payload_is_refused(tmp_path):
    proof = tmp_path / "pwned"
    model_dir = tmp_path / "models" / "evil"
    model_dir.mkdir(parents=True)
    torch.save({"arch": "idnn", "state_dict": {}, "x": _Payload(str(proof))},
               model_dir / "final.pt")
    with pytest.raises(ValueError, match=r"final\.pt: not a readable checkpoint.*refusing"):
        load_trained(model_dir)
    assert not proof.exists()
    done = subprocess.run([sys.executable, "-m", "benchmark", "score", "--models-dir",
                           str(tmp_path / "models"), "--model", "evil", str(tmp_path)],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode != 0 and "refusing" in done.stderr + done.stdout
    assert not proof.exists()


def test_trained_checkpoints_load_with_weights_only(tiny):
    out = train_model(TINY_CLS, tiny_train_params(tiny, tiny / "features"),
                      tiny_model_params(epochs=1))
    trained = load_trained(out.model_dir)
    assert trained.data == {"sample_rate": 16000, "clip_samples": 8000, "dcase_clip_samples": 8000,
                            "data_source": "synthetic",
                            "fingerprint": open_cache(tiny / "features").fingerprint,
                            "dataset": "dcase2020",
                            "class_sections": ["id_00", "id_02", "id_00", "id_02"]}
    assert trained.groups is None  # one class per section: the plain cross-entropy
    assert load_checkpoint(out.model_dir / "last.pt")["epoch"] == 1


# ------------------------------------------------------------------ 11. symbolic links


def test_symlinked_folders_and_files_are_followed_and_named_by_the_link(tmp_path, real_clips):
    store = tmp_path / "store"  # git-annex / DVC style: content under hashes
    store.mkdir()
    data = tmp_path / "data"
    for machine in ("fan", "slider"):
        source = real_clips / "dcase2020-sample" / machine / "test"
        linked = tmp_path / "elsewhere" / machine / "test"
        linked.mkdir(parents=True)
        for k, clip in enumerate(sorted(source.glob("*.wav"))):
            blob = store / f"{machine}{k}-MD5E-s1234"
            blob.write_bytes(clip.read_bytes())
            (linked / clip.name).symlink_to(blob)
        (data / machine).mkdir(parents=True)
        (data / machine / "test").symlink_to(linked, target_is_directory=True)
    (data / "fan" / "loop").symlink_to(data, target_is_directory=True)  # a cycle
    index = build_index(data, ["fan", "slider"])
    assert len(index) == 4
    assert all(Path(p).name.startswith(("normal_id", "anomaly_id")) for p in index["path"])
    assert all(Path(p).is_relative_to(data) for p in index["path"])
    assert np.all(index["split"] == "test")


def test_the_same_checkpoint_is_the_same_bytes(tmp_path):
    state = {"w": torch.arange(6.0), "epoch": 3}
    save_atomic(state, tmp_path / "a" / "final.pt")
    save_atomic(state, tmp_path / "b" / "final.pt")  # other folder, other temporary name
    assert filecmp.cmp(tmp_path / "a" / "final.pt", tmp_path / "b" / "final.pt", shallow=False)


def test_the_same_training_writes_the_same_checkpoint_bytes(tiny):
    dirs = []
    for k in range(2):  # two trainings, two MLflow stores: the model folders hash the same
        train = tiny_train_params(tiny, tiny / "features", models_dir=str(tiny / f"m{k}"),
                                  reports_dir=str(tiny / f"r{k}"), mlflow=True,
                                  mlflow_tracking_uri=f"sqlite:///{tiny / f'store{k}.db'}")
        dirs.append(train_model(TINY_CLS, train, tiny_model_params(epochs=1)).model_dir)
    for name in ("final.pt", "last.pt", "scores.csv", "train_scores.csv"):
        assert filecmp.cmp(dirs[0] / name, dirs[1] / name, shallow=False), name

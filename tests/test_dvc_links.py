"""The data and the models exist once on disk: each file of ``data/raw``, ``data/features`` and
``models/NAME/seed-K`` is its ``.dvc/cache`` object (the same inode: a hardlink) or a symlink to
it, after ``dvc repro`` and after an experiment run in a temporary workspace (the machinery of
``dvc queue start``) and checked out with ``dvc exp apply``; and no later run, through DVC or a
stage started by hand, changes the content of a cache object.

The expected object of every file comes from ``dvc.lock`` and the ``.dir`` listings in the cache,
not from DVC's own link bookkeeping; the cache is re-hashed byte by byte (DVC itself trusts a
read-only object without hashing it, and as root read-only does not stop a write).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvc_repo import DVC, reproduced_repo, run

pytestmark = pytest.mark.slow

LINKED = ("data/raw", "data/features", "models/")
"""Prefixes of the cached outputs that must be stored once."""


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = reproduced_repo(tmp_path_factory.mktemp("links") / "repo")
    return path


def _object(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def _expected_files(repo: Path) -> dict[Path, str]:
    """Every file of the cached outputs under :data:`LINKED`, with its md5, from ``dvc.lock``."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    files: dict[Path, str] = {}
    outputs = set()
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if not out["path"].startswith(LINKED):
                continue
            outputs.add(out["path"])
            assert out["md5"].endswith(".dir"), out
            listing = json.loads(_object(repo, out["md5"]).read_text())
            for entry in listing:
                files[repo / out["path"] / entry["relpath"]] = entry["md5"]
    assert {"data/raw", "data/features", "models/idnn/seed-0", "models/idnn/scores-seed-0",
            "models/dcase2020_ae/seed-0"} <= outputs, outputs
    return files


def _on_disk(repo: Path) -> set[Path]:
    """The files found under the cached outputs (less the .dvcignore'd MLflow run id)."""
    found = set()
    runs = [*repo.glob("models/*/seed-*"), *repo.glob("models/*/scores-seed-*")]
    for out in ("data/raw", "data/features", *(p.relative_to(repo).as_posix() for p in runs)):
        found |= {p for p in (repo / out).rglob("*")
                  if p.is_file() and p.name != ".mlflow-run.json"}
    return found


def assert_stored_once(repo: Path) -> int:
    """Each file is its cache object's inode or a symlink to it; returns how many were checked."""
    expected = _expected_files(repo)
    assert _on_disk(repo) == set(expected), "files on disk differ from dvc.lock"
    checked = 0
    for path, md5 in expected.items():
        target = _object(repo, md5)
        info = os.lstat(path)
        if path.is_symlink():
            assert Path(os.readlink(path)).resolve() == target.resolve(), path
        elif info.st_size > 0:  # DVC writes an empty file rather than link it (no data blocks)
            cached = os.stat(target)
            assert (info.st_dev, info.st_ino) == (cached.st_dev, cached.st_ino), (
                f"{path.relative_to(repo)} is a separate copy of {target.relative_to(repo)} "
                f"(links: {info.st_nlink})")
        checked += 1
    return checked


def assert_cache_intact(repo: Path) -> int:
    """Every cache object still hashes to its name; returns how many objects were hashed."""
    objects = [p for p in (repo / ".dvc" / "cache" / "files" / "md5").glob("*/*")]
    for obj in objects:
        digest = hashlib.md5(obj.read_bytes()).hexdigest()
        assert digest == obj.parent.name + obj.name.removesuffix(".dir"), f"{obj} was modified"
    return len(objects)


def _du_kib(repo: Path, *folders: str) -> int:
    """Disk use of ``folders`` together (``du`` counts a hardlinked file once), in KiB."""
    done = run(["du", "-skc", *folders], repo)
    return int(done.stdout.strip().splitlines()[-1].split()[0])


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def assert_clean(repo: Path) -> None:
    status = run([DVC, "status"], repo).stdout
    assert "Data and pipelines are up to date" in status, status
    done = run([DVC, "repro"], repo, env={"DVC_ROOT": ""})
    assert not _ran(done.stdout), done.stdout


def test_repro_leaves_every_output_file_a_link_into_the_cache(repo):
    assert assert_stored_once(repo) >= 30
    assert assert_cache_intact(repo) >= 30
    data_and_models = _du_kib(repo, "data", "models")
    with_cache = _du_kib(repo, "data", "models", ".dvc/cache")
    # The cache adds only its .dir listings and run-cache entries, not a second copy.
    assert with_cache < 1.05 * data_and_models, (data_and_models, with_cache)
    assert_clean(repo)


def test_temp_experiment_applied_is_linked_and_leaves_the_cache_intact(repo):
    before = _expected_files(repo)
    done = run([DVC, "exp", "run", "--temp", "-n", "links-e2", "-S", "models.idnn.epochs=2"],
               repo, env={"DVC_ROOT": ""})
    assert _ran(done.stdout) == {"train@idnn-0", "score@idnn-0", "report"}, done.stdout
    run([DVC, "exp", "apply", "links-e2"], repo)
    after = _expected_files(repo)
    changed = {p.relative_to(repo).as_posix() for p in after if after[p] != before.get(p)}
    assert "models/idnn/seed-0/fan/last.pt" in changed, changed  # the resumed checkpoint
    assert not any(p.startswith("data/") for p in changed), changed
    assert_stored_once(repo)
    assert_cache_intact(repo)  # the epoch-1 objects the run resumed from are unchanged
    assert all(_object(repo, md5).is_file() for md5 in before.values())
    assert_clean(repo)


def test_stages_run_by_hand_replace_linked_files_instead_of_writing_through_them(repo):
    """Outside DVC nothing unprotects a linked output first: a stage that wrote a file in place
    would write into the cache object (as root the read-only mode does not stop it)."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"]["idnn"]["epochs"] = params["models"]["idnn"]["epochs"] + 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    linked = {p: os.stat(p).st_ino for p in (repo / "data/features/logmel.npy",
                                             repo / "models/idnn/seed-0/fan/last.pt")}
    env = {**os.environ, "PYTHONPATH": str(repo), "DVC_ROOT": ""}
    for module, *args in (("benchmark.features",), ("benchmark.train", "--model", "idnn",
                                                     "--seed", "0")):
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
    assert assert_cache_intact(repo) >= 30
    for path, inode in linked.items():
        assert os.stat(path).st_ino != inode, f"{path} was written in place"
    # Back to the experiment: exp apply restores params.yaml and the uncached reports; --relink
    # is needed because a plain checkout leaves a file whose content equals its object (as the
    # rebuilt features here) the copy it is (dvc commit would link it too).
    run([DVC, "exp", "apply", "links-e2"], repo)
    run([DVC, "checkout", "--relink"], repo)
    assert_stored_once(repo)
    assert_clean(repo)


def test_the_pipeline_scores_the_evaluation_split(repo: Path) -> None:
    """``dvc repro`` with an evaluation split (tiny_params: one evaluation ID per type) scores it
    with every model, bootstraps it and reports it; the paper cells get no verdict on synthetic
    data."""
    metrics = json.loads((repo / "reports/metrics/idnn-seed0.json").read_text())
    assert metrics["eval"]["clips"] == 2 * (2 + 2)  # 2 types x 1 evaluation ID x (2 + 2 clips)
    assert list(metrics["eval"]["per_type"]) == ["fan", "slider"]
    mean = metrics["eval"]["mean"]
    assert mean["official"] == pytest.approx((mean["auc"] + mean["pauc"]) / 2)
    scores = (repo / "models/idnn/seed-0/eval_scores.csv").read_text().splitlines()
    assert len(scores) == 1 + 8 and all(line.startswith("eval/") and "_id_01_" in line
                                        for line in scores[1:])
    uncertainty = json.loads((repo / "reports/uncertainty.json").read_text())
    assert uncertainty["models"]["idnn"]["cells"]["eval"]["seeds"] == [0]
    table = (repo / "reports/table_eval.md").read_text()
    assert "| IDNN " in table and "| DCASE 2020 AE baseline " in table
    reproduction = (repo / "reports/reproduction.md").read_text()
    assert "No verdicts: our runs are on `synthetic` data" in reproduction
    assert "## Summary" not in reproduction and "| IDNN (`idnn`) | Fan  " in reproduction

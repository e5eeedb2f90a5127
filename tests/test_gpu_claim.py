"""One GPU per training: ``claim_gpu`` on a faked several-GPU machine (this one has no GPU)."""

from __future__ import annotations

import fcntl
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmark import device as dev
from benchmark import train
from benchmark.device import DeviceError, claim_gpu, gpu_lock_path, release_gpu, resolve_device

ROOT = Path(__file__).resolve().parents[1]

# A training process: fakes 2 GPUs, claims one, prints its index, then holds it until stdin closes.
CLAIMER = """
import logging, sys
import benchmark.device as d
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
d.visible_gpu_count = lambda: 2
d.gpu_uuid = lambda i: f"fake-uuid-{i}"
device = d.claim_gpu(d.resolve_device("auto", "train.device"), "train.device", poll_s=0.1)
print(device.index, flush=True)
sys.stdin.read()
"""


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private lock folder; no wait limit from the caller's environment; no claim left over."""
    folder = tmp_path / "locks"
    monkeypatch.setenv(dev.LOCK_DIR_ENV, str(folder))
    monkeypatch.delenv(dev.WAIT_ENV, raising=False)
    yield folder
    release_gpu()


def fake_gpus(monkeypatch: pytest.MonkeyPatch, count: int, uuids: bool = True) -> None:
    """Make ``benchmark.device`` see ``count`` GPUs (with UUIDs ``fake-uuid-<i>`` or none)."""
    monkeypatch.setattr(dev, "visible_gpu_count", lambda: count)
    monkeypatch.setattr(dev, "gpu_uuid", lambda i: f"fake-uuid-{i}" if uuids else None)


def start_claimer(folder: Path) -> subprocess.Popen[bytes]:
    """A :data:`CLAIMER` process sharing the lock folder ``folder``."""
    env = {**os.environ, dev.LOCK_DIR_ENV: str(folder), "PYTHONPATH": str(ROOT)}
    env.pop(dev.WAIT_ENV, None)
    return subprocess.Popen([sys.executable, "-c", CLAIMER], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def read_until(stream, wanted: str, timeout: float = 60.0) -> str | None:
    """The first line of pipe ``stream`` containing ``wanted`` within ``timeout`` s, else None
    (raw reads: nothing waits in a buffer that ``select`` cannot see)."""
    deadline, text = time.monotonic() + timeout, ""
    while (left := deadline - time.monotonic()) > 0:
        lines = text.split("\n")
        for line in lines[:-1]:
            if wanted in line:
                return line
        text = lines[-1]
        if not select.select([stream], [], [], left)[0]:
            return None
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            return None
        text += chunk.decode()
    return None


def claimed(procs: list[subprocess.Popen[bytes]], n: int, timeout: float = 60.0) -> dict[int, int]:
    """``{process number: GPU index}`` once ``n`` of ``procs`` have printed their GPU."""
    deadline, out = time.monotonic() + timeout, {}
    while len(out) < n and (left := deadline - time.monotonic()) > 0:
        pending = {p.stdout: k for k, p in enumerate(procs) if k not in out}
        for stream in select.select(list(pending), [], [], left)[0]:
            out[pending[stream]] = int(read_until(stream, ""))
    return out


def test_parallel_processes_get_different_gpus_and_a_killed_one_frees_its_gpu(
        lock_dir: Path) -> None:
    procs = [start_claimer(lock_dir) for _ in range(3)]  # started together, like dvc queue -j 3
    try:
        first = claimed(procs, 2)
        assert sorted(first.values()) == [0, 1]
        (third,) = set(range(3)) - set(first)
        waiting = read_until(procs[third].stderr, "waits for a free GPU")
        assert waiting is not None and str(lock_dir) in waiting
        assert procs[third].poll() is None and not claimed([procs[third]], 1, timeout=0.5)
        killed = min(first)
        procs[killed].send_signal(signal.SIGKILL)
        procs[killed].wait(timeout=5)
        assert claimed([procs[third]], 1) == {0: first[killed]}
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=5)
            proc.stdin.close()
            proc.stdout.close()
            proc.stderr.close()


def test_claim_locks_the_gpu_by_uuid_and_logs_it(
        lock_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    fake_gpus(monkeypatch, 4)
    with caplog.at_level(logging.INFO, logger="benchmark.device"):
        assert claim_gpu(torch.device("cuda")) == torch.device("cuda", 0)
    lock = lock_dir / "gpu-fake-uuid-0.lock"
    assert f"claimed GPU 0 (uuid fake-uuid-0) of 4; lock {lock}" in caplog.text
    assert f"pid {os.getpid()}" in lock.read_text()
    assert lock_dir.stat().st_mode & 0o1777 == 0o1777
    assert claim_gpu(torch.device("cuda")) == torch.device("cuda", 0)  # the same, once
    fd = os.open(lock, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_without_a_uuid_the_lock_is_named_by_index(
        lock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpus(monkeypatch, 2, uuids=False)
    lock_dir.mkdir()
    hold = os.open(gpu_lock_path(lock_dir, 0), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(hold, fcntl.LOCK_EX)
        assert claim_gpu(torch.device("cuda")) == torch.device("cuda", 1)
        assert dev.held_gpu().path == lock_dir / "gpu-index-1.lock"
    finally:
        os.close(hold)


def test_explicit_index_cpu_and_a_single_gpu_take_no_lock(
        lock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpus(monkeypatch, 2)
    assert claim_gpu(resolve_device("cuda:1")) == torch.device("cuda", 1)
    assert claim_gpu(resolve_device("cpu")) == torch.device("cpu")
    fake_gpus(monkeypatch, 1)
    assert claim_gpu(resolve_device("auto")) == torch.device("cuda", 0)
    assert dev.held_gpu() is None
    assert not lock_dir.exists()


def test_all_gpus_taken_raises_after_the_wait_naming_the_lock_folder(
        lock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpus(monkeypatch, 2)
    lock_dir.mkdir()
    held = [os.open(gpu_lock_path(lock_dir, i), os.O_RDWR | os.O_CREAT) for i in range(2)]
    try:
        for fd in held:
            fcntl.flock(fd, fcntl.LOCK_EX)
        start = time.monotonic()
        with pytest.raises(DeviceError, match="no free GPU after") as error:
            claim_gpu(torch.device("cuda"), "train.device", wait_s=0.3, poll_s=0.05)
        assert 0.3 <= time.monotonic() - start < 3
        assert str(lock_dir) in str(error.value) and "train.device" in str(error.value)
        monkeypatch.setenv(dev.WAIT_ENV, "0")
        with pytest.raises(DeviceError, match=str(lock_dir)):
            claim_gpu(torch.device("cuda"))
    finally:
        for fd in held:
            os.close(fd)
    assert claim_gpu(torch.device("cuda")) == torch.device("cuda", 0)  # freed: taken at once


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_wait_setting_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    fake_gpus(monkeypatch, 2)
    monkeypatch.setenv(dev.WAIT_ENV, value)
    with pytest.raises(DeviceError, match=dev.WAIT_ENV):
        claim_gpu(torch.device("cuda"), "train.device")


def test_train_device_auto_and_cuda_claim_but_cuda_n_does_not(
        lock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpus(monkeypatch, 3)
    assert train._device("cuda:2") == torch.device("cuda", 2)
    assert dev.held_gpu() is None
    assert train._device("auto") == torch.device("cuda", 0)
    assert train._device("cuda") == torch.device("cuda", 0)
    assert dev.held_gpu().path == lock_dir / "gpu-fake-uuid-0.lock"
    release_gpu()
    assert dev.held_gpu() is None

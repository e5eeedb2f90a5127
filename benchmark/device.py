"""Which torch device a run uses: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``, checked against the
machine, so that a setting it cannot honour is one clear error naming the setting.

:func:`claim_gpu` gives a process asking for ``cuda``/``auto`` on a several-GPU machine a GPU of
its own: an exclusive ``flock`` on one file per physical GPU, which the kernel releases when the
process ends (also on ``kill -9``), so parallel trainings started any way do not share a GPU."""

from __future__ import annotations

import fcntl
import getpass
import logging
import math
import os
import re
import socket
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.config import ConfigError


class DeviceError(ConfigError):
    """A ``device`` setting this machine cannot honour (no CUDA, an index past the last GPU)."""


def resolve_device(name: str, key: str = "device") -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available) as a device this machine
    has; otherwise a :class:`DeviceError` naming ``key`` and what the machine offers."""
    if name == "auto":
        return torch.device("cuda" if visible_gpu_count() > 0 else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as error:
        raise DeviceError(f"{key}: {name!r} is not a device (use cpu, cuda, cuda:N or auto): "
                          f"{error}") from None
    if device.type == "cuda":
        count = visible_gpu_count()
        if count == 0:
            raise DeviceError(f"{key}: {name!r} asks for CUDA, but this machine has no CUDA "
                              "device (torch.cuda.is_available() is False); use cpu or auto")
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{key}: {name!r} asks for GPU {device.index}, but this machine "
                              f"has {count} (cuda:0 to cuda:{count - 1})")
    elif device.type != "cpu":
        raise DeviceError(f"{key}: {name!r} is not supported (use cpu, cuda, cuda:N or auto)")
    return device


log = logging.getLogger(__name__)

LOCK_DIR_ENV = "ASD_GPU_LOCK_DIR"
"""Folder of the per-GPU lock files (default: ``asd-gpu-locks`` in the system temp folder)."""
WAIT_ENV = "ASD_GPU_WAIT_S"
"""Seconds to wait for a free GPU before a :class:`DeviceError` (unset or ``inf``: forever)."""
POLL_S = 2.0
"""Seconds between tries while every GPU is claimed."""
WAIT_LOG_S = 60.0
"""Seconds between the log lines of a process waiting for a GPU."""


@dataclass(frozen=True)
class GpuClaim:
    """The GPU this process holds: its index, the lock file and the open, locked descriptor."""

    index: int
    count: int
    uuid: str | None
    path: Path
    fd: int


_held: GpuClaim | None = None  # kept for the life of the process: closing it frees the GPU


def visible_gpu_count() -> int:
    """CUDA devices this process sees (0 without CUDA); tests replace it to fake GPUs."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_uuid(index: int) -> str | None:
    """The physical GPU behind CUDA device ``index`` (the same in every process, whatever
    ``CUDA_VISIBLE_DEVICES`` says); None where torch does not give one."""
    try:
        text = str(torch.cuda.get_device_properties(index).uuid)
    except (AttributeError, AssertionError, RuntimeError):
        return None
    return text or None


def held_gpu() -> GpuClaim | None:
    """The GPU this process has claimed, if any."""
    return _held


def release_gpu() -> None:
    """Give this process's GPU back before it ends (the end of the process does it anyway)."""
    global _held
    if _held is not None:
        os.close(_held.fd)
        _held = None


def gpu_lock_dir() -> Path:
    """The lock folder (``ASD_GPU_LOCK_DIR``, else one under the temp folder that every user of
    the machine shares), created world-writable and sticky like ``/tmp``."""
    folder = Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "asd-gpu-locks")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DeviceError(f"cannot create the GPU lock folder {folder} (set {LOCK_DIR_ENV}): "
                          f"{error}") from None
    if folder.stat().st_uid == os.getuid():
        with suppress(OSError):
            folder.chmod(0o1777)
    return folder


def gpu_lock_path(folder: Path, index: int) -> Path:
    """The lock file of CUDA device ``index``: named by the GPU's UUID, by the index without one."""
    uuid = gpu_uuid(index)
    if uuid is None:
        return folder / f"gpu-index-{index}.lock"
    return folder / f"gpu-{re.sub(r'[^A-Za-z0-9._-]', '_', uuid)}.lock"


def _open_lock(path: Path) -> int:
    """A descriptor of ``path``, created readable and writable by every user; read-only where
    another user's file may not be opened for writing (flock works on either)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY)
    with suppress(OSError):
        os.fchmod(fd, 0o666)
    return fd


def _try_lock(path: Path) -> int | None:
    """The locked descriptor of ``path``, or None while another process holds it."""
    try:
        fd = _open_lock(path)
    except OSError as error:
        raise DeviceError(f"cannot open the GPU lock {path}: {error}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    with suppress(OSError):  # who holds it, for the log of those waiting (not on read-only fds)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} user {getpass.getuser()} host {socket.gethostname()} "
                     f"since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
    return fd


def _holders(paths: list[Path]) -> str:
    """``lock: holder`` for each lock, as the holders wrote it."""
    notes = []
    for path in paths:
        try:
            note = path.read_text().strip() or "?"
        except OSError:
            note = "?"
        notes.append(f"{path.name}: {note}")
    return "; ".join(notes)


def _wait_limit(wait_s: float | None, key: str) -> float:
    """``wait_s``, else ``ASD_GPU_WAIT_S``, else forever (``math.inf``)."""
    if wait_s is not None:
        return wait_s
    text = os.environ.get(WAIT_ENV, "").strip()
    if not text:
        return math.inf
    try:
        limit = float(text)
    except ValueError:
        limit = -1.0
    if not limit >= 0:
        raise DeviceError(f"{key}: {WAIT_ENV}={text!r} is not a number of seconds >= 0 "
                          "(unset or inf: wait for a free GPU forever)")
    return limit


def _claim_free(paths: list[Path], count: int) -> GpuClaim | None:
    """Lock the first free GPU of ``paths``; None when every one is held."""
    for index, path in enumerate(paths):
        fd = _try_lock(path)
        if fd is not None:
            return GpuClaim(index, count, gpu_uuid(index), path, fd)
    return None


def _wait_for_gpu(paths: list[Path], count: int, limit: float, poll_s: float,
                  key: str) -> GpuClaim:
    """Poll until a GPU is free, logging once a minute; :class:`DeviceError` past ``limit`` s."""
    start = time.monotonic()
    next_log = start
    while (claim := _claim_free(paths, count)) is None:
        waited = time.monotonic() - start
        if waited >= limit:
            raise DeviceError(f"{key}: no free GPU after {waited:.0f} s: all {count} are "
                              f"claimed by other processes (locks in {paths[0].parent}: "
                              f"{_holders(paths)}); wait longer ({WAIT_ENV}), free a GPU, "
                              "or name one with cuda:N")
        if time.monotonic() >= next_log:
            log.info("pid %d waits for a free GPU (%s): all %d are claimed, waited %.0f s of "
                     "%s; lock folder %s: %s", os.getpid(), key, count, waited,
                     "forever" if math.isinf(limit) else f"{limit:g} s", paths[0].parent,
                     _holders(paths))
            next_log += WAIT_LOG_S
        time.sleep(poll_s)
    return claim


def claim_gpu(device: torch.device, key: str = "device", *, wait_s: float | None = None,
              poll_s: float = POLL_S) -> torch.device:
    """``device`` with a GPU of this process's own where it leaves the GPU open.

    ``cuda`` with several GPUs visible: an exclusive ``flock`` on the first free GPU's lock file
    (see :func:`gpu_lock_path`), held until the process ends, and ``cuda:<i>``; when all are
    held, wait (``wait_s``, else ``ASD_GPU_WAIT_S``, else forever) polling every ``poll_s`` s,
    then a :class:`DeviceError` naming the lock folder. One GPU visible: ``cuda:0``, no lock.
    ``cpu`` and an explicit ``cuda:N``: returned as they are. A second call returns the claim
    this process already holds."""
    if device.type != "cuda" or device.index is not None:
        return device
    count = visible_gpu_count()
    if count <= 1:
        return torch.device("cuda", 0)
    global _held
    if _held is None:
        folder = gpu_lock_dir()
        paths = [gpu_lock_path(folder, i) for i in range(count)]
        _held = _wait_for_gpu(paths, count, _wait_limit(wait_s, key), poll_s, key)
        log.info("claimed GPU %d (uuid %s) of %d; lock %s", _held.index, _held.uuid or "n/a",
                 count, _held.path)
    return torch.device("cuda", _held.index)

"""Safe file writes shared by every stage: atomic replacement, free-space checks, no leftovers.

Every output of the pipeline is written through :func:`atomic_path`: the content goes to a unique
temporary file in the target's folder (``.<name>.<pid>.<random>.tmp``), which is renamed over the
target only once it is complete. So a reader never sees a half-written file, two processes writing
the same output never share a temporary file, and a failed write (disk full, exception, Ctrl-C)
removes its temporary file. A process killed with ``kill -9`` cannot clean up after itself: its
temporary files are removed by the next write to the same target (:func:`remove_stale_temps`,
which only touches files of processes that are no longer alive).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class DiskFullError(OSError):
    """Not enough free space to write a file; the message names the path and the bytes needed."""


def human_bytes(size: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def ensure_free_space(folder: str | Path, needed: int, what: str) -> None:
    """Raise :class:`DiskFullError` unless ``folder``'s file system has ``needed`` bytes free."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise DiskFullError(
            errno.ENOSPC,
            f"not enough free disk space in {folder} for {what}: need {human_bytes(needed)}, "
            f"{human_bytes(free)} free",
        )


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files of earlier, dead writers of ``path``; returns what it removed."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.glob(f"{_temp_prefix(path)}*.tmp"):
        pid = candidate.name[len(_temp_prefix(path)):].split(".", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if candidate.is_dir():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()
            removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_path(path: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; on success rename it over ``path``.

    On any failure the temporary file (or folder, with ``directory=True``) is removed and the
    target is left as it was; a disk-full error names the target.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    prefix = f"{_temp_prefix(path)}{os.getpid()}."
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
        tmp.chmod(0o777 & ~_umask())
    else:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
        os.fchmod(handle, 0o666 & ~_umask())  # mkstemp's 0600 would hide outputs from a team
        os.close(handle)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            _replace_dir(tmp, path)
        else:
            os.replace(tmp, path)
    except OSError as error:
        if error.errno == errno.ENOSPC and not isinstance(error, DiskFullError):
            raise DiskFullError(errno.ENOSPC, f"disk full while writing {path}") from error
        raise
    except RuntimeError as error:  # torch.save reports a full disk as a RuntimeError
        if "write" in str(error).lower() and _disk_nearly_full(path.parent):
            raise DiskFullError(errno.ENOSPC, f"disk full while writing {path}") from error
        raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def _replace_dir(new: Path, target: Path) -> None:
    """Put folder ``new`` in place of ``target`` (two renames; the old folder is then deleted)."""
    old = target.with_name(f"{_temp_prefix(target)}{os.getpid()}.old.tmp")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists() or target.is_symlink():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it: done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _umask() -> int:
    return _UMASK


def _disk_nearly_full(folder: Path) -> bool:
    return shutil.disk_usage(folder).free < 64 * 1024 * 1024


def check_writable(path: str | Path) -> None:
    """Raise ``OSError`` naming ``path`` unless a file can be created in its folder (made when
    missing): checked before long work whose result goes there."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}.",
                                        suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}") from error
    os.close(handle)
    os.unlink(name)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (trailing newline) to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2) + "\n")

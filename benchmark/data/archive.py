"""Safe extraction of downloaded archives (zip, tar), and free-disk-space checks.

An archive is refused, before anything is written, when an entry has an absolute path or a
``..`` component, is a link (symbolic or hard) or a special file, or when the archive would
extract to more than ``max_bytes`` or is compressed more than ``max_ratio`` times (a zip bomb).
Extraction goes to a temporary folder next to the destination, renamed into place at the end,
so a failure never leaves a half-extracted folder.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm import tqdm

from benchmark.io import DiskFullError, ensure_free_space, human_bytes

log = logging.getLogger(__name__)

GB = 1024**3


class ArchiveError(ValueError):
    """An archive that is unsafe, implausible or corrupt (the message names it)."""


DiskSpaceError = DiskFullError
"""Not enough free disk space for a download or an extraction (one class for every stage)."""


@dataclass(frozen=True)
class Entry:
    """One member of an archive."""

    name: str
    size: int
    compressed: int
    is_dir: bool


check_free_space = ensure_free_space
"""Raise :class:`DiskSpaceError` when a folder's disk has less than ``needed`` bytes free."""


def safe_extract(
    archive: str | Path, dest: str | Path, *, max_bytes: int, max_ratio: float
) -> Path:
    """Extract ``archive`` (zip or tar) into the new folder ``dest`` after checking every entry.

    ``dest`` must not exist. Raises :class:`ArchiveError` (nothing extracted) for an unsafe or
    implausible archive and :class:`DiskSpaceError` when the disk is too small.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise FileExistsError(f"extraction target already exists: {dest}")
    entries = list_entries(archive)
    check_entries(archive, entries, max_bytes=max_bytes, max_ratio=max_ratio)
    total = sum(e.size for e in entries)
    dest.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(dest.parent, total, f"extracting {archive.name}")
    tmp = dest.with_name(f".{dest.name}.extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        _extract_all(archive, tmp, total)
        os.replace(tmp, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise ArchiveError(f"{archive}: corrupt archive ({error})") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def list_entries(archive: Path) -> list[Entry]:
    """The entries of a zip or tar archive; links and special files are refused here."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                return [_zip_entry(archive, info) for info in zf.infolist()]
        if _is_tar(archive):
            with tarfile.open(archive) as tf:
                return [_tar_entry(archive, member) for member in tf.getmembers()]
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise ArchiveError(f"{archive}: corrupt archive ({error})") from error
    raise ArchiveError(f"{archive}: not a zip or tar archive (corrupt or incomplete download?)")


def _is_tar(archive: Path) -> bool:
    try:
        return tarfile.is_tarfile(archive)
    except OSError:
        return False


def _zip_entry(archive: Path, info: zipfile.ZipInfo) -> Entry:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveError(f"{archive}: refusing symbolic link entry {info.filename!r}")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no file type recorded
        raise ArchiveError(f"{archive}: refusing special file entry {info.filename!r}")
    return Entry(info.filename, info.file_size, info.compress_size, info.is_dir())


def _tar_entry(archive: Path, member: tarfile.TarInfo) -> Entry:
    if member.issym() or member.islnk():
        raise ArchiveError(f"{archive}: refusing link entry {member.name!r} -> {member.linkname!r}")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"{archive}: refusing special file entry {member.name!r}")
    return Entry(member.name, member.size if member.isfile() else 0, member.size, member.isdir())


def check_entries(archive: Path, entries: list[Entry], *, max_bytes: int, max_ratio: float) -> None:
    """Refuse unsafe names and implausible sizes (see the module docstring)."""
    if not entries:
        raise ArchiveError(f"{archive}: archive is empty")
    for entry in entries:
        safe_member_path(archive, entry.name)
    total = sum(e.size for e in entries)
    packed = sum(e.compressed for e in entries)
    if total > max_bytes:
        raise ArchiveError(
            f"{archive}: would extract to {human_bytes(total)}, more than the limit of "
            f"{human_bytes(max_bytes)} (max_extract_gb of data.dcase2020 or data.zenodo)"
        )
    if total > max_ratio * max(packed, 1) and total > 1024**2:
        raise ArchiveError(
            f"{archive}: compression ratio {total / max(packed, 1):.0f} exceeds {max_ratio:g} "
            "(max_compression_ratio of data.dcase2020 or data.zenodo); refusing a possible zip bomb"
        )


def safe_member_path(archive: Path, name: str) -> PurePosixPath:
    """The relative path of an entry, or :class:`ArchiveError` for an absolute or ``..`` path."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
        raise ArchiveError(f"{archive}: refusing entry with an absolute path: {name!r}")
    path = PurePosixPath(clean)
    if ".." in path.parts:
        raise ArchiveError(f"{archive}: refusing entry that leaves the folder: {name!r}")
    if not path.parts or path.parts == (".",):
        raise ArchiveError(f"{archive}: refusing entry with an empty name: {name!r}")
    return path


def _extract_all(archive: Path, dest: Path, total: int) -> None:
    root = dest.resolve()
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"extract {archive.name}") as bar:
        for name, is_dir, opener in _members(archive):
            target = (root / safe_member_path(archive, name)).resolve()
            if not target.is_relative_to(root):
                raise ArchiveError(f"{archive}: refusing entry that leaves the folder: {name!r}")
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with opener() as source, target.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))


def _members(archive: Path) -> Iterator[tuple[str, bool, Callable[[], IO[bytes]]]]:
    """``(name, is_dir, open)`` for each member, reading from one open archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                yield info.filename, info.is_dir(), lambda info=info: _checked(zf.open(info))
        return
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            yield member.name, member.isdir(), lambda m=member: _checked(tf.extractfile(m))


def _checked(handle: IO[bytes] | None) -> IO[bytes]:
    if handle is None:
        raise ArchiveError("archive member cannot be read")
    return handle

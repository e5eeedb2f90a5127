"""Downloading the DCASE 2020 Task 2 data from Zenodo (``data.source: dcase2020``).

Archives (Koizumi et al. 2020; MD5s as published with the records):

- development set, record 3678171: ``dev_data_<type>.zip`` (``<type>/train``, ``<type>/test``);
- additional training set, record 3727685: ``eval_data_train_<type>.zip`` (``<type>/train``);
- evaluation test set, record 3841772: ``eval_data_test_<type>.zip`` (``<type>/test`` with
  unlabelled names ``id_XX_NNNNNNNN.wav``), labelled from the ground truth ``eval_data_list.csv``
  (Zenodo record 3951620; see the DCASE 2020 Task 2 evaluator, y-kawagu/dcase2020_task2_evaluator).

Layout of ``data.root`` (one folder per archive, each renamed into place when complete, so a
present folder is a complete one)::

    dev/<type>/{train,test}/{normal,anomaly}_id_XX_NNNNNNNN.wav
    additional/<type>/train/normal_id_XX_NNNNNNNN.wav
    eval/<type>/test/{normal,anomaly}_id_XX_NNNNNNNN.wav   (label prefixed from the ground truth)
    index.csv                                              (split "eval" for eval/ clips)

Downloads resume (HTTP Range on a ``.part`` file), retry with exponential back-off, are checked
against their MD5 (the ground truth: its content, see :func:`read_ground_truth`) and only then
renamed into place. The bytes written are the body exactly as the server sent it (no
``Content-Encoding`` decoding: a server labelling a ``.zip`` as gzip-encoded still gives the
archive whose MD5 Zenodo publishes). An attempt is abandoned when the connection stalls (less than
:data:`MIN_BYTES_PER_S` per ``timeout_s`` window); a full disk ends the download at once, naming
the file, and leaves no ``.part`` behind. Archive members are checked against the layout before
anything is extracted.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import requests
import urllib3
from tqdm import tqdm

from benchmark.data.archive import (
    GB,
    ArchiveError,
    DiskSpaceError,
    Entry,
    check_free_space,
    list_entries,
    safe_extract,
    safe_member_path,
)
from benchmark.data.ground_truth import check_ground_truth, label_eval_clips, read_ground_truth
from benchmark.data.index import index_from_paths, scan_clips, write_index
from benchmark.data.layout import (
    ADDITIONAL_IDS,
    LABELS,
    LayoutError,
    parse_clip_path,
)
from benchmark.data.local import check_replaceable, read_marker, write_marker
from benchmark.data.params import DataParams, Dcase2020Params

log = logging.getLogger(__name__)

ZENODO_RECORDS: dict[str, str] = {"dev": "3678171", "additional": "3727685", "eval": "3841772"}
"""Zenodo record of each archive group."""

ARCHIVE_PREFIXES: dict[str, str] = {
    "dev": "dev_data",
    "additional": "eval_data_train",
    "eval": "eval_data_test",
}
"""Archive name ``<prefix>_<type>.zip`` of each group."""

ARCHIVE_MD5: dict[str, str] = {
    "dev_data_fan.zip": "649bdfc06263ae7a838963f43b6641e6",
    "dev_data_pump.zip": "90e7091ef722b7238a7f1009365779cd",
    "dev_data_slider.zip": "da24a757719f0d94d5aa2d646bbfdc86",
    "dev_data_valve.zip": "34d2672f55bb041589ef79c10dc89934",
    "dev_data_ToyCar.zip": "4dec75ca8d9f666aa9e4c1894a740501",
    "dev_data_ToyConveyor.zip": "03b6aa1bfd09a39d53af0ba39f71fa91",
    "eval_data_train_fan.zip": "567798854130c8019df8b664c095ed1e",
    "eval_data_train_pump.zip": "4e33ae9c0db5cc88437675f5e317caee",
    "eval_data_train_slider.zip": "f84f186f4295fc23754abcdd1b0580a7",
    "eval_data_train_valve.zip": "057cdd560caffb8305449541afd28c6d",
    "eval_data_train_ToyCar.zip": "a5d4ccd498af70b04dd74b644b820006",
    "eval_data_train_ToyConveyor.zip": "0e808ac0b761e9fb13d5e0c65caff00d",
    "eval_data_test_fan.zip": "1eb9356a768cadfd0f2e59a5c57e578b",
    "eval_data_test_pump.zip": "23a8f8f924be218c69df67fe07360348",
    "eval_data_test_slider.zip": "0193c769073840332ce3aad84b1ccaa2",
    "eval_data_test_valve.zip": "f69c551d2088691050d20cccca9d631c",
    "eval_data_test_ToyCar.zip": "bea2bdd612f616be8f2b8eb087b32c7c",
    "eval_data_test_ToyConveyor.zip": "ccfcc9847c7d3404d7ee9d6d9e0b2ba2",
}
"""MD5 of every DCASE 2020 Task 2 archive on Zenodo."""

_CHUNK = 1 << 20  # bytes read at a time when hashing
_NET_CHUNK = 1 << 16  # bytes per network read: a dropped connection loses at most this much
_JUNK = ("__MACOSX", ".")  # top-level archive entries that are not data
_EXTRACT_FACTOR = 1.05  # WAV data barely compresses: extracted size ~ archive size
_SLOW_CHUNK = 1 << 13  # bytes per read where urllib3 has no read1 (a read waits for all of them)
_DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
_GROUP_SPLITS: dict[str, tuple[str, ...]] = {
    "dev": ("train", "test"),
    "additional": ("train",),
    "eval": ("test",),
}
"""Split folders each archive group may contain."""


MIN_BYTES_PER_S = 16 * 1024
"""Slowest transfer accepted: an attempt that receives less than this per second, averaged over a
window of ``data.dcase2020.timeout_s`` seconds, is abandoned as stalled (and retried, resuming)."""


class DownloadError(RuntimeError):
    """A file that could not be downloaded intact (the message names it)."""


class _Retry(Exception):
    """A failed attempt worth retrying."""


@dataclass(frozen=True)
class Archive:
    """One archive to fetch: its group (dev/additional/eval), machine type, name, URL and MD5."""

    group: str
    machine_type: str
    name: str
    url: str
    md5: str


def dcase_archives(
    params: DataParams,
    *,
    md5s: Mapping[str, str] = ARCHIVE_MD5,
    records: Mapping[str, str] = ZENODO_RECORDS,
) -> list[Archive]:
    """The archives the params ask for, in (group, machine type) order."""
    groups = ["dev"]
    groups += ["additional"] if params.dcase2020.additional_train else []
    groups += ["eval"] if params.dcase2020.eval_test else []
    base = params.dcase2020.base_url.rstrip("/")
    archives = []
    for group in groups:
        for machine_type in params.selected_types():
            name = f"{ARCHIVE_PREFIXES[group]}_{machine_type}.zip"
            if name not in md5s:
                raise KeyError(f"no MD5 known for {name}")
            url = f"{base}/{records[group]}/files/{name}?download=1"
            archives.append(Archive(group, machine_type, name, url, md5s[name]))
    return archives


# --------------------------------------------------------------------------- downloading


def md5_of(path: Path) -> str:
    """Hex MD5 of a file."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "asd-benchmark (python-requests)"
    return session


def download(
    url: str,
    dest: str | Path,
    *,
    md5: str | None,
    retries: int,
    backoff_s: float,
    timeout_s: float,
    session: requests.Session | None = None,
    size: int | None = None,
    check: Callable[[Path], object] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part``, resuming, retrying and checking the MD5.

    ``size`` (bytes, e.g. from a HEAD request) checks the free space when the server sends no
    Content-Length; ``check`` raises :class:`ValueError` for a file whose content is bad. An
    existing ``dest`` that passes the MD5 and ``check`` is kept (otherwise downloaded again).
    Raises :class:`DownloadError` naming the file and URL once ``retries`` retries are spent
    (after an MD5 mismatch: with both hashes; a bad file is deleted) and :class:`DiskSpaceError`
    at once when the disk is too small or full. After network errors (dropped or stalled
    connections) the ``.part`` file is kept so that the next run resumes it; after any other
    failure it is deleted.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        problem = _verify(dest, md5, check)
        if problem is None:
            return dest
        log.warning("%s: %s; downloading it again", dest, problem)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    session = session or new_session()
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            wait = backoff_s * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.1f s", dest.name, problem, attempt, retries, wait)
            time.sleep(wait)
        try:
            _fetch(session, url, part, timeout_s, size)
        except (_Retry, requests.RequestException) as error:
            problem = f"download failed ({error})"
            continue
        except Exception:
            part.unlink(missing_ok=True)  # cannot be resumed: leave nothing behind
            raise
        problem = _verify(part, md5, check)
        if problem is not None:
            part.unlink()
            continue
        os.replace(part, dest)
        return dest
    if part.exists():
        problem += f"; partial file kept for a later resume: {part}"
    raise DownloadError(f"{dest}: {problem} after {retries + 1} attempts ({url})")


def _verify(path: Path, md5: str | None, check: Callable[[Path], object] | None) -> str | None:
    """What is wrong with a downloaded file (MD5, then content), or None."""
    if md5 is not None and (actual := md5_of(path)) != md5:
        return f"MD5 mismatch: expected {md5}, got {actual}"
    if check is not None:
        try:
            check(path)
        except ValueError as error:
            return f"bad content ({error})"
    return None


def _fetch(
    session: requests.Session, url: str, part: Path, timeout_s: float, size: int | None
) -> None:
    """One attempt: append to ``part`` from where it stops (or restart when the server says so)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}  # the file's own bytes, not compressed on the fly
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with session.get(url, headers=headers, stream=True, timeout=timeout_s) as response:
        if response.status_code == 416:  # nothing left at that offset: the part is bad
            part.unlink()
            raise _Retry("server refused the resume offset; restarting from zero")
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason}")
        response.raise_for_status()
        if offset and not _resumes_at(response, offset):
            offset = 0  # the server sent the whole file: start again
        length = _int_header(response, "Content-Length")
        expected = length if length is not None else _remaining(size, offset)
        if expected is not None:
            check_free_space(part.parent, expected, f"downloading {part.name[:-5]}")
        received = _save(response, part, offset, expected, timeout_s)
    if length is not None and received != length:
        raise _Retry(f"connection closed after {received} of {length} bytes")


def _remaining(size: int | None, offset: int) -> int | None:
    return None if size is None else max(size - offset, 0)


def _save(
    response: requests.Response, part: Path, offset: int, expected: int | None, timeout_s: float
) -> int:
    """Write the raw body to ``part`` (appending after ``offset`` bytes); the bytes received.

    A full disk raises :class:`DiskSpaceError` naming ``part`` and the bytes written so far.
    """
    received = 0
    total = offset + expected if expected is not None else None
    name = part.name[:-5]
    try:
        with (
            part.open("ab" if offset else "wb") as out,
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=name) as bar,
        ):
            for chunk in _raw_body(response, timeout_s):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    except OSError as error:
        if error.errno not in _DISK_FULL:
            raise
        of = f" of {expected:,} needed" if expected is not None else ""
        raise DiskSpaceError(
            f"disk full while writing {part}: {received:,} bytes received{of} "
            f"({os.strerror(error.errno)}); free some space and run again"
        ) from error
    return received


def _raw_body(response: requests.Response, timeout_s: float) -> Iterator[bytes]:
    """The body as the server sent it (no Content-Encoding decoding), chunk by chunk.

    Raises :class:`_Retry` when the connection breaks or stalls: less than
    :data:`MIN_BYTES_PER_S` arrived during a window of ``timeout_s`` seconds.
    """
    raw = response.raw
    if hasattr(raw, "read1"):  # urllib3 >= 2.3: whatever has arrived, up to one chunk
        read = partial(raw.read1, _NET_CHUNK, decode_content=False)
    else:  # an older urllib3 waits for a full read: small ones keep the stall check timely
        read = partial(raw.read, _SLOW_CHUNK, decode_content=False)
    start, count = time.monotonic(), 0
    try:
        while chunk := read():
            yield chunk
            count += len(chunk)
            elapsed = time.monotonic() - start
            if elapsed >= timeout_s:
                if count < MIN_BYTES_PER_S * elapsed:
                    raise _Retry(
                        f"stalled: {count:,} bytes in {elapsed:.1f} s, less than the minimum of "
                        f"{MIN_BYTES_PER_S:,} bytes/s"
                    )
                start, count = time.monotonic(), 0
    except urllib3.exceptions.HTTPError as error:
        raise _Retry(f"connection broken ({error})") from error


def _resumes_at(response: requests.Response, offset: int) -> bool:
    if response.status_code != 206:
        return False
    content_range = response.headers.get("Content-Range", "")  # bytes START-END/TOTAL
    try:
        start = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return False
    return start == offset


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def remote_size(session: requests.Session, url: str, timeout_s: float) -> int | None:
    """Size of a remote file from a HEAD request, or None when the server does not say."""
    try:
        response = session.head(url, allow_redirects=True, timeout=timeout_s)
        response.raise_for_status()
    except requests.RequestException as error:
        log.warning("could not get the size of %s (%s)", url, error)
        return None
    return _int_header(response, "Content-Length")


# --------------------------------------------------------------------------- ground truth


def fetch_ground_truth(
    params: Dcase2020Params, machine_types: list[str], session: requests.Session
) -> dict[tuple[str, str], str]:
    """Download and read the evaluation labels (one file, or one per ID with placeholders).

    Each file is checked (:func:`check_ground_truth`) before it is moved into place and again when
    it is found cached: a bad file is deleted and downloaded again, never used.
    """
    opts = {"retries": params.retries, "backoff_s": params.backoff_s, "timeout_s": params.timeout_s}
    folder = Path(params.download_dir)
    url = params.ground_truth_url
    if "{machine_type}" not in url:
        check = partial(check_ground_truth, machine_types=machine_types)
        dest = folder / _url_name(url)
        path = download(url, dest, md5=None, session=session, check=check, **opts)
        return read_ground_truth(path)
    labels: dict[tuple[str, str], str] = {}
    for machine_type in machine_types:
        for machine_id in ADDITIONAL_IDS[machine_type]:
            one = url.format(machine_type=machine_type, machine_id=machine_id)
            name = f"ground_truth_{machine_type}_{machine_id}_{_url_name(one)}"
            check = partial(
                check_ground_truth,
                machine_types=[machine_type],
                machine_type=machine_type,
                machine_id=machine_id,
            )
            path = download(one, folder / name, md5=None, session=session, check=check, **opts)
            labels.update(read_ground_truth(path, machine_type))
    return labels


def _url_name(url: str) -> str:
    return Path(urlparse(url).path).name or "ground_truth.csv"


# --------------------------------------------------------------------------- data set


def prepare_dcase2020(
    params: DataParams,
    *,
    md5s: Mapping[str, str] = ARCHIVE_MD5,
    records: Mapping[str, str] = ZENODO_RECORDS,
    session: requests.Session | None = None,
) -> Path:
    """Download, verify and extract the archives into ``data.root``; returns its ``index.csv``."""
    opts = params.dcase2020
    root = Path(params.root).absolute()
    _claim_root(root, params)
    archives = dcase_archives(params, md5s=md5s, records=records)
    pending = [a for a in archives if not _target(root, a).is_dir()]
    session = session or new_session()
    labels = {}
    if any(a.group == "eval" for a in pending):
        labels = fetch_ground_truth(opts, params.selected_types(), session)
    sizes = {a.name: remote_size(session, a.url, opts.timeout_s) for a in pending}
    if pending:
        _check_space(pending, sizes, root, opts)
    for archive in pending:
        zip_path = download(
            archive.url,
            Path(opts.download_dir) / archive.name,
            md5=archive.md5,
            retries=opts.retries,
            backoff_s=opts.backoff_s,
            timeout_s=opts.timeout_s,
            session=session,
            size=sizes[archive.name],
        )
        install_archive(archive, zip_path, root, labels, opts)
        if not opts.keep_archives:
            zip_path.unlink()
    paths = [p for a in archives for p in scan_clips(_target(root, a), [a.machine_type])]
    index = index_from_paths(paths, root)
    log.info("indexed %d clips from %d archives", len(index), len(archives))
    return write_index(index, root / "index.csv")


def _claim_root(root: Path, params: DataParams) -> None:
    check_replaceable(root, "dcase2020")
    marker = read_marker(root) if root.exists() else None
    if marker is not None and marker.get("source") != "dcase2020":
        log.info("removing the %s data in %s", marker.get("source"), root)
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    write_marker(root, params, "dcase2020")


def _target(root: Path, archive: Archive) -> Path:
    return root / archive.group / archive.machine_type


def _check_space(
    pending: list[Archive], remote: Mapping[str, int | None], root: Path, opts: Dcase2020Params
) -> None:
    """Check, before downloading anything, that the archives and their contents fit on disk.

    ``remote`` maps archive names to their sizes on the server (None: unknown).
    """
    folder = Path(opts.download_dir)
    sizes = []
    for archive in pending:
        size = remote[archive.name]
        if size is not None:
            part = folder / (archive.name + ".part")
            have = part.stat().st_size if part.exists() else 0
            sizes.append((max(size - have, 0), size))
    if not sizes:
        return
    downloads = [left for left, _ in sizes]
    check_archive_space(downloads, [size for _, size in sizes], folder, root,
                        opts.keep_archives, "DCASE 2020")
    log.info("about %.1f GB to download", sum(downloads) / GB)


def check_archive_space(left: list[int], sizes: list[int], folder: Path, root: Path,
                        keep_archives: bool, what: str) -> None:
    """Free space for archives still to download (``left`` bytes each, into ``folder``) and for
    all of them extracted (``sizes``, into ``root``): one check when both share a device."""
    download_need = sum(left) if keep_archives else max(left)
    extract_need = int(sum(sizes) * _EXTRACT_FACTOR)
    folder.mkdir(parents=True, exist_ok=True)
    if os.stat(folder).st_dev == os.stat(root).st_dev:
        check_free_space(root, download_need + extract_need, f"the {what} archives and data")
    else:
        check_free_space(folder, download_need, f"the {what} archives")
        check_free_space(root, extract_need, f"the extracted {what} data")


def install_archive(
    archive: Archive,
    zip_path: Path,
    root: Path,
    labels: Mapping[tuple[str, str], str],
    opts: Dcase2020Params,
) -> Path:
    """Extract one archive into ``<root>/<group>/<type>`` (atomically); label eval clips.

    Every member is checked first (:func:`check_members`): a bad one installs nothing.
    """
    check_members(archive, zip_path, list_entries(zip_path), labels)

    def label(folder: Path) -> None:
        label_eval_clips(folder, archive.machine_type, labels, source=archive.name,
                         ground_truth="data.dcase2020.ground_truth_url")

    return extract_into_place(zip_path, root, archive.group, archive.machine_type, opts,
                              label if archive.group == "eval" else None)


def extract_into_place(zip_path: Path, root: Path, group: str, machine_type: str, opts: Any,
                       relabel: Callable[[Path], None] | None = None) -> Path:
    """Extract an archive holding one folder ``<machine_type>/`` into ``<root>/<group>/`` through
    a hidden staging folder in ``root``; ``relabel`` renames its clips there (evaluation sets)
    before it is moved into place. ``opts``: the source's ``max_extract_gb`` and
    ``max_compression_ratio``. Returns ``<root>/<group>/<machine_type>``."""
    staging = root / f".{group}_{machine_type}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    target = root / group / machine_type
    try:
        safe_extract(zip_path, staging, max_bytes=int(opts.max_extract_gb * GB),
                     max_ratio=opts.max_compression_ratio)
        inner = staging / machine_type
        found = sorted(p.name for p in staging.iterdir() if not p.name.startswith(_JUNK))
        if found != [machine_type] or not inner.is_dir():
            raise ArchiveError(f"{zip_path}: expected one folder '{machine_type}', got {found}")
        if relabel is not None:
            relabel(inner)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(inner, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def check_members(
    archive: Archive,
    zip_path: Path,
    entries: list[Entry],
    labels: Mapping[tuple[str, str], str],
) -> None:
    """Raise :class:`LayoutError` naming the archive and member for a member that is not a clip.

    Every member but junk (``__MACOSX``, hidden files, skipped by the index too) must be the
    folder ``<type>/`` or ``<type>/<split>/`` or a clip ``<type>/<split>/<label>_id_XX_N...N.wav``
    (:func:`~benchmark.data.layout.parse_clip_path`) of the archive's machine type and group's
    splits; an evaluation clip ``id_XX_NNNNNNNN.wav`` must be in the ground truth ``labels``.
    """
    clips = 0
    for entry in entries:
        parts = safe_member_path(zip_path, entry.name).parts
        if parts[0].startswith(_JUNK) or any(p.startswith(".") for p in parts):
            continue
        try:
            clips += _check_member(archive, parts, entry.is_dir, labels)
        except LayoutError as error:
            raise LayoutError(f"{zip_path}: bad member {entry.name!r}: {error}") from None
    if not clips:
        raise LayoutError(f"{zip_path}: no clips in '{archive.machine_type}/'")


def _check_member(
    archive: Archive, parts: tuple[str, ...], is_dir: bool, labels: Mapping[tuple[str, str], str]
) -> int:
    """1 for a good clip, 0 for a good folder; :class:`LayoutError` otherwise."""
    splits = _GROUP_SPLITS[archive.group]
    expected = f"{archive.machine_type}/<{'|'.join(splits)}>/"
    if parts[0] != archive.machine_type or (len(parts) > 1 and parts[1] not in splits):
        raise LayoutError(f"not in {expected}")
    if is_dir and len(parts) <= 2:
        return 0
    if is_dir or len(parts) != 3:
        raise LayoutError(f"expected only clips directly in {expected}")
    name = parts[2]
    if archive.group == "eval" and not name.startswith(tuple(f"{label}_" for label in LABELS)):
        label = labels.get((archive.machine_type, name))
        if label is None:
            raise LayoutError("not in the ground truth (data.dcase2020.ground_truth_url)")
        name = f"{label}_{name}"
    parse_clip_path(PurePosixPath(*parts[:2], name))
    return 1


__all__ = [
    "ARCHIVE_MD5",
    "ZENODO_RECORDS",
    "MIN_BYTES_PER_S",
    "Archive",
    "DiskSpaceError",
    "DownloadError",
    "check_ground_truth",
    "check_members",
    "dcase_archives",
    "download",
    "fetch_ground_truth",
    "label_eval_clips",
    "prepare_dcase2020",
    "read_ground_truth",
]

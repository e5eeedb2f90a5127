"""Downloading the DCASE 2021-2025 Task 2 data through the Zenodo records API
(``data.source: zenodo``).

Which archives a year has, and in which record, comes from the registry
(:mod:`benchmark.data.datasets`: ``spec.records``, ``spec.archive_name``); their sizes, MD5s and
download links come from the records themselves, read at run time (:func:`record_files`,
``GET {data.zenodo.api_url}/records/<record>``), so no checksum is typed by hand and a wrong
record number or a renamed archive fails loudly before anything is downloaded.

Layout of ``data.root`` (one folder per archive, each renamed into place when complete, so a
present folder is a complete one and a rerun after a crash skips it)::

    dev/<type>/{train,test}/section_XX_<domain>_<split>_<label>_NNNN[_attrs].wav  (2022+)
    dev/<type>/{train,source_test,target_test}/...                             (2021)
    dev/<type>/attributes_XX.csv                                               (2022+)
    additional/<type>/train/...         (the evaluation types' training clips)
    eval/<type>/<test folder>/...       (renamed from the ground truth -> index split "eval")
    index.csv

The evaluation test archives hold unlabelled clips (2021 ``section_03_source_test_0000.wav`` in
``source_test/`` and ``target_test/``; 2022+ ``section_00_0000.wav`` in ``test/``); the
organisers' list ``eval_data_list_20XX.csv`` (:func:`read_year_ground_truth`) gives each its
labelled name, and the clips are renamed before the folder is moved into place. Downloads reuse
:func:`benchmark.data.download.download` (resumable ``.part`` files, retries with back-off, MD5
check, stall detection); archives are checked member by member (:func:`check_year_members`) and
extracted safely (:func:`benchmark.data.archive.safe_extract`) into a staging folder first.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlparse

import pandas as pd
import requests

from benchmark.config import ConfigError
from benchmark.data.archive import (
    GB,
    Entry,
    list_entries,
    safe_member_path,
)
from benchmark.data.datasets import DatasetSpec, get_dataset
from benchmark.data.download import (
    DownloadError,
    check_archive_space,
    download,
    extract_into_place,
    new_session,
)
from benchmark.data.ground_truth import _csv_rows
from benchmark.data.index import index_from_paths, scan_clips, write_index
from benchmark.data.layout import YEAR_FOLDERS, ClipName, LayoutError, parse_year_path
from benchmark.data.local import check_replaceable
from benchmark.data.marker import read_marker, write_marker
from benchmark.data.params import DataParams, ZenodoParams

log = logging.getLogger(__name__)

SOURCE = "zenodo"
"""The ``data.source`` (and marker source) of this downloader."""

_CHECKSUM = re.compile(r"^md5:([0-9a-fA-F]{32})$")
_UNLABELLED = re.compile(
    r"^(?P<section>section_\d{2})_(?:(?P<domain>source|target)_test_)?(?P<num>\d{4})\.wav$"
)
_GONE = (404, 410)  # no such record: retrying will not help
_TRANSIENT = (408, 429)  # worth retrying, like any 5xx
_JUNK = ("__MACOSX", ".")  # top-level archive entries that are not data


# --------------------------------------------------------------------------- records API


@dataclass(frozen=True)
class RemoteFile:
    """One file of a Zenodo record: its name (key), size in bytes, MD5 and download URL."""

    key: str
    size: int
    md5: str
    url: str


def record_url(api_url: str, record: int) -> str:
    """The API address of a record: ``{api_url}/records/{record}``."""
    return f"{api_url.rstrip('/')}/records/{record}"


def record_files(
    session: requests.Session,
    api_url: str,
    record: int,
    timeout_s: float,
    *,
    retries: int = 0,
    backoff_s: float = 0.0,
) -> dict[str, RemoteFile]:
    """The files of Zenodo record ``record``, by name, from ``GET {api_url}/records/{record}``.

    Network errors, HTTP 408/429/5xx and bodies that are not JSON (an HTML error page) are retried
    ``retries`` times with exponential back-off (``backoff_s * 2**k``). Every failure is a
    :class:`DownloadError` naming the record and the URL: HTTP 404/410 (a wrong record number; not
    retried), other HTTP errors, a body that stays non-JSON, JSON without a files list, a file
    entry without key, size or MD5 checksum (``"md5:<32 hex digits>"``).
    """
    url = record_url(api_url, record)
    data = _get_json(session, url, record, timeout_s, retries, backoff_s)
    return _parse_record(data, api_url, record, url)


def _get_json(
    session: requests.Session,
    url: str,
    record: int,
    timeout_s: float,
    retries: int,
    backoff_s: float,
) -> Any:
    """The JSON body of ``url``, retrying what may be transient (see :func:`record_files`)."""
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            wait = backoff_s * 2 ** (attempt - 1)
            log.warning("Zenodo record %d: %s; retry %d/%d in %.1f s", record, problem, attempt,
                        retries, wait)
            time.sleep(wait)
        try:
            response = session.get(url, headers={"Accept": "application/json"}, timeout=timeout_s)
        except requests.RequestException as error:
            problem = f"request failed ({error})"
            continue
        status = response.status_code
        if status in _GONE:
            raise DownloadError(f"no Zenodo record {record}: is the record number right? "
                                f"({url}: HTTP {status} {response.reason})")
        if status in _TRANSIENT or status >= 500:
            problem = f"HTTP {status} {response.reason}"
            continue
        if not response.ok:
            raise DownloadError(f"Zenodo record {record}: HTTP {status} {response.reason} ({url})")
        try:
            return _json_body(response.content)
        except ValueError as error:
            problem = str(error)
    raise DownloadError(f"Zenodo record {record}: {problem} after {retries + 1} attempts ({url})")


def _json_body(content: bytes) -> Any:
    """Decoded JSON; :class:`ValueError` for an HTML page or any other non-JSON body."""
    if content.lstrip()[:1] == b"<":
        raise ValueError("an HTML page in place of the record's JSON")
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON ({error})") from None


def _parse_record(data: Any, api_url: str, record: int, url: str) -> dict[str, RemoteFile]:
    """The file entries of a record's JSON (Zenodo's list, or InvenioRDM's ``entries``)."""
    where = f"Zenodo record {record} ({url})"
    files = data.get("files") if isinstance(data, dict) else None
    if isinstance(files, dict):  # InvenioRDM form: {"enabled": ..., "entries": {key: entry}}
        entries = files.get("entries")
        files = list(entries.values()) if isinstance(entries, dict) else entries
    if not isinstance(files, list):
        raise DownloadError(f"{where}: the JSON has no files list")
    out: dict[str, RemoteFile] = {}
    for number, entry in enumerate(files):
        remote = _remote_file(entry, api_url, record, f"{where}: file entry {number}")
        if remote.key in out:
            raise DownloadError(f"{where}: lists the file {remote.key} twice")
        out[remote.key] = remote
    return out


def _remote_file(entry: Any, api_url: str, record: int, where: str) -> RemoteFile:
    """One ``files[]`` entry: ``key``, ``size``, ``checksum`` (md5) and its download link."""
    if not isinstance(entry, dict):
        raise DownloadError(f"{where}: not an object")
    key, size, checksum = entry.get("key"), entry.get("size"), entry.get("checksum")
    if not isinstance(key, str) or not key:
        raise DownloadError(f"{where}: no file name ('key')")
    where = f"{where} ({key})"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise DownloadError(f"{where}: no size in bytes ('size': {size!r})")
    match = _CHECKSUM.match(checksum) if isinstance(checksum, str) else None
    if match is None:
        raise DownloadError(f"{where}: no MD5 checksum ('checksum': {checksum!r}, "
                            "expected 'md5:<32 hex digits>')")
    links = entry.get("links") if isinstance(entry.get("links"), dict) else {}
    link = links.get("content") or links.get("self")  # InvenioRDM's "self" is the metadata
    if link is None:
        link = f"{record_url(api_url, record)}/files/{quote(key)}/content"
    if not isinstance(link, str) or not link.startswith(("http://", "https://")):
        raise DownloadError(f"{where}: the download link is not an http(s) URL: {link!r}")
    return RemoteFile(key=key, size=size, md5=match[1].lower(), url=link)


# --------------------------------------------------------------------------- archives


@dataclass(frozen=True)
class YearArchive:
    """One archive to fetch: its group (dev/additional/eval), machine type, record and file."""

    group: str
    machine_type: str
    record: int
    file: RemoteFile

    @property
    def name(self) -> str:
        return self.file.key


def wanted_archives(params: DataParams, spec: DatasetSpec) -> list[tuple[str, str]]:
    """``(group, machine type)`` of every archive the params ask for, in (group, type) order:
    ``dev`` of the selected development types, ``additional`` (``data.zenodo.additional_train``)
    and ``eval`` (``data.zenodo.eval_test``) of the selected evaluation types."""
    groups = ["dev"]
    groups += ["additional"] if params.zenodo.additional_train else []
    groups += ["eval"] if params.zenodo.eval_test else []
    types = params.selected_types()
    return [(g, t) for g in groups for t in types if g in spec.archive_groups(t)]


def year_archives(
    params: DataParams,
    spec: DatasetSpec,
    listings: Mapping[int, Mapping[str, RemoteFile]],
    *,
    skip: Collection[tuple[str, str]] = (),
) -> list[YearArchive]:
    """The archives the params ask for (:func:`wanted_archives`, less ``skip``), found in the
    ``listings`` of their records (record number -> :func:`record_files`).

    An archive its record does not list is a :class:`DownloadError` naming the record, the archive
    and the files the record has: a wrong record number or a renamed archive fails loudly.
    """
    archives = []
    for group, machine_type in wanted_archives(params, spec):
        if (group, machine_type) in skip:
            continue
        record, name = spec.record(group), spec.archive_name(group, machine_type)
        files = listings.get(record)
        if files is None:
            raise DownloadError(f"Zenodo record {record} ({spec.name} {group}) was not listed")
        remote = files.get(name)
        if remote is None:
            have = ", ".join(sorted(files)) or "no files"
            raise DownloadError(
                f"Zenodo record {record} ({spec.name} {group} archives) has no file {name}; it "
                f"has: {have}. Is the record number right (benchmark/data/datasets.py)?"
            )
        archives.append(YearArchive(group, machine_type, record, remote))
    return archives


def _group_folders(group: str, layout: str) -> tuple[str, ...]:
    """The clip folders an archive of ``group`` may hold below ``<type>/``."""
    folders = YEAR_FOLDERS[layout]
    return {"dev": folders["train"] + folders["test"], "additional": folders["train"],
            "eval": folders["test"]}[group]


# --------------------------------------------------------------------------- ground truth


def read_year_ground_truth(
    path: str | Path, machine_types: Collection[str], *, layout: str = "dcase2022"
) -> dict[tuple[str, str], str]:
    """The labelled names of the evaluation clips: ``{(type, unlabelled name): labelled name}``.

    Reads the organisers' ``eval_data_list_20XX.csv``: a line holding only a machine type starts
    its block, then rows ``unlabelled name, labelled name[, 0|1]``, e.g. (2021)
    ``section_03_source_test_0000.wav,section_03_source_test_anomaly_0000.wav`` or (2022+)
    ``section_00_0005.wav,section_00_source_test_anomaly_0005_vel_15.wav``. The labelled name must
    be a test clip of ``layout`` (:func:`~benchmark.data.layout.parse_year_path`) of the same
    section, number (and, 2021, domain) as the unlabelled one; a third column must agree with its
    label (1: anomaly). Raises :class:`ValueError` naming the file and line for an HTML page, a
    type not in ``machine_types``, a malformed name or row, a clip listed twice or two clips given
    one labelled name, and naming the file when it holds no labels.
    """
    path = Path(path)
    labels: dict[tuple[str, str], str] = {}
    owner: dict[tuple[str, str], int] = {}  # (type, labelled name) -> line
    current: str | None = None
    for line, cells in _csv_rows(path):
        where = f"{path}:{line}"
        if len(cells) == 1 and not cells[0].lower().endswith(".wav"):
            if cells[0] not in machine_types:
                raise ValueError(f"{where}: unknown machine type {cells[0]!r} "
                                 f"(expected one of {', '.join(machine_types)})")
            current = cells[0]
            continue
        if current is None:
            raise ValueError(f"{where}: no machine type line before this row")
        _check_row(where, current, cells, layout, tuple(machine_types))
        unlabelled, labelled = cells[0], cells[1]
        if (current, unlabelled) in labels:
            raise ValueError(f"{where}: {current} {unlabelled} is listed twice")
        if (current, labelled) in owner:
            raise ValueError(f"{where}: {current} {labelled} is also the labelled name of line "
                             f"{owner[current, labelled]}")
        labels[current, unlabelled] = labelled
        owner[current, labelled] = line
    if not labels:
        raise ValueError(f"{path}: no labels found")
    return labels


def _check_row(
    where: str, machine_type: str, cells: list[str], layout: str, machine_types: tuple[str, ...]
) -> ClipName:
    """The labelled clip of one ground-truth row; :class:`ValueError` naming ``where`` if bad."""
    if len(cells) not in (2, 3):
        raise ValueError(f"{where}: {len(cells)} column(s), expected "
                         "'unlabelled name,labelled name[,0|1]'")
    unlabelled, labelled = cells[0], cells[1]
    match = _UNLABELLED.match(unlabelled)
    if match is None:
        raise ValueError(f"{where}: unlabelled name {unlabelled!r} does not follow "
                         "'section_XX_NNNN.wav' (2021: 'section_XX_<source|target>_test_NNNN.wav')")
    clip = _parse_labelled(where, machine_type, labelled, layout, machine_types)
    same = (clip.section == match["section"] and clip.number == int(match["num"])
            and match["domain"] in (None, clip.domain))
    if not same:
        raise ValueError(f"{where}: {labelled!r} is not the labelled name of {unlabelled!r} "
                         "(section, number or domain differ)")
    if len(cells) == 3:
        flag = cells[2]
        if flag not in ("0", "1"):
            raise ValueError(f"{where}: label column must be 0 or 1, got {flag!r}")
        if (clip.label == "anomaly") != (flag == "1"):
            raise ValueError(f"{where}: label column {flag} contradicts {labelled!r}")
    return clip


def _parse_labelled(
    where: str, machine_type: str, name: str, layout: str, machine_types: tuple[str, ...]
) -> ClipName:
    """Parse a labelled evaluation name as a test clip in its layout folder."""
    folder = _test_folder(name, layout)
    try:
        clip = parse_year_path(PurePosixPath(machine_type, folder, name), layout, machine_types)
    except LayoutError as error:
        raise ValueError(f"{where}: labelled name {name!r}: {error}") from None
    if clip.split != "test":
        raise ValueError(f"{where}: labelled name {name!r} is not a test clip")
    return clip


def _test_folder(name: str, layout: str) -> str:
    """The folder a test clip of ``layout`` lives in (2021: by its domain)."""
    folders = YEAR_FOLDERS[layout]["test"]
    if len(folders) == 1:
        return folders[0]
    return next((f for f in folders if f"_{f}_" in name), folders[0])


def check_year_ground_truth(
    path: str | Path,
    machine_types: Collection[str],
    needed: Collection[str],
    layout: str = "dcase2022",
) -> dict[tuple[str, str], str]:
    """:func:`read_year_ground_truth`, and a :class:`ValueError` unless every type in ``needed``
    has labels (a truncated file); returns the labels."""
    labels = read_year_ground_truth(path, machine_types, layout=layout)
    missing = [t for t in needed if not any(k[0] == t for k in labels)]
    if missing:
        raise ValueError(f"{path}: no labels for {', '.join(missing)} (truncated file?)")
    return labels


def fetch_year_ground_truth(
    opts: ZenodoParams, spec: DatasetSpec, needed: Collection[str], session: requests.Session
) -> tuple[dict[tuple[str, str], str], Path]:
    """Download the evaluation ground truth into ``data.zenodo.download_dir``; its labels and path.

    The list comes from ``data.zenodo.ground_truth_url`` (None: ``spec.ground_truth_url``). It is
    fetched afresh each time (it is small, and a list corrected upstream must replace a stale copy)
    and checked before it is moved into place: a bad one is retried, then a
    :class:`DownloadError`.
    """
    url = opts.ground_truth_url or spec.ground_truth_url
    name = Path(urlparse(url).path).name or f"eval_data_list_{spec.year}.csv"
    dest = Path(opts.download_dir) / name
    dest.unlink(missing_ok=True)
    check = partial(check_year_ground_truth, machine_types=spec.machine_types, needed=needed,
                    layout=spec.layout)
    path = download(url, dest, md5=None, retries=opts.retries, backoff_s=opts.backoff_s,
                    timeout_s=opts.timeout_s, session=session, check=check)
    return read_year_ground_truth(path, spec.machine_types, layout=spec.layout), path


# --------------------------------------------------------------------------- members


def check_year_members(
    archive: YearArchive,
    zip_path: Path,
    entries: list[Entry],
    spec: DatasetSpec,
    labels: Mapping[tuple[str, str], str],
    ground_truth: str = "",
) -> None:
    """Raise :class:`LayoutError` naming the archive and member for a member out of place.

    Every member but junk (``__MACOSX``, hidden files) must be below ``<type>/``: the clip folders
    of the archive's group (:data:`~benchmark.data.layout.YEAR_FOLDERS`) holding only clips of the
    year's names (:func:`~benchmark.data.layout.parse_year_path`), a side file directly in
    ``<type>/`` (``attributes_XX.csv``), or anything in a folder the year ignores
    (``spec.ignored_folders``). Evaluation clips must be in the ground truth ``labels`` (their
    labelled name is parsed) and every clip the ground truth lists for the type must be there.
    """
    clips = []
    for entry in entries:
        parts = safe_member_path(zip_path, entry.name).parts
        if parts[0].startswith(_JUNK) or any(p.startswith(".") for p in parts):
            continue
        try:
            clip = _check_member(archive, parts, entry.is_dir, spec, labels, ground_truth)
        except LayoutError as error:
            raise LayoutError(f"{zip_path}: bad member {entry.name!r}: {error}") from None
        if clip is not None:
            clips.append(clip)
    if not clips:
        raise LayoutError(f"{zip_path}: no clips in '{archive.machine_type}/'")
    if archive.group == "eval":
        listed = {name for t, name in labels if t == archive.machine_type}
        absent = sorted(listed - set(clips))
        if absent:
            raise LayoutError(f"{zip_path}: {len(absent)} clip(s) of the ground truth "
                              f"{ground_truth} are not in the archive, e.g. {absent[0]}")


def _check_member(
    archive: YearArchive,
    parts: tuple[str, ...],
    is_dir: bool,
    spec: DatasetSpec,
    labels: Mapping[tuple[str, str], str],
    ground_truth: str,
) -> str | None:
    """The clip name of a good clip, None for a good folder or side file; else LayoutError."""
    machine_type = archive.machine_type
    folders = _group_folders(archive.group, spec.layout)
    expected = f"{machine_type}/<{'|'.join(folders)}>/"
    if parts[0] != machine_type:
        raise LayoutError(f"not in the folder '{machine_type}/'")
    if len(parts) == 1:
        if is_dir:
            return None
        raise LayoutError(f"a file where the folder '{machine_type}/' belongs")
    if parts[1] in spec.ignored_folders:
        return None
    if len(parts) == 2 and not is_dir and not parts[1].lower().endswith(".wav"):
        return None  # a side file such as attributes_00.csv
    if parts[1] not in folders or (len(parts) == 2 and not is_dir):
        raise LayoutError(f"not in {expected}")
    if len(parts) == 2:
        return None
    if is_dir or len(parts) != 3:
        raise LayoutError(f"expected only clips directly in {machine_type}/{parts[1]}/")
    name = labelled = parts[2]
    if archive.group == "eval":
        labelled = labels.get((machine_type, name))
        if labelled is None:
            raise LayoutError(f"{name} is not in the ground truth {ground_truth}")
    parse_year_path(PurePosixPath(machine_type, parts[1], labelled), spec.layout,
                    spec.machine_types)
    return name


# --------------------------------------------------------------------------- installing


def install_year_archive(
    archive: YearArchive,
    zip_path: Path,
    root: Path,
    spec: DatasetSpec,
    labels: Mapping[tuple[str, str], str],
    opts: ZenodoParams,
    ground_truth: str = "",
) -> Path:
    """Extract one archive into ``<root>/<group>/<type>`` atomically; returns that folder.

    Every member is checked first (:func:`check_year_members`): a bad one installs nothing. The
    archive is extracted into a hidden staging folder in ``root``; evaluation clips are renamed to
    their labelled names there, and only then is ``<type>/`` moved into place.
    """
    check_year_members(archive, zip_path, list_entries(zip_path), spec, labels, ground_truth)
    relabel = (partial(_label_clips, machine_type=archive.machine_type, spec=spec, labels=labels)
               if archive.group == "eval" else None)
    return extract_into_place(zip_path, root, archive.group, archive.machine_type, opts, relabel)


def _label_clips(
    folder: Path, machine_type: str, spec: DatasetSpec, labels: Mapping[tuple[str, str], str]
) -> None:
    """Rename the unlabelled clips of the test folders to their labelled names."""
    for test_folder in _group_folders("eval", spec.layout):
        for path in sorted((folder / test_folder).glob("*.wav")):
            if not path.name.startswith("."):
                path.rename(path.with_name(labels[machine_type, path.name]))


def _target(root: Path, group: str, machine_type: str) -> Path:
    return root / group / machine_type


def _claim_root(root: Path, params: DataParams) -> None:
    """Make ``root`` this source's: replace data of another source, refuse another year's, and
    remove the staging folders a killed run left."""
    check_replaceable(root, SOURCE)
    marker = read_marker(root) if root.exists() else None
    if marker is not None and marker.get("source") != SOURCE:
        log.info("removing the %s data in %s", marker.get("source"), root)
        shutil.rmtree(root)
    elif marker is not None:
        recorded = marker.get("params")
        dataset = recorded.get("dataset") if isinstance(recorded, dict) else None
        if dataset != params.dataset:
            raise FileExistsError(
                f"data.root {root} holds the Zenodo download of {dataset}; set another data.root "
                f"for {params.dataset}, or delete the folder yourself")
    root.mkdir(parents=True, exist_ok=True)
    for stale in [*root.glob(".*.staging"), *root.glob(".*.staging.extracting")]:
        log.info("removing %s, left by an interrupted run", stale)
        shutil.rmtree(stale, ignore_errors=True)
    write_marker(root, params, SOURCE)


def _check_space(archives: list[YearArchive], root: Path, opts: ZenodoParams) -> None:
    """Check, before downloading anything, that the archives and their contents fit on disk
    (sizes from the records API, less what earlier runs left: kept archives, ``.part`` files)."""
    folder = Path(opts.download_dir)
    left = []
    for archive in archives:
        done = folder / archive.name
        part = folder / (archive.name + ".part")
        have = done.stat().st_size if done.exists() else part.stat().st_size if part.exists() else 0
        left.append(max(archive.file.size - have, 0))
    check_archive_space(left, [a.file.size for a in archives], folder, root, opts.keep_archives,
                        "Zenodo")
    log.info("%d archive(s), about %.1f GB to download", len(archives), sum(left) / GB)


def _check_types_covered(params: DataParams, spec: DatasetSpec,
                         wanted: list[tuple[str, str]]) -> None:
    """A selected type no wanted archive holds (an evaluation type, both groups off) is an error."""
    bare = [t for t in params.selected_types() if not any(w[1] == t for w in wanted)]
    if bare:
        raise ConfigError(
            f"'data.machine_types' has {', '.join(bare)}: evaluation type(s) of {spec.name}, whose "
            "clips come with 'data.zenodo.additional_train' and 'data.zenodo.eval_test' (both off)")


def _install(
    params: DataParams,
    spec: DatasetSpec,
    pending: list[tuple[str, str]],
    root: Path,
    session: requests.Session,
) -> None:
    """List the records of the pending archives (each once), then fetch and install them."""
    opts = params.zenodo
    records = dict.fromkeys(spec.record(group) for group, _ in pending)
    listings = {r: record_files(session, opts.api_url, r, opts.timeout_s, retries=opts.retries,
                                backoff_s=opts.backoff_s) for r in records}
    installed = set(wanted_archives(params, spec)) - set(pending)
    archives = year_archives(params, spec, listings, skip=installed)
    labels: dict[tuple[str, str], str] = {}
    ground_truth = ""
    eval_types = [a.machine_type for a in archives if a.group == "eval"]
    if eval_types:
        labels, path = fetch_year_ground_truth(opts, spec, eval_types, session)
        ground_truth = f"{path} (data.zenodo.ground_truth_url)"
    _check_space(archives, root, opts)
    for archive in archives:
        log.info("%s: %s archive of %s (Zenodo record %d)", archive.name, archive.group,
                 archive.machine_type, archive.record)
        zip_path = download(archive.file.url, Path(opts.download_dir) / archive.name,
                            md5=archive.file.md5, retries=opts.retries, backoff_s=opts.backoff_s,
                            timeout_s=opts.timeout_s, session=session, size=archive.file.size)
        install_year_archive(archive, zip_path, root, spec, labels, opts, ground_truth)
        if not opts.keep_archives:
            zip_path.unlink()


def _index(root: Path, wanted: list[tuple[str, str]], params: DataParams,
           spec: DatasetSpec) -> pd.DataFrame:
    """Index the clips of the wanted archives only (a group an earlier run installed but these
    params do not ask for stays on disk, out of the index); every selected type needs clips."""
    paths = [p for group, machine_type in wanted
             for p in scan_clips(_target(root, group, machine_type), [machine_type],
                                 spec.ignored_folders)]
    index = index_from_paths(paths, root, params.dataset)
    missing = [t for t in params.selected_types() if t not in set(index["machine_type"])]
    if missing:
        raise LayoutError(f"{root}: no clips of machine type(s) {', '.join(missing)}")
    return index


def prepare_zenodo(params: DataParams, *, session: requests.Session | None = None) -> Path:
    """Download, verify and extract the archives of ``data.dataset`` (DCASE 2021-2025) into
    ``data.root``; returns its ``index.csv``.

    Archives already installed (``<root>/<group>/<type>`` present) are skipped, and when all are,
    nothing is requested from the network. Records are listed only for pending archives, the
    ground truth fetched only when an evaluation archive is pending.
    """
    spec = get_dataset(params.dataset)
    if spec.layout == "dcase2020":
        raise ConfigError("'data.source' zenodo serves DCASE 2021-2025; DCASE 2020 downloads "
                          "with 'data.source: dcase2020'")
    wanted = wanted_archives(params, spec)
    _check_types_covered(params, spec, wanted)
    root = Path(params.root).absolute()
    _claim_root(root, params)
    pending = [(g, t) for g, t in wanted if not _target(root, g, t).is_dir()]
    if pending:
        _install(params, spec, pending, root, session or new_session())
    index = _index(root, wanted, params, spec)
    log.info("indexed %d clips from %d archives of %s", len(index), len(wanted), spec.name)
    return write_index(index, root / "index.csv")


__all__ = [
    "DownloadError",
    "RemoteFile",
    "YearArchive",
    "check_year_ground_truth",
    "check_year_members",
    "fetch_year_ground_truth",
    "install_year_archive",
    "prepare_zenodo",
    "read_year_ground_truth",
    "record_files",
    "record_url",
    "wanted_archives",
    "year_archives",
]

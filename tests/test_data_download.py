"""The DCASE 2020 downloader against a local HTTP server: resume, retries, MD5, safe extraction."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
import time
import zipfile
from collections import namedtuple
from pathlib import Path

import pytest
from http_fixtures import (
    GROUND_TRUTH,
    FileServer,
    dcase_archives,
    publish,
    serving,
    wav_bytes,
    zip_bytes,
)

from benchmark.data import download as dl
from benchmark.data.archive import ArchiveError, DiskSpaceError, safe_extract
from benchmark.data.download import (
    DownloadError,
    download,
    fetch_ground_truth,
    new_session,
    prepare_dcase2020,
    read_ground_truth,
)
from benchmark.data.index import read_index
from benchmark.data.layout import LayoutError


@pytest.fixture
def server():
    with serving() as srv:
        yield srv


def _params(data_params, server: FileServer, **overrides):
    settings = {
        "base_url": server.url,
        "ground_truth_url": f"{server.url}/gt/eval_data_list.csv",
        **overrides,
    }
    return data_params(source="dcase2020", machine_types=["fan"], dcase2020=settings)


def _leftovers(*folders: Path) -> list[Path]:
    """Temporary files or folders left behind: hidden entries other than the marker, ``.part``."""
    found = [p for f in folders if f.exists() for p in f.rglob("*")]
    return [p for p in found if p.suffix == ".part" or (p.name[0] == "." and p.suffix != ".json")]


def test_download_extract_and_index(server, data_params):
    archives = {
        **dcase_archives("fan", "id_00", "id_01"),
        **dcase_archives("valve", "id_00", "id_01"),
    }
    md5s = publish(server, archives)
    params = data_params(
        source="dcase2020",
        machine_types=["valve", "fan"],
        dcase2020={
            "base_url": server.url,
            "ground_truth_url": f"{server.url}/gt/eval_data_list.csv",
            "additional_train": True,
            "eval_test": True,
        },
    )
    index = read_index(prepare_dcase2020(params, md5s=md5s))
    root = Path(params.root).absolute()
    assert len(index) == 2 * (4 + 1 + 2)
    rows = {Path(r.path).relative_to(root).as_posix(): r for r in index.itertuples()}
    assert rows["dev/fan/train/normal_id_00_00000000.wav"].class_index == 0
    assert rows["additional/fan/train/normal_id_01_00000000.wav"].class_index == 1
    assert rows["dev/valve/test/anomaly_id_00_00000000.wav"].class_index == 2
    eval_fan = rows["eval/fan/test/anomaly_id_01_00000001.wav"]
    assert (eval_fan.split, eval_fan.label, eval_fan.class_index) == ("eval", "anomaly", 1)
    assert rows["eval/valve/test/anomaly_id_01_00000000.wav"].split == "eval"
    assert index.groupby("split").size().to_dict() == {"eval": 4, "test": 4, "train": 6}
    assert all(Path(p).read_bytes() for p in index["path"])
    downloads = Path(params.dcase2020.download_dir)
    assert [p.name for p in downloads.iterdir()] == ["eval_data_list.csv"]  # archives deleted
    assert _leftovers(root, downloads) == []
    before = len(server.requests)
    prepare_dcase2020(params, md5s=md5s)  # everything present: nothing downloaded again
    assert len(server.requests) == before


def test_md5_mismatch_downloads_again(server, data_params):
    md5s = publish(server, dcase_archives("fan", "id_00", "id_01"))
    server.plans["/3678171/files/dev_data_fan.zip"] = ["corrupt"]
    params = _params(data_params, server)
    assert len(read_index(prepare_dcase2020(params, md5s=md5s))) == 4
    assert len(server.gets("dev_data_fan.zip")) == 2


def test_always_corrupt_fails_naming_file_and_hashes(server, data_params):
    md5s = publish(server, dcase_archives("fan", "id_00", "id_01"))
    server.plans["/3678171/files/dev_data_fan.zip"] = ["corrupt"] * 10
    params = _params(data_params, server, retries=2)
    with pytest.raises(DownloadError) as info:
        prepare_dcase2020(params, md5s=md5s)
    message = str(info.value)
    assert "dev_data_fan.zip" in message and md5s["dev_data_fan.zip"] in message
    assert "MD5 mismatch" in message and message.count("got ") == 1
    assert len(server.gets("dev_data_fan.zip")) == 3
    root, downloads = Path(params.root), Path(params.dcase2020.download_dir)
    assert not (root / "dev").exists() and list(downloads.iterdir()) == []
    assert _leftovers(root, downloads) == []


@pytest.mark.parametrize("server_honours_range", [True, False])
def test_resume_after_a_dropped_connection(server, data_params, server_honours_range):
    md5s = publish(server, dcase_archives("fan", "id_00", "id_01"))
    path = "/3678171/files/dev_data_fan.zip"
    server.plans[path] = ["drop"] if server_honours_range else ["drop", "ignore_range"]
    params = _params(data_params, server)
    index = read_index(prepare_dcase2020(params, md5s=md5s))
    assert len(index) == 4
    first, second = server.gets("dev_data_fan.zip")
    assert first is None and second.startswith("bytes=") and second.endswith("-")
    offset = int(second[6:-1])
    assert 0 < offset <= len(server.files[path]) // 2  # resumed where the .part stopped


def test_network_failure_keeps_part_for_resume(server, data_params, tmp_path):
    md5s = publish(server, dcase_archives("fan", "id_00", "id_01"))
    url_path = "/3678171/files/dev_data_fan.zip"
    server.plans[url_path] = ["drop"] * 2
    dest = tmp_path / "dl" / "dev_data_fan.zip"
    with pytest.raises(DownloadError, match="partial file kept"):
        download(
            server.url + url_path,
            dest,
            md5=md5s["dev_data_fan.zip"],
            retries=1,
            backoff_s=0,
            timeout_s=5,
        )
    assert dest.with_name("dev_data_fan.zip.part").exists() and not dest.exists()
    download(
        server.url + url_path,
        dest,
        md5=md5s["dev_data_fan.zip"],
        retries=0,
        backoff_s=0,
        timeout_s=5,
    )
    assert hashlib.md5(dest.read_bytes()).hexdigest() == md5s["dev_data_fan.zip"]
    assert not dest.with_name("dev_data_fan.zip.part").exists()


def test_missing_file_fails_without_retrying(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download(
            server.url + "/nope.zip",
            tmp_path / "nope.zip",
            md5=None,
            retries=3,
            backoff_s=0,
            timeout_s=5,
        )
    assert len(server.requests) == 1


def test_path_traversal_is_refused_and_nothing_extracted(server, data_params, tmp_path):
    evil = zip_bytes({"fan/train/normal_id_00_00000000.wav": wav_bytes(1), "../evil.txt": b"owned"})
    md5s = publish(server, {"dev_data_fan.zip": evil})
    params = _params(data_params, server)
    with pytest.raises(ArchiveError, match=r"\.\./evil\.txt"):
        prepare_dcase2020(params, md5s=md5s)
    root = Path(params.root)
    assert not list(tmp_path.rglob("evil.txt")) and not (root / "dev").exists()
    assert sorted(p.name for p in root.iterdir()) == [".asd-benchmark-data.json"]


def test_disk_space_is_checked_first(server, data_params, monkeypatch):
    md5s = publish(server, dcase_archives("fan", "id_00", "id_01"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 100, 100))
    params = _params(data_params, server)
    with pytest.raises(DiskSpaceError, match="not enough free disk space"):
        prepare_dcase2020(params, md5s=md5s)
    assert server.gets("dev_data_fan.zip") == []  # refused before downloading
    with pytest.raises(DiskSpaceError, match="downloading x.zip: need .*, 100 B free"):
        download(
            f"{server.url}/3678171/files/dev_data_fan.zip",
            Path(params.dcase2020.download_dir) / "x.zip",
            md5=None,
            retries=0,
            backoff_s=0,
            timeout_s=5,
        )
    assert list(Path(params.dcase2020.download_dir).iterdir()) == []


def test_archive_urls_and_md5_table():
    assert len(dl.ARCHIVE_MD5) == 18 and all(len(v) == 32 for v in dl.ARCHIVE_MD5.values())
    assert dl.ARCHIVE_MD5["dev_data_fan.zip"] == "649bdfc06263ae7a838963f43b6641e6"


def test_dcase_archives_follow_the_params(data_params):
    params = data_params(
        source="dcase2020", machine_types=["ToyCar"], dcase2020={"additional_train": True}
    )
    archives = dl.dcase_archives(params)
    assert [a.name for a in archives] == ["dev_data_ToyCar.zip", "eval_data_train_ToyCar.zip"]
    assert archives[0].url == "http://127.0.0.1:9/3678171/files/dev_data_ToyCar.zip?download=1"
    assert archives[1].md5 == "a5d4ccd498af70b04dd74b644b820006"


def test_ground_truth_formats(tmp_path):
    listing = tmp_path / "eval_data_list.csv"
    listing.write_text(GROUND_TRUTH)
    labels = read_ground_truth(listing)
    assert labels[("fan", "id_01_00000001.wav")] == "anomaly"
    assert labels[("valve", "id_01_00000001.wav")] == "normal"
    per_id = tmp_path / "ground_truth_pump_id_01_test.csv"
    per_id.write_text("id_01_00000000.wav,1\nid_01_00000001.wav,0\n")
    assert read_ground_truth(per_id, "pump") == {
        ("pump", "id_01_00000000.wav"): "anomaly",
        ("pump", "id_01_00000001.wav"): "normal",
    }
    per_id.write_text("fan\nid_01_00000000.wav,maybe\nid_01_00000001.wav,0\n")
    with pytest.raises(ValueError, match=":2: label must be 0 or 1"):
        read_ground_truth(per_id)


# --------------------------------------------------------------------------- hardening

DEV_FAN = "/3678171/files/dev_data_fan.zip"


def _get(server: FileServer, dest: Path, **kwargs) -> Path:
    """``download`` of ``dev_data_fan.zip`` with fast test settings."""
    settings = {"md5": None, "retries": 0, "backoff_s": 0, "timeout_s": 5, **kwargs}
    return download(server.url + DEV_FAN, dest, **settings)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("with_length", [True, False])
def test_disk_full_names_the_file_and_leaves_no_part(server, tmp_path, with_length):
    publish(server, dcase_archives("fan", "id_00", "id_01"))
    server.plans[DEV_FAN] = [] if with_length else ["no_length"]
    dest = tmp_path / "dl" / "dev_data_fan.zip"
    part = dest.with_name(dest.name + ".part")
    part.parent.mkdir()
    part.symlink_to("/dev/full")  # every write to the .part fails with ENOSPC, like a full disk
    with pytest.raises(DiskSpaceError, match=f"disk full while writing {part}") as info:
        _get(server, dest, retries=2)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert "bytes received" in str(info.value)
    assert ("needed" in str(info.value)) == with_length  # the size, where the server says it
    assert not os.path.lexists(part) and not dest.exists()
    assert len(server.gets("dev_data_fan.zip")) == 1  # a full disk is not retried


def test_free_space_is_checked_from_a_known_size(server, tmp_path, monkeypatch):
    publish(server, dcase_archives("fan", "id_00", "id_01"))
    server.plans[DEV_FAN] = ["no_length"]
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 100, 100))
    dest = tmp_path / "dl" / "dev_data_fan.zip"
    size = len(server.files[DEV_FAN])
    with pytest.raises(DiskSpaceError, match="downloading dev_data_fan.zip: need"):
        _get(server, dest, size=size)
    assert list(dest.parent.iterdir()) == []


def test_a_failure_that_cannot_resume_deletes_the_part(server, tmp_path):
    dest = tmp_path / "dl" / "gone.zip"
    part = dest.with_name("gone.zip.part")
    part.parent.mkdir()
    part.write_bytes(b"left by an earlier run")
    with pytest.raises(DownloadError, match="404"):
        download(server.url + "/gone.zip", dest, md5=None, retries=0, backoff_s=0, timeout_s=5)
    assert not part.exists()


def test_gzip_content_encoding_keeps_the_bytes_sent(server, tmp_path):
    archives = dcase_archives("fan", "id_00", "id_01")
    sent = gzip.compress(archives["dev_data_fan.zip"], mtime=0)  # what the server's file is
    server.files[DEV_FAN] = sent
    server.encodings[DEV_FAN] = "gzip"
    server.plans[DEV_FAN] = ["drop"]  # and resume, counting raw bytes
    dest = _get(server, tmp_path / "dev_data_fan.zip", md5=hashlib.md5(sent).hexdigest(), retries=1)
    assert dest.read_bytes() == sent
    first, second = server.gets("dev_data_fan.zip")
    assert first is None and second == f"bytes={len(sent) // 2}-"


def test_a_trickling_server_fails_in_bounded_time(server, tmp_path):
    publish(server, dcase_archives("fan", "id_00", "id_01"))
    server.plans[DEV_FAN] = ["trickle"]
    start = time.monotonic()
    with pytest.raises(DownloadError, match="stalled") as info:
        _get(server, tmp_path / "dev_data_fan.zip", timeout_s=0.5)
    assert time.monotonic() - start < 2.5
    assert server.url + DEV_FAN in str(info.value)
    assert "partial file kept" in str(info.value)  # a stall is resumed like a dropped connection


def _fetch_labels(data_params, server: FileServer, machine_types: list[str]):
    params = _params(data_params, server).dcase2020
    return fetch_ground_truth(params, machine_types, new_session())


def test_an_html_ground_truth_is_refused_and_not_cached(server, data_params):
    publish(server, {})
    server.plans["/gt/eval_data_list.csv"] = ["html"] * 3
    with pytest.raises(DownloadError, match="HTML page") as info:
        _fetch_labels(data_params, server, ["fan"])
    assert f"{server.url}/gt/eval_data_list.csv" in str(info.value)
    downloads = Path(data_params(source="dcase2020").dcase2020.download_dir)
    assert "eval_data_list.csv" in str(info.value) and list(downloads.iterdir()) == []
    labels = _fetch_labels(data_params, server, ["fan"])  # the server is fixed: fetched again
    assert labels[("fan", "id_01_00000001.wav")] == "anomaly"


@pytest.mark.parametrize(
    "cached",
    [
        GROUND_TRUTH[:100],  # cut inside a row
        GROUND_TRUTH.split("valve")[0],  # cut before a machine type
        "",
        "<html><body>Too many requests</body></html>\n",
        "pumps\nid_01_00000000.wav,0\n",  # unknown machine type
        "fan\nid_01_00000000.wav,normal_id_01_00000000.wav,0\nid_01_00000001.wav,1\n",
        "fan\nid_01_0000.wav,normal_id_01_0000.wav,0\n",
        "fan\nid_01_00000000.wav,0\nid_01_00000000.wav,1\n",
        "\x00\x01PK\x03\x04",
    ],
    ids=[
        "cut_in_row",
        "cut_before_type",
        "empty",
        "html",
        "unknown_type",
        "column_count",
        "bad_name",
        "contradiction",
        "binary",
    ],
)
def test_a_bad_cached_ground_truth_is_downloaded_again(server, data_params, cached):
    publish(server, {})
    downloads = Path(data_params(source="dcase2020").dcase2020.download_dir)
    downloads.mkdir(parents=True)
    (downloads / "eval_data_list.csv").write_text(cached)
    labels = _fetch_labels(data_params, server, ["fan", "valve"])
    assert len(labels) == 4 and len(server.gets("eval_data_list.csv")) == 1
    assert (downloads / "eval_data_list.csv").read_text() == GROUND_TRUTH


def test_a_good_cached_ground_truth_is_reused(server, data_params):
    publish(server, {})
    assert len(_fetch_labels(data_params, server, ["fan", "valve"])) == 4
    assert len(_fetch_labels(data_params, server, ["fan", "valve"])) == 4
    assert len(server.gets("eval_data_list.csv")) == 1


@pytest.mark.parametrize(
    ("archive", "member"),
    [
        ("dev_data_fan.zip", "fan/train/normal_id_0_00000001.wav"),
        ("dev_data_fan.zip", "fan/train/broken_id_00_00000001.wav"),
        ("dev_data_fan.zip", "fan/valid/normal_id_00_00000001.wav"),
        ("dev_data_fan.zip", "fan/train/more/normal_id_00_00000001.wav"),
        ("dev_data_fan.zip", "fan/readme.txt"),
        ("dev_data_fan.zip", "pump/train/normal_id_00_00000001.wav"),
        ("eval_data_train_fan.zip", "fan/test/normal_id_01_00000001.wav"),
    ],
)
def test_bad_clip_names_install_nothing(server, data_params, archive, member):
    archives = dcase_archives("fan", "id_00", "id_01")
    good = archives[archive]
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    archives[archive] = zip_bytes({**members, member: wav_bytes(9)})
    md5s = publish(server, archives)
    params = _params(data_params, server, additional_train=True)
    with pytest.raises(LayoutError, match="bad member") as info:
        prepare_dcase2020(params, md5s=md5s)
    assert archive in str(info.value) and repr(member) in str(info.value)
    root, downloads = Path(params.root), Path(params.dcase2020.download_dir)
    group = "dev" if archive.startswith("dev") else "additional"
    assert not (root / group).exists() and _leftovers(root, downloads) == []
    junk = {"__MACOSX/fan/._x.wav": b"", "fan/train/.DS_Store": b""}  # skipped, as by the index
    archives[archive] = zip_bytes({**members, **junk})
    md5s = publish(server, archives)  # fixed on the server: the rerun installs it
    assert len(read_index(prepare_dcase2020(params, md5s=md5s))) == 5


# --------------------------------------------------------------------------- safe extraction


def _extract(archive: Path, tmp_path: Path, **limits):
    limits = {"max_bytes": 10**8, "max_ratio": 50.0, **limits}
    return safe_extract(archive, tmp_path / "out", **limits)


def _assert_nothing_extracted(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


@pytest.mark.parametrize("name", ["/etc/evil", "a/../../evil", "C:/evil", "..\\evil"])
def test_zip_unsafe_names_are_refused(tmp_path, name):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes({"fan/ok.txt": b"ok", name: b"bad"}))
    with pytest.raises(ArchiveError, match="refusing"):
        _extract(archive, tmp_path)
    _assert_nothing_extracted(tmp_path)


def test_zip_symlink_is_refused(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("fan/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        _extract(archive, tmp_path)
    _assert_nothing_extracted(tmp_path)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links_are_refused(tmp_path, kind):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tf:
        data = b"ok"
        member = tarfile.TarInfo("fan/ok.txt")
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
        link = tarfile.TarInfo("fan/link")
        link.type, link.linkname = kind, "../../etc/passwd"
        tf.addfile(link)
    with pytest.raises(ArchiveError, match="link entry"):
        _extract(archive, tmp_path)
    _assert_nothing_extracted(tmp_path)


def test_tar_and_zip_extract(tmp_path):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        member = tarfile.TarInfo("fan/train/x.txt")
        member.size = 5
        tf.addfile(member, io.BytesIO(b"hello"))
    assert (_extract(archive, tmp_path) / "fan/train/x.txt").read_bytes() == b"hello"


def test_implausible_sizes_are_refused(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bytes({"fan/zeros.bin": bytes(4 * 1024**2)}))
    with pytest.raises(ArchiveError, match="compression ratio"):
        _extract(archive, tmp_path)
    with pytest.raises(ArchiveError, match="more than the limit"):
        _extract(archive, tmp_path, max_bytes=1024**2, max_ratio=10**6)
    _assert_nothing_extracted(tmp_path)
    assert (
        _extract(archive, tmp_path, max_ratio=10**6) / "fan/zeros.bin"
    ).stat().st_size == 4 * 1024**2


def test_corrupt_archive_is_an_archive_error(tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(ArchiveError, match="broken.zip"):
        _extract(archive, tmp_path)
    _assert_nothing_extracted(tmp_path)

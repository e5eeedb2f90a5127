"""The DCASE 2021-2025 downloader against a local Zenodo-like server (records API + files)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlparse

import pytest
from http_fixtures import FileServer, wav_bytes, zip_bytes

from benchmark.data import zenodo
from benchmark.data.archive import ArchiveError
from benchmark.data.datasets import get_dataset
from benchmark.data.download import DownloadError, new_session
from benchmark.data.index import read_index
from benchmark.data.layout import LayoutError
from benchmark.data.zenodo import prepare_zenodo, read_year_ground_truth, record_files
from benchmark.prepare import prepare

Y2023 = get_dataset("dcase2023").records  # dev 7882613, additional 7830345, eval 7860847
Y2021 = get_dataset("dcase2021").records
GT_PATH = "/gt/eval_data_list_2023.csv"


class ZenodoServer(FileServer):
    """A :class:`FileServer` that also answers a plan step ``status:<code>`` with that status."""

    def answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = urlparse(handler.path).path
        plan = self.plans.get(path) or []
        if plan and plan[0].startswith("status:") and not head:
            self.requests.append(("GET", path, handler.headers.get("Range")))
            handler.send_error(int(plan.pop(0).split(":")[1]))
            return
        super().answer(handler, head)


@pytest.fixture
def server():
    srv = ZenodoServer()
    try:
        yield srv
    finally:
        srv.close()


def publish_record(server: FileServer, record: int, files: dict[str, bytes],
                   md5s: dict[str, str] | None = None) -> None:
    """Serve ``files`` and the record's JSON at ``/api/records/<record>`` as Zenodo does."""
    entries = []
    for key, data in files.items():
        path = f"/files/{record}/{key}"
        server.files[path] = data
        md5 = (md5s or {}).get(key) or hashlib.md5(data).hexdigest()
        entries.append({"id": f"id-{key}", "key": key, "size": len(data),
                        "checksum": f"md5:{md5}", "links": {"self": server.url + path}})
    body = {"id": record, "metadata": {"title": "DCASE"}, "files": entries}
    server.files[f"/api/records/{record}"] = json.dumps(body).encode()


def wav(seed: int, samples: int = 1600) -> bytes:
    return wav_bytes(seed, samples)


def archives_2023() -> dict[str, bytes]:
    """dev_fan.zip (train + test, one 10 s clip: several network chunks), bandsaw's
    additional-training and (unlabelled) evaluation test archives."""
    return {
        "dev_fan.zip": zip_bytes({
            "fan/attributes_00.csv": b"file_name,d1p,d1v\n",
            "fan/train/section_00_source_train_normal_0000_vel_6.wav": wav(1, 160000),
            "fan/train/section_00_source_train_normal_0001_vel_8.wav": wav(2),
            "fan/train/section_00_target_train_normal_0000_vel_10.wav": wav(3),
            "fan/test/section_00_source_test_normal_0000_vel_6.wav": wav(4),
            "fan/test/section_00_source_test_anomaly_0000_vel_6.wav": wav(5),
            "fan/test/section_00_target_test_normal_0000_vel_10.wav": wav(6),
            "fan/test/section_00_target_test_anomaly_0000_vel_10.wav": wav(7),
            "__MACOSX/fan/._x.wav": b"",
        }),
        "eval_data_bandsaw_train.zip": zip_bytes({
            "bandsaw/attributes_00.csv": b"file_name,d1p,d1v\n",
            "bandsaw/train/section_00_source_train_normal_0000_vel_15.wav": wav(8),
            "bandsaw/train/section_00_target_train_normal_0000_vel_12.wav": wav(9),
        }),
        "eval_data_bandsaw_test.zip": zip_bytes(
            {f"bandsaw/test/section_00_{n:04d}.wav": wav(10 + n) for n in range(4)}),
    }


GT_2023 = [
    "bandsaw",
    "section_00_0000.wav,section_00_target_test_normal_0000_vel_12.wav",
    "section_00_0001.wav,section_00_target_test_anomaly_0001_vel_12.wav",
    "section_00_0002.wav,section_00_source_test_anomaly_0002_vel_15.wav",
    "section_00_0003.wav,section_00_source_test_normal_0003_vel_15.wav",
    "grinder",  # a type not selected: read, not needed
    "section_00_0000.wav,section_00_source_test_normal_0000_grindstone_2_plate_2.wav",
]


def publish_2023(server: FileServer, archives: dict[str, bytes] | None = None,
                 ground_truth: list[str] = GT_2023) -> dict[str, bytes]:
    archives = archives or archives_2023()
    publish_record(server, Y2023.dev, {"dev_bearing.zip": b"x" * 10,
                                       "dev_fan.zip": archives["dev_fan.zip"]})
    publish_record(server, Y2023.additional,
                   {"eval_data_bandsaw_train.zip": archives["eval_data_bandsaw_train.zip"]})
    publish_record(server, Y2023.eval,
                   {"eval_data_bandsaw_test.zip": archives["eval_data_bandsaw_test.zip"]})
    server.files[GT_PATH] = ("\n".join(ground_truth) + "\n").encode()
    return archives


def params_2023(data_params, server: FileServer, **zenodo_overrides):
    settings = {"api_url": f"{server.url}/api", "ground_truth_url": server.url + GT_PATH,
                "additional_train": True, "eval_test": True, **zenodo_overrides}
    return data_params(source="zenodo", dataset="dcase2023", machine_types=["fan", "bandsaw"],
                       zenodo=settings)


def leftovers(*folders: Path) -> list[Path]:
    """Temporary files or folders left behind: hidden entries other than the marker, ``.part``."""
    found = [p for f in folders if f.exists() for p in f.rglob("*")]
    return [p for p in found if p.suffix == ".part" or (p.name[0] == "." and p.suffix != ".json")]


def installed(params) -> list[str]:
    root = Path(params.root)
    return sorted(f"{g.name}/{t.name}" for g in root.iterdir() if g.is_dir() for t in g.iterdir())


# --------------------------------------------------------------------------- happy paths


def test_download_rename_and_index_2023(server, data_params):
    publish_2023(server)
    params = params_2023(data_params, server)
    index = read_index(prepare_zenodo(params))
    root = Path(params.root).absolute()
    rows = {Path(r.path).relative_to(root).as_posix(): r for r in index.itertuples()}
    assert index.groupby("split").size().to_dict() == {"eval": 4, "test": 4, "train": 5}
    assert set(index["section"]) == {"section_00"} and set(index["machine_id"]) == {"section_00"}
    train = rows["dev/fan/train/section_00_target_train_normal_0000_vel_10.wav"]
    assert (train.split, train.domain, train.attributes, train.label) == (
        "train", "target", "vel_10", "normal")
    test = rows["dev/fan/test/section_00_source_test_anomaly_0000_vel_6.wav"]
    assert (test.split, test.domain, test.label) == ("test", "source", "anomaly")
    renamed = rows["eval/bandsaw/test/section_00_target_test_anomaly_0001_vel_12.wav"]
    assert (renamed.split, renamed.label, renamed.domain, renamed.attributes) == (
        "eval", "anomaly", "target", "vel_12")
    labels = {p.split("/")[-1]: r.label for p, r in rows.items() if r.split == "eval"}
    assert labels == {"section_00_target_test_normal_0000_vel_12.wav": "normal",
                      "section_00_target_test_anomaly_0001_vel_12.wav": "anomaly",
                      "section_00_source_test_anomaly_0002_vel_15.wav": "anomaly",
                      "section_00_source_test_normal_0003_vel_15.wav": "normal"}
    assert not list((root / "eval").rglob("section_00_000?.wav"))  # no unlabelled name left
    assert (root / "dev/fan/attributes_00.csv").is_file()
    assert set(index["class_index"]) >= {0, 1, 2} and (index["class_index"] >= 0).all()
    downloads = Path(params.zenodo.download_dir)
    assert [p.name for p in downloads.iterdir()] == ["eval_data_list_2023.csv"]  # archives gone
    assert leftovers(root, downloads) == []
    for record in (Y2023.dev, Y2023.additional, Y2023.eval):  # each record listed once
        assert len(server.gets(f"/api/records/{record}")) == 1
    assert server.gets("dev_bearing.zip") == []
    before = len(server.requests)
    (root / ".eval_bandsaw.staging/bandsaw").mkdir(parents=True)  # as a killed run leaves it
    assert read_index(prepare_zenodo(params)).equals(index)  # rerun: nothing requested
    assert len(server.requests) == before
    assert leftovers(root) == []


def test_download_rename_and_index_2021(server, data_params):
    publish_record(server, Y2021.dev, {"dev_data_fan.zip": zip_bytes({
        "fan/train/section_00_source_train_normal_0000.wav": wav(1),
        "fan/train/section_00_target_train_normal_0000.wav": wav(2),
        "fan/source_test/section_00_source_test_normal_0000.wav": wav(3),
        "fan/source_test/section_00_source_test_anomaly_0000.wav": wav(4),
        "fan/target_test/section_00_target_test_normal_0000.wav": wav(5),
        "fan/target_test/section_00_target_test_anomaly_0000.wav": wav(6),
    })})
    publish_record(server, Y2021.additional, {"eval_data_fan_train.zip": zip_bytes({
        "fan/train/section_03_source_train_normal_0000.wav": wav(7)})})
    publish_record(server, Y2021.eval, {"eval_data_fan_test.zip": zip_bytes({
        "fan/source_test/section_03_source_test_0000.wav": wav(8),
        "fan/source_test/section_03_source_test_0001.wav": wav(9),
        "fan/target_test/section_03_target_test_0000.wav": wav(10),
    })})
    server.files["/gt/eval_data_list_2021.csv"] = (
        b"fan\n"
        b"section_03_source_test_0000.wav,section_03_source_test_anomaly_0000.wav\n"
        b"section_03_source_test_0001.wav,section_03_source_test_normal_0001.wav\n"
        b"section_03_target_test_0000.wav,section_03_target_test_anomaly_0000.wav,1\n"
    )
    truth = f"{server.url}/gt/eval_data_list_2021.csv"
    params = data_params(source="zenodo", dataset="dcase2021", machine_types=["fan"], zenodo={
        "api_url": f"{server.url}/api", "ground_truth_url": truth,
        "additional_train": True, "eval_test": True})
    index = read_index(prepare(params))  # the prepare stage dispatches data.source: zenodo
    root = Path(params.root).absolute()
    rows = {Path(r.path).relative_to(root).as_posix(): r for r in index.itertuples()}
    assert index.groupby("split").size().to_dict() == {"eval": 3, "test": 4, "train": 3}
    assert set(index["section"]) == {"section_00", "section_03"}
    clip = rows["eval/fan/target_test/section_03_target_test_anomaly_0000.wav"]
    assert (clip.split, clip.label, clip.domain, clip.section) == (
        "eval", "anomaly", "target", "section_03")
    assert rows["dev/fan/target_test/section_00_target_test_normal_0000.wav"].split == "test"
    assert rows["eval/fan/source_test/section_03_source_test_normal_0001.wav"].label == "normal"
    other_year = data_params(source="zenodo", dataset="dcase2023", machine_types=["fan"])
    with pytest.raises(FileExistsError, match="holds the Zenodo download of dcase2021"):
        prepare_zenodo(other_year)  # another year's data is never mixed in or deleted


def test_no_checksum_is_typed_by_hand(server, data_params):
    """The MD5s come from the records API: the module and the registry hold none, a record's
    MD5 is that of the bytes served, and it is checked (a corrupt first copy is fetched again)."""
    for module in (zenodo.__file__, Path(zenodo.__file__).with_name("datasets.py")):
        assert re.findall(r"\b[0-9a-fA-F]{32}\b", Path(module).read_text()) == []
    archives = publish_2023(server)
    files = record_files(new_session(), f"{server.url}/api", Y2023.dev, 5)
    assert files["dev_fan.zip"].md5 == hashlib.md5(archives["dev_fan.zip"]).hexdigest()
    assert files["dev_fan.zip"].size == len(archives["dev_fan.zip"])
    assert files["dev_fan.zip"].url == f"{server.url}/files/{Y2023.dev}/dev_fan.zip"
    server.plans[f"/files/{Y2023.dev}/dev_fan.zip"] = ["corrupt"]
    params = data_params(source="zenodo", dataset="dcase2023", machine_types=["fan"],
                         zenodo={"api_url": f"{server.url}/api"})
    assert len(read_index(prepare_zenodo(params))) == 7
    assert len(server.gets("dev_fan.zip")) == 2


# --------------------------------------------------------------------------- failures


def test_bad_md5_fails_after_retries_and_installs_nothing(server, data_params):
    archives = publish_2023(server)
    server.plans[f"/files/{Y2023.dev}/dev_fan.zip"] = ["corrupt"] * 10
    params = params_2023(data_params, server, retries=2)
    with pytest.raises(DownloadError, match="MD5 mismatch") as info:
        prepare_zenodo(params)
    assert "dev_fan.zip" in str(info.value)
    assert hashlib.md5(archives["dev_fan.zip"]).hexdigest() in str(info.value)
    assert len(server.gets("dev_fan.zip")) == 3
    root, downloads = Path(params.root), Path(params.zenodo.download_dir)
    assert installed(params) == [] and not (root / "index.csv").exists()
    assert leftovers(root, downloads) == [] and not list(downloads.glob("*.zip*"))


def test_a_dropped_connection_resumes_with_range(server, data_params):
    archives = publish_2023(server)
    server.plans[f"/files/{Y2023.dev}/dev_fan.zip"] = ["drop"]
    params = params_2023(data_params, server)
    assert len(read_index(prepare_zenodo(params))) == 13
    first, second = server.gets("dev_fan.zip")
    assert first is None and second.startswith("bytes=") and second.endswith("-")
    assert 0 < int(second[6:-1]) <= len(archives["dev_fan.zip"]) // 2


def test_html_in_place_of_json_names_the_record(server, data_params):
    publish_2023(server)
    listing = f"/api/records/{Y2023.dev}"
    server.plans[listing] = ["html"] * 3
    params = params_2023(data_params, server)
    with pytest.raises(DownloadError, match="HTML page") as info:
        prepare_zenodo(params)
    assert str(Y2023.dev) in str(info.value) and server.url + listing in str(info.value)
    assert len(server.gets(listing)) == 3  # retried (retries: 2), then given up
    assert installed(params) == [] and server.gets(".zip") == []
    assert len(read_index(prepare_zenodo(params))) == 13  # the server is fixed: it works


def test_a_wrong_record_number_is_a_404_naming_it(server, data_params):
    publish_2023(server)
    del server.files[f"/api/records/{Y2023.eval}"]
    params = params_2023(data_params, server)
    with pytest.raises(DownloadError, match=f"no Zenodo record {Y2023.eval}: is the record "
                                            "number right"):
        prepare_zenodo(params)
    assert len(server.gets(f"/api/records/{Y2023.eval}")) == 1  # a 404 is not retried
    assert installed(params) == [] and server.gets(".zip") == []  # listed before downloading


def test_an_archive_missing_from_its_record_names_both(server, data_params):
    archives = publish_2023(server)
    publish_record(server, Y2023.dev, {"dev_bearing.zip": archives["dev_fan.zip"]})
    params = params_2023(data_params, server)
    with pytest.raises(DownloadError) as info:
        prepare_zenodo(params)
    message = str(info.value)
    assert f"Zenodo record {Y2023.dev}" in message and "has no file dev_fan.zip" in message
    assert "it has: dev_bearing.zip" in message
    assert installed(params) == [] and server.gets(".zip") == []


@pytest.mark.parametrize("change", ["missing_row", "extra_row"])
def test_ground_truth_and_archive_must_match(server, data_params, change):
    truth = [r for r in GT_2023 if not r.startswith("section_00_0003")] if change == "missing_row" \
        else [*GT_2023[:5], "section_00_0004.wav,section_00_source_test_normal_0004_vel_15.wav"]
    publish_2023(server, ground_truth=truth)
    params = params_2023(data_params, server)
    with pytest.raises(LayoutError) as info:
        prepare_zenodo(params)
    message = str(info.value)
    clip = "section_00_0003.wav" if change == "missing_row" else "section_00_0004.wav"
    assert clip in message and "eval_data_bandsaw_test.zip" in message
    assert "eval_data_list_2023.csv" in message
    root = Path(params.root)
    assert installed(params) == ["additional/bandsaw", "dev/fan"]  # the eval folder: not at all
    assert leftovers(root, Path(params.zenodo.download_dir)) == []
    publish_2023(server)  # the list is corrected upstream: the rerun fetches it afresh
    assert len(read_index(prepare_zenodo(params))) == 13
    assert len(server.gets(f"/api/records/{Y2023.dev}")) == 1  # installed before: not listed


def test_an_unsafe_archive_installs_nothing(server, data_params, tmp_path):
    archives = archives_2023()
    archives["dev_fan.zip"] = zip_bytes({
        "fan/train/section_00_source_train_normal_0000_vel_6.wav": wav(1),
        "../evil.txt": b"owned"})
    publish_2023(server, archives)
    params = params_2023(data_params, server)
    with pytest.raises(ArchiveError, match=r"\.\./evil\.txt"):
        prepare_zenodo(params)
    assert not list(tmp_path.rglob("evil.txt")) and installed(params) == []


@pytest.mark.parametrize("member", [
    "fan/source_test/section_00_source_test_normal_0001_vel_6.wav",  # a 2021 folder in 2023
    "fan/train/section_00_source_test_normal_0001_vel_6.wav",  # a test clip in train/
    "fan/test/section_00_0001.wav",  # unlabelled in a dev archive
    "fan/train/extra/section_00_source_train_normal_0009_vel_6.wav",
    "fan/section_00_source_train_normal_0009_vel_6.wav",
    "bearing/train/section_00_source_train_normal_0009_vel_6.wav",
    "fan/train/notes.txt",
])
def test_a_misplaced_member_installs_nothing(server, data_params, member):
    archives = archives_2023()
    with zipfile.ZipFile(io.BytesIO(archives["dev_fan.zip"])) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    archives["dev_fan.zip"] = zip_bytes({**members, member: wav(99)})
    publish_2023(server, archives)
    params = params_2023(data_params, server)
    with pytest.raises(LayoutError, match="bad member") as info:
        prepare_zenodo(params)
    assert "dev_fan.zip" in str(info.value) and repr(member) in str(info.value)
    assert installed(params) == []


def test_an_evaluation_type_needs_a_group(data_params):
    params = data_params(source="zenodo", dataset="dcase2023", machine_types=["bandsaw"])
    with pytest.raises(ValueError, match="bandsaw: evaluation type"):
        prepare_zenodo(params)


# --------------------------------------------------------------------------- records API


def _entry(**change) -> dict:
    entry = {"key": "dev_fan.zip", "size": 3, "checksum": "md5:" + "ab" * 16,
             "links": {"self": "http://127.0.0.1:9/x"}}
    return {k: v for k, v in {**entry, **change}.items() if v is not None}


@pytest.mark.parametrize(("body", "problem"), [
    (b"{oops", "not JSON"),
    (json.dumps({"id": 1}).encode(), "no files list"),
    (json.dumps({"files": [_entry(key=None)]}).encode(), "no file name"),
    (json.dumps({"files": [_entry(size="3")]}).encode(), "no size"),
    (json.dumps({"files": [_entry(checksum=None)]}).encode(), "no MD5 checksum"),
    (json.dumps({"files": [_entry(checksum="sha256:" + "ab" * 32)]}).encode(), "no MD5 checksum"),
    (json.dumps({"files": [_entry(checksum="md5:xyz")]}).encode(), "no MD5 checksum"),
    (json.dumps({"files": [_entry(), _entry()]}).encode(), "twice"),
])
def test_a_malformed_record_names_record_and_url(server, body, problem):
    server.files["/api/records/42"] = body
    with pytest.raises(DownloadError, match=problem) as info:
        record_files(new_session(), f"{server.url}/api", 42, 5)
    assert "Zenodo record 42" in str(info.value)
    assert f"{server.url}/api/records/42" in str(info.value)


def test_record_links_and_transient_errors(server):
    server.files["/api/records/42"] = json.dumps({"files": {"entries": {"a.zip": {
        "key": "a.zip", "size": 3, "checksum": "md5:" + "AB" * 16,
        "links": {"self": "http://h/meta", "content": "http://h/content"}}, "b.zip": {
        "key": "b zip", "size": 0, "checksum": "md5:" + "cd" * 16}}}}).encode()
    server.plans["/api/records/42"] = ["status:503", "drop"]
    files = record_files(new_session(), f"{server.url}/api/", 42, 5, retries=2, backoff_s=0)
    assert files["a.zip"].url == "http://h/content" and files["a.zip"].md5 == "ab" * 16
    assert files["b zip"].url == f"{server.url}/api/records/42/files/b%20zip/content"
    assert len(server.gets("/api/records/42")) == 3
    server.plans["/api/records/42"] = ["status:403"]
    with pytest.raises(DownloadError, match="HTTP 403"):
        record_files(new_session(), f"{server.url}/api", 42, 5, retries=2)
    assert len(server.gets("/api/records/42")) == 4  # not retried


# --------------------------------------------------------------------------- ground truth


def test_ground_truth_formats(tmp_path):
    listing = tmp_path / "eval_data_list_2022.csv"
    listing.write_text("fan\nsection_03_0000.wav,section_03_source_test_anomaly_0000_vel_6.wav,1\n"
                       "section_03_0001.wav,section_03_target_test_normal_0001.wav\n"
                       "valve\nsection_03_0000.wav,section_03_source_test_normal_0000.wav,0\n")
    assert read_year_ground_truth(listing, ("fan", "valve")) == {
        ("fan", "section_03_0000.wav"): "section_03_source_test_anomaly_0000_vel_6.wav",
        ("fan", "section_03_0001.wav"): "section_03_target_test_normal_0001.wav",
        ("valve", "section_03_0000.wav"): "section_03_source_test_normal_0000.wav",
    }
    listing.write_text("fan\nsection_03_target_test_0000.wav,section_03_target_test_normal_0000.wav\n")
    assert read_year_ground_truth(listing, ("fan",), layout="dcase2021") == {
        ("fan", "section_03_target_test_0000.wav"): "section_03_target_test_normal_0000.wav"}


@pytest.mark.parametrize(("rows", "problem"), [
    ("<!DOCTYPE html><html>busy</html>", "HTML page"),
    ("", "no labels found"),
    ("pumps\nsection_00_0000.wav,section_00_source_test_normal_0000.wav", ":1: unknown machine"),
    ("section_00_0000.wav,section_00_source_test_normal_0000.wav", ":1: no machine type line"),
    ("fan\nsection_00_0000.wav", ":2: 1 column"),
    ("fan\nsection_0_0000.wav,section_00_source_test_normal_0000.wav", ":2: unlabelled name"),
    ("fan\nsection_00_0000.wav,section_00_source_test_broken_0000.wav", ":2: labelled name"),
    ("fan\nsection_00_0000.wav,section_00_source_train_normal_0000.wav", ":2: labelled name"),
    ("fan\nsection_00_0000.wav,section_01_source_test_normal_0000.wav", ":2: .* differ"),
    ("fan\nsection_00_0000.wav,section_00_source_test_normal_0001.wav", ":2: .* differ"),
    ("fan\nsection_00_source_test_0000.wav,section_00_target_test_normal_0000.wav", "differ"),
    ("fan\nsection_00_0000.wav,section_00_source_test_normal_0000.wav,1", ":2: .* contradicts"),
    ("fan\nsection_00_0000.wav,section_00_source_test_normal_0000.wav,yes", ":2: .* 0 or 1"),
    ("fan\nsection_00_0000.wav,section_00_source_test_normal_0000.wav\n"
     "section_00_0000.wav,section_00_source_test_anomaly_0000.wav", ":3: .* listed twice"),
    ("fan\nsection_00_0000.wav,section_00_source_test_normal_0000.wav\n"
     "section_00_source_test_0000.wav,section_00_source_test_normal_0000.wav", ":3: .* line 2"),
])
def test_a_bad_ground_truth_names_file_and_line(tmp_path, rows, problem):
    listing = tmp_path / "eval_data_list_2023.csv"
    listing.write_text(rows + "\n")
    with pytest.raises(ValueError, match=problem) as info:
        read_year_ground_truth(listing, ("fan",))
    assert str(listing) in str(info.value)


def test_a_bad_ground_truth_download_is_retried_then_refused(server, data_params):
    publish_2023(server)
    server.plans[GT_PATH] = ["html"] * 3
    params = params_2023(data_params, server)
    with pytest.raises(DownloadError, match="HTML page") as info:
        prepare_zenodo(params)
    assert server.url + GT_PATH in str(info.value) and len(server.gets(GT_PATH)) == 3
    assert server.gets(".zip") == []  # the labels are checked before any archive is fetched

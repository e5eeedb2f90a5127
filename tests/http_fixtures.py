"""A local HTTP file server and fake DCASE 2020 archives for the download tests.

:class:`FileServer` serves bytes on 127.0.0.1 with scripted failures (drops, corruption, ...);
:func:`dcase_archives` makes small dev / additional-training / evaluation archives in the DCASE
layout and :func:`publish` serves them at Zenodo-like paths with the evaluation ground truth
(:data:`GROUND_TRUTH`). Used by ``test_data_download.py`` and ``test_eval_split.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import numpy as np
import soundfile as sf

from benchmark.data import download as dl

RECORDS = {"dev": "3678171", "additional": "3727685", "eval": "3841772"}


class FileServer:
    """Serves ``files[url path]``; ``plans[url path]`` lists how to answer the next GETs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.plans: dict[str, list[str]] = {}
        self.encodings: dict[str, str] = {}  # url path -> Content-Encoding header sent
        self.requests: list[tuple[str, str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                server.answer(self, head=True)

            def do_GET(self) -> None:
                server.answer(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = urlparse(handler.path).path
        rng = handler.headers.get("Range")
        self.requests.append(("HEAD" if head else "GET", path, rng))
        if path not in self.files:
            handler.send_error(404)
            return
        body = self.files[path]
        plan = self.plans.get(path) or []
        action = plan.pop(0) if plan and not head else "ok"
        if action == "corrupt":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if action == "html":  # an error page sent with status 200
            body = b"<!DOCTYPE html>\n<html><body>Service unavailable, a,b,1</body></html>\n"
        start = 0
        if rng and action != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
        handler.send_response(206 if start else 200)
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if action != "no_length":  # without it the body ends when the connection closes
            handler.send_header("Content-Length", str(len(body) - start))
        if path in self.encodings:
            handler.send_header("Content-Encoding", self.encodings[path])
        handler.end_headers()
        if head:
            return
        payload = body[start:]
        if action == "drop":  # half the body, then the connection closes
            payload = payload[: len(payload) // 2]
            handler.close_connection = True
        if action == "trickle":  # 100 bytes every 0.1 s (1 KB/s) for at most 3 s, then close
            handler.close_connection = True
            self._trickle(handler, payload[: 30 * 100])
            return
        handler.wfile.write(payload)

    @staticmethod
    def _trickle(handler: BaseHTTPRequestHandler, payload: bytes) -> None:
        try:
            for begin in range(0, len(payload), 100):
                handler.wfile.write(payload[begin : begin + 100])
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up

    def gets(self, name: str) -> list[str | None]:
        return [r for m, p, r in self.requests if m == "GET" and p.endswith(name)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wav_bytes(seed: int, samples: int = 1600) -> bytes:
    """A 16-kHz PCM-16 WAV file of Gaussian noise (``samples`` long, drawn from ``seed``)."""
    buffer = io.BytesIO()
    noise = np.random.default_rng(seed).normal(0, 0.1, samples)
    sf.write(buffer, noise, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deflated zip archive of ``members`` (name -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def dcase_archives(machine_type: str, dev_id: str, extra_id: str,
                   clip_samples: int | None = None) -> dict[str, bytes]:
    """Small dev / additional / eval archives in the DCASE layout.

    Clips hold 1600 samples (one dev training clip 160000: more than 4 network chunks), or all
    ``clip_samples`` when given. The evaluation clips are unlabelled (``<id>_N.wav``), as in the
    real archives: :data:`GROUND_TRUTH` labels ``id_01`` of fan and valve.
    """
    t = machine_type

    def wav(seed: int, samples: int = 1600) -> bytes:
        return wav_bytes(seed, clip_samples or samples)

    return {
        f"dev_data_{t}.zip": zip_bytes(
            {
                f"{t}/train/normal_{dev_id}_00000000.wav": wav(1),
                f"{t}/train/normal_{dev_id}_00000001.wav": wav(2, 160000),
                f"{t}/test/normal_{dev_id}_00000000.wav": wav(3),
                f"{t}/test/anomaly_{dev_id}_00000000.wav": wav(4),
            }
        ),
        f"eval_data_train_{t}.zip": zip_bytes(
            {f"{t}/train/normal_{extra_id}_00000000.wav": wav(5)}
        ),
        f"eval_data_test_{t}.zip": zip_bytes(
            {
                f"{t}/test/{extra_id}_00000000.wav": wav(6),
                f"{t}/test/{extra_id}_00000001.wav": wav(7),
            }
        ),
    }


GROUND_TRUTH = (
    "fan\nid_01_00000000.wav,normal_id_01_00000000.wav,0\nid_01_00000001.wav,anomaly_id_01_00000001.wav,1\n"
    "valve\nid_01_00000000.wav,anomaly_id_01_00000000.wav,1\nid_01_00000001.wav,normal_id_01_00000001.wav,0\n"
)


def publish(server: FileServer, archives: dict[str, bytes]) -> dict[str, str]:
    """Serve archives at Zenodo-like paths; returns their MD5 table."""
    for name, data in archives.items():
        group = next(g for g, p in dl.ARCHIVE_PREFIXES.items() if name.startswith(p + "_"))
        if name.startswith("eval_data_train"):
            group = "additional"
        server.files[f"/{RECORDS[group]}/files/{name}"] = data
    server.files["/gt/eval_data_list.csv"] = GROUND_TRUTH.encode()
    return {name: hashlib.md5(data).hexdigest() for name, data in archives.items()}


@contextlib.contextmanager
def serving() -> Iterator[FileServer]:
    """A running :class:`FileServer`, shut down on exit."""
    server = FileServer()
    try:
        yield server
    finally:
        server.close()

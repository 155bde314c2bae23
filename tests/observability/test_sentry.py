"""Errors reach Sentry scrubbed: a local server speaking Sentry's envelope protocol
receives what sentry-sdk sends, and no secret is in it."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SCRIPT = """
import logging, sentry_sdk
from pydantic import SecretStr
from cerflow.config import Settings
from cerflow.observability.logging import configure_logging
settings = Settings(
    sentry_dsn=SecretStr("http://publickey@127.0.0.1:{port}/42"),
    secret_key=SecretStr("s" * 40),
    openfda_api_key=SecretStr("OPENFDA-KEY-123456"),
)
configure_logging(settings, process="test")
try:
    raise RuntimeError(
        "fetch failed: https://api.fda.gov/drug/event.json?api_key=OPENFDA-KEY-123456&limit=1 "
        "broker redis://:hunter2pw@redis:6379/0 for writer@example.org"
    )
except RuntimeError:
    logging.getLogger("cerflow.test").exception("job failed with token=abc.def.ghi")
sentry_sdk.flush(5)
"""


class _Sink(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        encoding = self.headers.get("content-encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "br":
            import brotli

            raw = brotli.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        type(self).bodies.append(raw)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def sentry_sink() -> Iterator[tuple[int, list[bytes]]]:
    _Sink.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Sink.bodies
    server.shutdown()


def test_errors_reach_sentry_without_secrets(sentry_sink: tuple[int, list[bytes]]) -> None:
    port, bodies = sentry_sink
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(port=port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    sent = b"".join(bodies).decode("utf-8", "replace")
    assert "fetch failed" in sent and "RuntimeError" in sent, "no event reached the sink"
    for secret in ("OPENFDA-KEY-123456", "hunter2pw", "writer@example.org", "abc.def.ghi"):
        assert secret not in sent, secret
    assert "[redacted]" in sent

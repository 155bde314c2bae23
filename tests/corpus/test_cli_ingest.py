"""`cerflow ingest faers|maude|eudamed` on every bad file of the corpus, on both stores.

Each must end with exit code 1 (bad file) or 2 (bad usage), print an error naming what
was wrong, and leave the store exactly as it was (`store_checksum`). The store is seeded
with a good FAERS quarter first, so "unchanged" also means "nothing good was lost".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from tests.corpus import generators
from tests.corpus.checksum import store_checksum
from tests.corpus.strings import CONTROL, INJECTIONS
from tests.sources.test_faers_ascii import simple_quarter

runner = CliRunner()

# What the error must say for each FAERS case (a fragment, case-insensitive).
FAERS_EXPECT = {
    "comma_delimiter": "delimited by a comma",
    "utf16": "utf-16",
    "truncated_zip": "not a zip",
    "not_a_zip": "not a zip",
    "empty_file": "not a zip",
    "missing_table": "no drug table",
    "zip_bomb_line": "line-length limit",
    "short_row": "truncated row",
    "bad_numbers": "expected a whole number",
    "nul_bytes": "nul byte",
    "out_of_range_dates": "not a date",
}
MAUDE_EXPECT = {
    "empty_file": "file is empty",
    "comma_delimiter": "delimited by a comma",
    "utf16": "utf-16",
    "header_only_garbage": "mdr_report_key",
    "not_a_zip": "not a zip",
    "unknown_name": "no such file",
}


@pytest.fixture
def store(db_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("CERFLOW_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CERFLOW_SOURCE_MAX_LINE_BYTES", str(1 << 16))  # the small limits
    get_settings.cache_clear()
    good = runner.invoke(app, ["ingest", "faers", str(simple_quarter(tmp_path / "good.zip"))])
    assert good.exit_code == 0, good.output
    yield db_engine
    get_settings.cache_clear()


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def test_faers_corpus(store: Engine, tmp_path: Path) -> None:
    before = store_checksum(store)
    outcomes = {}
    for name, make in generators.FAERS.items():
        path = make(tmp_path / f"{name}.zip")
        result = runner.invoke(app, ["ingest", "faers", str(path)], env={"COLUMNS": "300"})
        outcomes[name] = (result.exit_code, _flat(result.output))
        assert store_checksum(store) == before, f"{name} changed the store"
    for name, (code, output) in outcomes.items():
        assert code == 1, f"{name}: exit {code}: {output}"
        assert "error:" in output and FAERS_EXPECT[name] in output, f"{name}: {output}"
        assert "traceback" not in output


def test_maude_corpus(store: Engine, tmp_path: Path) -> None:
    before = store_checksum(store)
    for name, (filename, content) in generators.MAUDE.items():
        folder = tmp_path / name
        folder.mkdir()
        path = folder / filename
        if name != "unknown_name":
            path.write_bytes(content)
        result = runner.invoke(app, ["ingest", "maude", str(path)], env={"COLUMNS": "300"})
        output = _flat(result.output)
        assert result.exit_code == 1, f"{name}: exit {result.exit_code}: {output}"
        assert "error:" in output and MAUDE_EXPECT[name] in output, f"{name}: {output}"
        assert store_checksum(store) == before, f"{name} changed the store"


def test_missing_faers_file_is_a_usage_error(store: Engine, tmp_path: Path) -> None:
    before = store_checksum(store)
    for text in [*INJECTIONS.values(), "no-such.zip"]:
        result = runner.invoke(app, ["ingest", "faers", str(tmp_path / text.replace("/", "_"))])
        assert result.exit_code == 2 and "no such file" in result.output, result.output
    assert store_checksum(store) == before


class _BadEudamed(BaseHTTPRequestHandler):
    """Answers every request with the body of the current case."""

    body = b""
    content_type = "application/json"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: object) -> None:
        pass


EUDAMED_BODIES: dict[str, tuple[str, bytes]] = {
    "truncated_json": ("application/json", b'{"content": [{"uuid": "a", "primaryDi'),
    "html_error_page": ("text/html", b"<html><body>Service unavailable</body></html>"),
    "wrong_shape": ("application/json", b'["not", "an", "object"]'),
    "huge_numbers": (
        "application/json",
        b'{"content": [], "totalElements": 1e999, "totalPages": -1, '
        b'"number": 99999999999999999999}',
    ),
}


@pytest.fixture
def bad_eudamed(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_BadEudamed]]:
    handler = type("Handler", (_BadEudamed,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("CERFLOW_EUDAMED_BASE_URL", url)
    monkeypatch.setenv("CERFLOW_EUDAMED_DATALAKE_URL", url)
    get_settings.cache_clear()
    yield handler
    server.shutdown()
    server.server_close()


def test_eudamed_bad_responses(store: Engine, bad_eudamed: type[_BadEudamed]) -> None:
    before = store_checksum(store)
    for name, (content_type, body) in EUDAMED_BODIES.items():
        bad_eudamed.content_type, bad_eudamed.body = content_type, body
        result = runner.invoke(app, ["ingest", "eudamed", "--srn", "AT-MF-000000252"])
        output = _flat(result.output)
        assert result.exit_code in (1, 2), f"{name}: exit {result.exit_code}: {output}"
        assert "error:" in output and "traceback" not in output, f"{name}: {output}"
        assert store_checksum(store) == before, f"{name} changed the store"


def test_eudamed_bad_options(store: Engine) -> None:
    """Blank, control-character and injection values in every query option."""
    before = store_checksum(store)
    for option in ("--udi-di", "--basic-udi-di", "--trade-name", "--srn"):
        for value in ["", "   ", *CONTROL.values()]:
            result = runner.invoke(app, ["ingest", "eudamed", option, value])
            assert result.exit_code == 2, f"{option}={value!r}: {result.output}"
            assert "error:" in _flat(result.output)
    assert store_checksum(store) == before

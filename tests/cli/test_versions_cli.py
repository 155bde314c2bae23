"""`cerflow report review|approve|diff|versions` and `cerflow audit list` on a SQLite store;
`cerflow report --drug ...` keeps working as the group's own command."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.db import make_engine
from cerflow.store import migrate
from tests.report import store_factory as sf


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db = tmp_path / "cli.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    sf.fill(engine)
    engine.dispose()
    monkeypatch.setenv("CERFLOW_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CERFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CERFLOW_LLM_BASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _user(email: str, role: str) -> None:
    result = CliRunner().invoke(
        app,
        ["user", "create", "--email", email, "--role", role],
        env={"CERFLOW_NEW_USER_PASSWORD": "a long passphrase"},
    )
    assert result.exit_code == 0, result.output


def test_versions_review_approve_diff_and_audit(store_env: Path) -> None:
    base = ["report", "--device-code", "LZG", "--offline", "--format", "json,html"]
    _run(*base, "--until", "2024-01-31", "--out", str(store_env / "v1"))
    out2 = _run(*base, "--out", str(store_env / "v2"))
    assert "v2" in out2  # "<report id> v2, data cut-off ..."
    v1 = json.loads((store_env / "v1" / "facts.json").read_text())
    v2 = json.loads((store_env / "v2" / "facts.json").read_text())
    assert (v1["meta"]["version"], v2["meta"]["version"]) == (1, 2)
    assert v2["changes"]["previous_version"] == 1
    assert ["Reports of the product", v1["volumes"]["total_reports"], 3] in [
        [c["label"], c["before"], c["after"]] for c in v2["changes"]["changed_counts"]
    ]
    (html,) = (store_env / "v2").glob("*.html")
    assert "Changes since the previous version" in html.read_text()

    _user("approver@example.org", "approver")
    _user("analyst@example.org", "analyst")
    sha1 = hashlib.sha256((store_env / "v1" / "facts.json").read_bytes()).hexdigest()
    review = _run("report", "review", "LZG@1", "--as", "analyst@example.org", "--comment", "ok")
    assert sha1 in review.replace("\n", "")

    refused = CliRunner().invoke(app, ["report", "approve", "LZG@1", "--as", "analyst@example.org"])
    assert refused.exit_code == 1 and "approver" in refused.output
    approved = _run(
        "report", "approve", "LZG@1", "--as", "approver@example.org", "--facts-sha256", sha1
    )
    assert "approved by approver@example.org" in " ".join(approved.split())
    again = CliRunner().invoke(app, ["report", "approve", "LZG@1", "--as", "approver@example.org"])
    assert again.exit_code == 1 and "immutable" in again.output

    diff = _run("report", "diff", "LZG@1", "LZG@2", "--html", str(store_env / "d.html"))
    assert "Reports of the product" in diff
    page = (store_env / "d.html").read_text()
    assert "Changes from version 1 to version 2" in page

    listing = _run("report", "versions", "LZG")
    assert "approver@example.org" in listing and "draft" in listing

    audit = _run("audit", "list", "--product", "LZG")
    actions = [line.split("│")[3].strip() for line in audit.splitlines() if line.count("│") > 5]
    assert actions == ["approved", "reviewed", "generated", "generated"]

    with (
        sqlite3.connect(store_env / "cli.db") as conn,
        pytest.raises(sqlite3.DatabaseError, match="immutable"),
    ):
        conn.execute("UPDATE report_versions SET title = 'x' WHERE number = 1")

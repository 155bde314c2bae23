"""`cerflow literature protocol set|show` and `search` against the replay servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.literature.models import LiteratureProtocol, LiteratureSearch
from tests.replay.literature_server import (
    LiteratureReplayServer,
    real_europepmc_results,
    real_pubmed_articles,
)

PROTOCOL_YAML = """\
question:
  population: adults with hypercholesterolaemia
  intervention: atorvastatin
  outcomes: muscle adverse events
names: [Atorvastatin, Lipitor]
databases: [pubmed, europepmc]
date_from: 2000-01-01
exclusion:
  - {code: E1, text: Not the product}
"""


@pytest.fixture
def cli_env(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, LiteratureReplayServer]]:
    with LiteratureReplayServer(
        pubmed=real_pubmed_articles(), europepmc=real_europepmc_results(), ncbi_api_key="s3cret"
    ) as srv:
        monkeypatch.setenv("CERFLOW_DATABASE_URL", str(sqlite_engine.url))
        monkeypatch.setenv("CERFLOW_NCBI_BASE_URL", srv.ncbi_url)
        monkeypatch.setenv("CERFLOW_NCBI_API_KEY", "s3cret")
        monkeypatch.setenv("CERFLOW_EUROPEPMC_BASE_URL", srv.europepmc_url)
        get_settings.cache_clear()
        yield sqlite_engine, srv
        get_settings.cache_clear()


def test_protocol_set_show_and_search(
    cli_env: tuple[Engine, LiteratureReplayServer], tmp_path: Path
) -> None:
    engine, srv = cli_env
    file = tmp_path / "protocol.yaml"
    file.write_text(PROTOCOL_YAML, encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(
        app, ["literature", "protocol", "set", str(file), "--product", "atorvastatin"]
    )
    assert res.exit_code == 0, res.output
    assert "literature protocol version 1 stored" in res.output
    assert '("Atorvastatin"[tiab] OR "Lipitor"[tiab])' in res.output
    res = runner.invoke(
        app, ["literature", "protocol", "set", str(file), "--product", "atorvastatin"]
    )
    assert "unchanged; literature protocol version 1 kept" in res.output
    res = runner.invoke(app, ["literature", "protocol", "show", "--product", "atorvastatin"])
    assert res.exit_code == 0 and "Exclusion E1: Not the product" in res.output

    res = runner.invoke(app, ["literature", "search", "--product", "atorvastatin"])
    assert res.exit_code == 0, res.output
    assert "literature search 1 stored" in res.output
    assert "Identified 29; duplicates removed 0" in res.output
    assert "s3cret" not in res.output
    assert srv.requests_to("esearch.fcgi")[0].params["api_key"] == "s3cret"
    with Session(engine) as s:
        search = s.scalars(select(LiteratureSearch)).one()
        assert search.counts["databases"]["pubmed"]["total"] == 4
        assert search.counts["databases"]["europepmc"]["total"] == 25
        assert all("s3cret" not in p["location"] for p in search.provenance)


def test_bad_protocol_file_exit_2_nothing_stored(
    cli_env: tuple[Engine, LiteratureReplayServer], tmp_path: Path
) -> None:
    engine, _ = cli_env
    file = tmp_path / "p.yaml"
    file.write_text("databases: [pubmed, scopus]\nnames: [X]\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["literature", "protocol", "set", str(file), "--product", "DQA"])
    assert res.exit_code == 2
    assert "invalid literature protocol" in res.output
    assert "databases.1" in res.output
    with Session(engine) as s:
        assert s.scalars(select(LiteratureProtocol)).all() == []


def test_search_without_protocol(cli_env: tuple[Engine, LiteratureReplayServer]) -> None:
    res = CliRunner().invoke(app, ["literature", "search", "--product", "DQA"])
    assert res.exit_code == 2
    assert "no literature protocol for DQA" in res.output


def test_appraise_from_options_and_file(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cerflow.literature.models import LiteratureAppraisal
    from tests.literature.test_appraisal_prisma import _log, _search

    monkeypatch.setenv("CERFLOW_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    with Session(sqlite_engine) as s:
        _row, rows = _search(s)
        _log(s, rows)
        s.commit()
        included, excluded = rows[0].id, rows[3].id
    runner = CliRunner()
    grades = "D1,A2,P1,R1,T1,O1,F2,S1,C1"
    res = runner.invoke(
        app, ["literature", "appraise", "--record", str(excluded), "--grades", grades]
    )
    assert res.exit_code == 2 and "nothing stored" in res.output
    res = runner.invoke(
        app,
        [
            "literature",
            "appraise",
            "--record",
            str(included),
            "--grades",
            grades,
            "--finding",
            "Rhabdomyolysis:3/412:adults",
            "--finding",
            "Myalgia",
        ],
    )
    assert res.exit_code == 0, res.output
    # suitability 3 + 1 + 2 + 2 = 8 of 9; contribution 2+1+0+1+2 = 6 of 7 -> 14/16 = 87.5 -> 88
    assert "weight 88 (high); 2 safety finding(s)" in res.output
    bad = tmp_path / "a.yaml"
    bad.write_text("suitability: {device: D9, application: A1, population: P1, report: R1}\n")
    res = runner.invoke(app, ["literature", "appraise", "--record", str(included), str(bad)])
    assert (
        res.exit_code == 2
        and "suitability.device" in res.output
        and "contribution: Field required" in res.output
    )
    res = runner.invoke(
        app, ["literature", "appraise", "--record", str(included), "--grades", "D1,Z1"]
    )
    assert res.exit_code == 2 and "not a MEDDEV A6 grade" in res.output
    with Session(sqlite_engine) as s:
        stored = list(s.scalars(select(LiteratureAppraisal)))
    assert [(a.record_id, a.weight, a.findings[0]["patients"]) for a in stored] == [
        (included, 88, 412)
    ]
    get_settings.cache_clear()

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


def test_screen_and_export(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cerflow.literature.models import LiteratureScreeningDecision
    from tests.literature.builders import make_search, record_ids

    monkeypatch.setenv("CERFLOW_DATABASE_URL", str(sqlite_engine.url))
    get_settings.cache_clear()
    with Session(sqlite_engine) as s:
        search = make_search(s)
        s.commit()
        ids = record_ids(s, search.id)
    runner = CliRunner()
    res = runner.invoke(app, ["literature", "screen", "--product", "atorvastatin"])
    assert res.exit_code == 0, res.output
    assert f"Search {search.id}: 4 unique records; 4 to screen" in res.output
    assert str(ids["pubmed:2"]) in res.output
    base = ["literature", "screen", "--product", "atorvastatin", "--by", "ana@example.org"]
    # an exclusion without a reason: exit 2, the allowed codes named, nothing stored
    res = runner.invoke(app, [*base, "--record", str(ids["pubmed:2"]), "--exclude"])
    assert res.exit_code == 2
    assert "needs a reason code from protocol version 1: E1, E2" in res.output
    res = runner.invoke(
        app, [*base, "--record", str(ids["pubmed:1"]), "--stage", "full_text", "--include"]
    )
    assert res.exit_code == 2 and "needs a title/abstract inclusion first" in res.output
    with Session(sqlite_engine) as s:
        assert s.scalars(select(LiteratureScreeningDecision)).all() == []
    res = runner.invoke(
        app,
        [*base, "--record", str(ids["pubmed:2"]), "--exclude", "--reason", "E2", "--note", "mice"],
    )
    assert res.exit_code == 0, res.output
    assert "title/abstract exclude E2 recorded by ana@example.org" in res.output
    for stage in ("title_abstract", "full_text"):
        res = runner.invoke(
            app, [*base, "--record", str(ids["pubmed:1"]), "--stage", stage, "--include"]
        )
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["literature", "searches", "--product", "atorvastatin"])
    row = next(ln for ln in res.output.splitlines() if ln.startswith(f"│ {search.id} "))
    assert [c.strip() for c in row.split("│")[3:8]] == ["4", "2", "0", "1", "1"]
    # suggestions are off by default and say how to turn them on
    res = runner.invoke(app, [*base, "--suggest"])
    assert res.exit_code == 1 and "CERFLOW_LITERATURE_LLM_SUGGESTIONS=true" in res.output
    out_file = tmp_path / "screening.csv"
    res = runner.invoke(
        app, ["literature", "export", "--search", str(search.id), "--out", str(out_file)]
    )
    assert res.exit_code == 0, res.output
    assert "3 decision rows written" in res.output
    lines = out_file.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("decision_id,search_id,record_id,database,source_id,pmid")
    assert [ln.split(",")[11] for ln in lines[1:]] == ["exclude", "include", "include"]
    res = runner.invoke(app, ["literature", "export", "--search", "999999", "--out", "x.csv"])
    assert res.exit_code == 1 and "no literature search 999999" in res.output
    get_settings.cache_clear()


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

"""Protocol versions and a stored search against the replay server (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cerflow.literature import service
from cerflow.literature.models import LiteratureRecordRow, LiteratureSearch
from cerflow.literature.schemas import ProtocolError, generate_query
from cerflow.sources.europepmc import EuropePMCClient
from cerflow.sources.literature_base import LiteratureSourceError
from cerflow.sources.pubmed import PubMedClient
from tests.replay.literature_server import (
    LiteratureReplayServer,
    real_europepmc_results,
    real_pubmed_articles,
)

PROTOCOL: dict[str, Any] = {
    "question": {"population": "adults", "intervention": "drug X", "outcomes": "safety"},
    "names": ["Atorvastatin", "Lipitor", "atorvastatin"],
    "databases": ["pubmed", "europepmc"],
    "date_from": "2000-01-01",
    "date_to": "2025-12-31",
    "inclusion": [{"code": "I1", "text": "Humans treated with the product"}],
    "exclusion": [
        {"code": "E1", "text": "Not the product"},
        {"code": "E2", "text": "Animal or in-vitro study"},
    ],
}


def test_generated_queries() -> None:
    names = ["Atorvastatin", "Lipitor", "atorvastatin"]
    assert generate_query("pubmed", names) == '("Atorvastatin"[tiab] OR "Lipitor"[tiab])'
    assert generate_query("europepmc", names) == (
        '(TITLE_ABS:"Atorvastatin" OR TITLE_ABS:"Lipitor")'
    )
    assert generate_query("ctgov", ["DQA"]) == '"DQA"'


def test_protocol_versions(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        row, proto, created = service.set_protocol(
            session=s, product_ref="atorvastatin", data=PROTOCOL, user_id=None
        )
        assert created and row.version == 1 and row.created_by_email == "cli"
        assert proto.queries["pubmed"] == '("Atorvastatin"[tiab] OR "Lipitor"[tiab])'
        again, _, created2 = service.set_protocol(
            session=s, product_ref="ATORVASTATIN", data=PROTOCOL, user_id=None
        )
        assert not created2 and again.id == row.id
        edited = {**PROTOCOL, "queries": {"pubmed": "atorvastatin[mh] AND myopathy"}}
        row2, proto2, created3 = service.set_protocol(
            session=s, product_ref="atorvastatin", data=edited, user_id=None
        )
        assert created3 and row2.version == 2
        assert proto2.queries["pubmed"] == "atorvastatin[mh] AND myopathy"
        s.commit()
        versions = service.list_protocol_versions(session=s, product_ref="atorvastatin")
        assert [v.version for v in versions] == [1, 2]
        got = service.get_protocol(session=s, product_ref="atorvastatin", version=1)
        assert got is not None and got[1].queries["pubmed"].startswith('("Atorvastatin"')


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"databases": []}, "databases: name at least one"),
        ({"databases": ["pubmed", "embase"]}, "databases.1"),
        ({"date_from": "2026-01-01", "date_to": "2025-01-01"}, "is after date_to"),
        ({"exclusion": [{"code": "e 1", "text": "x"}]}, "exclusion.0"),
        ({"exclusion": [{"code": "I1", "text": "x"}]}, "criteria codes used twice: I1"),
        ({"names": [], "queries": {}}, "queries.pubmed: no query and no names"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_protocol_is_refused_and_nothing_stored(
    sqlite_engine: Engine, change: dict[str, Any], message: str
) -> None:
    with Session(sqlite_engine) as s:
        with pytest.raises(ProtocolError, match=message.replace("(", r"\(")):
            service.set_protocol(
                session=s, product_ref="atorvastatin", data={**PROTOCOL, **change}, user_id=None
            )
        assert service.list_protocol_versions(session=s, product_ref="atorvastatin") == []


def _planted_europepmc() -> list[dict[str, Any]]:
    docs = real_europepmc_results()[:6]
    # Europe PMC's copy of a PubMed article (same PMID), as Europe PMC really returns them
    docs.append(
        {
            "id": "11748933",
            "source": "MED",
            "pmid": "11748933",
            "title": "Is cryopreservation a homogeneous process?",
            "pubYear": "2001",
        }
    )
    # the same DOI as PubMed's 11700088, upper-cased, without PMID (e.g. a preprint copy)
    docs.append(
        {
            "id": "PPR1",
            "source": "PPR",
            "doi": "10.1006/JMRE.2001.2429",
            "title": "Proton MRI",
            "pubYear": "2001",
        }
    )
    return docs


def test_search_stores_counts_records_and_duplicates(db_engine: Engine) -> None:
    with (
        LiteratureReplayServer(
            pubmed=real_pubmed_articles(), europepmc=_planted_europepmc()
        ) as srv,
        Session(db_engine) as s,
    ):
        service.set_protocol(session=s, product_ref="atorvastatin", data=PROTOCOL, user_id=None)
        clients = {
            "pubmed": PubMedClient(srv.ncbi_url, sleep=lambda _: None),
            "europepmc": EuropePMCClient(srv.europepmc_url, page_size=3, sleep=lambda _: None),
        }
        seen: list[str] = []
        search = service.run_search(
            session=s,
            product_ref="atorvastatin",
            clients=clients,
            user_id=None,
            progress=lambda db, res: seen.append(f"{db}:{res.total}"),
        )
        s.commit()
        assert seen == ["pubmed:4", "europepmc:8"]
        assert search.identified == 12
        assert search.duplicates_removed == 2
        assert search.unique_records == 10
        assert search.counts["duplicates_by_rule"] == {
            "pmid": 1,
            "pmcid": 0,
            "doi": 1,
            "title_year": 0,
        }
        dbs = search.counts["databases"]
        assert dbs["pubmed"]["total"] == 4 and dbs["pubmed"]["fetched"] == 4
        assert dbs["europepmc"]["fetched"] == 8
        assert dbs["pubmed"]["query"] == '("Atorvastatin"[tiab] OR "Lipitor"[tiab])'
        assert len(search.provenance) == 2 + 3  # esearch + efetch, three Europe PMC pages
        rows = s.scalars(
            select(LiteratureRecordRow)
            .where(LiteratureRecordRow.search_id == search.id)
            .order_by(LiteratureRecordRow.position)
        ).all()
        assert len(rows) == 12
        dupes = [(r.source_id, r.duplicate_rule) for r in rows if r.duplicate_of_id]
        assert dupes == [("MED:11748933", "pmid"), ("PPR:PPR1", "doi")]
        kept = {r.id: r.pmid for r in rows}
        assert [kept[r.duplicate_of_id] for r in rows if r.duplicate_of_id] == [
            "11748933",
            "11700088",
        ]
        assert service.count_records(session=s, search_id=search.id, unique_only=True) == 10
        assert [x.id for x in service.list_searches(session=s, product_ref="atorvastatin")] == [
            search.id
        ]


def test_failing_database_stores_nothing(sqlite_engine: Engine) -> None:
    with (
        LiteratureReplayServer(
            pubmed=real_pubmed_articles(), europepmc=real_europepmc_results()
        ) as srv,
        Session(sqlite_engine) as s,
    ):
        service.set_protocol(session=s, product_ref="atorvastatin", data=PROTOCOL, user_id=None)
        s.commit()
        srv.fail_next(500, times=10, path="/search")
        clients = {
            "pubmed": PubMedClient(srv.ncbi_url, sleep=lambda _: None),
            "europepmc": EuropePMCClient(srv.europepmc_url, max_retries=2, sleep=lambda _: None),
        }
        with pytest.raises(LiteratureSourceError, match="europepmc 500"):
            service.run_search(session=s, product_ref="atorvastatin", clients=clients, user_id=None)
        s.rollback()
        assert s.scalars(select(LiteratureSearch)).all() == []
        assert s.scalars(select(LiteratureRecordRow)).all() == []


def test_search_without_protocol_says_how(sqlite_engine: Engine) -> None:
    with (
        Session(sqlite_engine) as s,
        pytest.raises(LookupError, match="cerflow literature protocol set --product"),
    ):
        service.run_search(session=s, product_ref="DQA", clients={}, user_id=None)

"""Searches with chosen records, stored through the real `run_search` (fake clients only
stand in for the databases, whose own tests use the replay server)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cerflow.literature import service
from cerflow.literature.models import LiteratureRecordRow, LiteratureSearch
from cerflow.sources.literature_base import LiteratureRecord, SearchResult

PROTOCOL: dict[str, Any] = {
    "question": {"population": "adults", "intervention": "atorvastatin", "outcomes": "myopathy"},
    "names": ["Atorvastatin"],
    "databases": ["pubmed", "europepmc"],
    "inclusion": [{"code": "I1", "text": "Humans treated with the product"}],
    "exclusion": [
        {"code": "E1", "text": "Not the product"},
        {"code": "E2", "text": "Animal or in-vitro study"},
    ],
}


class FakeClient:
    def __init__(self, database: str, records: list[LiteratureRecord]) -> None:
        self.database = database
        self.records = records

    def search(
        self, term: str, *, since: dt.date | None = None, until: dt.date | None = None
    ) -> SearchResult:
        return SearchResult(self.database, term, len(self.records), list(self.records), [])


def rec(database: str, n: int, title: str, **ids: Any) -> LiteratureRecord:
    return LiteratureRecord(
        database=database,
        source_id=f"{database}:{n}",
        title=title,
        abstract=f"Abstract of {title}.",
        year=2020,
        **ids,
    )


PUBMED = [
    rec("pubmed", 1, "Atorvastatin and myopathy in adults", pmid="1001", doi="10.1/a"),
    rec("pubmed", 2, "Statins in mice", pmid="1002"),
    rec("pubmed", 3, '=HYPERLINK("http://evil") rosuvastatin trial', pmid="1003"),
]
EUROPEPMC = [
    rec("europepmc", 1, "Atorvastatin and myopathy in adults", pmid="1001"),  # duplicate
    rec("europepmc", 2, "Registry of atorvastatin users", doi="10.1/d", pmcid="PMC9"),
]


def make_search(
    session: Session,
    *,
    product_ref: str = "atorvastatin",
    protocol: dict[str, Any] | None = None,
    pubmed: list[LiteratureRecord] | None = None,
    europepmc: list[LiteratureRecord] | None = None,
) -> LiteratureSearch:
    service.set_protocol(
        session=session, product_ref=product_ref, data=protocol or PROTOCOL, user_id=None
    )
    return service.run_search(
        session=session,
        product_ref=product_ref,
        clients={
            "pubmed": FakeClient("pubmed", PUBMED if pubmed is None else pubmed),
            "europepmc": FakeClient("europepmc", EUROPEPMC if europepmc is None else europepmc),
        },
        user_id=None,
    )


def record_ids(session: Session, search_id: int) -> dict[str, int]:
    """{source id: record id} of the unique records."""
    rows = session.scalars(
        select(LiteratureRecordRow).where(
            LiteratureRecordRow.search_id == search_id,
            LiteratureRecordRow.duplicate_of_id.is_(None),
        )
    )
    return {r.source_id: r.id for r in rows}

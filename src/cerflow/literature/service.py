"""Search protocols (versioned) and searches (run, deduplicated, stored) of a product.

A protocol change is a new row with the next version; an unchanged protocol stores
nothing. A search asks every database of the latest protocol first and writes only when
all answered: a failing database raises and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cerflow.literature import screening
from cerflow.literature.actors import actor_email
from cerflow.literature.dedup import deduplicate
from cerflow.literature.details import record_details
from cerflow.literature.models import LiteratureProtocol, LiteratureRecordRow, LiteratureSearch
from cerflow.literature.schemas import SearchProtocol, parse_protocol
from cerflow.products.service import resolve
from cerflow.sources.literature_base import LiteratureRecord, SearchResult


class SearchClient(Protocol):
    def search(
        self, term: str, *, since: dt.date | None = None, until: dt.date | None = None
    ) -> SearchResult: ...


def latest_row(*, session: Session, product_ref: str) -> LiteratureProtocol | None:
    kind, key = resolve(product_ref)
    stmt = (
        select(LiteratureProtocol)
        .where(LiteratureProtocol.product_kind == kind, LiteratureProtocol.product_ref == key)
        .order_by(LiteratureProtocol.version.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def get_protocol(
    *, session: Session, product_ref: str, version: int | None = None
) -> tuple[LiteratureProtocol, SearchProtocol] | None:
    kind, key = resolve(product_ref)
    if version is None:
        row = latest_row(session=session, product_ref=product_ref)
    else:
        stmt = select(LiteratureProtocol).where(
            LiteratureProtocol.product_kind == kind,
            LiteratureProtocol.product_ref == key,
            LiteratureProtocol.version == version,
        )
        row = session.scalars(stmt).one_or_none()
    if row is None:
        return None
    return row, parse_protocol(row.data, f"stored literature protocol of {key} v{row.version}")


def list_protocol_versions(*, session: Session, product_ref: str) -> list[LiteratureProtocol]:
    kind, key = resolve(product_ref)
    stmt = (
        select(LiteratureProtocol)
        .where(LiteratureProtocol.product_kind == kind, LiteratureProtocol.product_ref == key)
        .order_by(LiteratureProtocol.version)
    )
    return list(session.scalars(stmt))


def set_protocol(
    *, session: Session, product_ref: str, data: Any, user_id: int | None
) -> tuple[LiteratureProtocol, SearchProtocol, bool]:
    """Validate and store `data` as the next protocol version; (row, protocol, created).

    Raises `ProtocolError` (422, naming each bad field) before anything is written; an
    unchanged protocol returns the current row with created=False."""
    protocol = parse_protocol(data, "literature protocol")
    dumped = protocol.model_dump(mode="json")
    kind, key = resolve(product_ref)
    current = latest_row(session=session, product_ref=product_ref)
    if current is not None and current.data == dumped:
        return current, protocol, False
    row = LiteratureProtocol(
        product_kind=kind,
        product_ref=key,
        version=(current.version + 1) if current is not None else 1,
        data=dumped,
        created_by=user_id,
        created_by_email=actor_email(session, user_id),
    )
    session.add(row)
    session.flush()
    return row, protocol, True


def run_search(
    *,
    session: Session,
    product_ref: str,
    clients: Mapping[str, SearchClient],
    user_id: int | None,
    progress: Callable[[str, SearchResult], None] | None = None,
) -> LiteratureSearch:
    """Run the latest protocol against its databases, deduplicate, store; see module doc."""
    found = get_protocol(session=session, product_ref=product_ref)
    if found is None:
        key = resolve(product_ref)[1]
        raise LookupError(
            f"no literature protocol for {key}: set one first "
            f"(cerflow literature protocol set --product {key} FILE)"
        )
    row, protocol = found
    missing = [db for db in protocol.databases if db not in clients]
    if missing:
        raise ValueError(f"no client configured for: {', '.join(missing)}")
    started = dt.datetime.now(dt.UTC)
    results: list[SearchResult] = []
    for db in protocol.databases:
        result = clients[db].search(
            protocol.queries[db], since=protocol.date_from, until=protocol.date_to
        )
        results.append(result)
        if progress is not None:
            progress(db, result)
    records: list[LiteratureRecord] = [r for res in results for r in res.records]
    dedup = deduplicate(records)
    counts: dict[str, Any] = {
        "databases": {
            res.database: {
                "query": res.query,
                "total": res.total,
                "fetched": len(res.records),
                "capped": res.capped,
                "note": res.note,
                "messages": res.messages,
            }
            for res in results
        },
        "duplicates_by_rule": dedup.removed_by_rule,
    }
    search = LiteratureSearch(
        protocol_id=row.id,
        product_kind=row.product_kind,
        product_ref=row.product_ref,
        counts=counts,
        provenance=[
            {
                **{k: v for k, v in asdict(p).items() if k != "retrieved_at"},
                "retrieved_at": p.retrieved_at.isoformat(),
            }
            for res in results
            for p in res.provenance
        ],
        identified=dedup.identified,
        duplicates_removed=dedup.removed,
        unique_records=len(dedup.unique),
        started_at=started,
        created_by=user_id,
        created_by_email=actor_email(session, user_id),
    )
    session.add(search)
    session.flush()
    rows: list[LiteratureRecordRow] = []
    for pos, rec in enumerate(records):
        rows.append(
            LiteratureRecordRow(
                search_id=search.id,
                position=pos,
                database=rec.database,
                source_id=rec.source_id[:64],
                pmid=rec.pmid,
                pmcid=rec.pmcid,
                doi=rec.doi,
                nct_id=rec.nct_id,
                title=rec.title,
                abstract=rec.abstract,
                authors=list(rec.authors),
                journal=rec.journal,
                year=rec.year,
                details=record_details(rec),
            )
        )
    session.add_all(rows)
    session.flush()
    # mark duplicates: every member of a group after its first points at the first
    for group in dedup.groups:
        kept = rows[group[0]]
        for j in group[1:]:
            rows[j].duplicate_of_id = kept.id
            rows[j].duplicate_rule = dedup.rule_of.get(j)
    session.flush()
    carried = screening.carry_over(session=session, search=search)
    search.counts = {**counts, "screening_carried_over": carried}
    session.flush()
    return search


def list_searches(*, session: Session, product_ref: str) -> list[LiteratureSearch]:
    kind, key = resolve(product_ref)
    stmt = (
        select(LiteratureSearch)
        .where(LiteratureSearch.product_kind == kind, LiteratureSearch.product_ref == key)
        .order_by(LiteratureSearch.id.desc())
    )
    return list(session.scalars(stmt))


def count_records(*, session: Session, search_id: int, unique_only: bool = False) -> int:
    stmt = (
        select(func.count())
        .select_from(LiteratureRecordRow)
        .where(LiteratureRecordRow.search_id == search_id)
    )
    if unique_only:
        stmt = stmt.where(LiteratureRecordRow.duplicate_of_id.is_(None))
    return int(session.scalar(stmt) or 0)

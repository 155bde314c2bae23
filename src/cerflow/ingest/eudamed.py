"""EUDAMED import: device identification (by UDI-DI, Basic UDI-DI, trade name or SRN).

The whole answer is fetched first (EUDAMED answers are small: one manufacturer has at most a
few thousand UDI-DIs), so the snapshot gets one checksum over every page in fetch order, and
a failure midway (retries exhausted, an ignored filter) stores nothing. Then one loader
transaction upserts the devices; running the same import again changes nothing that has not
changed in EUDAMED.

Records the public API returns although they do not match the query (it silently ignores
filters it does not know) are dropped and reported, never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from cerflow.config import Settings
from cerflow.etl.eudamed import merge_device, to_canonical_device
from cerflow.etl.load_common import LoadStats
from cerflow.etl.load_keyed import load_devices
from cerflow.etl.records import CanonicalDevice
from cerflow.ingest._base import IngestError, IngestInputError, ProgressCallback, step_advance
from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord
from cerflow.sources.eudamed import (
    DeviceQuery,
    EudamedDataLakeClient,
    EudamedError,
    EudamedPublicClient,
    SearchStats,
)

__all__ = ["EudamedImport", "device_query", "ingest_devices"]


@dataclass(slots=True)
class EudamedImport:
    """Everything one import did, for the summary and for callers (jobs, API)."""

    source: str
    query: DeviceQuery
    search: SearchStats
    load: LoadStats
    details_fetched: int = 0
    pages: list[dict[str, str]] = field(default_factory=list)


def _pages(records: list[SourceRecord]) -> list[dict[str, str]]:
    pages: list[dict[str, str]] = []
    for rec in records:
        prov = rec.provenance
        if not pages or (pages[-1]["url"], pages[-1]["sha256"]) != (prov.location, prov.sha256):
            pages.append(
                {
                    "url": prov.location,
                    "sha256": prov.sha256,
                    "retrieved_at": prov.retrieved_at.isoformat(),
                }
            )
    return pages


def _digest(pages: list[dict[str, str]]) -> str:
    """sha256 over the page digests in fetch order: one checksum for the whole query."""
    digest = hashlib.sha256()
    for page in pages:
        digest.update(page["sha256"].encode())
    return digest.hexdigest()


def _fetch(
    records: Iterator[SourceRecord],
    stats: Callable[[], SearchStats],
    on_record: Callable[[int | None], None],
) -> list[SourceRecord]:
    fetched: list[SourceRecord] = []
    for rec in records:
        fetched.append(rec)
        on_record(stats().total_elements)
    return fetched


def ingest_devices(
    engine: Engine,
    query: DeviceQuery,
    *,
    settings: Settings,
    datalake: bool = False,
    details: bool = False,
    page_size: int = 300,
    progress: ProgressCallback | None = None,
) -> EudamedImport:
    """Fetch, map and load the devices matching `query`.

    Raises IngestError (nothing stored) when EUDAMED cannot answer the question (retries
    exhausted, a filter it ignored) or answers with a malformed record.
    """
    try:
        return _ingest_devices(
            engine,
            query,
            settings=settings,
            datalake=datalake,
            details=details,
            page_size=page_size,
            progress=progress,
        )
    except (EudamedError, SourceFormatError) as exc:
        raise IngestError(f"{exc}\nNothing was stored.", status_code=502) from exc


def _ingest_devices(
    engine: Engine,
    query: DeviceQuery,
    *,
    settings: Settings,
    datalake: bool,
    details: bool,
    page_size: int,
    progress: ProgressCallback | None,
) -> EudamedImport:
    fetch_total: list[int | None] = [None]

    def fetched_one(total: int | None) -> None:
        if fetch_total[0] is None and total is not None:
            fetch_total[0] = total
        if progress is not None:
            progress("EUDAMED: fetching", 1, fetch_total[0])

    devices: list[CanonicalDevice]
    details_fetched = 0
    if datalake:
        source = "eudamed_datalake"
        with EudamedDataLakeClient(
            settings.eudamed_datalake_url, api_key=settings.eudamed_api_key
        ) as lake:
            records = _fetch(
                lake.iter_udi(
                    udi_di=query.udi_di,
                    basic_udi_di=query.basic_udi_di,
                    trade_name=query.trade_name,
                    srn=query.srn,
                ),
                lambda: lake.last_stats,
                fetched_one,
            )
            search = lake.last_stats
            location = f"{lake.base_url}/udi"
        devices = [to_canonical_device(r) for r in records]
    else:
        source = "eudamed_public"
        with EudamedPublicClient(settings.eudamed_base_url) as public:
            records = _fetch(
                public.search_devices(
                    udi_di=query.udi_di,
                    basic_udi_di=query.basic_udi_di,
                    trade_name=query.trade_name,
                    srn=query.srn,
                    page_size=page_size,
                ),
                lambda: public.last_stats,
                fetched_one,
            )
            search = public.last_stats
            location = f"{public.base_url}/devices/udiDiData"
            devices = [to_canonical_device(r) for r in records]
            if details and devices:
                detail_done = step_advance(progress, "EUDAMED: details", len(devices))
                enriched: list[CanonicalDevice] = []
                for device in devices:
                    detail = public.device_detail(device.source_uuid)
                    records.append(detail)
                    details_fetched += 1
                    enriched.append(merge_device(device, to_canonical_device(detail)))
                    detail_done(1)
                devices = enriched

    pages = _pages(records)
    provenance = Provenance(
        source=source,
        location=location,
        query=query.describe(),
        retrieved_at=records[0].provenance.retrieved_at if records else dt.datetime.now(dt.UTC),
        sha256=_digest(pages),
    )
    source_stats: dict[str, Any] = {
        "query": query.describe(),
        "total_elements": search.total_elements,
        "received": search.received,
        "dropped_not_matching_query": search.dropped_mismatch,
        "details_fetched": details_fetched,
        "pages": pages,
    }
    stored = step_advance(progress, "storing", len(devices))
    load = load_devices(engine, devices, provenance, source_stats=source_stats, progress=stored)
    return EudamedImport(source, query, search, load, details_fetched, pages)


def device_query(
    *,
    udi_di: str | None,
    basic_udi_di: str | None,
    trade_name: str | None,
    srn: str | None,
    datalake: bool = False,
    details: bool = False,
) -> DeviceQuery:
    """The query for one import; raises IngestInputError naming the options to use."""
    try:
        query = DeviceQuery(
            udi_di=udi_di, basic_udi_di=basic_udi_di, trade_name=trade_name, srn=srn
        )
    except ValueError as exc:
        raise IngestInputError(
            f"{exc}. Use --udi-di, --basic-udi-di, --trade-name or --srn."
        ) from None
    if datalake and details:
        raise IngestInputError("--details applies to the public API, not --datalake.")
    return query

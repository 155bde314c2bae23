"""`cerflow ingest eudamed --udi-di X | --basic-udi-di X | --trade-name X | --srn X`.

EUDAMED device identification into the store. The whole answer is fetched first (EUDAMED
answers are small: one manufacturer has at most a few thousand UDI-DIs), so the snapshot
gets one checksum over every page in fetch order, and a failure midway (retries
exhausted, an ignored filter) stores nothing. Then one loader transaction upserts the
devices; running the same import again changes nothing that has not changed in EUDAMED.

Records the public API returns although they do not match the query (it silently ignores
filters it does not know) are dropped and reported, never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Engine

from cerflow.commands._summary import figures_table, load_figures
from cerflow.config import Settings, get_settings
from cerflow.db import make_engine
from cerflow.etl.eudamed import merge_device, to_canonical_device
from cerflow.etl.load import LoadStats, load_devices
from cerflow.etl.records import CanonicalDevice
from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord
from cerflow.sources.eudamed import (
    DeviceQuery,
    EudamedDataLakeClient,
    EudamedError,
    EudamedPublicClient,
    SearchStats,
)
from cerflow.store import migrate

console = Console(stderr=True, soft_wrap=True)  # error paths stay copyable


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
    progress: Progress | None = None,
) -> EudamedImport:
    """Fetch, map and load the devices matching `query`; raises EudamedError or
    SourceFormatError (nothing stored) when EUDAMED cannot answer the question."""
    task = progress.add_task("EUDAMED: fetching", total=None) if progress else None

    def fetched_one(total: int | None) -> None:
        if progress is not None and task is not None:
            if total is not None and progress.tasks[task].total is None:
                progress.update(task, total=total)
            progress.advance(task, 1)

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
                dtask = (
                    progress.add_task("EUDAMED: details", total=len(devices)) if progress else None
                )
                enriched: list[CanonicalDevice] = []
                for device in devices:
                    detail = public.device_detail(device.source_uuid)
                    records.append(detail)
                    details_fetched += 1
                    enriched.append(merge_device(device, to_canonical_device(detail)))
                    if progress is not None and dtask is not None:
                        progress.advance(dtask, 1)
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
    ltask = progress.add_task("storing", total=len(devices)) if progress else None

    def stored(n: int) -> None:
        if progress is not None and ltask is not None:
            progress.advance(ltask, n)

    load = load_devices(engine, devices, provenance, source_stats=source_stats, progress=stored)
    return EudamedImport(source, query, search, load, details_fetched, pages)


def _summary(result: EudamedImport) -> Table:
    s, ld = result.search, result.load
    figures: list[tuple[str, object]] = [
        ("pages fetched", s.pages),
        ("records received", s.received),
        ("dropped: did not match the query", s.dropped_mismatch),
        ("details fetched", result.details_fetched),
        *load_figures(ld),
        *((f"  rejected: {reason}", n) for reason, n in sorted(ld.reject_reasons.items())),
    ]
    return figures_table(
        f"EUDAMED import ({result.source}: {result.query.describe()})",
        "step",
        figures,
        caption=f"snapshot {ld.snapshot_id}",
    )


def ingest_eudamed(
    udi_di: Annotated[
        str | None, typer.Option("--udi-di", help="UDI-DI (primary DI) of the device.")
    ] = None,
    basic_udi_di: Annotated[
        str | None, typer.Option("--basic-udi-di", help="Basic UDI-DI of the device family.")
    ] = None,
    trade_name: Annotated[
        str | None,
        typer.Option(
            "--trade-name", help="Trade name (substring on the public API, exact on --datalake)."
        ),
    ] = None,
    srn: Annotated[
        str | None, typer.Option("--srn", help="Manufacturer SRN, e.g. AT-MF-000000252.")
    ] = None,
    datalake: Annotated[
        bool,
        typer.Option("--datalake", help="Use the official data-lake API instead of the website's."),
    ] = False,
    details: Annotated[
        bool,
        typer.Option(
            "--details", help="Also fetch each device's detail (model/reference); 1 request each."
        ),
    ] = False,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, help="Public API page size (at most 300).")
    ] = 300,
) -> None:
    """Import EUDAMED device identification (UDI-DI, Basic UDI-DI, class, manufacturer)."""
    try:
        query = DeviceQuery(
            udi_di=udi_di, basic_udi_di=basic_udi_di, trade_name=trade_name, srn=srn
        )
    except ValueError as exc:
        console.print(
            f"[red]error:[/red] {exc}. Use --udi-di, --basic-udi-di, --trade-name or --srn."
        )
        raise typer.Exit(2) from None
    if datalake and details:
        console.print("[red]error:[/red] --details applies to the public API, not --datalake.")
        raise typer.Exit(2)
    settings = get_settings()
    engine = make_engine(settings=settings)
    try:
        migrate.upgrade(engine)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            try:
                result = ingest_devices(
                    engine,
                    query,
                    settings=settings,
                    datalake=datalake,
                    details=details,
                    page_size=page_size,
                    progress=progress,
                )
            except (EudamedError, SourceFormatError) as exc:
                progress.stop()
                console.print(f"[red]error:[/red] {exc}\nNothing was stored.")
                raise typer.Exit(1) from None
        Console().print(_summary(result))
    finally:
        engine.dispose()


def register(ingest_app: typer.Typer) -> None:
    """Add `cerflow ingest eudamed` to the ingest group."""
    ingest_app.command("eudamed")(ingest_eudamed)

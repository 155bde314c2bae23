"""`cerflow ingest openfda --drug NAME | --device-code CODE ...`: live openFDA into the store.

Each dataset (adverse events, then recalls/enforcement) is one loader transaction: if
openFDA fails for good midway (retries exhausted, quota reached) that dataset stores
nothing and the command says so; datasets already loaded stay loaded. Running the same
import again changes nothing that has not changed at openFDA (idempotent upserts).
Page URLs (API key redacted), their sha256 and retrieval times are kept in the snapshot's
statistics so every number can be traced back to the responses it came from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from cerflow.commands._summary import rows_table
from cerflow.config import get_settings
from cerflow.db import make_engine
from cerflow.etl.load import LoadStats, load_recalls, load_reports
from cerflow.etl.openfda_drug import drug_event_to_canonical
from cerflow.etl.recalls import device_recall_to_canonical, enforcement_to_canonical
from cerflow.etl.records import CanonicalReport
from cerflow.sources import openfda as ofda
from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord
from cerflow.store import migrate

console = Console(stderr=True, soft_wrap=True)  # error paths stay copyable


@dataclass(slots=True)
class Dataset:
    """One openFDA query and how its records become canonical ones."""

    name: str
    endpoint: str
    search: str
    since: dt.date | None
    until: dt.date | None
    mapper: Callable[[dict[str, Any], str], Any]
    kind: str  # reports | recalls

    @property
    def date_field(self) -> str:
        return ofda.DATE_FIELDS[self.endpoint]

    def windowed_search(self) -> str:
        if self.since is None and self.until is None:
            return self.search
        since = self.since or ofda.EARLIEST
        until = self.until or dt.date.today()
        return ofda.and_search(self.search, ofda.date_range(self.date_field, since, until))


def _device_mapper() -> Callable[[dict[str, Any], str], CanonicalReport]:
    try:
        from cerflow.etl.maude import device_event_to_canonical
    except ImportError:  # pragma: no cover - the MAUDE mapping ships with the MAUDE reader
        console.print("[red]error:[/red] the MAUDE device-event mapping is not installed")
        raise typer.Exit(1) from None
    return lambda doc, _location: device_event_to_canonical(doc)


def datasets(
    drug: str | None,
    codes: list[str],
    since: dt.date | None,
    until: dt.date | None,
    recalls: bool,
) -> list[Dataset]:
    """What one command line fetches, in order."""
    out: list[Dataset] = []
    if drug:
        out.append(
            Dataset(
                "drug events",
                ofda.DRUG_EVENT,
                ofda.drug_search(drug),
                since,
                until,
                lambda doc, loc: drug_event_to_canonical(doc, location=loc),
                "reports",
            )
        )
        if recalls:
            out.append(
                Dataset(
                    "drug enforcement",
                    ofda.DRUG_ENFORCEMENT,
                    ofda.drug_search(drug, ofda.DRUG_ENFORCEMENT_NAME_FIELDS),
                    since,
                    until,
                    lambda doc, loc: enforcement_to_canonical(doc, "drug", location=loc),
                    "recalls",
                )
            )
    else:
        out.append(
            Dataset(
                "device events",
                ofda.DEVICE_EVENT,
                ofda.device_search(codes),
                since,
                until,
                _device_mapper(),
                "reports",
            )
        )
        if recalls:
            out.append(
                Dataset(
                    "device recalls",
                    ofda.DEVICE_RECALL,
                    ofda.device_search(codes, field="product_code"),
                    since,
                    until,
                    lambda doc, loc: device_recall_to_canonical(doc, location=loc),
                    "recalls",
                )
            )
            out.append(
                Dataset(
                    "device enforcement",
                    ofda.DEVICE_ENFORCEMENT,
                    ofda.device_search(codes, field="product_code"),
                    since,
                    until,
                    lambda doc, loc: enforcement_to_canonical(doc, "device", location=loc),
                    "recalls",
                )
            )
    return out


def _mapped(
    records: Iterable[SourceRecord],
    ds: Dataset,
    source_stats: dict[str, Any],
    skip_malformed: bool,
) -> Iterator[Any]:
    pages: list[dict[str, str]] = source_stats["pages"]
    for rec in records:
        prov = rec.provenance
        if not pages or pages[-1]["sha256"] != prov.sha256 or pages[-1]["url"] != prov.location:
            pages.append(
                {
                    "url": prov.location,
                    "sha256": prov.sha256,
                    "retrieved_at": prov.retrieved_at.isoformat(),
                }
            )
        try:
            yield ds.mapper(rec.payload, prov.location)
        except SourceFormatError as exc:
            if not skip_malformed:
                raise
            malformed = source_stats.setdefault("malformed", {})
            key = exc.field or "record"
            malformed[key] = malformed.get(key, 0) + 1
    source_stats["pages_sha256"] = pages_digest(source_stats)


def run_dataset(
    client: ofda.OpenFDAClient,
    engine: Engine,
    ds: Dataset,
    *,
    progress: Progress | None = None,
    skip_malformed: bool = False,
) -> tuple[int, LoadStats]:
    """Fetch, map and load one dataset; returns (records openFDA matched, loader stats)."""
    total = client.total(ds.endpoint, ds.windowed_search())
    task = progress.add_task(ds.name, total=total) if progress is not None else None

    def advance(n: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, n)

    source_stats: dict[str, Any] = {
        "endpoint": ds.endpoint,
        "search": ds.windowed_search(),
        "matched": total,
        "pages": [],
    }
    provenance = Provenance(
        source=f"openfda:{ds.endpoint}",
        location=f"{client.base_url}{ds.endpoint}",
        query=ds.windowed_search(),
    )
    records = client.iter_records(ds.endpoint, ds.search, ds.date_field, ds.since, ds.until)
    mapped = _mapped(records, ds, source_stats, skip_malformed)
    if ds.kind == "reports":
        stats = load_reports(
            engine, mapped, provenance, source_stats=source_stats, progress=advance
        )
    else:
        stats = load_recalls(
            engine, mapped, provenance, source_stats=source_stats, progress=advance
        )
    malformed = source_stats.get("malformed", {})
    if malformed:
        stats.read += sum(malformed.values())
        stats.rejected += sum(malformed.values())
        for field_name, n in malformed.items():
            reason = f"malformed {field_name}"
            stats.reject_reasons[reason] = stats.reject_reasons.get(reason, 0) + n
    return total, stats


def pages_digest(source_stats: dict[str, Any]) -> str:
    """sha256 over the page digests in fetch order: one checksum for a whole query."""
    digest = hashlib.sha256()
    for page in source_stats.get("pages", []):
        digest.update(page["sha256"].encode())
    return digest.hexdigest()


def _summary(rows: list[tuple[str, int, LoadStats]]) -> Table:
    return rows_table(
        "openFDA import",
        "dataset",
        ("matched",),
        ((name, (total,), st) for name, total, st in rows),
    )


def ingest_openfda(
    drug: Annotated[
        str | None, typer.Option("--drug", help="Drug name or ingredient, e.g. 'metformin'.")
    ] = None,
    device_code: Annotated[
        list[str] | None,
        typer.Option("--device-code", help="FDA device product code, e.g. DQA (repeatable)."),
    ] = None,
    since: Annotated[
        dt.datetime | None,
        typer.Option("--since", formats=["%Y-%m-%d"], help="First received date (YYYY-MM-DD)."),
    ] = None,
    until: Annotated[
        dt.datetime | None,
        typer.Option("--until", formats=["%Y-%m-%d"], help="Last received date (YYYY-MM-DD)."),
    ] = None,
    recalls: Annotated[
        bool,
        typer.Option("--recalls/--no-recalls", help="Also import recalls and enforcement reports."),
    ] = True,
    skip_malformed: Annotated[
        bool,
        typer.Option(
            "--skip-malformed",
            help="Count malformed records as rejected instead of stopping the import.",
        ),
    ] = False,
) -> None:
    """Import adverse events (and recalls) for one drug or device product codes from openFDA."""
    codes = device_code or []
    if bool(drug) == bool(codes):
        console.print("[red]error:[/red] give exactly one of --drug NAME or --device-code CODE")
        raise typer.Exit(2)
    since_d = since.date() if since else None
    until_d = until.date() if until else None
    if since_d and until_d and since_d > until_d:
        console.print(f"[red]error:[/red] --since {since_d} is after --until {until_d}")
        raise typer.Exit(2)
    try:
        plan = datasets(drug, codes, since_d, until_d, recalls)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    settings = get_settings()
    engine = make_engine()
    done: list[tuple[str, int, LoadStats]] = []
    try:
        migrate.upgrade(engine)
        with (
            ofda.OpenFDAClient.from_settings(settings) as client,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress,
        ):
            for ds in plan:
                try:
                    total, stats = run_dataset(
                        client, engine, ds, progress=progress, skip_malformed=skip_malformed
                    )
                except (ofda.OpenFDAError, SourceFormatError) as exc:
                    progress.stop()
                    if done:
                        Console().print(_summary(done))
                    console.print(
                        f"[red]error:[/red] {ds.name}: {exc}\nNothing from this dataset was "
                        "stored; run the same command again later (already loaded datasets "
                        "stay as they are)."
                    )
                    raise typer.Exit(1) from None
                done.append((ds.name, total, stats))
        Console().print(_summary(done))
    finally:
        engine.dispose()


def register(ingest_app: typer.Typer) -> None:
    """Add `cerflow ingest openfda` to the ingest group."""
    ingest_app.command("openfda")(ingest_openfda)

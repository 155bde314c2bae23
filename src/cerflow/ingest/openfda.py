"""openFDA import: one drug's or device product codes' adverse events (and recalls).

Each dataset (adverse events, then recalls/enforcement) is one loader transaction: if
openFDA fails for good midway (retries exhausted, quota reached) that dataset stores
nothing; datasets already loaded stay loaded. Running the same import again changes nothing
that has not changed at openFDA (idempotent upserts). Page URLs (API key redacted), their
sha256 and retrieval times are kept in the snapshot's statistics so every number can be
traced back to the responses it came from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine

from cerflow.config import Settings
from cerflow.etl.load_common import LoadStats
from cerflow.etl.load_keyed import load_recalls
from cerflow.etl.load_reports import load_reports
from cerflow.etl.maude import device_event_to_canonical
from cerflow.etl.openfda_drug import drug_event_to_canonical
from cerflow.etl.pharm_classes import ClassCollector
from cerflow.etl.recalls import device_recall_to_canonical, enforcement_to_canonical
from cerflow.etl.records import CanonicalReport
from cerflow.ingest._base import IngestError, IngestInputError, ProgressCallback, step_advance
from cerflow.sources import openfda as ofda
from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord
from cerflow.store.product_classes import save_classes

__all__ = [
    "Dataset",
    "DatasetResult",
    "datasets",
    "ingest_openfda",
    "pages_digest",
    "refresh_product",
    "run_dataset",
]


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


@dataclass(slots=True)
class DatasetResult:
    """One stored dataset: its name, how many records openFDA matched, what the loader did."""

    name: str
    matched: int
    load: LoadStats


def _device_mapper() -> Callable[[dict[str, Any], str], CanonicalReport]:
    return lambda doc, _location: device_event_to_canonical(doc)


def datasets(
    drug: str | None,
    codes: list[str],
    since: dt.date | None,
    until: dt.date | None,
    recalls: bool,
) -> list[Dataset]:
    """What one import fetches, in order; raises IngestInputError (a ValueError too) for a
    product openFDA cannot be asked about."""
    try:
        return _datasets(drug, codes, since, until, recalls)
    except IngestInputError:
        raise
    except ValueError as exc:
        raise IngestInputError(str(exc)) from None


def _datasets(
    drug: str | None,
    codes: list[str],
    since: dt.date | None,
    until: dt.date | None,
    recalls: bool,
) -> list[Dataset]:
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
    progress: ProgressCallback | None = None,
    skip_malformed: bool = False,
) -> tuple[int, LoadStats]:
    """Fetch, map and load one dataset; returns (records openFDA matched, loader stats).

    Raises the source's own errors (`OpenFDAError`, `SourceFormatError`) so a job runner can
    tell a retryable outage from a bad record; `ingest_openfda` turns them into an
    `IngestError` for callers that only show the message.
    """
    total = client.total(ds.endpoint, ds.windowed_search())
    advance = step_advance(progress, ds.name, total)
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
    classes = ClassCollector() if ds.endpoint == ofda.DRUG_EVENT else None
    if classes is not None:  # drugs' pharm_class_epc: the drug peer comparison's classes
        records = classes.tap(records)
    mapped = _mapped(records, ds, source_stats, skip_malformed)
    if ds.kind == "reports":
        stats = load_reports(
            engine, mapped, provenance, source_stats=source_stats, progress=advance
        )
    else:
        stats = load_recalls(
            engine, mapped, provenance, source_stats=source_stats, progress=advance
        )
    if classes is not None and classes.pairs:
        save_classes(
            engine, classes.pairs, source=f"openfda:{ds.endpoint}", snapshot_id=stats.snapshot_id
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


def ingest_openfda(
    engine: Engine,
    plan: list[Dataset],
    *,
    settings: Settings,
    progress: ProgressCallback | None = None,
    skip_malformed: bool = False,
) -> list[DatasetResult]:
    """Run `plan` (from `datasets`) dataset by dataset, each in its own transaction.

    Raises IngestError naming the failed dataset when openFDA fails for good or answers with
    a malformed record; its `done` holds the `DatasetResult`s already stored.
    """

    def failed(ds: Dataset, exc: Exception) -> str:
        return (
            f"{ds.name}: {exc}\nNothing from this dataset was stored; run the same command "
            "again later (already loaded datasets stay as they are)."
        )

    return _run_plan(engine, plan, settings, progress, skip_malformed, failed, failed)


def refresh_product(
    engine: Engine,
    *,
    drug: str | None,
    codes: list[str],
    since: dt.date | None,
    until: dt.date | None,
    settings: Settings,
    progress: ProgressCallback | None = None,
) -> list[DatasetResult]:
    """Import one product's openFDA events and recalls before a report reads the store.

    An unreachable openFDA is an IngestError that suggests reporting on the stored data
    instead (`--offline`); bad product input is an IngestInputError.
    """
    plan = datasets(drug, codes, since, until, True)

    def unreachable(ds: Dataset, exc: Exception) -> str:
        return (
            f"could not fetch {ds.name} from openFDA ({settings.openfda_base_url}): "
            f"{exc}\nRun again with --offline to report on the data already stored."
        )

    def malformed(ds: Dataset, exc: Exception) -> str:
        return f"{ds.name}: {exc}\nNothing from this dataset was stored."

    return _run_plan(engine, plan, settings, progress, False, unreachable, malformed)


def _run_plan(
    engine: Engine,
    plan: list[Dataset],
    settings: Settings,
    progress: ProgressCallback | None,
    skip_malformed: bool,
    unreachable: Callable[[Dataset, Exception], str],
    malformed: Callable[[Dataset, Exception], str],
) -> list[DatasetResult]:
    done: list[DatasetResult] = []
    with ofda.OpenFDAClient.from_settings(settings) as client:
        for ds in plan:
            try:
                total, stats = run_dataset(
                    client, engine, ds, progress=progress, skip_malformed=skip_malformed
                )
            except SourceFormatError as exc:
                raise IngestError(malformed(ds, exc), done=done) from exc
            except (ofda.OpenFDAError, httpx.HTTPError, OSError) as exc:
                raise IngestError(unreachable(ds, exc), done=done, status_code=502) from exc
            done.append(DatasetResult(ds.name, total, stats))
    return done

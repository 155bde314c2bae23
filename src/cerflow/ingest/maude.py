"""MAUDE import: FDA bulk files (or directories / zips of them) into the store.

All paths given form one import and one loader transaction, because a report's rows are spread
over several files (mdrfoi, foidev, patient, foitext...) and only the join makes a report: a
malformed file stops the import with file, line and field named and leaves the store as it
was. Running the same import again changes nothing (idempotent upserts keyed by
`mdr_report_key`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cerflow.etl.load_common import LoadStats
from cerflow.etl.load_reports import load_reports
from cerflow.etl.maude import device_event_to_canonical
from cerflow.etl.records import CanonicalReport
from cerflow.ingest._base import IngestError, ProgressCallback
from cerflow.sources.base import SourceFormatError
from cerflow.sources.maude_bulk import MaudeBulkReader

__all__ = ["ingest_maude", "ingest_paths"]

READING = "reading MAUDE rows"
LOADING = "loading reports"


def _canonical(reader: MaudeBulkReader, source_stats: dict[str, Any]) -> Iterator[CanonicalReport]:
    for record in reader:
        yield device_event_to_canonical(record.payload)
    # The loader writes `source_stats` to the snapshot after the last record: fill it in place.
    source_stats.update(reader.stats.as_dict())


def ingest_paths(
    engine: Engine,
    paths: list[Path],
    *,
    progress: ProgressCallback | None = None,
    tmp_dir: Path | None = None,
) -> tuple[LoadStats, dict[str, Any]]:
    """Read, join, normalize and load MAUDE files; returns loader and reader statistics.

    Raises `SourceFormatError` (nothing stored) for a malformed file."""
    totals: dict[str, int | None] = {READING: None, LOADING: None}

    def rows(n: int) -> None:
        if progress is not None:
            progress(READING, n, None)

    def ready(reports: int) -> None:
        totals[LOADING] = reports
        if progress is not None:
            progress(LOADING, 0, reports)

    def advance(n: int) -> None:
        if progress is not None:
            progress(LOADING, n, totals[LOADING])

    reader = MaudeBulkReader(paths, tmp_dir=tmp_dir, on_rows=rows, on_ready=ready)
    source_stats: dict[str, Any] = {"files": {f.location: f.kind for f in reader.files}}
    load = load_reports(
        engine,
        _canonical(reader, source_stats),
        reader.provenance,
        source_stats=source_stats,
        progress=advance,
    )
    return load, source_stats


def ingest_maude(
    engine: Engine,
    paths: list[Path],
    *,
    progress: ProgressCallback | None = None,
    tmp_dir: Path | None = None,
) -> tuple[LoadStats, dict[str, Any]]:
    """`ingest_paths`, with a malformed file raised as an IngestError for callers that show
    the message."""
    try:
        return ingest_paths(engine, paths, progress=progress, tmp_dir=tmp_dir)
    except SourceFormatError as exc:
        raise IngestError(
            f"{exc}\nNothing from this import was stored; fix or remove the file and run the "
            "command again.",
            status_code=422,
        ) from exc

"""FAERS import: FDA quarterly ASCII extracts (current and legacy AERS layouts) into the store.

Each zip is one transaction (the loader's): a malformed file stops with its member, line and
field named and leaves the store as it was; zips already imported stay imported. Give the
quarters oldest first; a case version older than the stored one is never applied anyway.
Cases on a quarter's deleted-cases list are removed from the store too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cerflow.etl.faers_columnar import load_quarter, read_faers_frames
from cerflow.etl.load_common import LoadStats
from cerflow.ingest._base import IngestError, IngestInputError, ProgressCallback, step_advance
from cerflow.sources.base import SourceFormatError

__all__ = ["QuarterResult", "ingest_quarters", "ingest_zip"]


@dataclass(slots=True)
class QuarterResult:
    """One stored quarter: its file name, the loader's and the reader's statistics."""

    name: str
    load: LoadStats
    source: dict[str, Any]


def ingest_zip(
    engine: Engine, path: Path, progress: ProgressCallback | None = None
) -> tuple[LoadStats, dict[str, Any]]:
    """Read, normalize and load one quarterly zip; returns loader and reader statistics.

    Uses the columnar path (`etl.faers_columnar` + `etl.load_reports`), proven equal to the
    per-record reference by tests; cases on the quarter's deleted list are also removed from
    the store (`LoadStats.deleted`). Raises `SourceFormatError` for a malformed file.
    """
    step_advance(progress, f"{path.name}: reading")
    frames = read_faers_frames(path)
    advance = step_advance(progress, f"{path.name}: loading", frames.reports.height)
    load = load_quarter(engine, frames, advance)
    return load, frames.stats


def ingest_quarters(
    engine: Engine, paths: Sequence[Path], *, progress: ProgressCallback | None = None
) -> list[QuarterResult]:
    """Import the zips in order, one transaction each.

    Raises IngestInputError before anything is read if a path is not a file, and IngestError
    naming the file when one is malformed (its `done` holds the quarters already stored).
    """
    for path in paths:
        if not path.is_file():
            raise IngestInputError(f"{path}: no such file")
    done: list[QuarterResult] = []
    for path in paths:
        try:
            load, source = ingest_zip(engine, path, progress)
        except SourceFormatError as exc:
            raise IngestError(
                f"{path}: {exc}\nNothing from this file was stored; fix or re-download the "
                "file and run the import again.",
                done=done,
                status_code=422,
            ) from exc
        done.append(QuarterResult(path.name, load, source))
    return done

"""What every source yields: the record as the source gave it, plus where it came from."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cerflow.errors import CerflowError


@dataclass(frozen=True, slots=True)
class Provenance:
    """Enough to reproduce a number: which source, where, what was asked, when, checksum."""

    source: str  # e.g. "openfda:/drug/event.json", "faers_ascii", "maude_bulk", "eudamed"
    location: str  # URL or file path
    query: str | None = None
    retrieved_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    sha256: str = ""
    is_generated: bool = False


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record in the source's own shape (openFDA JSON result, joined bulk-file rows)."""

    kind: str  # drug_event | device_event | recall | enforcement | device
    payload: dict[str, Any]
    provenance: Provenance


class SourceFormatError(CerflowError, ValueError):
    """Malformed input: names the file (or URL), line and field so a user can fix it."""

    status_code = 422

    def __init__(
        self, message: str, *, location: str, line: int | None = None, field: str | None = None
    ) -> None:
        self.location = location
        self.line = line
        self.field = field
        where = location
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

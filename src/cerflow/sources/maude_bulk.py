"""FDA MAUDE bulk files -> openFDA device-event documents, streamed and joined per report.

Files (recognised by name, case-insensitively; a directory is searched recursively, a `.zip`
is read member by member; several files of one kind, e.g. yearly files plus a `Change` file,
are simply concatenated):

| kind | file names | columns needed (header line, `|`-separated) |
|---|---|---|
| master | `mdrfoi*.txt` | `MDR_REPORT_KEY` + any others (all kept) |
| device | `foidev*.txt`, `device*.txt` | `MDR_REPORT_KEY` + any others |
| patient | `patient*.txt` | `MDR_REPORT_KEY` + any others |
| text | `foitext*.txt` | `MDR_REPORT_KEY` + others; `TEXT`/`FOI_TEXT` last |
| device problems | `foidevproblem*.txt` | `MDR_REPORT_KEY|DEVICE_PROBLEM_CODE` (1) |
| device problem codes | `deviceproblemcodes*.csv` | CSV `code,description` (1) |
| patient problems | `patientproblemcode*` | `MDR_REPORT_KEY|PATIENT_SEQUENCE_NO|PROBLEM_CODE`(1)|
| patient problem codes | `patientproblemcodes*.csv` | CSV `code,description` (1) |

(1) header line optional; `PATIENT_SEQUENCE_NUMBER` is accepted for `PATIENT_SEQUENCE_NO`.

Both FDA layouts work because columns are mapped by header name: the legacy lower-case layout
of FDA's pipeline fixtures and the current UPPER-CASE one with its extra columns (`DATE_ADDED`,
`DATE_CHANGED`, `UDI-DI`, `UDI-PUBLIC`, `PATIENT_AGE`, `PATIENT_SEX`...). Names are lower-cased,
`-` becomes `_` and trailing `_` is dropped; current-layout renames are mapped back to the
openFDA key (`DEVICE_SEQUENCE_NO` -> `device_sequence_number`, `FOI_TEXT` -> `text`,
`DEVICE_EVALUATED_BY_MANUFACTUR` -> `device_evaluated_by_manufacturer`,
`PATIENT_SEQUENCE_NO` -> `patient_sequence_number`). Unknown columns pass through unchanged.
A sample generator should therefore write the legacy header names upper-cased plus its
extras, `foidevproblem.txt` (`MDR_REPORT_KEY|DEVICE_PROBLEM_CODE`) and
`deviceproblemcodes.csv` (`DEVICE_PROBLEM_CODE,DEVICE_PROBLEM_DESCRIPTION`), in cp1252/latin-1
or UTF-8.

Known quirks handled: bytes are UTF-8 when they decode as such, else cp1252 (bytes cp1252
leaves undefined read as latin-1), so latin-1 narratives survive; a line that does not start
with `<digits>|` continues the previous record (an embedded newline), as long as the joined
record does not exceed the header's field count (in `foitext` extra `|` are kept in the
narrative instead); one stray trailing `|` is dropped; rows short of trailing columns are
padded with empty values (FDA's own fixtures have such rows); a value written by a CSV writer
(enclosed in quotes, every inner quote doubled) is unquoted. Anything
else - a non-numeric `MDR_REPORT_KEY`, an unparseable date, more fields than the header -
raises `SourceFormatError` naming file, line and field. Every file is read completely before
the first document is yielded, so a malformed file fails an import before anything is stored.

What is held in memory: one batch of rows (5,000) and one joined document. The join is a
sort-merge on disk: every row goes into a temporary SQLite file (dates already normalised),
indexed by `mdr_report_key`, then ordered cursors over master and child rows are merged. Disk
use is about the size of the input; documents come out in ascending `mdr_report_key`.

Dedup (`mdr_report_key`): a report in several master rows keeps the one with the latest
`DATE_CHANGED`, else the one read last (so a `Change` file given after the base file wins);
the others count as `duplicate_reports`. Child rows are deduplicated on their natural key
(text: `mdr_text_key`; device: `device_event_key` + `device_sequence_number`; patient:
`patient_sequence_number`; problems: the code), the row read last winning. Child rows whose
report is not in any master file are counted as orphans per file and not yielded; when no
master file is given at all, documents are built from the child rows alone.

The document has the shape FDA's openFDA pipeline (`join_maude.py`) gives and agrees with its
test fixture `maude_one.json` on every key it has, with these values:
- all columns as strings as read; dates as `YYYYMMDD`; empty dates dropped (FDA drops them);
- `patient`, `device`, `mdr_text` lists always present (empty when no rows), without
  `mdr_report_key` in the nested records;
- coded fields replaced by FDA's descriptions (`sources.maude_codes`): report_source_code,
  reporter_occupation_code, initial_report_to_fda, event_type, event_location,
  device_operator, device_availability, date_removed_flag, text_type_code; `source_type`,
  `remedial_action`, `type_of_report` become lists (an empty value stays `""`, as FDA does);
- `product_problems` (device problem descriptions, code when no description is known) only
  when a device-problem file was given; `patient[].patient_problems` likewise.
Left out or different, on purpose:
- `*_exact` keys: copies FDA's pipeline adds for its Elasticsearch index; not API content.
- `patient[].sequence_number_outcome`: a list of outcome descriptions (`["Life Threatening",
  "Required Intervention"]`). FDA's 2014 fixture has `["1, Life Threatening", "1, Life
  Threatening, 2, Required Intervention"]`, an accumulation bug of that pipeline; the
  descriptions are the same set, the tests check that.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord, sha256_file
from cerflow.sources.header_check import header_problem
from cerflow.sources.limits import (
    ReadLimits,
    bounded_lines,
    check_archive,
    line_too_long,
    open_member,
    resolve,
)
from cerflow.sources.maude_codes import MULTI_ENUMS, SEQUENCE_NUMBER_OUTCOME, SIMPLE_ENUMS

FileKind = Literal[
    "master",
    "device",
    "patient",
    "text",
    "device_problem",
    "device_problem_codes",
    "patient_problem",
    "patient_problem_codes",
]
ChildKind = Literal["device", "patient", "text", "device_problem", "patient_problem"]
CHILD_KINDS: tuple[ChildKind, ...] = (
    "device",
    "patient",
    "text",
    "device_problem",
    "patient_problem",
)
SOURCE = "maude_bulk"
BATCH = 5000

# Dates FDA's pipeline rewrites to YYYYMMDD (and drops when empty), plus the current layout's.
DATE_FIELDS = frozenset(
    {
        "date_received",
        "baseline_date_first_marketed",
        "date_returned_to_manufacturer",
        "date_report_to_fda",
        "baseline_date_ceased_marketing",
        "date_report_to_manufacturer",
        "expiration_date_of_device",
        "device_date_of_manufacture",
        "device_date_of_manufacturer",
        "date_facility_aware",
        "report_date",
        "date_report",
        "date_manufacturer_received",
        "date_of_event",
        "date_added",
        "date_changed",
    }
)
_ALIASES = {
    "device_sequence_no": "device_sequence_number",
    "device_evaluated_by_manufactur": "device_evaluated_by_manufacturer",
    "foi_text": "text",
    "patient_sequence_no": "patient_sequence_number",
}
# Files FDA ships without a header line.
_DEFAULT_COLUMNS: dict[FileKind, list[str]] = {
    "device_problem": ["mdr_report_key", "device_problem_code"],
    "patient_problem": ["mdr_report_key", "patient_sequence_number", "problem_code"],
}
_REQUIRED: dict[FileKind, tuple[str, ...]] = {
    "device_problem": ("device_problem_code",),
    "patient_problem": ("patient_sequence_number", "problem_code"),
}
_KEY_START = re.compile(r"^\s*\d+\s*\|")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}


def _latin1_fallback(err: UnicodeError) -> tuple[str, int]:
    # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined; latin-1 maps every byte.
    assert isinstance(err, UnicodeDecodeError)
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error("cerflow_latin1", _latin1_fallback)


def decode_line(raw: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8 (plain ASCII always is), else cp1252/latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="cerflow_latin1")


def column_name(header: str) -> str:
    """The openFDA key for a bulk-file column name, whichever layout it comes from."""
    name = header.strip().lstrip("\ufeff").lower().replace("-", "_").rstrip("_")
    return _ALIASES.get(name, name)


def classify(name: str) -> FileKind | None:
    """Which MAUDE file a name is (None: not one we read)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    stem, dot, ext = base.rpartition(".")
    if not dot or ext not in {"txt", "csv"}:
        return None
    if stem.startswith("foidevproblem"):
        return "device_problem"
    if stem.startswith("deviceproblemcode"):
        return "device_problem_codes"
    if stem.startswith(("patientproblemcodes", "patientproblemdata")) and ext == "csv":
        return "patient_problem_codes"
    if stem.startswith("patientproblem"):
        return "patient_problem"
    if ext != "txt":
        return None
    if stem.startswith("mdrfoi"):
        return "master"
    if stem.startswith(("foidev", "device")):
        return "device"
    if stem.startswith("foitext"):
        return "text"
    if stem.startswith("patient"):
        return "patient"
    return None


@dataclass(frozen=True, slots=True)
class InputFile:
    """One bulk file, on disk or inside a zip; `location` is what errors and stats name."""

    kind: FileKind
    location: str
    opener: Callable[[], IO[bytes]]


def _zip_members(path: Path, limits: ReadLimits) -> list[InputFile]:
    files = []
    try:
        with zipfile.ZipFile(path) as zf:
            check_archive(zf, str(path), limits)
            names = sorted(n for n in zf.namelist() if not n.endswith("/"))
    except zipfile.BadZipFile as exc:
        raise SourceFormatError(
            f"not a zip archive ({exc}): re-download it, or unzip it and pass the text files",
            location=str(path),
        ) from None
    for member in names:
        kind = classify(member)
        if kind is None:
            continue

        def opener(member: str = member) -> IO[bytes]:
            return io.BufferedReader(_ZipMember(zipfile.ZipFile(path), member, limits))

        files.append(InputFile(kind, f"{path}!{member}", opener))
    return files


class _ZipMember(io.RawIOBase):
    """A zip member opened as a stream that also closes its archive."""

    def __init__(self, zf: zipfile.ZipFile, member: str, limits: ReadLimits) -> None:
        self._zf = zf
        self._fh = open_member(zf, member, str(zf.filename), limits)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._fh.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        self._zf.close()
        super().close()


def _file_opener(path: Path) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        return path.open("rb")

    return opener


def find_input_files(paths: Iterable[Path], limits: ReadLimits | None = None) -> list[InputFile]:
    """MAUDE files among `paths` (files, directories searched recursively, zips), in order.

    Raises `SourceFormatError` for a path that does not exist or an explicitly named file
    that is not recognisably a MAUDE file, and when nothing usable is found.
    """
    limits = resolve(limits)
    found: list[InputFile] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for sub in sorted(p for p in path.rglob("*") if p.is_file()):
                if sub.suffix.lower() == ".zip":
                    found.extend(_zip_members(sub, limits))
                elif (kind := classify(sub.name)) is not None:
                    found.append(InputFile(kind, str(sub), _file_opener(sub)))
        elif path.is_file() and path.suffix.lower() == ".zip":
            members = _zip_members(path, limits)
            if not members:
                raise SourceFormatError("zip holds no MAUDE file", location=str(path))
            found.extend(members)
        elif path.is_file():
            kind = classify(path.name)
            if kind is None:
                raise SourceFormatError(
                    "not a MAUDE bulk file name (expected mdrfoi*.txt, foidev*.txt, "
                    "device*.txt, patient*.txt, foitext*.txt, foidevproblem*.txt, "
                    "deviceproblemcodes*.csv, patientproblemcode*.txt)",
                    location=str(path),
                )
            found.append(InputFile(kind, str(path), _file_opener(path)))
        else:
            raise SourceFormatError("no such file or directory", location=str(path))
    if not any(f.kind in ("master", *CHILD_KINDS) for f in found):
        raise SourceFormatError(
            "no MAUDE bulk file found (mdrfoi, foidev/device, patient, foitext)",
            location=", ".join(str(p) for p in paths) or "(no path)",
        )
    return found


@dataclass(slots=True)
class FileStats:
    kind: str
    rows: int = 0
    continued_lines: int = 0  # physical lines joined into the previous record
    padded_rows: int = 0  # rows short of trailing columns
    orphans: int = 0  # child rows whose report is in no master file
    duplicates: int = 0  # rows replaced by a later row with the same key


@dataclass(slots=True)
class ReaderStats:
    """What the reader saw; stored on the import's snapshot row."""

    files: dict[str, FileStats] = field(default_factory=dict)
    documents: int = 0
    duplicate_reports: int = 0
    orphan_rows: int = 0
    child_duplicates: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "duplicate_reports": self.duplicate_reports,
            "orphan_rows": self.orphan_rows,
            "child_duplicates": self.child_duplicates,
            "files": {
                loc: {
                    "kind": s.kind,
                    "rows": s.rows,
                    "continued_lines": s.continued_lines,
                    "padded_rows": s.padded_rows,
                    "orphans": s.orphans,
                    "duplicates": s.duplicates,
                }
                for loc, s in self.files.items()
            },
        }


def normalize_date(value: str, *, location: str, line: int, column: str) -> str | None:
    """`YYYYMMDD` for MM/DD/YYYY, YYYY/MM/DD, DD-MON-YY(YY), YYYYMMDD, YYYY-MM-DD[...]."""
    text = value.strip()
    if not text:
        return None
    try:
        if "/" in text:
            a, b, c = text.split(" ")[0].split("/")
            day = (
                dt.date(int(a), int(b), int(c)) if len(a) == 4 else dt.date(int(c), int(a), int(b))
            )
        elif text.isdigit() and len(text) == 8:
            day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        elif len(text) >= 10 and text[4] == "-" and text[7] == "-":
            day = dt.date.fromisoformat(text[:10])
        elif text.count("-") == 2:
            d, mon, y = text.split("-")
            year = int(y)
            if len(y) == 2:
                year += 2000 if year < 70 else 1900
            day = dt.date(year, _MONTHS[mon[:3].lower()], int(d))
        else:
            raise ValueError(text)
    except (ValueError, KeyError):
        raise SourceFormatError(
            f"unparseable date {value!r} (expected MM/DD/YYYY, DD-MON-YY or YYYYMMDD)",
            location=location,
            line=line,
            field=column,
        ) from None
    return day.strftime("%Y%m%d")


def _unquote(value: str) -> str:
    # Only a value a CSV writer produced: enclosed in quotes, every inner quote doubled.
    if len(value) >= 4 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if '""' in inner and '"' not in inner.replace('""', ""):
            return inner.replace('""', '"')
    return value


def _records(
    fh: IO[bytes], location: str, stats: FileStats, kind: FileKind, limits: ReadLimits
) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    """(first line number, column names, row) for each logical record of one file; a
    physical line or a record (continuation lines joined) over `limits.max_line_bytes`
    raises `SourceLimitError`."""
    lines = (
        (no, decode_line(raw.rstrip(b"\r\n")))
        for no, raw in enumerate(bounded_lines(fh, location, limits), 1)
    )
    columns: list[str] | None = None
    pending: tuple[int, str] | None = None
    for no, text in lines:
        if not text.strip():
            continue
        fields = text.split("|")
        if fields[-1] == "" and len(fields) > 1:
            fields.pop()
        if fields[0].strip().isdigit() and kind in _DEFAULT_COLUMNS:
            columns = list(_DEFAULT_COLUMNS[kind])
            pending = (no, text)
        else:
            columns = [column_name(f) for f in fields]
        break
    if columns is None:  # an interrupted download, not "no reports"
        raise SourceFormatError(
            "the file is empty (no header line): re-download it", location=location, line=1
        )
    if "mdr_report_key" not in columns:
        problem = header_problem(text.encode("latin-1", "replace"), "|")
        raise SourceFormatError(
            problem or "header line has no MDR_REPORT_KEY column", location=location, line=1
        )
    for needed in _REQUIRED.get(kind, ()):
        if needed not in columns:
            raise SourceFormatError(
                f"header line has no {needed.upper()} column", location=location, line=1
            )
    ncols = len(columns)
    text_last = kind == "text" and columns[-1] == "text"
    key_index = columns.index("mdr_report_key")

    chain: Iterator[tuple[int, str]] = lines
    if pending is not None:
        chain = itertools.chain([pending], lines)
    current: tuple[int, list[str]] | None = None
    size = 0  # characters in `current`, so endless continuation lines cannot grow it unbounded
    for no, text in chain:
        if current is not None and not _KEY_START.match(text):
            fields = current[1]
            more = text.split("|")
            if text_last or len(fields) + len(more) - 1 <= ncols + 1:
                size += len(text) + 1
                if size > limits.max_line_bytes:
                    raise line_too_long(location, current[0], limits)
                fields[-1] += "\n" + more[0]
                fields.extend(more[1:])
                stats.continued_lines += bool(text.strip())
                continue
        if current is not None:
            yield _finish(current, columns, ncols, text_last, location, stats, key_index)
            current = None
        if not text.strip():
            continue
        current = (no, text.split("|"))
        size = len(text)
    if current is not None:
        yield _finish(current, columns, ncols, text_last, location, stats, key_index)


def _finish(
    record: tuple[int, list[str]],
    columns: list[str],
    ncols: int,
    text_last: bool,
    location: str,
    stats: FileStats,
    key_index: int,
) -> tuple[int, list[str], dict[str, str]]:
    start, fields = record
    fields[-1] = fields[-1].rstrip("\n")
    if len(fields) == ncols + 1 and fields[-1] == "":
        fields.pop()  # stray trailing delimiter
    if len(fields) > ncols:
        if text_last:
            fields[ncols - 1 :] = ["|".join(fields[ncols - 1 :])]
        else:
            raise SourceFormatError(
                f"{len(fields)} fields but the header has {ncols}; a '|' inside a value or a"
                " line break that could not be repaired",
                location=location,
                line=start,
                field=columns[-1],
            )
    elif len(fields) < ncols:
        stats.padded_rows += 1
        fields.extend([""] * (ncols - len(fields)))
    key = fields[key_index].strip()
    if not key.isdigit():
        raise SourceFormatError(
            f"MDR_REPORT_KEY {fields[key_index]!r} is not a number",
            location=location,
            line=start,
            field="mdr_report_key",
        )
    stats.rows += 1
    row: dict[str, str] = {}
    for name, value in zip(columns, fields, strict=True):
        if name in DATE_FIELDS:
            fixed = normalize_date(value, location=location, line=start, column=name)
            if fixed is not None:
                row[name] = fixed
        else:
            row[name] = _unquote(value)
    row["mdr_report_key"] = key
    return start, columns, row


def read_code_table(
    fh: IO[bytes], location: str, limits: ReadLimits | None = None
) -> dict[str, str]:
    """`code -> description` from a problem-code CSV (header line optional)."""
    lines = bounded_lines(fh, location, resolve(limits))
    text = io.StringIO("\n".join(decode_line(raw.rstrip(b"\r\n")) for raw in lines))
    table: dict[str, str] = {}
    code_col, desc_col = 0, 1
    for no, row in enumerate(csv.reader(text), 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if no == 1 and not row[0].strip().isdigit():
            names = [c.strip().lower() for c in row]
            codes = [i for i, n in enumerate(names) if "code" in n]
            descs = [i for i, n in enumerate(names) if i not in codes]
            if codes and descs:
                code_col = codes[0]
                desc_col = next(
                    (i for i in descs if any(w in names[i] for w in ("desc", "text", "term"))),
                    descs[0],
                )
            continue
        if len(row) <= max(code_col, desc_col):
            raise SourceFormatError(
                f"{len(row)} columns, expected a code and a description",
                location=location,
                line=no,
            )
        table[row[code_col].strip()] = row[desc_col].strip()
    return table


_SCHEMA = """
CREATE TABLE master (key INTEGER, changed TEXT, ord INTEGER, fid INTEGER, payload TEXT);
CREATE TABLE child (kind TEXT, key INTEGER, ord INTEGER, fid INTEGER, payload TEXT);
"""


class MaudeBulkReader:
    """Iterate to get one `SourceRecord(kind="device_event")` per report; see module doc."""

    def __init__(
        self,
        paths: Iterable[Path],
        *,
        tmp_dir: Path | None = None,
        retrieved_at: dt.datetime | None = None,
        on_rows: Callable[[int], None] | None = None,
        on_ready: Callable[[int], None] | None = None,
        limits: ReadLimits | None = None,
    ) -> None:
        """`on_rows(n)` is called as rows are read, `on_ready(reports)` once all are read;
        `limits` (default: the settings) bound archive members and line lengths."""
        self.on_rows = on_rows
        self.on_ready = on_ready
        self.limits = resolve(limits)
        self.paths = [Path(p) for p in paths]
        self.files = find_input_files(self.paths, self.limits)
        self.tmp_dir = tmp_dir
        self.stats = ReaderStats()
        self.provenance = Provenance(
            source=SOURCE,
            location=", ".join(str(p) for p in self.paths),
            retrieved_at=retrieved_at or dt.datetime.now(dt.UTC),
            sha256=self._digest(),
        )

    def _digest(self) -> str:
        physical = sorted({f.location.split("!", 1)[0] for f in self.files})
        if len(physical) == 1:
            return sha256_file(Path(physical[0]))
        digest = hashlib.sha256()
        for loc in physical:
            digest.update(f"{loc}\t{sha256_file(Path(loc))}\n".encode())
        return digest.hexdigest()

    def __iter__(self) -> Iterator[SourceRecord]:
        with tempfile.TemporaryDirectory(prefix="cerflow-maude-", dir=self.tmp_dir) as tmp:
            conn = sqlite3.connect(Path(tmp) / "join.sqlite")
            try:
                conn.execute("PRAGMA journal_mode=OFF")
                conn.execute("PRAGMA synchronous=OFF")
                conn.executescript(_SCHEMA)
                codes = self._spill(conn)
                conn.execute("CREATE INDEX master_key ON master (key, changed, ord)")
                conn.execute("CREATE INDEX child_key ON child (kind, key, ord)")
                if self.on_ready is not None:
                    table = "master" if any(f.kind == "master" for f in self.files) else "child"
                    (count,) = conn.execute(f"SELECT COUNT(DISTINCT key) FROM {table}").fetchone()
                    self.on_ready(int(count))
                yield from self._merge(conn, codes)
            finally:
                conn.close()

    def _spill(self, conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
        codes: dict[str, dict[str, str]] = {"device_problem": {}, "patient_problem": {}}
        order = itertools.count()
        for fid, item in enumerate(self.files):
            stats = self.stats.files.setdefault(item.location, FileStats(kind=item.kind))
            with item.opener() as fh:
                if item.kind in ("device_problem_codes", "patient_problem_codes"):
                    table = read_code_table(fh, item.location, self.limits)
                    codes[item.kind.removesuffix("_codes")].update(table)
                    stats.rows += len(table)
                    continue
                batch: list[tuple[Any, ...]] = []
                for _start, _cols, row in _records(
                    fh, item.location, stats, item.kind, self.limits
                ):
                    key = int(row["mdr_report_key"])
                    if item.kind == "master":
                        batch.append(
                            (key, row.get("date_changed", ""), next(order), fid, json.dumps(row))
                        )
                    else:
                        del row["mdr_report_key"]
                        batch.append((item.kind, key, next(order), fid, json.dumps(row)))
                    if len(batch) >= BATCH:
                        self._insert(conn, item.kind, batch)
                        batch = []
                self._insert(conn, item.kind, batch)
        conn.commit()
        return codes

    def _insert(
        self, conn: sqlite3.Connection, kind: FileKind, batch: list[tuple[Any, ...]]
    ) -> None:
        if not batch:
            return
        if self.on_rows is not None:
            self.on_rows(len(batch))
        if kind == "master":
            conn.executemany("INSERT INTO master VALUES (?, ?, ?, ?, ?)", batch)
        else:
            conn.executemany("INSERT INTO child VALUES (?, ?, ?, ?, ?)", batch)

    def _merge(
        self, conn: sqlite3.Connection, codes: dict[str, dict[str, str]]
    ) -> Iterator[SourceRecord]:
        locations = [f.location for f in self.files]
        given = {f.kind for f in self.files}
        children = {kind: _ChildCursor(conn, kind, self.stats, locations) for kind in CHILD_KINDS}
        has_master = "master" in given
        if has_master:
            rows = conn.execute(
                "SELECT key, fid, payload FROM master ORDER BY key, changed DESC, ord DESC"
            )
            keys: Iterator[tuple[int, dict[str, Any]]] = self._masters(rows, locations)
        else:
            distinct = conn.execute("SELECT DISTINCT key FROM child ORDER BY key")
            keys = ((k, {"mdr_report_key": str(k)}) for (k,) in distinct)
        for key, header in keys:
            parts = {kind: cursor.take(key) for kind, cursor in children.items()}
            doc = build_document(
                header,
                parts,
                device_problem_codes=codes["device_problem"],
                patient_problem_codes=codes["patient_problem"],
                with_device_problems="device_problem" in given,
                with_patient_problems="patient_problem" in given,
            )
            self.stats.documents += 1
            yield SourceRecord(kind="device_event", payload=doc, provenance=self.provenance)
        for cursor in children.values():
            cursor.drain()
        self.stats.orphan_rows = sum(s.orphans for s in self.stats.files.values())

    def _masters(
        self, rows: Iterable[tuple[int, int, str]], locations: list[str]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        for key, group in itertools.groupby(rows, key=lambda r: r[0]):
            first, *rest = group
            payload = first[2]
            for _, fid, _ in rest:
                self.stats.duplicate_reports += 1
                self.stats.files[locations[fid]].duplicates += 1
            yield key, json.loads(payload)


def _natural_key(kind: ChildKind, row: dict[str, Any], payload: str) -> str:
    seq = _seq
    if kind == "text" and row.get("mdr_text_key"):
        return str(row["mdr_text_key"]).strip()
    if kind == "device" and (row.get("device_event_key") or row.get("device_sequence_number")):
        event_key = str(row.get("device_event_key") or "").strip()
        return f"{event_key}|{seq(row.get('device_sequence_number'))}"
    if kind == "patient" and row.get("patient_sequence_number"):
        return seq(row["patient_sequence_number"])
    if kind == "device_problem":
        return str(row.get("device_problem_code", "")).strip()
    if kind == "patient_problem":
        code = str(row.get("problem_code", "")).strip()
        return f"{seq(row.get('patient_sequence_number'))}|{code}"
    return payload


class _ChildCursor:
    """Child rows of one kind in key order; hands out each report's rows, deduplicated."""

    def __init__(
        self, conn: sqlite3.Connection, kind: ChildKind, stats: ReaderStats, locations: list[str]
    ) -> None:
        self.kind = kind
        self.stats = stats
        self.locations = locations
        rows = conn.execute(
            "SELECT key, fid, payload FROM child WHERE kind = ? ORDER BY key, ord", (kind,)
        )
        self._groups = itertools.groupby(rows, key=lambda r: int(r[0]))
        self._head: tuple[int, list[tuple[int, int, str]]] | None = None
        self._advance()

    def _advance(self) -> None:
        nxt = next(self._groups, None)
        self._head = None if nxt is None else (nxt[0], list(nxt[1]))

    def _orphan(self, rows: list[tuple[int, int, str]]) -> None:
        for _, fid, _ in rows:
            self.stats.files[self.locations[fid]].orphans += 1

    def take(self, key: int) -> list[dict[str, Any]]:
        while self._head is not None and self._head[0] < key:
            self._orphan(self._head[1])
            self._advance()
        if self._head is None or self._head[0] != key:
            return []
        rows = self._head[1]
        self._advance()
        kept: dict[str, dict[str, Any]] = {}
        for _, fid, payload in rows:
            row = json.loads(payload)
            nk = _natural_key(self.kind, row, payload)
            if nk in kept:
                self.stats.child_duplicates += 1
                self.stats.files[self.locations[fid]].duplicates += 1
            kept[nk] = row
        return list(kept.values())

    def drain(self) -> None:
        while self._head is not None:
            self._orphan(self._head[1])
            self._advance()


def outcome_descriptions(value: str | list[str] | None) -> list[str]:
    """`"1,L;2,R;"`, `"1. L; 2. R"`, `["1, Life Threatening"]` -> `["Life Threatening", ...]`."""
    if not value:
        return []
    parts = value if isinstance(value, list) else [value]
    by_name = {v.casefold(): v for v in SEQUENCE_NUMBER_OUTCOME.values()}
    found: list[str] = []
    for part in parts:
        for token in re.split(r"[;,]", str(part)):
            token = re.sub(r"^\s*\d+\s*[.):-]?\s*", "", token).strip()
            if not token:
                continue
            desc = SEQUENCE_NUMBER_OUTCOME.get(token.upper()) or by_name.get(token.casefold())
            desc = desc or token
            if desc not in found:
                found.append(desc)
    return found


def _map_simple(record: dict[str, Any]) -> None:
    for name, table in SIMPLE_ENUMS.items():
        value = record.get(name)
        if isinstance(value, str) and value in table:
            record[name] = table[value]


def build_document(
    header: dict[str, Any],
    parts: dict[ChildKind, list[dict[str, Any]]],
    *,
    device_problem_codes: dict[str, str] | None = None,
    patient_problem_codes: dict[str, str] | None = None,
    with_device_problems: bool = False,
    with_patient_problems: bool = False,
) -> dict[str, Any]:
    """Join one report's rows into the openFDA device-event shape (see module docstring)."""
    doc = dict(header)
    _map_simple(doc)
    for name, table in MULTI_ENUMS.items():
        value = doc.get(name)
        if isinstance(value, str) and value.strip():
            doc[name] = [table.get(t.strip(), t.strip()) for t in value.split(",") if t.strip()]
    patients = [dict(p) for p in parts.get("patient", [])]
    for patient in patients:
        _map_simple(patient)
        patient["sequence_number_outcome"] = outcome_descriptions(
            patient.get("sequence_number_outcome")
        )
    if with_patient_problems:
        pcodes = patient_problem_codes or {}
        by_seq: dict[str, list[str]] = {}
        for row in parts.get("patient_problem", []):
            code = str(row.get("problem_code", "")).strip()
            if code:
                seq = _seq(row.get("patient_sequence_number"))
                desc = pcodes.get(code, code)
                problems = by_seq.setdefault(seq, [])
                if desc not in problems:
                    problems.append(desc)
        for patient in patients:
            patient["patient_problems"] = by_seq.pop(
                _seq(patient.get("patient_sequence_number")), []
            )
        for seq, problems in by_seq.items():  # problems for a patient row that is missing
            patients.append({"patient_sequence_number": seq, "patient_problems": problems})
    devices = [dict(d) for d in parts.get("device", [])]
    for device in devices:
        _map_simple(device)
    texts = [dict(t) for t in parts.get("text", [])]
    for text in texts:
        _map_simple(text)
    doc["patient"] = patients
    doc["device"] = devices
    doc["mdr_text"] = texts
    if with_device_problems:
        dcodes = device_problem_codes or {}
        product_problems: list[str] = []
        for row in parts.get("device_problem", []):
            code = str(row.get("device_problem_code", "")).strip()
            desc = dcodes.get(code, code)
            if code and desc not in product_problems:
                product_problems.append(desc)
        doc["product_problems"] = product_problems
    return doc


def _seq(value: Any) -> str:
    text = str(value or "").strip()
    try:
        return str(int(float(text)))
    except ValueError:
        return text


def read_maude(paths: Iterable[Path], **kwargs: Any) -> Iterator[SourceRecord]:
    """Convenience: the documents of `MaudeBulkReader(paths)` (stats are then not reachable)."""
    return iter(MaudeBulkReader(paths, **kwargs))

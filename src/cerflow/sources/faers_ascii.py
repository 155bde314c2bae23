"""FAERS / legacy AERS quarterly ASCII zips -> one joined `SourceRecord` per kept case.

A quarter is seven `$`-delimited tables (DEMO, DRUG, REAC, OUTC, RPSR, THER, INDI) under
`ascii/` (or `ASCII/`), named like `DEMO17Q2.txt` / `DEMO04Q1.TXT`, plus, from some quarters
on, a deleted-cases list (a member whose path contains `DELET`, one caseid a line).

Layouts (detected from the DEMO header, columns always mapped by header name):
- current FAERS (2012Q4+): key `primaryid`, case `caseid`, version `caseversion`;
- legacy AERS (2004Q1-2012Q3): key `isr`, case `case`, no version column. FDA assigns a new,
  larger ISR to every follow-up, so the *highest isr per case* is taken as the latest.

Dedup (FDA's rule): per case keep the row with the highest (caseversion, primaryid); drop
cases listed in the quarter's deleted-cases file. Child rows of dropped versions are
dropped too. Every DEMO row is accounted for in `stats`:
`demo_rows = cases + superseded + deleted + duplicate_primaryid`.

Quirks handled: optional trailing `$` on header and rows; rows cut by an embedded newline
(a row with fewer fields than the header continues on the next line, joined with "\\n");
CRLF line ends; bytes that are not UTF-8 are read as cp1252 (latin-1 for the five bytes
cp1252 leaves undefined). Anything else (a key that is not a number, a row that has too
many fields or stays short) raises `SourceFormatError` naming member, line and field,
before the first record is yielded (the structure of every table is checked first).

Memory (what grows with what). Pass 1 reads DEMO and keeps three maps sized by the DEMO
row count: primaryid -> DEMO ordinal, the kept primaryids, caseid -> winning version
(about 100 bytes per DEMO row; ~40 MB for a 400k-report quarter). Pass 2 streams each
child table once, checking that its rows come grouped in DEMO order (FDA's files are
written case by case in the DEMO order). Aligned tables are then merge-joined in pass 3
while DEMO streams again: memory is one case's rows, independent of file size. A table
that is *not* in DEMO order falls back to an in-memory index of its raw lines for kept
cases (grows with that table's size: ~120 bytes per row), so unsorted input still works,
at a memory cost that `stats["indexed_tables"]` reports.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cerflow.sources.base import Provenance, SourceFormatError, SourceRecord, sha256_file
from cerflow.sources.header_check import header_problem
from cerflow.sources.limits import (
    ReadLimits,
    check_archive,
    line_too_long,
    open_member,
    resolve,
)

TABLES = ("demo", "drug", "reac", "outc", "rpsr", "ther", "indi")
CHILD_TABLES = TABLES[1:]
REQUIRED_TABLES = ("demo", "drug", "reac")
_MEMBER_RE = re.compile(r"(?:^|/)(DEMO|DRUG|REAC|OUTC|RPSR|THER|INDI)(\d\d)Q([1-4])\.TXT$", re.I)
_CHUNK = 1 << 22


@dataclass(frozen=True, slots=True)
class Layout:
    name: str  # "faers" | "aers"
    key: str  # primaryid | isr
    case: str  # caseid | case
    version: str | None  # caseversion | None


FAERS = Layout("faers", "primaryid", "caseid", "caseversion")
AERS = Layout("aers", "isr", "case", None)


@dataclass(slots=True)
class _Plan:
    """Result of pass 1: which DEMO rows survive dedup, and where each primaryid sits."""

    ordinal: dict[int, int] = field(default_factory=dict)
    kept: set[int] = field(default_factory=set)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def decode_row(raw: bytes) -> str:
    """Public form of the reader's per-row decoding (UTF-8, else cp1252, else latin-1), so a
    columnar reader decodes exactly as this one does."""
    return _decode(raw)


def _physical_lines(stream: IO[bytes], location: str, limits: ReadLimits) -> Iterator[bytes]:
    """Lines without their end-of-line bytes, read in large blocks (fast on zip members);
    a line longer than `limits.max_line_bytes` raises instead of growing without bound."""
    rest = b""
    limit = limits.max_line_bytes + 1  # + a "\r"
    seen = 0
    while chunk := stream.read(_CHUNK):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        if len(rest) > limit or (lines and max(map(len, lines)) > limit):
            long = next((i for i, line in enumerate(lines) if len(line) > limit), len(lines))
            raise line_too_long(location, seen + long + 1, limits)
        seen += len(lines)
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if rest:
        yield rest[:-1] if rest.endswith(b"\r") else rest


class _Table:
    """One member: header names and an iterator of rows reassembled across embedded newlines."""

    def __init__(self, zf: zipfile.ZipFile, member: str, limits: ReadLimits) -> None:
        self.zf = zf
        self.member = member
        self.limits = limits
        with self.open() as fh:
            first = fh.readline(limits.max_line_bytes + 2)
        if len(first.rstrip(b"\r\n")) > limits.max_line_bytes:
            raise line_too_long(member, 1, limits)
        problem = header_problem(first.rstrip(b"\r\n"), "$")
        if problem is not None:
            raise SourceFormatError(problem, location=member, line=1)
        header = _decode(first.rstrip(b"\r\n")).lstrip("\ufeff")
        names = [n.strip().lower() for n in header.split("$")]
        if names and names[-1] == "":
            names.pop()
        if not names or any(not n for n in names):
            raise SourceFormatError(
                "header line is missing or has an empty column name",
                location=member,
                line=1,
            )
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}

    def open(self) -> IO[bytes]:
        """The member, stopped once it inflates past `limits.max_member_bytes`."""
        return open_member(self.zf, self.member, str(self.zf.filename), self.limits)

    def col(self, name: str) -> int:
        try:
            return self.index[name]
        except KeyError:
            raise SourceFormatError(
                f"required column is missing (header has {', '.join(self.names)})",
                location=self.member,
                line=1,
                field=name,
            ) from None

    def raw_rows(self) -> Iterator[tuple[int, bytes]]:
        """(first line number, row bytes); embedded newlines rejoined, trailing `$` removed."""
        n = len(self.names)
        member = self.member
        pending = b""
        pending_line = 0
        pending_fields = 0
        max_row = self.limits.max_line_bytes
        with self.open() as fh:
            lines = _physical_lines(fh, member, self.limits)
            next(lines, None)  # header
            line_no = 1
            for line in lines:
                line_no += 1
                if b"\x00" in line:  # PostgreSQL cannot store it; no real FAERS row has one
                    raise SourceFormatError(
                        "NUL byte (a control character) in the row: the file is corrupt or "
                        "not a FAERS text table; re-download the quarter",
                        location=member,
                        line=line_no,
                    )
                if pending_line:
                    row = pending + b"\n" + line
                    fields = pending_fields + line.count(b"$")
                    if len(row) > max_row:  # a "row" of endless embedded newlines
                        raise line_too_long(member, pending_line, self.limits)
                else:
                    if not line:
                        continue  # blank line between rows (e.g. at the end of a file)
                    row = line
                    fields = line.count(b"$") + 1
                if fields == n:
                    pass
                elif fields == n + 1 and row.endswith(b"$"):
                    row = row[:-1]
                elif fields < n:
                    if not pending_line:
                        pending_line = line_no
                    pending, pending_fields = row, fields
                    continue
                else:
                    if pending_line:
                        raise SourceFormatError(
                            f"row has {pending_fields} of {n} fields and the next line "
                            "does not continue it (truncated row?)",
                            location=member,
                            line=pending_line,
                            field=self.names[pending_fields],
                        )
                    raise SourceFormatError(
                        f"row has {fields} fields, header has {n}",
                        location=member,
                        line=line_no,
                        field=f"#{n + 1} (after {self.names[-1]})",
                    )
                start = pending_line or line_no
                pending_line = 0
                yield start, row
            if pending_line:
                raise SourceFormatError(
                    f"row has {pending_fields} of {n} fields at end of file (truncated row)",
                    location=member,
                    line=pending_line,
                    field=self.names[pending_fields],
                )

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        n = len(self.names)
        for line_no, raw in self.raw_rows():
            parts = _decode(raw).split("$")
            if len(parts) > n:  # only the removed trailing `$` case reaches here
                del parts[n:]
            yield line_no, parts

    def number(self, value: str | bytes, line_no: int, name: str) -> int:
        if value.isdigit() and value.isascii():
            return int(value)
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        raise SourceFormatError(
            f"expected a whole number, got {text!r}", location=self.member, line=line_no, field=name
        )


def _find_members(zf: zipfile.ZipFile, path: Path) -> tuple[dict[str, str], list[str], str]:
    members: dict[str, str] = {}
    quarters: set[str] = set()
    deleted: list[str] = []
    for name in zf.namelist():
        if name.endswith("/"):
            continue
        match = _MEMBER_RE.search(name)
        if match:
            table = match.group(1).lower()
            if table in members:
                raise SourceFormatError(
                    f"two {table.upper()} tables ({members[table]}, {name})", location=str(path)
                )
            members[table] = name
            quarters.add(f"{match.group(2)}Q{match.group(3)}")
        elif "DELET" in name.upper() and name.upper().endswith(".TXT"):
            deleted.append(name)
    missing = [t.upper() for t in REQUIRED_TABLES if t not in members]
    if missing:
        raise SourceFormatError(
            f"not a FAERS quarterly ASCII zip: no {', '.join(missing)} table "
            "(expected members like ascii/DEMO17Q2.txt)",
            location=str(path),
        )
    if len(quarters) != 1:
        raise SourceFormatError(
            f"tables from several quarters in one zip: {sorted(quarters)}", location=str(path)
        )
    return members, deleted, quarters.pop()


class FaersQuarter:
    """One quarterly zip. `scan()` runs the dedup pass; `records()` yields joined cases."""

    def __init__(self, path: Path | str, *, limits: ReadLimits | None = None) -> None:
        """`limits` default to the settings (`CERFLOW_SOURCE_MAX_*`, `sources.limits`)."""
        self.path = Path(path)
        self.limits = resolve(limits)
        try:
            self._zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceFormatError(f"cannot open zip: {exc}", location=str(self.path)) from exc
        try:
            check_archive(self._zf, str(self.path), self.limits)
            self.members, self.deleted_members, self.quarter = _find_members(self._zf, self.path)
            self.tables = {t: _Table(self._zf, m, self.limits) for t, m in self.members.items()}
        except BaseException:
            self._zf.close()
            raise
        demo = self.tables["demo"]
        self.layout = FAERS if "primaryid" in demo.index else AERS
        for name in (self.layout.key, self.layout.case):
            demo.col(name)
        if self.layout.version:
            demo.col(self.layout.version)
        for table in CHILD_TABLES:
            if table in self.tables:
                self.tables[table].col(self.layout.key)
        self.provenance = Provenance(
            source="faers_ascii",
            location=str(self.path),
            query=f"quarter 20{self.quarter}" if self.layout is FAERS else f"AERS {self.quarter}",
            sha256=sha256_file(self.path),
        )
        self.stats: dict[str, Any] = {
            "layout": self.layout.name,
            "quarter": self.quarter,
            "members": dict(self.members),
            "rows_read": dict.fromkeys(self.tables, 0),
            "demo_rows": 0,
            "distinct_cases": 0,
            "cases": 0,
            "superseded": 0,
            "deleted": 0,
            "deleted_list_size": 0,
            "duplicate_primaryid": 0,
            "orphans": dict.fromkeys(CHILD_TABLES, 0),
            "superseded_child_rows": 0,
            "indexed_tables": [],
        }
        self._plan: _Plan | None = None
        self._index: dict[str, dict[int, list[tuple[int, bytes]]]] = {}

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> FaersQuarter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- pass 1 ---------------------------------------------------------------------------
    def deleted_caseids(self) -> set[int]:
        """Caseids listed in the quarter's deleted-cases members (validated as in `scan`)."""
        return self._deleted_caseids()

    def _deleted_caseids(self) -> set[int]:
        ids: set[int] = set()
        for member in self.deleted_members:
            with open_member(self._zf, member, str(self.path), self.limits) as fh:
                for line_no, raw in enumerate(_physical_lines(fh, member, self.limits), 1):
                    text = raw.strip().rstrip(b"$").strip()
                    if not text:
                        continue
                    if not text.isdigit():
                        if line_no == 1:
                            continue  # header ("caseid")
                        raise SourceFormatError(
                            f"expected a caseid, got {_decode(text)!r}",
                            location=member,
                            line=line_no,
                            field="caseid",
                        )
                    ids.add(int(text))
        return ids

    def scan(self) -> dict[str, Any]:
        """Dedup pass over DEMO and structure check of every child table (idempotent)."""
        if self._plan is not None:
            return self.stats
        deleted = self._deleted_caseids()
        self.stats["deleted_list_size"] = len(deleted)
        demo = self.tables["demo"]
        key_i, case_i = demo.col(self.layout.key), demo.col(self.layout.case)
        ver_i = demo.col(self.layout.version) if self.layout.version else None
        plan = _Plan()
        best: dict[int, tuple[int, int]] = {}
        rows = 0
        dup = 0
        n_deleted = 0
        for ordinal, (line_no, raw) in enumerate(demo.raw_rows()):
            rows += 1
            parts = raw.split(b"$", max(key_i, case_i, ver_i or 0) + 1)
            pid = demo.number(parts[key_i], line_no, self.layout.key)
            caseid = demo.number(parts[case_i], line_no, self.layout.case)
            version = demo.number(parts[ver_i], line_no, "caseversion") if ver_i is not None else 0
            if pid in plan.ordinal:
                dup += 1
                continue
            plan.ordinal[pid] = ordinal
            if caseid in deleted:
                n_deleted += 1
                continue
            rank = (version, pid)
            current = best.get(caseid)
            if current is None or rank > current:
                best[caseid] = rank
        plan.kept = {pid for _version, pid in best.values()}
        self.stats["rows_read"]["demo"] = rows
        self.stats.update(
            demo_rows=rows,
            distinct_cases=len(best),
            duplicate_primaryid=dup,
            deleted=n_deleted,
            superseded=rows - dup - n_deleted - len(best),
        )
        del best
        for table in CHILD_TABLES:
            if table in self.tables:
                self._check_child(table, plan)
        self._plan = plan
        return self.stats

    # -- pass 2 ---------------------------------------------------------------------------
    def _check_child(self, table: str, plan: _Plan) -> None:
        """Validate keys and row structure; index the table only if it is not in DEMO order."""
        tab = self.tables[table]
        key_i = tab.col(self.layout.key)
        ordinal = plan.ordinal
        last = -1
        aligned = True
        rows = 0
        for line_no, raw in tab.raw_rows():
            rows += 1
            pid = tab.number(raw.split(b"$", key_i + 1)[key_i], line_no, self.layout.key)
            pos = ordinal.get(pid)
            if pos is None:
                continue
            if pos < last:
                aligned = False
                break
            last = pos
        self.stats["rows_read"][table] = rows
        if aligned:
            return
        self.stats["indexed_tables"].append(table)
        index: dict[int, list[tuple[int, bytes]]] = {}
        rows = 0
        for line_no, raw in tab.raw_rows():
            rows += 1
            pid = tab.number(raw.split(b"$", key_i + 1)[key_i], line_no, self.layout.key)
            if pid in plan.kept:
                index.setdefault(pid, []).append((line_no, raw))
            elif pid in ordinal:
                self.stats["superseded_child_rows"] += 1
            else:
                self.stats["orphans"][table] += 1
        self.stats["rows_read"][table] = rows
        self._index[table] = index

    # -- pass 3 ---------------------------------------------------------------------------
    def records(self) -> Iterator[SourceRecord]:
        """Joined cases in DEMO order. Payload: `layout`, `quarter`, `members`, `demo` (a
        dict of the DEMO row) and one list per child table (dicts of its rows); every row
        dict carries `_line`, its first line number in its member."""
        self.scan()
        plan = self._plan
        assert plan is not None
        layout = self.layout
        demo = self.tables["demo"]
        names = demo.names
        key_i = demo.col(layout.key)
        members = dict(self.members)
        streams = {
            t: _ChildStream(self.tables[t], layout.key, plan, self.stats)
            for t in CHILD_TABLES
            if t in self.tables and t not in self._index
        }
        provenance = self.provenance
        cases = 0
        for ordinal, (line_no, parts) in enumerate(demo.rows()):
            pid = int(parts[key_i])
            kept = pid in plan.kept and plan.ordinal.get(pid) == ordinal
            payload: dict[str, Any] | None = None
            if kept:
                row: dict[str, Any] = dict(zip(names, parts, strict=True))
                row["_line"] = line_no
                payload = {
                    "layout": layout.name,
                    "quarter": self.quarter,
                    "members": members,
                    "demo": row,
                }
            for table in CHILD_TABLES:
                if table in streams:
                    child_rows = streams[table].take(ordinal, keep=kept)
                elif table in self._index:
                    tab = self.tables[table]
                    raw_rows = self._index[table].pop(pid, []) if kept else []
                    child_rows = [_row_dict(tab, ln, raw) for ln, raw in raw_rows]
                else:
                    child_rows = []
                if payload is not None:
                    payload[table] = child_rows
            if payload is not None:
                cases += 1
                self.stats["cases"] = cases
                yield SourceRecord(kind="faers_case", payload=payload, provenance=provenance)
        for stream in streams.values():
            stream.finish()
        self.stats["cases"] = cases


def _row_dict(tab: _Table, line_no: int, raw: bytes) -> dict[str, Any]:
    parts = _decode(raw).split("$")
    row: dict[str, Any] = dict(zip(tab.names, parts, strict=False))
    row["_line"] = line_no
    return row


class _ChildStream:
    """Merge-join cursor over a child table already known to be grouped in DEMO order."""

    def __init__(self, tab: _Table, key: str, plan: _Plan, stats: dict[str, Any]) -> None:
        self.tab = tab
        self.rows = tab.rows()
        self.key_i = tab.col(key)
        self.plan = plan
        self.stats = stats
        self.table = next(t for t, m in stats["members"].items() if m == tab.member)
        self.head: tuple[int, list[str]] | None = None
        self.head_pos = -1
        self._advance()

    def _advance(self) -> None:
        ordinal = self.plan.ordinal
        for line_no, parts in self.rows:
            pos = ordinal.get(int(parts[self.key_i]))
            if pos is None:
                self.stats["orphans"][self.table] += 1
                continue
            self.head, self.head_pos = (line_no, parts), pos
            return
        self.head, self.head_pos = None, -1

    def take(self, ordinal: int, *, keep: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        names = self.tab.names
        while self.head is not None and self.head_pos == ordinal:
            line_no, parts = self.head
            if keep:
                row: dict[str, Any] = dict(zip(names, parts, strict=False))
                row["_line"] = line_no
                out.append(row)
            else:
                self.stats["superseded_child_rows"] += 1
            self._advance()
        return out

    def finish(self) -> None:
        while self.head is not None:  # rows after the last DEMO row (cannot happen if aligned)
            self.stats["orphans"][self.table] += 1
            self._advance()


def read_faers_quarter(
    path: Path | str, *, limits: ReadLimits | None = None
) -> Iterator[SourceRecord]:
    """Convenience: all kept cases of one quarterly zip."""
    with FaersQuarter(path, limits=limits) as quarter:
        yield from quarter.records()

"""FAERS / AERS quarterly zip -> three polars frames (reports, products, events), columnar.

The per-record path (`sources.faers_ascii` -> `etl.faers.faers_case_to_report`) is the
reference: it is simple to read and review, but a real quarter (~400k reports, ~3M child
rows) costs a minute of Python per-row work. This module produces exactly the same canonical
values (and content hashes) column-wise; the tests compare both paths field by field.

How it stays equivalent:
- Layout detection, members, header checks, deleted-cases list and provenance come from
  `FaersQuarter` itself (its constructor reads only headers).
- A table is parsed by polars only when its structure is plain: every line has the header's
  field count (optionally one trailing `$`), no blank line inside, no lone CR. Anything else
  (rows cut by embedded newlines, ...) is read by the reference reader for that table, so its
  quirk handling is not re-implemented. Non-UTF-8 lines are decoded exactly as the reference
  decodes a row (UTF-8, else cp1252, else latin-1), one line at a time.
- Every normalization rule (`drug_key`, `term_key`, dates, ages, sex, `_text`'s strip) is
  the reference Python function applied to the *unique* values of a column, then joined back.
- Malformed input: the checks here only detect that something is wrong; the reference path
  is then run to raise its own `SourceFormatError` (same member, line, field and wording).
  A broken file is rare; an error message that differs between the two paths is not allowed.
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from cerflow.errors import CerflowError
from cerflow.etl.faers import OUTCOMES, ROLES, faers_reports
from cerflow.etl.load_common import LoadStats, Progress
from cerflow.etl.load_reports import (
    EVENT_FRAME_SCHEMA,
    PRODUCT_FRAME_SCHEMA,
    REPORT_FRAME_SCHEMA,
    load_report_frames,
    reports_to_frames,
)
from cerflow.etl.normalize import age_in_years, parse_partial_date, sex_code
from cerflow.sources.base import Provenance, SourceFormatError
from cerflow.sources.faers_ascii import CHILD_TABLES, FaersQuarter, decode_row
from cerflow.sources.limits import ReadLimits, read_member, resolve
from cerflow.store.keys import drug_key, term_key

# The content-hash separators of `cerflow.etl.records.report_hash_text` (tests pin equality).
_US, _RS, _GS, _NULL = "\x1f", "\x1e", "\x1d", "\x00"
_DECODE_CHUNK = 1 << 20
_HASH_SLICE = 50_000
_FLAGS = tuple(OUTCOMES.values())


@dataclass(slots=True)
class QuarterFrames:
    """One quarter, ready for `load_report_frames`."""

    reports: pl.DataFrame
    products: pl.DataFrame
    events: pl.DataFrame
    provenance: Provenance
    stats: dict[str, Any]
    deleted_keys: list[str] = field(default_factory=list)  # the quarter's deleted caseids
    slow_tables: list[str] = field(default_factory=list)  # read by the reference reader
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (benchmarks)


def load_quarter(
    engine: Engine, frames: QuarterFrames, progress: Progress | None = None
) -> LoadStats:
    """Store one quarter: its reports, and the removal of the cases on its deleted list, in one
    transaction (`load_report_frames`)."""
    return load_report_frames(
        engine,
        frames.reports,
        frames.products,
        frames.events,
        frames.provenance,
        source_stats=frames.stats,
        progress=progress,
        delete_keys=[("faers", key) for key in frames.deleted_keys],
    )


def _text(value: str | None) -> str | None:
    """`etl.faers._text` on one value (Python's strip, not polars': they differ on \\x1c-\\x1f)."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _lookup(
    series: pl.Series, fn: Callable[[Any], Any], dtype: pl.DataType | type[pl.DataType]
) -> pl.Series:
    """`fn` applied to each distinct value only (the rules are cached Python functions)."""
    uniq = series.unique()
    new = pl.Series([fn(v) for v in uniq.to_list()], dtype=dtype)
    return series.replace_strict(uniq, new, return_dtype=dtype)


def _utf8(body: bytes) -> bytes:
    """UTF-8 bytes; a line that is not UTF-8 is decoded as the reference decodes a row."""
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    out = bytearray()
    start = 0
    size = len(body)
    while start < size:
        end = body.find(b"\n", start + _DECODE_CHUNK)
        end = size if end < 0 else end + 1
        chunk = body[start:end]
        try:
            chunk.decode("utf-8")
            out += chunk
        except UnicodeDecodeError:
            out += b"\n".join(decode_row(line).encode() for line in chunk.split(b"\n"))
        start = end
    return bytes(out)


def _fast_table(
    data: bytes, names: list[str], wanted: list[str], max_line_bytes: int
) -> pl.DataFrame | None:
    """Parse a plain `$` table with polars; None when its structure needs the reference
    (which also names the error when a line is over `max_line_bytes`)."""
    n = len(names)
    # The header stays in `data` (skipped by polars): slicing would copy a 200 MB member.
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if data.endswith(b"\n\n"):  # blank lines at the end: the reference skips them too
        data = data.rstrip(b"\n") + b"\n"
    present = [c for c in wanted if c in names]
    newlines = data.count(b"\n")
    rows = newlines - 1 if data.endswith(b"\n") else newlines  # lines after the header
    if rows == 0:
        frame = pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in present})
    else:
        if b"\r" in data or b"\n\n" in data or b"\x00" in data:
            return None  # the reference handles (or names) these
        data = _utf8(data)
        sep = next((chr(c) for c in range(1, 9) if bytes([c]) not in data), None)
        if sep is None:
            return None
        lines = pl.read_csv(
            data,
            separator=sep,
            has_header=False,
            skip_rows=1,
            quote_char=None,
            schema={"line": pl.String},
            empty_string_is_null=False,
        )["line"]
        if lines.len() != rows or (lines.str.len_bytes().max() or 0) > max_line_bytes:  # type: ignore[operator]
            return None
        dollars = lines.str.count_matches("$", literal=True)
        plain = (dollars == n - 1) | ((dollars == n) & lines.str.ends_with("$"))
        if not plain.all():
            return None
        del lines, dollars, plain
        index = [names.index(c) for c in present]
        frame = pl.read_csv(
            data,
            separator="$",
            has_header=False,
            skip_rows=1,
            quote_char=None,
            schema={f"column_{i + 1}": pl.String for i in range(n)},
            columns=[f"column_{i + 1}" for i in sorted(index)],
            truncate_ragged_lines=True,
            extra_columns="ignore",
            empty_string_is_null=False,
        )
        if frame.height != rows:
            return None
        frame = frame.rename({f"column_{i + 1}": names[i] for i in index}).select(present)
    # An absent column reads as "" : every rule maps "" and None alike (`row.get` -> None).
    return frame.with_columns(pl.lit("").alias(c) for c in wanted if c not in names)


def _slow_table(quarter: FaersQuarter, table: str, wanted: list[str]) -> pl.DataFrame:
    """The reference reader's rows (embedded newlines rejoined etc.) as a frame."""
    tab = quarter.tables[table]
    index = {c: tab.names.index(c) for c in wanted if c in tab.names}
    columns: dict[str, list[str]] = {c: [] for c in index}
    for _line, parts in tab.rows():
        for c, i in index.items():
            columns[c].append(parts[i])
    frame = pl.DataFrame({c: pl.Series(v, dtype=pl.String) for c, v in columns.items()})
    height = len(next(iter(columns.values()))) if columns else 0
    return frame.with_columns(
        pl.repeat("", height, dtype=pl.String).alias(c) for c in wanted if c not in index
    )


def _digits(col: str) -> pl.Expr:
    """What the reference's `number()` accepts: ASCII digits only, at least one."""
    return pl.col(col).str.contains(r"^[0-9]+$")


class _Malformed(CerflowError):
    """Something the reference rejects; it is run to name the error its own way."""

    status_code = 422

    def __init__(self, member: str, what: str) -> None:
        super().__init__(f"{member}: {what}")
        self.member = member
        self.what = what


def _reference_error(path: Path, hint: _Malformed, limits: ReadLimits) -> SourceFormatError:
    """Run the reference path to its first error; that error is the one raised."""
    try:
        with FaersQuarter(path, limits=limits) as quarter:
            for _report in faers_reports(quarter.records()):
                pass
    except SourceFormatError as exc:
        return exc
    return SourceFormatError(f"malformed input: {hint.what}", location=hint.member)


def read_faers_frames(path: Path | str, *, limits: ReadLimits | None = None) -> QuarterFrames:
    """One quarterly zip -> canonical frames (see the module docstring). `limits` (default:
    the settings) bound what the zip may inflate to, as for the reference reader."""
    path = Path(path)
    limits = resolve(limits)
    try:
        return _read(path, limits)
    except _Malformed as hint:
        raise _reference_error(path, hint, limits) from None


def _read_member(path: Path, member: str, limits: ReadLimits) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return read_member(zf, member, str(path), limits)


def _read(path: Path, limits: ReadLimits) -> QuarterFrames:
    started = time.perf_counter()
    with FaersQuarter(path, limits=limits) as quarter, ThreadPoolExecutor(1) as pool:
        deleted = quarter.deleted_caseids()
        slow: list[str] = []
        legacy = quarter.layout.version is None
        key, case = quarter.layout.key, quarter.layout.case
        # Inflating the next member (zlib releases the GIL) overlaps parsing this one;
        # at most two members are held in memory.
        order = ["demo", *(t for t in CHILD_TABLES if t in quarter.tables)]
        pending: dict[str, Future[bytes]] = {}

        def prefetch(i: int) -> None:
            if i < len(order):
                pending[order[i]] = pool.submit(
                    _read_member, path, quarter.members[order[i]], limits
                )

        prefetch(0)

        def table_frame(table: str, wanted: list[str]) -> pl.DataFrame:
            tab = quarter.tables[table]
            data = pending.pop(table).result()
            prefetch(order.index(table) + 1)
            frame = _fast_table(data, tab.names, wanted, limits.max_line_bytes)
            del data
            if frame is None:
                slow.append(table)
                try:
                    frame = _slow_table(quarter, table, wanted)
                except SourceFormatError as exc:
                    raise _Malformed(tab.member, str(exc)) from None
            bad = frame.filter(~_digits(key))
            if bad.height:
                raise _Malformed(tab.member, f"{key} is not a number")
            return frame

        demo_cols = [key, case]
        if legacy:
            demo_cols += ["fda_dt", "event_dt", "gndr_cod", "age", "age_cod", "occp_cod"]
        else:
            demo_cols += [
                "caseversion",
                "init_fda_dt",
                "fda_dt",
                "event_dt",
                "sex",
                "occr_country",
                "age",
                "age_cod",
                "occp_cod",
            ]
        demo = table_frame("demo", demo_cols)
        checks = [_digits(case)] if legacy else [_digits(case), _digits("caseversion")]
        if demo.filter(~pl.all_horizontal(checks)).height:
            raise _Malformed(quarter.members["demo"], "caseid or caseversion is not a number")
        try:
            demo = demo.with_columns(
                pl.col(key).cast(pl.Int64).alias("_pid"),
                pl.col(case).cast(pl.Int64).alias("_case"),
                (pl.lit(0) if legacy else pl.col("caseversion").cast(pl.Int64)).alias("_ver"),
            ).with_row_index("_ord")
        except pl.exceptions.InvalidOperationError:
            # Identifiers wider than 64 bits: let the reference path build the frames.
            return _reference_frames(quarter, deleted)
        stats = quarter.stats
        rows = demo.height
        demo = demo.with_columns(pl.col("_pid").is_first_distinct().alias("_first"))
        dup = rows - int(demo["_first"].sum())
        deleted_series = pl.Series(sorted(deleted), dtype=pl.Int64)
        demo = demo.with_columns(
            (pl.col("_first") & pl.col("_case").is_in(deleted_series.implode())).alias("_del")
        )
        n_deleted = int(demo["_del"].sum())
        candidates = demo.filter(pl.col("_first") & ~pl.col("_del"))
        best = (
            candidates.sort(["_case", "_ver", "_pid"])
            .group_by("_case", maintain_order=True)
            .agg(pl.col("_pid").last())["_pid"]
        )
        distinct_cases = best.len()
        kept = (
            demo.filter(pl.col("_first") & pl.col("_pid").is_in(best.implode()))
            .sort("_ord")
            .drop("_first", "_del")
            .with_row_index("report_row")
        )
        stats["deleted_list_size"] = len(deleted)
        stats["rows_read"]["demo"] = rows
        stats.update(
            demo_rows=rows,
            distinct_cases=distinct_cases,
            duplicate_primaryid=dup,
            deleted=n_deleted,
            superseded=rows - dup - n_deleted - distinct_cases,
            cases=kept.height,
        )
        first = demo.filter(pl.col("_first")).select("_pid", "_ord")
        kept_map = kept.select("_pid", "report_row")
        del demo, candidates

        wanted = {
            "drug": [key, "drug_seq", "role_cod", "drugname", "prod_ai", "route"],
            "reac": [key, "pt"],
            "outc": [key, "outc_cod"],
        }
        children: dict[str, pl.DataFrame] = {}
        for table in CHILD_TABLES:
            if table not in quarter.tables:
                continue
            frame = table_frame(table, wanted.get(table, [key]))
            frame = (
                frame.with_columns(pl.col(key).cast(pl.Int64).alias("_pid"))
                .with_row_index("_row")
                .join(first, on="_pid", how="left", maintain_order="left")
                .join(kept_map, on="_pid", how="left", maintain_order="left")
            )
            stats["rows_read"][table] = frame.height
            stats["orphans"][table] = int(frame["_ord"].null_count())
            stats["superseded_child_rows"] += int(
                frame.filter(pl.col("_ord").is_not_null() & pl.col("report_row").is_null()).height
            )
            positions = frame["_ord"].drop_nulls()
            if positions.len() > 1 and (positions.diff().drop_nulls() < 0).any():
                stats["indexed_tables"].append(table)
            if table in wanted:
                children[table] = (
                    frame.filter(pl.col("report_row").is_not_null())
                    .sort(["report_row", "_row"])
                    .drop("_pid", "_ord", "_row")
                )
        read_s = time.perf_counter() - started
        reports, products, events = _canonical(quarter, kept, children)
        etl_s = time.perf_counter() - started - read_s
        return QuarterFrames(
            reports=reports,
            products=products,
            events=events,
            provenance=quarter.provenance,
            stats=stats,
            deleted_keys=[str(c) for c in sorted(deleted)],
            slow_tables=slow,
            timings={"read_s": round(read_s, 3), "etl_s": round(etl_s, 3)},
        )


def _reference_frames(quarter: FaersQuarter, deleted: set[int]) -> QuarterFrames:
    reports, products, events = reports_to_frames(faers_reports(quarter.records()))
    return QuarterFrames(
        reports=reports,
        products=products,
        events=events,
        provenance=quarter.provenance,
        stats=quarter.stats,
        deleted_keys=[str(c) for c in sorted(deleted)],
        slow_tables=["*"],
    )


def _date_parts(series: pl.Series, member: str) -> tuple[pl.Series, pl.Series, pl.Series]:
    """(date, precision, error) per row, parsing each distinct value once."""
    uniq = series.unique()
    dates: list[Any] = []
    precisions: list[str | None] = []
    errors: list[bool] = []
    for value in uniq.to_list():
        try:
            parsed = parse_partial_date(value)
        except (ValueError, KeyError):
            dates.append(None)
            precisions.append(None)
            errors.append(True)
            continue
        dates.append(parsed.value if parsed else None)
        precisions.append(parsed.precision if parsed else None)
        errors.append(False)
    return (
        series.replace_strict(uniq, pl.Series(dates, dtype=pl.Date), return_dtype=pl.Date),
        series.replace_strict(uniq, pl.Series(precisions, dtype=pl.String), return_dtype=pl.String),
        series.replace_strict(uniq, pl.Series(errors, dtype=pl.Boolean), return_dtype=pl.Boolean),
    )


def _hash_text(expr: pl.Expr) -> pl.Expr:
    """`records.hash_field` for str / int columns: None -> NUL, else str()."""
    return expr.cast(pl.String).fill_null(_NULL)


def _canonical(
    quarter: FaersQuarter, kept: pl.DataFrame, children: dict[str, pl.DataFrame]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """`faers_case_to_report`, column-wise."""
    legacy = quarter.layout.version is None
    members = quarter.members
    key, case = quarter.layout.key, quarter.layout.case

    # -- report head
    if legacy:
        received_d, received_p, received_err = _date_parts(kept["fda_dt"], members["demo"])
        sex_col, country = "gndr_cod", pl.Series("country", [None] * kept.height, pl.String)
    else:
        init_d, init_p, init_err = _date_parts(kept["init_fda_dt"], members["demo"])
        fda_d, fda_p, fda_err = _date_parts(kept["fda_dt"], members["demo"])
        use_fda = init_d.is_null() & ~init_err
        received_d = init_d.zip_with(~use_fda, fda_d)
        received_p = init_p.zip_with(~use_fda, fda_p)
        received_err = init_err | (use_fda & fda_err)
        sex_col = "sex"
        country = _lookup(kept["occr_country"], _text, pl.String)
    event_d, event_p, event_err = _date_parts(kept["event_dt"], members["demo"])
    if (received_err | event_err).any():
        raise _Malformed(members["demo"], "a date is not a date")
    pairs = kept.select("age", "age_cod").unique()
    ages = pairs.with_columns(
        pl.Series(
            "_age",
            [age_in_years(_text(a), _text(u)) for a, u in pairs.iter_rows()],
            dtype=pl.Float64,
        )
    )
    age = kept.join(ages, on=["age", "age_cod"], how="left", maintain_order="left")["_age"]
    reports = pl.DataFrame(
        {
            "report_row": kept["report_row"],
            "source": pl.Series([], dtype=pl.String).extend_constant("faers", kept.height),
            "source_key": kept[case],
            "source_version": kept["_ver"],
            "source_record_id": kept[key],
            "kind": pl.Series([], dtype=pl.String).extend_constant("drug", kept.height),
            "received_date": received_d,
            "received_precision": received_p,
            "event_date": event_d,
            "event_precision": event_p,
            "country": country,
            "sex": _lookup(kept[sex_col], sex_code, pl.String),
            "age_years": age,
            "reporter_type": _lookup(kept["occp_cod"], _text, pl.String),
        }
    )

    # -- outcomes
    outc = children.get("outc")
    if outc is not None and outc.height:
        codes = _lookup(outc["outc_cod"], lambda v: (_text(v) or "").upper(), pl.String)
        flags = codes.replace_strict(
            list(OUTCOMES), list(OUTCOMES.values()), default=None, return_dtype=pl.String
        )
        if flags.null_count():
            raise _Malformed(members["outc"], "unknown outcome code")
        outc = outc.select("report_row").with_columns(flags.alias("flag"))
    else:
        outc = pl.DataFrame(
            {"report_row": pl.Series([], dtype=pl.UInt32), "flag": pl.Series([], dtype=pl.String)}
        )
    reports = reports.with_columns(
        pl.col("report_row")
        .is_in(outc.filter(pl.col("flag") == flag)["report_row"].implode())
        .alias(flag)
        for flag in _FLAGS
    ).with_columns(
        pl.any_horizontal(_FLAGS).alias("serious"),
        pl.lit(None, dtype=pl.String).alias("event_type"),
        pl.lit(None, dtype=pl.String).alias("narrative"),
    )

    # -- products
    drug = children["drug"]
    role = _lookup(drug["role_cod"], lambda v: ROLES.get((_text(v) or "").upper()), pl.String)
    if role.null_count():
        raise _Malformed(members.get("drug", "drug"), "unknown drug role")
    raw_name = _lookup(drug["drugname"], _text, pl.String)
    by_ai = _lookup(drug["prod_ai"], lambda v: drug_key(_text(v)), pl.String)
    # The verbatim name is normalized only where the ingredient gives no key (as `or` does).
    no_ai = by_ai == ""
    by_name = pl.Series([], dtype=pl.String).extend_constant("", drug.height)
    if no_ai.any():
        by_name = by_name.scatter(
            no_ai.arg_true(),
            _lookup(drug["drugname"].filter(no_ai), lambda v: drug_key(_text(v)), pl.String),
        )
    if legacy:
        seq = drug.select(pl.int_range(1, pl.len() + 1).over("report_row").cast(pl.Int64))
        seq_s = seq.to_series()
    else:
        seq_s = _lookup(
            drug["drug_seq"],
            lambda v: int(t) if (t := _text(v) or "").isdigit() and t.isascii() else None,
            pl.Int64,
        )
        if seq_s.null_count():
            raise _Malformed(members["drug"], "drug_seq is not a number")
    products = pl.DataFrame(
        {
            "report_row": drug["report_row"],
            "seq": seq_s,
            "role": role,
            "product_key": by_ai.zip_with(by_ai != "", by_name),
            "raw_name": raw_name,
            "route": _lookup(drug["route"], _text, pl.String),
        }
    ).with_columns(
        pl.lit(None, dtype=pl.String).alias(c)
        for c in ("product_code", "brand_name", "manufacturer", "udi_di")
    )

    # -- events: a PT repeated within one case is kept once (its first spelling)
    reac = children["reac"]
    term_raw = _lookup(reac["pt"], _text, pl.String)
    term = _lookup(reac["pt"], lambda v: term_key(_text(v)), pl.String)
    events = (
        pl.DataFrame({"report_row": reac["report_row"], "term": term, "term_raw": term_raw})
        .filter(pl.col("term") != "")
        .unique(subset=["report_row", "term"], keep="first", maintain_order=True)
        .with_columns(pl.lit("pt").alias("term_type"))
    )

    reports = reports.with_columns(_content_hash(reports, products, events).alias("content_hash"))
    return (
        reports.select(list(REPORT_FRAME_SCHEMA)).cast(REPORT_FRAME_SCHEMA),  # type: ignore[arg-type]
        products.select(list(PRODUCT_FRAME_SCHEMA)).cast(PRODUCT_FRAME_SCHEMA),  # type: ignore[arg-type]
        events.select(list(EVENT_FRAME_SCHEMA)).cast(EVENT_FRAME_SCHEMA),  # type: ignore[arg-type]
    )


def _content_hash(reports: pl.DataFrame, products: pl.DataFrame, events: pl.DataFrame) -> pl.Series:
    """Hashes in slices of reports (children are sorted by `report_row`): the texts of a
    whole quarter would hold ~1 GB at once."""
    out: list[pl.Series] = []
    p_rows, e_rows = products["report_row"], events["report_row"]
    for start in range(0, reports.height, _HASH_SLICE):
        part = reports.slice(start, _HASH_SLICE)
        lo, hi = part["report_row"][0], part["report_row"][-1] + 1
        p_lo, p_hi = (int(p_rows.search_sorted(v, "left")) for v in (lo, hi))
        e_lo, e_hi = (int(e_rows.search_sorted(v, "left")) for v in (lo, hi))
        out.append(
            _content_hash_slice(
                part,
                products.slice(p_lo, p_hi - p_lo),
                events.slice(e_lo, e_hi - e_lo),
            )
        )
    if not out:
        return pl.Series([], dtype=pl.String)
    return pl.concat(out)


def _content_hash_slice(
    reports: pl.DataFrame, products: pl.DataFrame, events: pl.DataFrame
) -> pl.Series:
    """`CanonicalReport.content_hash()` for every row: the `report_hash_text` built with
    `concat_str`, then sha256 of each text in Python (~1 us a report)."""
    iso = "%Y-%m-%d"

    def flag(col: str) -> pl.Expr:
        return pl.when(pl.col(col)).then(pl.lit("1")).otherwise(pl.lit("0"))

    head = reports.select(
        "report_row",
        pl.concat_str(
            [
                _hash_text(pl.col("source")),
                _hash_text(pl.col("source_key")),
                _hash_text(pl.col("kind")),
                _hash_text(pl.col("source_version")),
                _hash_text(pl.col("source_record_id")),
                pl.col("received_date").dt.strftime(iso).fill_null(_NULL),
                _hash_text(pl.col("received_precision")),
                pl.col("event_date").dt.strftime(iso).fill_null(_NULL),
                _hash_text(pl.col("event_precision")),
                _hash_text(pl.col("country")),
                _hash_text(pl.col("sex")),
                _hash_text((pl.col("age_years") * 1000).round().cast(pl.Int64)),
                pl.when(pl.col("serious").is_null()).then(pl.lit(_NULL)).otherwise(flag("serious")),
                *(flag(f) for f in _FLAGS),
                _hash_text(pl.col("event_type")),
                _hash_text(pl.col("reporter_type")),
                _hash_text(pl.col("narrative")),
            ],
            separator=_US,
        ).alias("head"),
    )
    prod = (
        products.select(
            "report_row",
            pl.concat_str(
                [
                    _hash_text(pl.col(c))
                    for c in (
                        "role",
                        "product_key",
                        "raw_name",
                        "seq",
                        "product_code",
                        "brand_name",
                        "manufacturer",
                        "route",
                        "udi_di",
                    )
                ],
                separator=_US,
            ).alias("p"),
        )
        .group_by("report_row", maintain_order=True)
        .agg(pl.col("p").str.join(_RS))
    )
    ev = (
        events.select(
            "report_row",
            pl.concat_str(
                [_hash_text(pl.col(c)) for c in ("term", "term_raw", "term_type")], separator=_US
            ).alias("e"),
        )
        .group_by("report_row", maintain_order=True)
        .agg(pl.col("e").str.join(_RS))
    )
    texts = (
        head.join(prod, on="report_row", how="left", maintain_order="left")
        .join(ev, on="report_row", how="left", maintain_order="left")
        .select(
            pl.concat_str(
                [pl.col("head"), pl.col("p").fill_null(""), pl.col("e").fill_null("")],
                separator=_GS,
            )
        )
        .to_series()
    )
    sha256 = hashlib.sha256
    return pl.Series(
        [sha256(t).hexdigest() for t in texts.cast(pl.Binary).to_list()], dtype=pl.String
    )

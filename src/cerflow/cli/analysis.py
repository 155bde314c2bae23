"""`cerflow signals` and `cerflow trends`: analysis of one product straight from the store.

Signals use the whole store of the same kind (drugs or devices) as background, as the
design asks; thresholds come from the `signal_*` settings so a QPPV tunes them in one
place. Output as a Rich table (default), CSV or JSON (numbers as computed, for scripts).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from enum import StrEnum
from typing import Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from cerflow.analysis.thresholds import ALL_METHODS, Method, SignalThresholds
from cerflow.cli._common import fail
from cerflow.config import get_settings
from cerflow.csv_safety import safe_csv
from cerflow.db import make_engine
from cerflow.store import product_queries
from cerflow.store.product_queries import ProductSelector

console = Console()


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


DRUG_OPT = typer.Option(None, "--drug", help="Drug name or active ingredient.")
DEVICE_OPT = typer.Option(None, "--device-code", help="FDA device product code(s), e.g. DQA.")
FORMAT_OPT = typer.Option(OutputFormat.TABLE, "--format", help="table, csv or json.")


def _query(drug: str | None, device_code: str | None) -> ProductSelector:
    if (drug is None) == (device_code is None):
        raise fail("give exactly one of --drug NAME or --device-code CODE", 2)
    try:
        return (
            ProductSelector.drug(drug)
            if drug is not None
            else ProductSelector.device(device_code or "")
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from exc


def _ensure_present(conn: Any, query: ProductSelector) -> None:
    if product_queries.count_product_reports(conn, query) > 0:
        return
    if query.kind == "drug":
        hits = product_queries.search_drugs(conn, query.query)
        how = "cerflow ingest openfda --drug NAME (or ingest faers FILE)"
        what = f"drug {query.query!r} (normalized key {query.keys[0]!r})"
    else:
        hits = product_queries.search_device_codes(conn, query.query)
        how = "cerflow ingest openfda --device-code CODE (or ingest maude FILE)"
        what = f"device product code {', '.join(query.keys)}"
    hint = ""
    if hits:
        hint = " Did you mean: " + ", ".join(f"{k} ({n} reports)" for k, n in hits[:5]) + "?"
    raise fail(f"no reports for {what} in the store.{hint} Load data first: `{how}`.")


def _methods(text: str) -> tuple[Method, ...]:
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in ALL_METHODS]
    if bad or not names:
        raise fail(f"--method takes a comma list of {', '.join(ALL_METHODS)}; got {text!r}", 2)
    return tuple(m for m in ALL_METHODS if m in names)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pl.DataFrame):
        return [_jsonable(r) for r in obj.to_dicts()]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dt.date):
        return obj.isoformat()
    return obj


def _print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _signals_table(rows: pl.DataFrame, methods: tuple[Method, ...]) -> Table:
    table = Table(title="Disproportionality (product vs the whole store)")
    for col in ("event", "a", "expected"):
        table.add_column(col, justify="left" if col == "event" else "right")
    spec = {
        "prr": ("PRR (95% CI)", "prr", "prr_lo", "prr_hi", "flag_evans"),
        "ror": ("ROR (95% CI)", "ror", "ror_lo", "ror_hi", "flag_ror"),
        "ic": ("IC (IC025-IC975)", "ic", "ic025", "ic975", "flag_ic"),
        "ebgm": ("EBGM (EB05-EB95)", "ebgm", "eb05", "eb95", "flag_ebgm"),
    }
    for m in methods:
        table.add_column(spec[m][0], justify="right")
    table.add_column("flags")
    for r in rows.iter_rows(named=True):
        cells = [str(r["event"]), str(r["a"]), _fmt(r["expected"])]
        flags = []
        for m in methods:
            _, v, lo, hi, flag = spec[m]
            cells.append(f"{_fmt(r[v])} ({_fmt(r[lo])}-{_fmt(r[hi])})")
            if r.get(flag):
                flags.append(m)
        cells.append(",".join(flags))
        table.add_row(*cells)
    return table


def signals(
    drug: str | None = DRUG_OPT,
    device_code: str | None = DEVICE_OPT,
    method: str = typer.Option(",".join(ALL_METHODS), "--method", help="prr,ror,ic,ebgm"),
    min_count: int = typer.Option(3, "--min-count", min=1, help="Smallest a (co-reports)."),
    output: OutputFormat = FORMAT_OPT,
) -> None:
    """Disproportionality signals of one product against the whole store as background."""
    # Imported here: the statistics pull in scipy, which `cerflow --help` must not wait for.
    from cerflow.analysis.disproportionality import disproportionality, for_product

    query = _query(drug, device_code)
    methods = _methods(method)
    settings = get_settings()
    thresholds = SignalThresholds(
        prr_min=settings.signal_prr_min,
        chi2_min=settings.signal_chi2_min,
        min_count=min_count,
        ror025_min=settings.signal_ror025_min,
        ic025_min=settings.signal_ic025_min,
        eb05_min=settings.signal_eb05_min,
    )
    engine = make_engine()
    try:
        with engine.connect() as conn:
            _ensure_present(conn, query)
            products = product_queries.all_products(conn, kind=query.kind)
            events = product_queries.all_events(conn, kind=query.kind)
    finally:
        engine.dispose()
    result = disproportionality(
        products, events, methods=methods, min_count=1, thresholds=thresholds
    )
    parts = [for_product(result, key) for key in query.keys]
    rows = (
        pl.concat([p for p in parts if p.height], how="vertical")
        if any(p.height for p in parts)
        else result.table.head(0)
    )
    rows = rows.filter(pl.col("a") >= min_count)
    if output is OutputFormat.JSON:
        _print_json(
            {
                "product": {"kind": query.kind, "query": query.query, "keys": list(query.keys)},
                "background_reports": result.n_reports,
                "pairs_tested": result.n_pairs,
                "methods": list(methods),
                "min_count": min_count,
                "thresholds": result.thresholds,
                "prior": result.prior,
                "notes": list(result.notes),
                "signals": rows,
            }
        )
    elif output is OutputFormat.CSV:
        sys.stdout.write(safe_csv(rows))
    else:
        console.print(
            f"{query.kind} {', '.join(query.keys)}: {rows.height} event(s) with a >= "
            f"{min_count}; background {result.n_reports} reports, {result.n_pairs} pairs"
        )
        console.print(_signals_table(rows, methods))
        console.print(
            "Spontaneous reports show reporting, not incidence: there is no exposure denominator."
        )


def trends(
    drug: str | None = DRUG_OPT,
    device_code: str | None = DEVICE_OPT,
    horizon: int = typer.Option(12, "--horizon", min=1, max=60, help="Forecast months."),
    output: OutputFormat = FORMAT_OPT,
) -> None:
    """Monthly report counts, Mann-Kendall trend, forecast and anomalies for one product."""
    # Imported here: scipy and statsmodels load only when the command runs.
    from cerflow.analysis.anomalies import detect_anomalies
    from cerflow.analysis.forecast import forecast
    from cerflow.analysis.trends import (
        date_coverage,
        mann_kendall,
        monthly_counts,
        serious_share,
        top_events,
    )

    query = _query(drug, device_code)
    engine = make_engine()
    try:
        with engine.connect() as conn:
            _ensure_present(conn, query)
            reports = product_queries.product_reports(conn, query)
            events = product_queries.product_events(conn, query)
    finally:
        engine.dispose()
    coverage = date_coverage(reports)
    series = monthly_counts(reports)
    counts = series["count"].to_list()
    mk = mann_kendall(counts)
    fc = forecast(series, horizon=horizon)
    settings = get_settings()
    an = detect_anomalies(
        series,
        min_size=settings.series_changepoint_min_months,
        outlier_z=settings.series_outlier_z,
    )
    shares = serious_share(reports)
    top = top_events(reports, events, n=10)
    monthly = [
        {"month": m.strftime("%Y-%m"), "count": c}
        for m, c in zip(series["month"].to_list(), counts, strict=True)
    ]
    if output is OutputFormat.JSON:
        _print_json(
            {
                "product": {"kind": query.kind, "query": query.query, "keys": list(query.keys)},
                "coverage": coverage,
                "monthly": monthly,
                "mann_kendall": mk,
                "forecast": fc,
                "anomalies": an.flags,
                "change_points": an.change_points,
                "outliers": an.outliers,
                "anomaly_settings": {
                    "tail": an.tail,
                    "window": an.window,
                    "penalty": an.penalty,
                    "evaluated": an.evaluated,
                    "skipped": an.skipped,
                    "notes": an.notes,
                },
                "serious_share_by_year": shares,
                "top_events": top,
            }
        )
        return
    if output is OutputFormat.CSV:
        sys.stdout.write(safe_csv(series.with_columns(pl.col("month").dt.strftime("%Y-%m"))))
        return
    console.print(
        f"{query.kind} {', '.join(query.keys)}: {coverage.total} reports, {coverage.monthly} "
        f"dated to a month, {coverage.year_only} year-only, {coverage.undated} undated"
    )
    months = Table(title="Reports per month")
    months.add_column("month")
    months.add_column("reports", justify="right")
    for row in monthly:
        months.add_row(row["month"], str(row["count"]))
    console.print(months)
    console.print(
        f"Mann-Kendall: {mk.trend} (tau {mk.tau:.3f}, z {mk.z:.2f}, p {mk.p:.4f}); "
        f"Sen slope {mk.sen_slope:.3f} (change in the monthly count per month; "
        f"95% CI {_fmt(mk.sen_lo)} to {_fmt(mk.sen_hi)})"
    )
    if fc.months:
        console.print(
            f"Forecast ({fc.method}): next {fc.horizon} months total {sum(fc.mean):.1f} "
            f"(95% interval of the total {fc.total_lo95:.1f}-{fc.total_hi95:.1f}, simulated); "
            f"backtest MASE {_fmt(fc.mase)} over {fc.backtest_origins} origins"
        )
    for note in [*mk.notes, *fc.notes, *an.notes]:
        console.print(f"  note: {note}")
    if an.flags:
        flags = Table(title="Months above the control limit")
        for col in ("month", "observed", "expected", "limit", "p-value", "distribution"):
            flags.add_column(col)
        for f in an.flags:
            flags.add_row(
                f.month,
                str(f.observed),
                _fmt(f.expected),
                _fmt(f.threshold, 0),
                f"{f.p_value:.2e}",
                f.distribution,
            )
        console.print(flags)
    else:
        console.print(f"No month above its control limit ({an.evaluated} months evaluated).")
    for o in an.outliers:
        console.print(
            f"Isolated outlier month {o.month}: {o.observed} reports, local median "
            f"{o.local_median:.1f} (robust z {o.robust_z:.1f}); not a level shift"
        )
    for cp in an.change_points:
        console.print(
            f"Change point {cp.month}: mean {cp.mean_before:.1f} -> "
            f"{cp.mean_after:.1f} reports/month (minimum segment {an.min_size} months)"
        )


def register(app: typer.Typer) -> None:
    """Add `signals` and `trends` to the root app."""
    app.command("signals")(signals)
    app.command("trends")(trends)

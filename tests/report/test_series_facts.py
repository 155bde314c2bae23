"""Issue 11 items 5 and 6 in Facts, text and charts: the review period, partial periods,
the reporting lag, outlier months (not change points), Sen's slope with unit and CI, and a
forecast worse than naive shown as the naive one. Facts from hand-built `ProductData`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
from scipy import stats
from sqlalchemy import Engine

from cerflow.analysis.thresholds import SignalThresholds
from cerflow.config import Settings
from cerflow.narrative.facts import Facts, allowed_numbers, numbers_in_text
from cerflow.narrative.render import write_narrative
from cerflow.report.charts import draw_charts
from cerflow.report.compute import SignalOutcome, compute_facts_from, methods_facts
from cerflow.report.facts_builder import build_facts
from cerflow.store.product_data import MANUFACTURER_SCHEMA, ProductData
from cerflow.store.product_queries import REPORT_FRAME_COLUMNS, StoreVersion
from tests.report import store_factory as sf

THRESHOLDS = SignalThresholds.from_settings(Settings())


def _data(
    days: list[dt.date],
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    cutoff: dt.date | None = None,
) -> ProductData:
    rows: list[dict[str, Any]] = []
    for i, day in enumerate(days, start=1):
        row: dict[str, Any] = dict.fromkeys(REPORT_FRAME_COLUMNS)
        for flag in ("serious", "death", "life_threatening", "hospitalization", "disability"):
            row[flag] = False
        row.update(report_id=i, source="faers", received_date=day, received_precision="D")
        row.update(snapshot_id=7)
        rows.append(row)
    n = len(days)
    ids = list(range(1, n + 1))
    return ProductData(
        kind="drug",
        query="zeta",
        product_keys=("ZETA",),
        product_codes=(),
        since=since,
        until=until,
        reports=pl.DataFrame(rows, schema=REPORT_FRAME_COLUMNS),
        events=pl.DataFrame(
            {"report_id": ids, "term": ["nausea"] * n, "term_raw": ["Nausea"] * n}
            | {"term_type": ["pt"] * n}
        ),
        product_rows=pl.DataFrame(
            {
                "report_id": ids,
                "product_key": ["ZETA"] * n,
                "raw_name": ["ZETA"] * n,
                "brand_name": [None] * n,
                "manufacturer": ["ACME"] * n,
                "product_code": [None] * n,
            },
            schema_overrides={"brand_name": pl.Utf8(), "product_code": pl.Utf8()},
        ),
        manufacturers=pl.DataFrame(schema=MANUFACTURER_SCHEMA),
        cutoff=cutoff or max(days),
        in_store={7: n},
        recalls=(),
        devices=(),
        snapshots=(),
        store_version=StoreVersion(1, 7, "f" * 64, "2026-01-01T00:00:00"),
    )


def _facts(data: ProductData) -> Facts:
    return compute_facts_from(
        data,
        thresholds=THRESHOLDS,
        signals=SignalOutcome(None, ("not estimable: test",)),
        methods=methods_facts(Settings()),
        generated_at=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC),
    )


def _untraceable(facts: Facts) -> list[tuple[str, str]]:
    allowed = allowed_numbers(facts)
    return [
        (n, text[:100])
        for text in write_narrative(facts).all_texts()
        for n in numbers_in_text(text)
        if n not in allowed
    ]


def _rows(facts: Facts, caption: str) -> list[list[str]]:
    for section in write_narrative(facts).sections:
        for block in section.blocks:
            if block.table is not None and block.table.caption == caption:
                return block.table.rows
    return []


def _monthly(counts: list[int], first: dt.date) -> list[dt.date]:
    days: list[dt.date] = []
    y, m = first.year, first.month
    for c in counts:
        days += [dt.date(y, m, 1 + (k % 28)) for k in range(c)]
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return days


def test_review_period_is_since_until_and_partial_periods_are_marked() -> None:
    days = [dt.date(2024, 1, 20), dt.date(2024, 2, 5), dt.date(2024, 3, 10)]
    f = _facts(_data(days, since=dt.date(2024, 1, 15), until=dt.date(2024, 3, 20), cutoff=days[-1]))
    assert (f.meta.review_start, f.meta.review_end) == (dt.date(2024, 1, 15), dt.date(2024, 3, 20))
    assert f.trend is not None and f.trend.months == ["2024-01", "2024-02", "2024-03"]
    assert f.trend.partial_months == ["2024-01", "2024-03"]
    assert f.volumes.partial_years == ["2024"]
    text = "\n".join(write_narrative(f).all_texts())
    assert "The review period is 2024-01-15 to 2024-03-20 (set for this report" in text
    assert _rows(f, "Reports by year of receipt") == [["2024 (partial)", "3", "100.0%"]]
    assert "2024-01 and 2024-03 are only partly inside the review period" in text
    assert _untraceable(f) == []


def test_default_review_period_is_first_month_to_cutoff() -> None:
    days = [dt.date(2023, 1, 20), dt.date(2023, 6, 5), dt.date(2023, 12, 31)]
    f = _facts(_data(days))
    assert (f.meta.review_start, f.meta.review_end) == (dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    assert f.trend is not None and f.trend.partial_months == []
    assert f.volumes.partial_years == []
    # The last 3 months (setting) are discussed as possibly incomplete.
    assert f.trend.lag_months == ["2023-10", "2023-11", "2023-12"]
    text = "\n".join(write_narrative(f).all_texts())
    assert "The last 3 months (2023-10 to 2023-12) may be incomplete" in text


def test_until_after_the_cutoff_adds_no_empty_months() -> None:
    days = [dt.date(2024, 1, 20), dt.date(2024, 2, 5), dt.date(2024, 3, 31)]
    f = _facts(_data(days, until=dt.date(2024, 12, 31), cutoff=days[-1]))
    assert f.trend is not None and f.trend.months[-1] == "2024-03"
    assert f.meta.review_end == dt.date(2024, 12, 31)


def test_spike_series_outlier_not_change_point_in_facts_text_and_charts() -> None:
    rng = np.random.default_rng(11)
    counts = [int(c) for c in rng.poisson(38, 36)]
    counts[20] = 134  # the demo's 2024-03-like spike, month 21 of 36
    f = _facts(_data(_monthly(counts, dt.date(2022, 7, 1))))
    spike = "2024-03"
    assert f.trend is not None and f.trend.months[20] == spike
    assert [o.month for o in f.outliers] == [spike] and f.trend.outlier_months == [spike]
    assert f.outliers[0].observed == 134
    assert not any(c.month in ("2024-03", "2024-04") for c in f.change_points)
    assert f.methods.changepoint_min_months == 6
    # Trend without the outlier: the month replaced by its local median, tested again.
    cleaned = [float(c) for c in counts]
    cleaned[20] = f.outliers[0].local_median
    z_clean = f.trend.mk_z_without_outliers
    assert z_clean is not None
    ref = stats.kendalltau(np.arange(36), cleaned)  # same S; the oracle for the direction
    assert np.sign(z_clean) == np.sign(ref.statistic) or z_clean == 0
    # Sen's slope printed with its unit and CI, equal to scipy's.
    ts = stats.theilslopes(counts, np.arange(36), alpha=0.95)
    assert f.trend.sen_slope_lo == round(ts.low_slope, 4)
    assert f.trend.sen_slope_hi == round(ts.high_slope, 4)
    text = "\n".join(write_narrative(f).all_texts())
    assert "change in the monthly count per month" in text
    assert _rows(f, "Isolated outlier months")[0][:2] == ["2024-03", "134"]
    assert "not as a change in level" in text
    assert _untraceable(f) == []
    assert {"monthly_counts", "anomalies", "forecast"} <= set(draw_charts(f))


def test_forecast_worse_than_naive_is_not_presented_in_the_text() -> None:
    rng = np.random.default_rng(3)
    counts = [int(c) for c in rng.poisson(30, 36)]
    f = _facts(_data(_monthly(counts, dt.date(2022, 1, 1))))
    assert f.forecast is not None
    fc = f.forecast.model_copy(
        update={
            "presented": False,
            "mase": 1.7,
            "naive_method": "seasonal naive",
            "naive_mean": [float(c) for c in counts[-12:]],
            "naive_lo95": [max(0.0, c - 10.0) for c in counts[-12:]],
            "naive_hi95": [c + 10.0 for c in counts[-12:]],
            "naive_mase": 1.0,
            "naive_total": float(sum(counts[-12:])),
            "naive_total_lo95": 300.0,
            "naive_total_hi95": 420.0,
        }
    )
    f2 = f.model_copy(update={"forecast": fc})
    text = "\n".join(write_narrative(f2).all_texts())
    assert "No model forecast is presented" in text and "MASE of 1.70" in text
    assert "The seasonal naive forecast is shown instead as a reference level" in text
    assert "It expects" not in text
    assert _untraceable(f2) == []
    assert "forecast" in draw_charts(f2)


def test_total_interval_in_facts_is_the_simulated_one() -> None:
    rng = np.random.default_rng(5)
    counts = [int(c) for c in rng.poisson(20, 30)]
    f = _facts(_data(_monthly(counts, dt.date(2022, 1, 1))))
    fc = f.forecast
    assert fc is not None and fc.simulation_paths > 0
    # Narrower than the sum of the monthly bounds (the old, wrong interval).
    assert sum(fc.lo95) < fc.total_lo95 <= fc.total_expected <= fc.total_hi95 < sum(fc.hi95)


def test_settings_drive_the_methods() -> None:
    m = methods_facts(Settings(series_changepoint_min_months=9, series_reporting_lag_months=2))
    assert (m.changepoint_min_months, m.changepoint_min_size, m.reporting_lag_months) == (9, 9, 2)


def test_build_facts_review_period_selects_and_prints(db_engine: Engine) -> None:
    """--since/--until (CLI) and since/until (API report request) reach build_facts: the
    data used are the window's, and the period printed is the window, not min/max."""
    sf.fill(db_engine)
    full = build_facts(db_engine, drug="atorvastatin", settings=Settings())
    f = build_facts(
        db_engine,
        drug="atorvastatin",
        since=dt.date(2024, 1, 15),
        until=dt.date(2024, 3, 31),
        settings=Settings(),
    )
    assert (f.meta.review_start, f.meta.review_end) == (dt.date(2024, 1, 15), dt.date(2024, 3, 31))
    assert f.volumes.total_reports < full.volumes.total_reports
    assert f.volumes.period_start is not None and f.volumes.period_start >= dt.date(2024, 1, 15)
    assert f.volumes.period_end is not None and f.volumes.period_end <= dt.date(2024, 3, 31)
    assert f.trend is not None and f.trend.months[0] == "2024-01"
    assert f.trend.partial_months == ["2024-01"]
    assert f.signals is None or f.signals.background_reports <= (
        full.signals.background_reports if full.signals else 0
    )
    text = "\n".join(write_narrative(f).all_texts())
    assert "The review period is 2024-01-15 to 2024-03-31" in text
    assert _untraceable(f) == []


def test_appendix_marks_months_and_shows_the_naive_reference() -> None:
    rng = np.random.default_rng(3)
    counts = [int(c) for c in rng.poisson(30, 36)]
    counts[20] = 150
    f = _facts(_data(_monthly(counts, dt.date(2022, 1, 1)), until=dt.date(2024, 12, 15)))
    assert f.forecast is not None and f.trend is not None
    rows = {r[0]: r[1] for r in _rows(f, "Reports per month")}
    assert rows["2023-09 (outlier)"] == "150"
    assert "2024-12 (partial) (may be incomplete)" in rows
    fc = f.forecast.model_copy(
        update={
            "presented": False,
            "naive_method": "last value",
            "naive_mean": [5.0] * 12,
            "naive_lo95": [1.0] * 12,
            "naive_hi95": [9.0] * 12,
        }
    )
    f2 = f.model_copy(update={"forecast": fc})
    caption = (
        f"Naive reference of monthly reports (last value; the {fc.method} model forecast "
        "is not presented)"
    )
    assert _rows(f2, caption)[0][1:] == ["5.0", "1.0 to 9.0"]
    assert _rows(f2, "Forecast of monthly reports") == []

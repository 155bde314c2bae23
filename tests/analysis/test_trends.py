"""Trends: zero-filled monthly counts checked by hand, Mann-Kendall against pymannkendall."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pymannkendall as pmk
import pytest

from cerflow.analysis.trends import (
    date_coverage,
    mann_kendall,
    monthly_counts,
    monthly_event_counts,
    serious_share,
    top_events,
)
from tests.analysis.finite import assert_finite

D = dt.date


def _reports(rows: list[tuple]) -> pl.DataFrame:
    """rows: (id, date, precision, serious, death, hospitalization, source)."""
    return pl.DataFrame(
        rows,
        schema={
            "report_id": pl.Int64,
            "received_date": pl.Date,
            "received_precision": pl.Utf8,
            "serious": pl.Boolean,
            "death": pl.Boolean,
            "hospitalization": pl.Boolean,
            "source": pl.Utf8,
        },
        orient="row",
    ).with_columns(
        pl.lit(False).alias(c)
        for c in (
            "life_threatening",
            "disability",
            "congenital_anomaly",
            "required_intervention",
            "other_serious",
        )
    )


@pytest.fixture
def reports() -> pl.DataFrame:
    return _reports(
        [
            (1, D(2020, 1, 5), "D", True, True, False, "faers"),
            (2, D(2020, 1, 20), "D", False, False, False, "faers"),
            (3, D(2020, 3, 1), "M", True, False, True, "maude"),
            (4, D(2020, 1, 1), "Y", True, False, False, "faers"),  # year only
            (5, None, None, None, False, False, "faers"),  # undated
            (6, D(2020, 4, 30), "D", None, False, False, "maude"),
            (6, D(2020, 4, 30), "D", None, False, False, "maude"),  # duplicate row
        ]
    )


def test_monthly_counts_zero_fills_and_excludes_year_only(reports: pl.DataFrame) -> None:
    out = monthly_counts(reports)
    # Hand count: Jan 2 (ids 1, 2), Feb 0, Mar 1 (id 3), Apr 1 (id 6 once).
    assert out["month"].to_list() == [D(2020, 1, 1), D(2020, 2, 1), D(2020, 3, 1), D(2020, 4, 1)]
    assert out["count"].to_list() == [2, 0, 1, 1]
    cov = date_coverage(reports.unique("report_id"))
    assert (cov.total, cov.monthly, cov.year_only, cov.undated) == (6, 4, 1, 1)


def test_monthly_counts_range_and_groups(reports: pl.DataFrame) -> None:
    out = monthly_counts(reports, start=D(2019, 12, 15), end=D(2020, 2, 3), by="source")
    rows = {(r["month"], r["source"]): r["count"] for r in out.iter_rows(named=True)}
    assert rows == {
        (D(2019, 12, 1), "faers"): 0,
        (D(2019, 12, 1), "maude"): 0,
        (D(2020, 1, 1), "faers"): 2,
        (D(2020, 1, 1), "maude"): 0,
        (D(2020, 2, 1), "faers"): 0,
        (D(2020, 2, 1), "maude"): 0,
    }
    serious = monthly_counts(reports, by="serious").filter(pl.col("count") > 0)
    assert sorted(serious.select("serious", "count").rows()) == [
        ("non_serious", 1),
        ("serious", 1),
        ("serious", 1),
        ("unknown", 1),
    ]
    outcome = monthly_counts(reports, by="outcome").filter(pl.col("count") > 0)
    assert sorted(outcome["outcome"].to_list()) == [
        "death",
        "hospitalization",
        "non_serious",
        "unknown",
    ]


def test_monthly_counts_degenerate() -> None:
    empty = _reports([])
    out = monthly_counts(empty)
    assert out.height == 0 and out.columns == ["month", "count"]
    filled = monthly_counts(empty, start=D(2021, 1, 1), end=D(2021, 3, 1))
    assert filled["count"].to_list() == [0, 0, 0]
    one = _reports([(1, D(2021, 5, 9), "D", True, False, False, "faers")])
    assert monthly_counts(one)["count"].to_list() == [1]
    with pytest.raises(ValueError, match="start"):
        monthly_counts(one, start=D(2022, 1, 1), end=D(2021, 1, 1))
    with pytest.raises(ValueError, match="received_precision"):
        monthly_counts(pl.DataFrame({"report_id": [1], "received_date": [D(2020, 1, 1)]}))


def test_top_events_and_monthly_event_counts(reports: pl.DataFrame) -> None:
    events = pl.DataFrame(
        {
            "report_id": [1, 1, 2, 3, 3, 6, 99],
            "term": ["nausea", "nausea", "rash", "nausea", "rash", "headache", "nausea"],
        }
    )
    top = top_events(reports, events, n=2)
    # 6 distinct reports; nausea in {1, 3} (99 is not one of ours), rash in {2, 3}.
    assert top.rows() == [
        ("nausea", 2, pytest.approx(100 * 2 / 6)),
        ("rash", 2, pytest.approx(100 * 2 / 6)),
    ]
    monthly = monthly_event_counts(reports, events, terms=["nausea", "vomiting"])
    got = {(r["month"], r["term"]): r["count"] for r in monthly.iter_rows(named=True)}
    assert got[(D(2020, 1, 1), "nausea")] == 1
    assert got[(D(2020, 3, 1), "nausea")] == 1
    assert got[(D(2020, 2, 1), "nausea")] == 0
    assert all(got[(m, "vomiting")] == 0 for m in {k[0] for k in got})
    assert len(got) == 8  # 4 months x 2 terms
    assert top_events(reports.head(0), events).height == 0


def test_serious_share_by_hand(reports: pl.DataFrame) -> None:
    yearly = serious_share(reports)
    # 2020 (year-only id 4 included): 5 dated reports, serious ids 1, 3, 4, fatal id 1.
    assert yearly.rows() == [(D(2020, 1, 1), 5, 3, 1, 60.0, 20.0)]
    monthly = serious_share(reports, period="month")
    assert monthly["reports"].to_list() == [2, 0, 1, 1]
    assert monthly["serious_percent"].to_list() == [50.0, 0.0, 100.0, 0.0]
    assert monthly["fatal_percent"].to_list() == [50.0, 0.0, 0.0, 0.0]
    assert_finite(monthly)
    assert serious_share(reports.head(0)).height == 0


SERIES = {
    "increasing": [1, 3, 2, 5, 4, 6, 8, 7, 9, 12, 11, 13],
    "decreasing": [20, 18, 19, 15, 16, 12, 10, 11, 7, 5, 6, 3, 2, 1],
    "ties": [3, 3, 3, 5, 5, 2, 2, 7, 7, 7, 7, 1, 3, 5, 5, 9],
    "counts_with_zeros": [0, 0, 1, 0, 2, 0, 0, 1, 3, 0, 2, 4, 0, 5, 3, 6],
    "random": np.random.default_rng(42).poisson(8, 60).tolist(),
    "short": [1, 2, 4],
}


@pytest.mark.parametrize("name", sorted(SERIES))
def test_mann_kendall_matches_pymannkendall(name: str) -> None:
    values = SERIES[name]
    ours = mann_kendall(values)
    oracle = pmk.original_test(np.asarray(values, dtype=float))
    assert ours.s == pytest.approx(oracle.s)
    assert ours.var_s == pytest.approx(oracle.var_s)
    assert ours.z == pytest.approx(oracle.z)
    assert ours.p == pytest.approx(oracle.p)
    assert ours.tau == pytest.approx(oracle.Tau)
    assert ours.trend == oracle.trend
    assert ours.sen_slope == pytest.approx(oracle.slope)
    assert ours.sen_intercept == pytest.approx(oracle.intercept)


def test_mann_kendall_by_hand() -> None:
    # x = 1, 3, 2: pairs (1,3)+ (1,2)+ (3,2)- -> S = 1; Var = 3*2*11/18 = 11/3.
    r = mann_kendall([1, 3, 2])
    assert r.s == 1 and r.var_s == pytest.approx(11 / 3)
    assert r.z == 0.0  # continuity correction: (S - 1) / sqrt(Var)
    # Sen: slopes 2, 0.5, -1 -> median 0.5; intercept median(x) - 0.5 * median(t) = 2 - 0.5.
    assert r.sen_slope == 0.5 and r.sen_intercept == 1.5


@pytest.mark.parametrize("values", [[], [4], [4, 7], [5, 5, 5, 5], [0] * 24])
def test_mann_kendall_degenerate(values: list[int]) -> None:
    r = mann_kendall(values)
    assert r.trend == "no trend" and r.p == 1.0 and r.notes
    assert_finite(r)


def test_mann_kendall_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        mann_kendall([1.0, float("nan"), 2.0])

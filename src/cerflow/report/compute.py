"""A CER's `Facts` from a product's stored data: the one place where data become numbers.

    data = read_product(engine, drug="atorvastatin")      # cerflow.store.product_data
    signals = signals_from_background(products, events, members=..., label=..., thresholds=...)
    facts = compute_facts_from(data, thresholds=thresholds, signals=signals)

Why it is shaped like this:
- Pure: `ProductData` (frames and rows read in one snapshot) in, `Facts` out, through the
  pure `cerflow.analysis` functions; no database, no session. A number in the text is a
  function of the stored rows and nothing else, and a test can build the input by hand.
- Disproportionality compares the product with every report of the same kind in the store
  (drugs with drugs, devices with devices) in the same date window: that is the database a
  PRR/ROR/IC/EBGM is defined on. Several device codes are analysed as one product. The
  background is an argument (`signals_from_background`) because a cached result
  (`cerflow.report.signal_cache`) replaces it.
- The monthly series and what is computed from it alone (`monthly_series`) can be computed
  beforehand, in a thread beside the disproportionality (`cerflow.report.facts_builder`).
- Undefined statistics are None (never NaN or infinity) and `notes` says why, so the text
  can say "not estimable" instead of printing a meaningless number.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import urllib.parse
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from importlib import metadata
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from cerflow.analysis import anomalies as anomalies_mod
from cerflow.analysis import peers as peers_mod
from cerflow.analysis import sdr as sdr_mod
from cerflow.analysis import trends
from cerflow.analysis.disproportionality import SignalResult, disproportionality, for_product
from cerflow.analysis.forecast import forecast
from cerflow.analysis.gps import GpsPrior
from cerflow.analysis.sdr import SdrCriteria
from cerflow.analysis.thresholds import SignalThresholds
from cerflow.narrative.facts import (
    AnomalyFacts,
    BackgroundFacts,
    ChangePointFacts,
    CountShare,
    DeviceFacts,
    DeviceIdentification,
    EudamedMatchFacts,
    Facts,
    ForecastFacts,
    MeddraFacts,
    MethodsFacts,
    OutlierFacts,
    PeerFacts,
    PeerProfileRow,
    PriorFacts,
    ProductFacts,
    RecallFacts,
    RecallsFacts,
    ReportMeta,
    SdrFacts,
    SignalFacts,
    SignalsFacts,
    SnapshotFacts,
    SourceFlowFacts,
    ThresholdFacts,
    TrendFacts,
    VolumeFacts,
)
from cerflow.report.background import store_background_facts
from cerflow.report.cer_facts import data_title

if TYPE_CHECKING:
    from cerflow.config import Settings
    from cerflow.store.product_data import DrugPeerData, ProductData

TOP_N = 10
_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")

REFERENCES = [
    "Evans SJW, Waller PC, Davis S. Use of proportional reporting ratios (PRRs) for signal "
    "generation from spontaneous adverse drug reaction reports. Pharmacoepidemiol Drug Saf. "
    "2001;10(6):483-486.",
    "Rothman KJ, Lanes S, Sacks ST. The reporting odds ratio and its advantages over the "
    "proportional reporting ratio. Pharmacoepidemiol Drug Saf. 2004;13(8):519-523.",
    "Bate A, Lindquist M, Edwards IR, et al. A Bayesian neural network method for adverse "
    "drug reaction signal generation. Eur J Clin Pharmacol. 1998;54(4):315-321.",
    "Noren GN, Bate A, Orre R, Edwards IR. Extending the methods used to screen the WHO drug "
    "safety database towards analysis of complex associations and improved accuracy for rare "
    "events. Stat Med. 2006;25(21):3740-3757.",
    "DuMouchel W. Bayesian data mining in large frequency tables, with an application to the "
    "FDA spontaneous reporting system. Am Stat. 1999;53(3):177-190.",
    "Mann HB. Nonparametric tests against trend. Econometrica. 1945;13(3):245-259.",
    "Kendall MG. Rank Correlation Methods. 4th ed. London: Charles Griffin; 1975.",
    "Sen PK. Estimates of the regression coefficient based on Kendall's tau. J Am Stat Assoc. "
    "1968;63(324):1379-1389.",
    "Hyndman RJ, Koehler AB. Another look at measures of forecast accuracy. Int J Forecast. "
    "2006;22(4):679-688.",
    "Syntetos AA, Boylan JE. The accuracy of intermittent demand estimates. Int J Forecast. "
    "2005;21(2):303-314.",
    "Killick R, Fearnhead P, Eckley IA. Optimal detection of changepoints with a linear "
    "computational cost. J Am Stat Assoc. 2012;107(500):1590-1598.",
    "Gilbert RO. Statistical Methods for Environmental Pollution Monitoring. New York: Van "
    "Nostrand Reinhold; 1987. Chapter 16 (Sen's slope and its confidence interval).",
    "Iglewicz B, Hoaglin DC. How to Detect and Handle Outliers. Milwaukee: ASQC Quality "
    "Press; 1993.",
    "European Commission. MEDDEV 2.7/1 revision 4: Clinical evaluation: a guide for "
    "manufacturers and notified bodies under directives 93/42/EEC and 90/385/EEC. 2016.",
    "Regulation (EU) 2017/745 of the European Parliament and of the Council on medical "
    "devices (MDR), Article 61 and Annex XIV.",
    "ICH E2C(R2): Periodic Benefit-Risk Evaluation Report (PBRER). 2012.",
    "Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and powerful "
    "approach to multiple testing. J R Stat Soc B. 1995;57(1):289-300.",
    "Lancaster HO. Significance tests in discrete distributions. J Am Stat Assoc. "
    "1961;56(294):223-234.",
]

DEDUP_RULES = [
    "FAERS: one report per case (caseid); the latest case version (caseversion) wins, and "
    "cases on the FDA deleted-cases lists are removed.",
    "MAUDE: one report per mdr_report_key; repeated rows of the same key are merged.",
    "openFDA: reports keyed by safety report id / MDR report key; a re-import replaces a "
    "stored report only with a newer or changed version.",
    "Within a report, a product or an event term coded twice counts once.",
]

WRITER_INPUTS = [
    "Manufacturer's own clinical data: pre-market clinical investigations, literature search "
    "and appraisal, and post-market clinical follow-up (PMCF) results.",
    "Sales volumes or usage data (number of devices sold, patients treated): the "
    "denominators needed to turn report counts into incidence rates.",
    "State of the art, similar and equivalent devices or medicinal products, and the "
    "benefit-risk determination.",
    "Intended purpose, indications, contraindications and target population from the "
    "instructions for use or the summary of product characteristics.",
    "The manufacturer's own complaint, vigilance and field safety corrective action (FSCA) "
    "records, which public data do not show completely.",
]


def _num(x: float | None, digits: int = 4) -> float | None:
    """Round, and turn NaN/infinity into None (Facts never holds a non-finite number)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, digits)


def _req(x: float | None, digits: int = 4) -> float:
    v = _num(x, digits)
    return 0.0 if v is None else v


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").upper() or "PRODUCT"


def _month(d: dt.date) -> dt.date:
    return dt.date(d.year, d.month, 1)


def _shares(counts: Sequence[tuple[str, int]], total: int) -> list[CountShare]:
    return [CountShare(label=k, count=int(n), percent=_pct(int(n), total)) for k, n in counts]


def _value_counts(
    frame: pl.DataFrame, col: str, *, unknown: str = "unknown"
) -> list[tuple[str, int]]:
    if frame.height == 0:
        return []
    vc = (
        frame.select(pl.col(col).cast(pl.Utf8).fill_null(unknown).alias(col))
        .group_by(col)
        .agg(pl.len().alias("n"))
        .sort(["n", col], descending=[True, False])
    )
    return [(str(k), int(n)) for k, n in vc.iter_rows()]


# --- pieces ----------------------------------------------------------------------------


def _volumes(reports: pl.DataFrame) -> VolumeFacts:
    total = reports.height
    cov = trends.date_coverage(reports)
    dated = reports.filter(pl.col("received_date").is_not_null())
    start = dated["received_date"].min() if dated.height else None
    end = dated["received_date"].max() if dated.height else None
    months = 0
    if isinstance(start, dt.date) and isinstance(end, dt.date):
        months = (end.year - start.year) * 12 + end.month - start.month + 1

    def flag(col: str) -> int:
        return int(reports[col].fill_null(False).sum()) if total else 0

    serious = flag("serious")
    deaths = flag("death")
    by_year = (
        dated.select(pl.col("received_date").dt.year().cast(pl.Utf8).alias("year"))
        .group_by("year")
        .agg(pl.len().alias("n"))
        .sort("year")
    )
    ages = reports["age_years"].drop_nulls()
    ages = ages.filter(ages.is_finite()) if ages.len() else ages
    q1 = med = q3 = None
    if ages.len():
        arr = ages.to_numpy()
        q1, med, q3 = (float(np.percentile(arr, q)) for q in (25, 50, 75))
    sex = [
        (("female" if k == "F" else "male" if k == "M" else k), n)
        for k, n in _value_counts(reports, "sex")
    ]
    event_type = _value_counts(reports.filter(pl.col("event_type").is_not_null()), "event_type")
    return VolumeFacts(
        total_reports=total,
        period_start=start if isinstance(start, dt.date) else None,
        period_end=end if isinstance(end, dt.date) else None,
        months_covered=months,
        serious=serious,
        serious_percent=_pct(serious, total),
        deaths=deaths,
        death_percent=_pct(deaths, total),
        hospitalizations=flag("hospitalization"),
        life_threatening=flag("life_threatening"),
        disability=flag("disability"),
        year_only_dates=cov.year_only,
        undated=cov.undated,
        by_event_type=_shares(event_type, total),
        by_sex=_shares(sex, total),
        by_country=_shares(_value_counts(reports, "country")[:TOP_N], total),
        by_year=_shares([(str(y), int(n)) for y, n in by_year.iter_rows()], total),
        age_median=_num(med, 1),
        age_q1=_num(q1, 1),
        age_q3=_num(q3, 1),
        age_missing=int(reports["age_years"].null_count()) if total else 0,
    )


def _display_terms(events: pl.DataFrame) -> dict[str, str]:
    """Case-folded term -> its most frequent verbatim spelling (for printing)."""
    if events.height == 0:
        return {}
    best = (
        events.with_columns(pl.col("term_raw").fill_null(pl.col("term")))
        .group_by(["term", "term_raw"])
        .agg(pl.len().alias("n"))
        .sort(["term", "n", "term_raw"], descending=[False, True, False])
        .unique("term", keep="first")
    )
    return {str(t): str(r) for t, r, _ in best.iter_rows()}


def _trend(
    monthly: pl.DataFrame,
    reports: pl.DataFrame,
    notes: list[str],
    *,
    cleaned: Sequence[float] | None = None,
    outlier_months: Sequence[str] = (),
    partial_months: Sequence[str] = (),
    lag_months: Sequence[str] = (),
    alpha: float = 0.05,
) -> TrendFacts:
    """Mann-Kendall and Sen's slope (with its CI) on the monthly counts, and again on
    `cleaned` (outlier months replaced by their local median) when there are outliers."""
    counts = [int(c) for c in monthly["count"].to_list()]
    months = [m.strftime("%Y-%m") for m in monthly["month"].to_list()]
    mk = trends.mann_kendall(counts, alpha=alpha)
    notes.extend(mk.notes)
    clean = None
    if outlier_months and cleaned is not None:
        clean = trends.mann_kendall(list(cleaned), alpha=alpha)
    share = trends.serious_share(reports, period="year")
    by_year = [
        CountShare(label=str(p.year), count=int(s), percent=round(float(sp), 1))
        for p, s, sp in share.select("period", "serious", "serious_percent").iter_rows()
    ]
    return TrendFacts(
        months=months,
        counts=counts,
        mk_tau=_req(mk.tau),
        mk_z=_req(mk.z),
        mk_p=_req(mk.p, 6),
        mk_trend=mk.trend,
        sen_slope=_req(mk.sen_slope),
        serious_share_by_year=by_year,
        sen_unit=trends.SEN_UNIT,
        sen_slope_lo=_num(mk.sen_lo),
        sen_slope_hi=_num(mk.sen_hi),
        outlier_months=list(outlier_months),
        mk_p_without_outliers=_num(clean.p, 6) if clean else None,
        mk_z_without_outliers=_num(clean.z) if clean else None,
        mk_trend_without_outliers=clean.trend if clean else None,
        sen_slope_without_outliers=_num(clean.sen_slope) if clean else None,
        sen_slope_lo_without_outliers=_num(clean.sen_lo) if clean else None,
        sen_slope_hi_without_outliers=_num(clean.sen_hi) if clean else None,
        partial_months=list(partial_months),
        lag_months=list(lag_months),
    )


def _forecast(
    monthly: pl.DataFrame,
    methods: MethodsFacts,
    notes: list[str],
    cleaned: Sequence[float] | None = None,
) -> ForecastFacts | None:
    """The forecast; fitted on `cleaned` (outlier months replaced by their local median)
    when given, so a one-month spike does not lift the forecast."""
    if monthly.height == 0:
        notes.append("no report has a month-precise received date: no forecast")
        return None
    series: pl.DataFrame = monthly
    if cleaned is not None:
        series = monthly.sort("month").with_columns(
            pl.Series("count", [float(v) for v in cleaned], dtype=pl.Float64)
        )
        notes.append("fitted with each outlier month replaced by its local median")
    fc = forecast(series, horizon=methods.forecast_horizon, origins=methods.backtest_origins_max)
    notes.extend(fc.notes)
    nv = fc.naive
    return ForecastFacts(
        method=fc.method,
        horizon=fc.horizon,
        months=fc.months,
        mean=[_req(v) for v in fc.mean],
        lo80=[_req(v) for v in fc.lo80],
        hi80=[_req(v) for v in fc.hi80],
        lo95=[_req(v) for v in fc.lo95],
        hi95=[_req(v) for v in fc.hi95],
        mase=_num(fc.mase),
        backtest_origins=fc.backtest_origins,
        notes=list(fc.notes),
        total_expected=_req(sum(fc.mean), 1),
        total_lo95=_req(fc.total_lo95, 1),
        total_hi95=_req(fc.total_hi95, 1),
        total_lo80=_num(fc.total_lo80, 1),
        total_hi80=_num(fc.total_hi80, 1),
        simulation_paths=fc.simulation_paths,
        presented=fc.presented,
        naive_method=nv.method if nv else None,
        naive_mean=[_req(v) for v in nv.mean] if nv else [],
        naive_lo95=[_req(v) for v in nv.lo95] if nv else [],
        naive_hi95=[_req(v) for v in nv.hi95] if nv else [],
        naive_mase=_num(nv.mase) if nv else None,
        naive_total=_num(nv.total_mean, 1) if nv else None,
        naive_total_lo95=_num(nv.total_lo95, 1) if nv else None,
        naive_total_hi95=_num(nv.total_hi95, 1) if nv else None,
    )


def _anomalies(
    monthly: pl.DataFrame, methods: MethodsFacts, notes: list[str]
) -> tuple[list[AnomalyFacts], list[ChangePointFacts]]:
    flags, cps, _, _ = _anomalies_outliers(monthly, methods, notes)
    return flags, cps


def _anomalies_outliers(
    monthly: pl.DataFrame, methods: MethodsFacts, notes: list[str]
) -> tuple[list[AnomalyFacts], list[ChangePointFacts], list[OutlierFacts], list[float] | None]:
    """Control-limit flags, change points (minimum segment `changepoint_min_months`,
    searched with outlier months replaced by their local median), the outliers, and that
    cleaned series (None when there is no outlier)."""
    if monthly.height == 0:
        return [], [], [], None
    res = anomalies_mod.detect_anomalies(
        monthly,
        window=methods.anomaly_window,
        min_baseline=methods.anomaly_min_baseline,
        tail=methods.anomaly_tail,
        min_observed=methods.anomaly_min_observed,
        min_size=methods.changepoint_min_months,
        penalty_factor=methods.changepoint_penalty_factor,
        outlier_z=methods.outlier_z,
        outlier_window=methods.outlier_window,
    )
    notes.extend(res.notes)
    flags = [
        AnomalyFacts(
            month=f.month,
            observed=f.observed,
            expected=_req(f.expected, 1),
            threshold=_req(f.threshold, 1),
            p_value=_req(f.p_value, 6),
            distribution=f.distribution.replace("_", " "),
            baseline_months=f.baseline_months,
        )
        for f in res.flags
    ]
    cps = [
        ChangePointFacts(
            month=c.month, mean_before=_req(c.mean_before, 1), mean_after=_req(c.mean_after, 1)
        )
        for c in res.change_points
    ]
    outliers = [
        OutlierFacts(
            month=o.month,
            observed=o.observed,
            local_median=_req(o.local_median, 1),
            robust_z=_req(o.robust_z, 1),
        )
        for o in res.outliers
    ]
    cleaned: list[float] | None = None
    if res.outliers:
        counts = [float(c) for c in monthly.sort("month")["count"].to_list()]
        for o in res.outliers:
            counts[o.index] = o.local_median
        cleaned = counts
    return flags, cps, outliers, cleaned


@dataclass(slots=True)
class Series:
    """The monthly series and everything computed from it alone (trend, forecast,
    anomalies), with the notes of each."""

    trend: TrendFacts | None = None
    forecast: ForecastFacts | None = None
    anomalies: list[AnomalyFacts] = dc_field(default_factory=list)
    change_points: list[ChangePointFacts] = dc_field(default_factory=list)
    notes: dict[str, list[str]] = dc_field(default_factory=dict)
    outliers: list[OutlierFacts] = dc_field(default_factory=list)


def series_end(until: dt.date | None, cutoff: dt.date | None) -> dt.date | None:
    """Last day the monthly series may count: the review end, but never past the data
    cut-off (months after it would be zero-filled though nothing could be in them)."""
    if until is not None and cutoff is not None:
        return min(until, cutoff)
    return until or cutoff


def _month_end(d: dt.date) -> dt.date:
    nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def partial_months(months: Sequence[str], start: dt.date | None, end: dt.date | None) -> list[str]:
    """The first and last month of the series when the period starts after the 1st or
    ends before the month's last day (their counts cover part of the month only)."""
    out: list[str] = []
    if not months:
        return out
    if start is not None and start.day > 1 and f"{start:%Y-%m}" == months[0]:
        out.append(months[0])
    cut_end = end is not None and end < _month_end(end) and f"{end:%Y-%m}" == months[-1]
    if cut_end and months[-1] not in out:
        out.append(months[-1])
    return out


def monthly_series(
    reports: pl.DataFrame,
    since: dt.date | None,
    until: dt.date | None,
    cutoff: dt.date | None,
    methods: MethodsFacts,
) -> Series:
    """Monthly series from the product's first month (or `since`) to the data cut-off
    (or `until`, if earlier): trend (with and without outlier months), forecast (on the
    series with outliers replaced), control-limit flags, outliers and change points."""
    dated = reports.filter(trends.monthly_mask())
    first = since or (dated["received_date"].min() if dated.height else None)
    end = series_end(until, cutoff)
    last = end or (dated["received_date"].max() if dated.height else None)
    if isinstance(first, dt.date) and isinstance(last, dt.date) and _month(first) <= _month(last):
        monthly = trends.monthly_counts(reports, start=_month(first), end=_month(last))
    else:
        monthly = trends.monthly_counts(reports)
    out = Series()
    trend_notes: list[str] = []
    out.notes["trend"] = trend_notes
    out.notes["forecast"] = []
    out.notes["anomalies"] = []
    out.anomalies, out.change_points, out.outliers, cleaned = _anomalies_outliers(
        monthly, methods, out.notes["anomalies"]
    )
    months = [m.strftime("%Y-%m") for m in monthly["month"].to_list()]
    lag = methods.reporting_lag_months
    out.trend = (
        _trend(
            monthly,
            reports,
            trend_notes,
            cleaned=cleaned,
            outlier_months=[o.month for o in out.outliers],
            partial_months=partial_months(months, since, until or cutoff),
            lag_months=months[-lag:] if lag and len(months) > lag else [],
            alpha=methods.alpha,
        )
        if monthly.height
        else None
    )
    if out.trend is None:
        trend_notes.append("no report has a month-precise received date: no trend test")
    out.forecast = _forecast(monthly, methods, out.notes["forecast"], cleaned)
    return out


def _signal_row(row: dict[str, Any], label: str) -> SignalFacts:
    flags = [
        name
        for name, col in (
            ("evans", "flag_evans"),
            ("ror", "flag_ror"),
            ("ic", "flag_ic"),
            ("ebgm", "flag_ebgm"),
        )
        if row.get(col)
    ]
    return SignalFacts(
        event=label,
        a=int(row["a"]),
        b=int(row["b"]),
        c=int(row["c"]),
        d=int(row["d"]),
        expected=_req(row["expected"], 2),
        prr=_num(row.get("prr"), 2),
        prr_lo=_num(row.get("prr_lo"), 2),
        prr_hi=_num(row.get("prr_hi"), 2),
        chi2=_num(row.get("chi2_yates"), 2),
        ror=_num(row.get("ror"), 2),
        ror_lo=_num(row.get("ror_lo"), 2),
        ror_hi=_num(row.get("ror_hi"), 2),
        ic=_num(row.get("ic"), 2),
        ic025=_num(row.get("ic025"), 2),
        ic975=_num(row.get("ic975"), 2),
        ebgm=_num(row.get("ebgm"), 2),
        eb05=_num(row.get("eb05"), 2),
        eb95=_num(row.get("eb95"), 2),
        flags=flags,
    )


def _signal_result(
    products: pl.DataFrame,
    events: pl.DataFrame,
    thresholds: SignalThresholds,
    notes: list[str],
) -> SignalResult | None:
    """The all-pairs result over the background, or None (with a note) when not estimable."""
    if products.height == 0 or events.height == 0:
        notes.append("no report of this kind names both a product and an event: not estimable")
        return None
    try:
        return disproportionality(products, events, thresholds=thresholds)
    except (ValueError, ArithmeticError) as exc:  # degenerate tables: say so, do not guess
        notes.append(f"disproportionality not estimable: {exc}")
        return None


def _signals(
    res: SignalResult | None,
    label: str,
    thresholds: SignalThresholds,
    display: dict[str, str],
    notes: list[str],
    *,
    criteria: SdrCriteria | None = None,
    kind: str = "drug",
    since: dt.date | None = None,
    until: dt.date | None = None,
    detected_on: dt.date | None = None,
) -> SignalsFacts | None:
    criteria = criteria or SdrCriteria(
        min_cases=thresholds.min_count,
        eb05_min=thresholds.eb05_min,
        ic025_min=thresholds.ic025_min,
    )
    tf = ThresholdFacts(
        prr_min=thresholds.prr_min,
        chi2_min=thresholds.chi2_min,
        min_count=thresholds.min_count,
        ror025_min=thresholds.ror025_min,
        ic025_min=thresholds.ic025_min,
        eb05_min=thresholds.eb05_min,
    )
    if res is None:
        return None
    notes.extend(res.notes)
    rows = for_product(res, label)
    n_product = int(rows["a"][0] + rows["b"][0]) if rows.height else 0
    window = ""
    if since or until:
        window = f", received {since or 'any date'} to {until or 'the data cut-off'}"
    background = BackgroundFacts(
        source="store",
        description=(
            f"the {res.n_reports:,} {kind} reports the local store holds{window} that name at "
            f"least one product and one event ({n_product:,} of them concern the product); "
            "this is what was imported, not the whole FDA database"
        ),
        reports=res.n_reports,
        product_reports=n_product,
        window_start=since,
        window_end=until,
        ebgm_available=res.prior is not None,
        ebgm_absent_reason=None if res.prior is not None else "EBGM was not computed",
    )
    return signals_facts_from_rows(
        rows,
        background=background,
        criteria=criteria,
        thresholds=tf,
        display=display,
        notes=notes,
        label=label,
        source=f"{kind} reports in the local store",
        prior=res.prior,
        detected_on=detected_on,
    )


def signals_facts_from_rows(
    rows: pl.DataFrame,
    *,
    background: BackgroundFacts,
    criteria: SdrCriteria,
    thresholds: ThresholdFacts,
    display: dict[str, str],
    notes: list[str],
    label: str,
    source: str,
    prior: GpsPrior | None = None,
    detected_on: dt.date | None = None,
) -> SignalsFacts:
    """SDR facts from one product's disproportionality rows against a named background.

    The hook for any background: the local store (above) or openFDA whole-database counts
    (rows from `disproportionality_from_counts`, ``background.source == "openfda"``, no
    prior, so IC025 is the primary criterion). The refusal rule is applied here from
    ``background.reports`` and ``background.product_reports`` alone
    (`cerflow.analysis.sdr.background_refusal`), so it holds for whichever background.
    """
    n_product = background.product_reports
    sel = sdr_mod.select_sdrs(
        rows.with_columns(pl.col("event").cast(pl.Utf8)), n_product=n_product, criteria=criteria
    )
    refused = sdr_mod.background_refusal(background.reports, n_product, criteria=criteria)
    background = background.model_copy(
        update={"refused": refused is not None, "refused_reason": refused}
    )

    def facts_of(frame: pl.DataFrame) -> list[SignalFacts]:
        out = []
        for r in frame.iter_rows(named=True):
            f = _signal_row(r, display.get(str(r["event"]), str(r["event"])))
            f.zero_background = bool(r["zero_background"])
            f.lack_of_efficacy = bool(r["lack_of_efficacy"])
            f.mid_p = _num(r["mid_p"], 6)
            f.fdr_p = _num(r["fdr_p"], 6)
            f.fdr_significant = bool(r["fdr_significant"])
            f.source = source
            out.append(f)
        return out

    ratios_allowed = refused is None and not sel.descriptive_only
    flagged = facts_of(sel.sdrs) if ratios_allowed else []
    for x in flagged:  # no previous report known here: cerflow.report.signal_status updates
        x.status, x.first_detected = "new", detected_on
    top_rows = sel.table.filter(
        ~pl.col("zero_background") & (pl.col("a") >= criteria.min_cases)
    ).sort(
        ["ebgm" if "ebgm" in sel.table.columns else "primary", "a", "event"],
        descending=[True, True, False],
    )
    top = facts_of(top_rows.head(TOP_N)) if ratios_allowed else []
    if refused is not None:
        notes.append(f"ratios were not computed against this background: {refused}")
    elif sel.descriptive_reason is not None:
        notes.append(sel.descriptive_reason)
    sdr_facts = SdrFacts(
        primary_criterion=sel.primary,
        primary_threshold=sel.primary_threshold,
        min_cases=criteria.min_cases,
        fdr_q=criteria.fdr_q,
        fdr_tests=sel.tests if ratios_allowed else 0,
        min_product_reports=criteria.min_product_reports,
        background_min_reports=criteria.background_min_reports,
        background_max_product_share=criteria.background_max_product_share,
        descriptive_only=sel.descriptive_only,
        descriptive_reason=sel.descriptive_reason,
        fdr_list=facts_of(sel.fdr_list) if ratios_allowed else [],
        zero_background=facts_of(sel.zero_background),
        lack_of_efficacy=facts_of(sel.lack_of_efficacy),
        lack_of_efficacy_terms=list(sdr_mod.LACK_OF_EFFICACY_LIST),
    )
    sdr_facts.n_sdrs = sdr_facts.n_new = len(flagged)
    sdr_facts.n_fdr = len(sdr_facts.fdr_list)
    sdr_facts.n_zero_background = len(sdr_facts.zero_background)
    sdr_facts.n_lack_of_efficacy = len(sdr_facts.lack_of_efficacy)
    prior_facts = None
    if prior is not None:
        prior_facts = PriorFacts(
            alpha1=_req(prior.alpha1),
            beta1=_req(prior.beta1),
            alpha2=_req(prior.alpha2),
            beta2=_req(prior.beta2),
            p=_req(prior.p),
            loglik=_num(prior.loglik, 2),
            converged=prior.converged,
        )
    return SignalsFacts(
        background_reports=background.reports,
        product_reports=n_product,
        product_label=label,
        pairs_tested=rows.height,
        thresholds=thresholds,
        prior=prior_facts,
        signals=flagged,
        top_by_ebgm=top,
        background=background,
        sdr=sdr_facts,
    )


def _peers(
    kind: str,
    manufacturers: pl.DataFrame,
    events: pl.DataFrame,
    thresholds: SignalThresholds,
    display: dict[str, str],
    notes: list[str],
) -> PeerFacts | None:
    """Devices: the most-reported manufacturer against the other manufacturers of the same
    product code(s) (`cerflow.analysis.peers`). Drugs: `_drug_peers`."""
    if manufacturers.height == 0:
        notes.append("no report of the product code names a manufacturer")
        return None
    counts = _value_counts(manufacturers, "product")
    product = counts[0][0]
    if len(counts) < 2:
        notes.append(f"only one manufacturer ({product}) reports under this product code")
        return None
    cmp = peers_mod.compare_to_peers(
        manufacturers,
        events.select("report_id", pl.col("term").alias("event")).unique(),
        product=product,
        thresholds=thresholds,
    )
    notes.extend(cmp.notes)
    if cmp.result is None:
        return None
    rows = [
        _signal_row(r, display.get(str(r["event"]), str(r["event"])))
        for r in cmp.signals.iter_rows(named=True)
    ]
    flagged = sorted((x for x in rows if x.flags), key=lambda x: (-(x.eb05 or 0.0), x.event))
    return PeerFacts(
        description=(
            f"Reports naming {product} ({cmp.product_reports} reports) were compared with the "
            "reports of the other manufacturers of the same FDA product code."
        ),
        peer_products=cmp.peers,
        peer_reports=cmp.peer_reports,
        signals=flagged,
    )


def _drug_peers(
    peer_data: DrugPeerData | None,
    label: str,
    display_name: str,
    thresholds: SignalThresholds,
    display: dict[str, str],
    notes: list[str],
) -> PeerFacts | None:
    """Drugs: the product against the other stored products of its established
    pharmacologic class(es) (openFDA `pharm_class_epc`), with `cerflow.analysis.peers`."""
    if peer_data is None or not peer_data.classes:
        notes.append(
            f"the store holds no established pharmacologic class for {display_name} "
            "(openFDA pharm_class_epc; it is read when the drug's reports are imported from "
            "openFDA)"
        )
        return None
    classes = list(peer_data.classes)
    named = join_classes(classes)
    if not peer_data.peers:
        notes.append(f"no other product of the class {named} is in the store")
        return None
    cmp = peers_mod.compare_to_peers(
        peer_data.products,
        peer_data.events,
        product=label,
        peers=list(peer_data.peers),
        thresholds=thresholds,
    )
    notes.extend(cmp.notes)
    if cmp.product_reports == 0 or cmp.peer_reports == 0:
        if cmp.peer_reports == 0:
            notes.append(f"the other products of the class {named} have no reports in the window")
        return None
    profile = [
        PeerProfileRow(
            event=display.get(str(r["event"]), str(r["event"])),
            product_reports=int(r["product_reports"]),
            product_percent=round(float(r["product_percent"]), 1),
            peer_reports=int(r["peer_reports"]),
            peer_percent=round(float(r["peer_percent"]), 1),
        )
        for r in cmp.profile.head(TOP_N).iter_rows(named=True)
    ]
    rows = [
        _signal_row(r, display.get(str(r["event"]), str(r["event"])))
        for r in cmp.signals.iter_rows(named=True)
    ]
    # A pair with a zero cell (typically: no peer report of the event) has only a
    # corrected ratio: never ranked as a signal, named separately (issue 11 item 2).
    absent = sorted(
        (x for x in rows if x.c == 0 and x.a >= thresholds.min_count),
        key=lambda x: (-x.a, x.event),
    )
    no_peer = [x.event for x in absent]
    flagged = sorted(
        (x for x in rows if x.flags and min(x.a, x.b, x.c, x.d) > 0),
        key=lambda x: (-(x.eb05 or 0.0), x.event),
    )
    return PeerFacts(
        description=(
            f"Reports naming {display_name} ({cmp.product_reports} reports) were compared with "
            "the reports of the other products of its established pharmacologic "
            f"class{'es' if len(classes) > 1 else ''} {named} in the store (class from openFDA "
            "pharm_class_epc)."
        ),
        peer_products=cmp.peers,
        peer_reports=cmp.peer_reports,
        signals=flagged,
        basis="pharm_class",
        pharm_classes=classes,
        product_reports=cmp.product_reports,
        profile=profile,
        no_peer_reports=no_peer[:TOP_N],
        no_peer_reports_count=len(no_peer),
    )


def join_classes(classes: Sequence[str]) -> str:
    """Quoted class names joined: "A [EPC]" or "A [EPC] and B [EPC]"."""
    items = [f'"{c}"' for c in classes]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def meddra_not_supplied(kind: str) -> MeddraFacts:
    """The statement of a report made without MedDRA (or for a device)."""
    if kind == "device":
        return MeddraFacts(
            available=False,
            statement=(
                "Device reports are coded with FDA device and patient problem codes, not "
                "MedDRA, so no MedDRA roll-up applies."
            ),
        )
    return MeddraFacts(
        available=False,
        statement=(
            "No MedDRA roll-up was made: MedDRA is licensed and cerflow ships none, and no "
            "MedDRA files were supplied (setting CERFLOW_MEDDRA_DIR). Events are analysed at "
            "preferred-term level only, without grouping by HLT or SOC."
        ),
    )


def _merge_recalls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per recall number.

    FDA publishes the same device recall in `/device/recall` (no class) and in
    `/device/enforcement` (with its class): counted twice it would inflate the recall
    figures and show an unclassified duplicate. Fields are taken from whichever record has
    them; the sources are all named.
    """
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = str(r["recall_number"])
        if key not in merged:
            merged[key] = dict(r)
            merged[key]["source"] = str(r["source"])
            continue
        m = merged[key]
        sources = set(str(m["source"]).split(" + ")) | {str(r["source"])}
        m["source"] = " + ".join(sorted(sources))
        for field in ("classification", "status", "firm", "reason"):
            if not m.get(field) and r.get(field):
                m[field] = r[field]
        dates = [d for d in (m.get("report_date"), r.get("report_date")) if d is not None]
        m["report_date"] = min(dates) if dates else None
    return list(merged.values())


def _recalls(rows: list[dict[str, Any]]) -> RecallsFacts:
    items = [
        RecallFacts(
            recall_number=str(r["recall_number"]),
            source=str(r["source"]),
            classification=r.get("classification"),
            report_date=r.get("report_date"),
            status=r.get("status"),
            firm=r.get("firm"),
            reason=r.get("reason"),
        )
        for r in _merge_recalls(rows)
    ]
    cls = [i.classification for i in items]
    return RecallsFacts(
        total=len(items),
        class_i=cls.count("I"),
        class_ii=cls.count("II"),
        class_iii=cls.count("III"),
        items=items,
    )


def _identification(rows: list[dict[str, Any]]) -> list[DeviceIdentification]:
    return [
        DeviceIdentification(
            source=str(r["source"]),
            udi_di=r.get("udi_di"),
            basic_udi_di=r.get("basic_udi_di"),
            trade_name=r.get("trade_name"),
            risk_class=r.get("risk_class"),
            manufacturer_name=r.get("manufacturer_name"),
            manufacturer_srn=r.get("manufacturer_srn"),
            status=r.get("status"),
            matched_by=r.get("matched_by"),
        )
        for r in rows
    ]


SERIOUSNESS_RULE = (
    "A device report counts as serious when its MAUDE event type is death or injury "
    "(or a death outcome is recorded); malfunction reports are counted apart and are not "
    "serious by themselves."
)


def eudamed_rule(udi_dis: Sequence[str], srns: Sequence[str]) -> str:
    """The EUDAMED match rule in one sentence, naming what was asked for."""
    udi = "a UDI-DI or Basic UDI-DI named in the product's MAUDE reports"
    if udi_dis:
        udi = (
            "a UDI-DI or Basic UDI-DI given for this report (" + ", ".join(udi_dis) + ") "
            "or named in the product's MAUDE reports"
        )
    keys = [udi]
    if srns:
        keys.append("a manufacturer SRN given for this report (" + ", ".join(srns) + ")")
    keys.append("one of the FDA product codes of the query")
    keys.append("a trade name equal to a brand name in the reports")
    return (
        "A EUDAMED record is linked to the product when it carries, in this order of "
        "precedence, " + "; or ".join(keys) + ". Each record shows the rule that linked it."
    )


def _distinct_shares(
    frame: pl.DataFrame, col: str, label_of: dict[str, str], total: int
) -> tuple[int, list[CountShare]]:
    """(reports with a value in `col`, top values counted once per report)."""
    rows = frame.filter(pl.col(col).is_not_null() & (pl.col(col) != "")).select("report_id", col)
    if rows.height == 0:
        return 0, []
    with_value = int(rows["report_id"].n_unique())
    vc = (
        rows.unique()
        .group_by(col)
        .agg(pl.len().alias("n"))
        .sort(["n", col], descending=[True, False])
        .head(TOP_N)
    )
    counts = [(label_of.get(str(k), str(k)), int(n)) for k, n in vc.iter_rows()]
    return with_value, _shares(counts, total)


def device_facts(
    reports: pl.DataFrame,
    events: pl.DataFrame,
    prod_rows: pl.DataFrame,
    display_terms: dict[str, str],
    *,
    udi_dis: Sequence[str] = (),
    srns: Sequence[str] = (),
    matched: int = 0,
) -> DeviceFacts:
    """Device-only results; percentages are of all the product's reports."""
    total = reports.height
    malfunctions = int((reports["event_type"] == "malfunction").fill_null(False).sum())
    ev = events.filter(pl.col("report_id").is_in(reports["report_id"].implode()))
    dev_n, dev = _distinct_shares(
        ev.filter(pl.col("term_type") == "device_problem"), "term", display_terms, total
    )
    pat_n, pat = _distinct_shares(
        ev.filter(pl.col("term_type") == "patient_problem"), "term", display_terms, total
    )
    rows = prod_rows.with_columns(pl.col("udi_di").cast(pl.Utf8).str.strip_chars())
    udi_n, udi = _distinct_shares(rows, "udi_di", {}, total)
    brands = rows.with_columns(
        pl.col("brand_name").cast(pl.Utf8).str.strip_chars().str.to_uppercase()
    )
    brand_n, brand = _distinct_shares(brands, "brand_name", {}, total)
    return DeviceFacts(
        seriousness_rule=SERIOUSNESS_RULE,
        malfunctions=malfunctions,
        malfunction_percent=_pct(malfunctions, total),
        device_problem_reports=dev_n,
        patient_problem_reports=pat_n,
        device_problems=dev,
        patient_problems=pat,
        udi_di_reports=udi_n,
        by_udi_di=udi,
        brand_reports=brand_n,
        by_brand=brand,
        eudamed_match=EudamedMatchFacts(
            rule=eudamed_rule(udi_dis, srns),
            udi_dis=list(udi_dis),
            srns=list(srns),
            matched=matched,
        ),
    )


def _int(d: dict[str, Any], *keys: str) -> int:
    total = 0
    for k in keys:
        v = d.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool):
            total += int(v)
    return total


def _is_local(text: str) -> bool:
    return (
        text.startswith("/") or bool(_WINDOWS_ABS.match(text)) or text.lower().startswith("file://")
    )


def display_location(location: str) -> str:
    """Where a snapshot came from, as a reader elsewhere can understand it.

    A local absolute path (``/...``, ``C:\\...`` or a ``file://`` URL) names a folder on
    the machine that built the report: meaningless to the CER's reader and a leak of that
    machine's layout (user names, mount points). It is shown by its file name alone
    (``/opt/app/.../sample/data/faers/faers_ascii_2022Q1.zip`` -> ``faers_ascii_2022Q1.zip``);
    the sha256 printed beside it identifies the file. URLs and relative locations (a member
    inside an archive) are kept as they are.
    """
    text = location.strip()
    if ", " in text:  # a bulk import of several files records them joined by ", "
        parts = [p.strip() for p in text.split(", ")]
        if any(_is_local(p) for p in parts):
            return ", ".join(display_location(p) for p in parts)
    path = text
    if text.lower().startswith("file://"):
        path = urllib.parse.unquote(urllib.parse.urlsplit(text).path)
    elif not (text.startswith("/") or _WINDOWS_ABS.match(text)):
        return location
    name = PureWindowsPath(path).name if _WINDOWS_ABS.match(path) else PurePosixPath(path).name
    return name or location


def _provenance(
    rows: list[dict[str, Any]],
    in_store: dict[int, int],
    product_counts: dict[int, int],
    recall_ids: set[int],
    device_ids: set[int],
) -> list[SnapshotFacts]:
    out = []
    for r in rows:
        sid = int(r["id"])
        stats = r.get("stats") or {}
        src = stats.get("source") or {}
        load = stats.get("load") or {}
        superseded = _int(src, "superseded", "duplicate_primaryid", "duplicate_reports")
        deleted = _int(src, "deleted")
        if product_counts.get(sid):
            role = "product"
        elif sid in in_store:
            role = "background"
        elif sid in recall_ids:
            role = "recalls"
        else:
            role = "identification"
        retrieved = r["retrieved_at"]
        if isinstance(retrieved, dt.datetime) and retrieved.tzinfo is None:
            retrieved = retrieved.replace(tzinfo=dt.UTC)
        out.append(
            SnapshotFacts(
                snapshot_id=sid,
                source=str(r["source"]),
                location=display_location(str(r["location"])),
                query=r.get("query"),
                retrieved_at=retrieved,
                record_count=int(r.get("record_count") or 0),
                sha256=str(r["sha256"]),
                is_generated=bool(r.get("is_generated")),
                inserted=_int(load, "inserted"),
                updated=_int(load, "updated"),
                unchanged=_int(load, "unchanged"),
                rejected=_int(load, "rejected"),
                superseded=superseded,
                deleted=deleted,
                rows_before_dedup=int(r.get("record_count") or 0) + superseded + deleted,
                stored=_int(load, "inserted", "updated", "unchanged"),
                reports_in_store=in_store.get(sid, 0),
                product_reports=product_counts.get(sid, 0),
                role=role,
            )
        )
    return out


def source_flow(provenance: Sequence[SnapshotFacts]) -> list[SourceFlowFacts]:
    """The dedup flow summed per source, for the snapshots that hold reports (recalls and
    EUDAMED records have no case dedup)."""
    out: dict[str, SourceFlowFacts] = {}
    for p in provenance:
        if p.role not in ("product", "background"):
            continue
        f = out.setdefault(p.source, SourceFlowFacts(source=p.source, snapshots=0))
        f.snapshots += 1
        f.snapshot_ids.append(p.snapshot_id)
        if p.location not in f.files:
            f.files.append(p.location)
        f.rows_read += p.rows_before_dedup
        f.superseded += p.superseded
        f.deleted += p.deleted
        f.passed += p.record_count
        f.rejected += p.rejected
        f.inserted += p.inserted
        f.updated += p.updated
        f.unchanged += p.unchanged
        f.stored += p.stored
        f.product_reports += p.product_reports
    return list(out.values())


def _version() -> str:
    try:
        return metadata.version("cerflow")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def _assert_finite(facts: Facts) -> None:
    """A bug guard: every builder above maps undefined values to None."""

    def walk(v: Any, path: str) -> None:
        if isinstance(v, float) and not math.isfinite(v):
            raise ArithmeticError(f"non-finite value in Facts at {path}")
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{path}.{k}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{path}[{i}]")

    walk(facts.model_dump(mode="python"), "facts")


# --- entry points ----------------------------------------------------------------------


def methods_facts(settings: Settings | None = None) -> MethodsFacts:
    """The method settings and texts every CER states (the series uses them too); the
    series settings from `settings` when given, else their defaults."""
    methods = MethodsFacts(dedup_rules=list(DEDUP_RULES), references=list(REFERENCES))
    if settings is not None:
        methods = methods.model_copy(
            update={
                "changepoint_min_months": settings.series_changepoint_min_months,
                "changepoint_min_size": settings.series_changepoint_min_months,
                "outlier_z": settings.series_outlier_z,
                "reporting_lag_months": settings.series_reporting_lag_months,
            }
        )
    return methods


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    """The all-pairs disproportionality result (None when not estimable) and why not."""

    result: SignalResult | None
    notes: tuple[str, ...] = ()
    background: BackgroundFacts | None = None  # None: the store (`store_background_facts`)


def signals_from_background(
    products: pl.DataFrame,
    events: pl.DataFrame,
    *,
    members: Collection[str],
    label: str,
    thresholds: SignalThresholds,
) -> SignalOutcome:
    """Disproportionality of every product-event pair of the background, with the product's
    labels (`members`: several device codes are one product) merged into `label`."""
    bg = products.with_columns(
        pl.when(pl.col("product").is_in(list(members)))
        .then(pl.lit(label))
        .otherwise(pl.col("product"))
        .alias("product")
    ).unique()
    # A canonical row order: Polars' unique() and the database return rows in any order,
    # which reorders the pairs and so the float sums of the GPS prior fit; a flat
    # likelihood (small stores) then gave different priors run to run.
    bg = bg.sort(["report_id", "product"])
    bg_events = events.sort(["report_id", "event"])
    notes: list[str] = []
    result = _signal_result(bg, bg_events, thresholds, notes)
    return SignalOutcome(result, tuple(notes))


def review_period(
    since: dt.date | None, until: dt.date | None, cutoff: dt.date | None, volumes: VolumeFacts
) -> tuple[dt.date | None, dt.date | None]:
    """The review period: --since (else the first day of the first month with data) to
    --until (else the data cut-off, else the last received date)."""
    start = since
    if start is None and volumes.period_start is not None:
        start = _month(volumes.period_start)
    end = until or cutoff or volumes.period_end
    return start, end


def partial_years(
    by_year: Sequence[CountShare], start: dt.date | None, end: dt.date | None
) -> list[str]:
    """Years of the yearly table that the review period covers only in part."""
    out: list[str] = []
    for row in by_year:
        year = int(row.label)
        cut_start = start is not None and start > dt.date(year, 1, 1)
        cut_end = end is not None and end < dt.date(year, 12, 31)
        if cut_start or cut_end:
            out.append(row.label)
    return out


def product_names(data: ProductData) -> tuple[str, str]:
    """(label, display name) of the product: the drug key, or the joined device codes."""
    if data.kind == "drug":
        key = data.product_keys[0]
        return key, key.title()
    codes = data.product_codes
    return data.label, f"FDA product code{'s' if len(codes) > 1 else ''} {', '.join(codes)}"


def compute_facts_from(
    data: ProductData,
    *,
    thresholds: SignalThresholds,
    signals: SignalOutcome,
    series: Series | None = None,
    report_id: str | None = None,
    version: int = 1,
    generated_at: dt.datetime | None = None,
    sdr_criteria: SdrCriteria | None = None,
    methods: MethodsFacts | None = None,
    meddra: MeddraFacts | None = None,
) -> Facts:
    """Every number of the CER for one product, from its stored data.

    `series` is `monthly_series(...)` when the caller computed it beforehand (in a thread);
    None computes it here. `methods` is `methods_facts(settings)` (defaults when None).
    `data` must hold at least one report (`data.found`).
    """
    if not data.found:
        raise ValueError(f"no reports for {data.query!r}: nothing to compute facts from")
    kind = data.kind
    label, display = product_names(data)
    methods = methods or methods_facts()
    reports, events, prod_rows = data.reports, data.events, data.product_rows
    if series is None:
        series = monthly_series(reports, data.since, data.until, data.cutoff, methods)

    def top_names(col: str) -> list[str]:
        return [k for k, _ in _value_counts(prod_rows.filter(pl.col(col).is_not_null()), col)[:5]]

    verbatim = top_names("brand_name") if kind == "device" else top_names("raw_name")
    product = ProductFacts(
        kind=kind,
        query=data.query,
        display_name=display,
        product_keys=list(data.product_keys),
        product_codes=list(data.product_codes),
        verbatim_names=verbatim,
        manufacturers=top_names("manufacturer"),
    )

    volumes = _volumes(reports)
    review_start, review_end = review_period(data.since, data.until, data.cutoff, volumes)
    volumes.partial_years = partial_years(volumes.by_year, review_start, review_end)
    display_terms = _display_terms(events)
    top = trends.top_events(reports, events.select("report_id", "term"), n=TOP_N)
    top_events = [
        CountShare(label=display_terms.get(t, t), count=int(n), percent=round(float(p), 1))
        for t, n, p in top.iter_rows()
    ]

    notes: dict[str, list[str]] = {}
    notes.update(series.notes)  # trend, forecast, anomalies: the order they always had
    notes["signals"] = list(signals.notes)
    signal_facts = _signals(
        signals.result,
        label,
        thresholds,
        display_terms,
        notes["signals"],
        criteria=sdr_criteria,
        kind=kind,
        since=data.since,
        until=data.until,
        detected_on=data.cutoff,
    )
    if signal_facts is not None and signal_facts.background is not None:
        # Issue 11, item 1: every result names its background. The SDR step decided on
        # refusal and EBGM from the counts; the statement says what the background is
        # (openFDA's whole database with its queries, or what the local store holds).
        decided = signal_facts.background
        named = signals.background or store_background_facts(
            data, reports=decided.reports, product_reports=decided.product_reports
        )
        signal_facts.background = named.model_copy(
            update={
                "refused": decided.refused,
                "refused_reason": decided.refused_reason,
                "ebgm_available": decided.ebgm_available and named.ebgm_available,
                "ebgm_absent_reason": named.ebgm_absent_reason or decided.ebgm_absent_reason,
            }
        )
    notes["peers"] = []
    makers = data.manufacturers.join(reports.select("report_id"), on="report_id", how="semi")
    peers = (
        _drug_peers(data.drug_peers, label, display, thresholds, display_terms, notes["peers"])
        if kind == "drug"
        else _peers(kind, makers, events, thresholds, display_terms, notes["peers"])
    )

    product_counts: dict[int, int] = {}
    sc = reports.filter(pl.col("snapshot_id").is_not_null()).group_by("snapshot_id").len()
    product_counts = {int(s): int(n) for s, n in sc.iter_rows()}
    recall_ids = {int(r["snapshot_id"]) for r in data.recalls if r.get("snapshot_id")}
    device_ids = {int(r["snapshot_id"]) for r in data.devices if r.get("snapshot_id")}
    provenance = _provenance(
        [dict(r) for r in data.snapshots],
        dict(data.in_store),
        product_counts,
        recall_ids,
        device_ids,
    )
    generated = any(s.is_generated for s in provenance)

    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0)
    cutoff = data.cutoff
    rid = report_id or f"CER-{_slug(label)}-{(cutoff or generated_at.date()):%Y%m%d}"
    meta = ReportMeta(
        report_id=rid,
        version=version,
        title=data_title(display),
        generated_at=generated_at,
        data_cutoff=cutoff,
        since=data.since,
        until=data.until,
        cerflow_version=_version(),
        generated_data=generated,
        review_start=review_start,
        review_end=review_end,
    )
    facts = Facts(
        meta=meta,
        product=product,
        identification=_identification([dict(r) for r in data.devices]),
        provenance=provenance,
        volumes=volumes,
        top_events=top_events,
        trend=series.trend,
        forecast=series.forecast,
        anomalies=series.anomalies,
        change_points=series.change_points,
        signals=signal_facts,
        peers=peers,
        recalls=_recalls([dict(r) for r in data.recalls]),
        methods=methods,
        notes={k: list(dict.fromkeys(v)) for k, v in notes.items() if v},
        writer_inputs=list(WRITER_INPUTS),
        device=(
            device_facts(
                reports,
                events,
                prod_rows,
                display_terms,
                udi_dis=data.udi_dis,
                srns=data.srns,
                matched=len(data.devices),
            )
            if kind == "device"
            else None
        ),
        source_flow=source_flow(provenance),
        outliers=series.outliers,
        meddra=meddra or meddra_not_supplied(kind),
    )
    _assert_finite(facts)
    return facts

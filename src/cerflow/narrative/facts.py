"""`Facts`: every number and list the CER text may use, serialized as `facts.json`.

Why one object: a notified body asks "where does this number come from?". Templates and the
optional LLM rewriter may only use numbers that are in `Facts`, and `numbers_in_text` +
`allowed_numbers` let the tests and the rewriter guard prove it. Everything is plain data
(pydantic), so `facts.json` is the complete, machine-readable basis of a report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cerflow.cer_inputs.next_update import NextUpdateFacts
from cerflow.cer_inputs.schemas import CerInputs
from cerflow.narrative.change_facts import ChangesFacts


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductFacts(_Model):
    kind: Literal["drug", "device"]
    query: str  # what the user asked for: drug name or device product code(s)
    display_name: str
    product_keys: list[str] = Field(default_factory=list)  # normalized drug keys
    product_codes: list[str] = Field(default_factory=list)  # FDA device product codes
    verbatim_names: list[str] = Field(default_factory=list)  # most frequent raw names
    manufacturers: list[str] = Field(default_factory=list)


class DeviceIdentification(_Model):
    source: str
    udi_di: str | None = None
    basic_udi_di: str | None = None
    trade_name: str | None = None
    risk_class: str | None = None
    manufacturer_name: str | None = None
    manufacturer_srn: str | None = None
    status: str | None = None
    matched_by: str | None = None  # UDI-DI | SRN | FDA product code | trade name


class SnapshotFacts(_Model):
    """One query or file behind the report: the provenance table row."""

    snapshot_id: int
    source: str
    location: str
    query: str | None = None
    retrieved_at: dt.datetime
    record_count: int
    sha256: str
    is_generated: bool = False
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    superseded: int = 0  # case versions dropped by the FAERS/MAUDE dedup rule
    deleted: int = 0  # cases removed by the source's deleted-cases list (FAERS)
    rows_before_dedup: int = 0  # record_count + superseded + deleted
    reports_in_store: int = 0  # reports of this kind (in the window) last written by it
    product_reports: int = 0  # of those, reports of the product
    role: Literal["product", "background", "recalls", "identification"] = "background"
    stored: int = 0  # inserted + updated + unchanged: what the store holds from this import


class CountShare(_Model):
    label: str
    count: int
    percent: float  # of the product's reports, 1 decimal


class VolumeFacts(_Model):
    total_reports: int
    period_start: dt.date | None
    period_end: dt.date | None
    months_covered: int
    serious: int
    serious_percent: float
    deaths: int
    death_percent: float
    hospitalizations: int
    life_threatening: int
    disability: int
    year_only_dates: int = 0  # reports whose received date has year precision only
    undated: int = 0  # reports without a received date
    by_event_type: list[CountShare] = Field(default_factory=list)  # devices
    by_sex: list[CountShare] = Field(default_factory=list)
    by_country: list[CountShare] = Field(default_factory=list)
    by_year: list[CountShare] = Field(default_factory=list)
    age_median: float | None = None
    age_q1: float | None = None
    age_q3: float | None = None
    age_missing: int = 0
    partial_years: list[str] = Field(default_factory=list)  # years the review period cuts


class TrendFacts(_Model):
    months: list[str]  # YYYY-MM
    counts: list[int]
    mk_tau: float
    mk_z: float
    mk_p: float
    mk_trend: Literal["increasing", "decreasing", "no trend"]
    sen_slope: float  # reports per month
    serious_share_by_year: list[CountShare] = Field(default_factory=list)
    # --- issue 11 item 5 (series): slope unit and CI, outliers, partial months, lag ---
    sen_unit: str = "change in the monthly count per month"
    sen_slope_lo: float | None = None  # (1 - alpha) CI of Sen's slope (Sen 1968)
    sen_slope_hi: float | None = None
    outlier_months: list[str] = Field(default_factory=list)
    # The same test with each outlier month replaced by its local median (None: no outlier).
    mk_p_without_outliers: float | None = None
    mk_z_without_outliers: float | None = None
    mk_trend_without_outliers: Literal["increasing", "decreasing", "no trend"] | None = None
    sen_slope_without_outliers: float | None = None
    sen_slope_lo_without_outliers: float | None = None
    sen_slope_hi_without_outliers: float | None = None
    partial_months: list[str] = Field(default_factory=list)  # months the period cuts
    lag_months: list[str] = Field(default_factory=list)  # last months, possibly incomplete


class ForecastFacts(_Model):
    method: str
    horizon: int
    months: list[str]
    mean: list[float]
    lo80: list[float]
    hi80: list[float]
    lo95: list[float]
    hi95: list[float]
    mase: float | None
    backtest_origins: int
    notes: list[str] = Field(default_factory=list)
    total_expected: float  # sum of the mean over the horizon
    total_lo95: float  # 95% interval of the total, from simulated paths of the model
    total_hi95: float
    # --- issue 11 item 5 (series) ---
    total_lo80: float | None = None
    total_hi80: float | None = None
    simulation_paths: int = 0
    presented: bool = True  # False: backtest MASE >= 1, the naive forecast is shown
    naive_method: str | None = None
    naive_mean: list[float] = Field(default_factory=list)
    naive_lo95: list[float] = Field(default_factory=list)
    naive_hi95: list[float] = Field(default_factory=list)
    naive_mase: float | None = None
    naive_total: float | None = None
    naive_total_lo95: float | None = None
    naive_total_hi95: float | None = None


class AnomalyFacts(_Model):
    month: str
    observed: int
    expected: float
    threshold: float
    p_value: float
    distribution: str
    baseline_months: int


class OutlierFacts(_Model):
    """An isolated outlier month: reported as such, never as a level shift."""

    month: str
    observed: int
    local_median: float
    robust_z: float


class ChangePointFacts(_Model):
    month: str
    mean_before: float
    mean_after: float


class SignalFacts(_Model):
    event: str
    a: int
    b: int
    c: int
    d: int
    expected: float
    prr: float | None
    prr_lo: float | None
    prr_hi: float | None
    chi2: float | None
    ror: float | None
    ror_lo: float | None
    ror_hi: float | None
    ic: float | None
    ic025: float | None
    ic975: float | None
    ebgm: float | None
    eb05: float | None
    eb95: float | None
    flags: list[str] = Field(default_factory=list)  # evans, ror, ic, ebgm
    # --- issue 11 contract (signals, labels): one block so parallel work merges cleanly ---
    # Labelled status: "labelled" (term found in the product's label), "not in label" (a label
    # was checked), "no label" (no label in the store / devices: no public labelling source).
    labelled: Literal["labelled", "not in label", "no label"] = "no label"
    label_section: str | None = None  # e.g. "adverse_reactions", "boxed_warning"
    label_quote: str | None = None  # the matching sentence of the label, verbatim
    lack_of_efficacy: bool = False  # "Drug ineffective" etc.: reported apart, not as an AE
    # --- issue 11 items 2 and 4 (SDRs, signal table) ---
    zero_background: bool = False  # c = 0: no other product has the event; never ranked
    mid_p: float | None = None  # one-sided mid-p Fisher exact (excess reporting)
    fdr_p: float | None = None  # Benjamini-Hochberg adjusted mid-p (eligible pairs only)
    fdr_significant: bool = False
    status: Literal["new", "ongoing", "closed"] | None = None  # vs the previous report
    first_detected: dt.date | None = None
    source: str | None = None  # the background the SDR was found in
    # --- issue 13: the safety physician's newest review decision on the event, if any ---
    review: Literal["validated", "refuted", "needs_review"] | None = None
    review_reason: str | None = None
    review_by: str | None = None
    review_at: dt.date | None = None


class BackgroundQueryFacts(_Model):
    """One openFDA count request behind a whole-database background (issue 11, 1b)."""

    purpose: str  # N | product | product-event | event | event:<term>
    url: str  # the request, API key redacted
    retrieved_at: dt.datetime
    sha256: str


class BackgroundFacts(_Model):
    """What a disproportionality 2x2 table is compared against, named and counted."""

    source: Literal["store", "openfda"]
    description: str  # one sentence a reviewer reads: what the background is, its N, window
    reports: int  # N of the 2x2 tables
    product_reports: int  # n_P: the product's reports in that background
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    query: str | None = None  # openFDA: the query sent (no API key)
    retrieved_at: dt.datetime | None = None
    complete_extracts: bool = False  # store: it holds whole FAERS/MAUDE quarters
    ebgm_available: bool = True
    ebgm_absent_reason: str | None = None
    refused: bool = False  # ratios not computed against this background
    refused_reason: str | None = None
    # openFDA whole-database background (issue 11, 1b): every count request, and whether
    # the counts came from the cache (their retrieval time is still openFDA's).
    queries: list[BackgroundQueryFacts] = Field(default_factory=list)
    from_cache: bool = False


class SdrFacts(_Model):
    """How signals of disproportionate reporting (SDRs) were chosen, and the lists kept
    apart from them (`cerflow.analysis.sdr`). The SDRs themselves are `SignalsFacts.signals`.
    """

    primary_criterion: Literal["EB05", "IC025"]
    primary_threshold: float
    min_cases: int  # one minimum case count for every method
    fdr_q: float  # Benjamini-Hochberg level on one-sided mid-p Fisher p-values
    fdr_tests: int  # the BH family: pairs with a >= min_cases, c > 0, not lack of efficacy
    min_product_reports: int
    background_min_reports: int
    background_max_product_share: float  # a fraction, e.g. 0.2
    descriptive_only: bool = False
    descriptive_reason: str | None = None
    fdr_list: list[SignalFacts] = Field(default_factory=list)
    zero_background: list[SignalFacts] = Field(default_factory=list)
    lack_of_efficacy: list[SignalFacts] = Field(default_factory=list)
    closed: list[SignalFacts] = Field(default_factory=list)  # SDRs of the previous report only
    previous_report: str | None = None  # report id of the report the status is computed against
    lack_of_efficacy_terms: list[str] = Field(default_factory=list)
    # List sizes, so the text can print them and the number tracing still holds.
    n_sdrs: int = 0
    n_fdr: int = 0
    n_zero_background: int = 0
    n_lack_of_efficacy: int = 0
    n_closed: int = 0
    n_new: int = 0
    n_ongoing: int = 0


class PriorFacts(_Model):
    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float
    loglik: float | None = None
    converged: bool = True


class ThresholdFacts(_Model):
    prr_min: float
    chi2_min: float
    min_count: int
    ror025_min: float
    ic025_min: float
    eb05_min: float


class SignalsFacts(_Model):
    background_reports: int  # N: all reports in the store of the same kind
    product_reports: int = 0  # n_P: the product's reports that entered the 2x2 tables
    product_label: str = ""
    pairs_tested: int
    thresholds: ThresholdFacts
    prior: PriorFacts | None = None
    # Signals of disproportionate reporting (issue 11): a >= min_cases, c > 0, not lack of
    # efficacy, primary criterion met; ranked by it (see `sdr`). Empty when the background
    # is refused or the product is too small (descriptive only).
    signals: list[SignalFacts] = Field(default_factory=list)
    top_by_ebgm: list[SignalFacts] = Field(default_factory=list)
    background: BackgroundFacts | None = None  # issue 11 contract: the named background
    sdr: SdrFacts | None = None  # issue 11 item 2: how the SDRs were chosen


class PeerProfileRow(_Model):
    """One event's reporting proportion in the product's and in the peers' reports."""

    event: str
    product_reports: int
    product_percent: float
    peer_reports: int
    peer_percent: float


class PeerFacts(_Model):
    description: str
    peer_products: list[str]
    peer_reports: int
    signals: list[SignalFacts] = Field(default_factory=list)
    # issue 11 item 7: drug peers by established pharmacologic class (openFDA EPC)
    basis: Literal["product_code", "pharm_class"] = "product_code"
    pharm_classes: list[str] = Field(default_factory=list)  # "HMG-CoA Reductase Inhibitor [EPC]"
    product_reports: int | None = None
    profile: list[PeerProfileRow] = Field(default_factory=list)  # the product's top events
    # events of the product (a >= minimum count) that no peer report names: c = 0, so only
    # a corrected ratio exists; listed apart, never ranked among the signals
    no_peer_reports: list[str] = Field(default_factory=list)  # the most reported first
    no_peer_reports_count: int = 0


class MeddraSocRow(_Model):
    """The product's reports with at least one event term in a primary SOC."""

    soc: str
    reports: int
    percent: float  # of the product's reports
    terms: int  # distinct preferred terms of the product in this SOC


class MeddraFacts(_Model):
    """Issue 11 item 8: the MedDRA roll-up (HLT-level SDRs, events by primary SOC).

    `available` is False when no licensed MedDRA files were supplied (setting
    `meddra_dir`): the report then says the roll-up was not made and why.
    """

    available: bool
    statement: str  # what was done, or why not
    version: str | None = None  # MedDRA release, when the files name it
    product_terms: int = 0  # distinct event terms of the product
    coded_terms: int = 0  # of those, found in MedDRA (as a PT or an LLT)
    uncoded: list[str] = Field(default_factory=list)  # not found (first few)
    uncoded_terms: int = 0
    socs: list[MeddraSocRow] = Field(default_factory=list)
    hlt_pairs_tested: int = 0
    hlt_signals: list[SignalFacts] = Field(default_factory=list)  # HLT-level, >= 1 criterion
    # HLTs of the product no other report of the background names (c = 0): only a
    # corrected ratio exists, so they are named apart and never ranked
    hlt_no_background: list[str] = Field(default_factory=list)
    hlt_background_reports: int | None = None  # N of the HLT 2x2 tables (local store)


class RecallFacts(_Model):
    recall_number: str
    source: str
    classification: str | None
    report_date: dt.date | None
    status: str | None
    firm: str | None
    reason: str | None


class RecallsFacts(_Model):
    total: int
    class_i: int
    class_ii: int
    class_iii: int
    items: list[RecallFacts] = Field(default_factory=list)


class MethodsFacts(_Model):
    """Method constants the text quotes (levels, windows, tails): numbers, so in `Facts`."""

    alpha: float = 0.05  # Mann-Kendall significance level
    ci_percent: int = 95
    forecast_levels: list[int] = Field(default_factory=lambda: [80, 95])
    z975: float = 1.96
    forecast_horizon: int = 12
    backtest_origins_max: int = 12
    min_model_months: int = 24
    min_seasonal_months: int = 36
    anomaly_tail: float = 0.00135
    anomaly_sigma: int = 3
    anomaly_window: int = 12
    anomaly_min_baseline: int = 6
    anomaly_min_observed: int = 3
    changepoint_min_size: int = 6  # same as changepoint_min_months (kept for readers)
    changepoint_penalty_factor: float = 2.0
    haldane_correction: float = 0.5
    top_n: int = 10
    p_floor: float = 0.0001  # p-values below are printed as "< 0.0001"
    checksum_algorithm: str = "SHA-256"
    dedup_rules: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    # --- issue 11 item 5 (series) ---
    changepoint_min_months: int = 6  # minimum segment of a change point (setting)
    outlier_z: float = 3.5
    outlier_window: int = 5
    reporting_lag_months: int = 3
    simulation_paths: int = 4000


class ReportMeta(_Model):
    report_id: str
    version: int
    title: str
    generated_at: dt.datetime
    data_cutoff: dt.date | None
    since: dt.date | None = None
    until: dt.date | None = None
    cerflow_version: str
    generated_data: bool  # built from the bundled synthetic sample
    regulatory_basis: list[str] = Field(
        default_factory=lambda: [
            "MEDDEV 2.7/1 rev 4 (2016), Appendix A9 and A10",
            "Regulation (EU) 2017/745 (MDR) Article 61 and Annex XIV",
            "ICH E2C(R2) for drug safety summaries",
        ]
    )
    # --- issue 11 item 6: the review period (what the data were selected on, and printed) ---
    review_start: dt.date | None = None  # --since, else the first month of the data
    review_end: dt.date | None = None  # --until, else the data cut-off


class LabelTermFacts(_Model):
    """One event term checked against the product's label (issue 11 item 3)."""

    event: str
    reports: int = 0  # the product's reports with the term (top events); 0 if not counted
    status: Literal["labelled", "not in label", "no label"] = "no label"
    section: str | None = None  # openFDA field name, e.g. "warnings_and_cautions"
    quote: str | None = None  # the matching sentence of the label, verbatim
    lack_of_efficacy: bool = False
    signal: bool = False  # the term is among the disproportionality results listed
    top_event: bool = False  # the term is among the product's most reported terms


class LabelFacts(_Model):
    """The label the event terms were checked against, or why none was."""

    kind: Literal["drug", "device"]
    available: bool  # a label was found and checked
    statement: str  # one sentence for the reader: what was checked, or why nothing
    source: str | None = None  # e.g. "openFDA /drug/label.json"
    set_id: str | None = None
    label_id: str | None = None
    version: int | None = None
    effective_date: dt.date | None = None
    title: str | None = None
    query: str | None = None
    location: str | None = None
    retrieved_at: dt.datetime | None = None
    sha256: str | None = None
    is_generated: bool = False
    derived_from: str | None = None  # bundled sample: the real label it was derived from
    snapshot_id: int | None = None  # the store snapshot the label came from
    sections_checked: list[str] = Field(default_factory=list)
    match_rule: str = ""
    terms: list[LabelTermFacts] = Field(default_factory=list)
    labelled: int = 0  # terms found in the label
    not_in_label: int = 0  # terms not found
    lack_of_efficacy: list[LabelTermFacts] = Field(default_factory=list)


class CerFacts(_Model):
    """The writer's inputs (issue 12) and what they make of the document."""

    inputs: CerInputs | None = None  # validated CER inputs, verbatim
    is_cer: bool = False  # every input a CER needs is present
    missing: list[str] = Field(default_factory=list)  # labels of what is still missing
    next_update: NextUpdateFacts


class SourceFlowFacts(_Model):
    """Per source, the dedup flow in the order it happens (issue 12 item 5):
    rows read -> duplicates and older case versions removed -> deleted cases removed ->
    passed to the store (-> rejected; stored = new + updated + unchanged)."""

    source: str
    snapshots: int
    snapshot_ids: list[int] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)  # file names or URLs, never local paths
    rows_read: int = 0
    superseded: int = 0
    deleted: int = 0
    passed: int = 0  # rows_read - superseded - deleted
    rejected: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stored: int = 0
    product_reports: int = 0


class EudamedMatchFacts(_Model):
    """How EUDAMED records were linked to the product: the rule in words and its keys."""

    rule: str  # one sentence the report prints
    udi_dis: list[str] = Field(default_factory=list)  # asked for (--udi-di)
    srns: list[str] = Field(default_factory=list)  # asked for (--srn)
    matched: int = 0  # EUDAMED records matched


class DeviceFacts(_Model):
    """Device-only results: seriousness rule, problem codes apart, per UDI-DI and brand."""

    seriousness_rule: str
    serious_event_types: list[str] = Field(default_factory=lambda: ["death", "injury"])
    malfunctions: int = 0  # reports of MAUDE event type malfunction (not serious by itself)
    malfunction_percent: float = 0.0
    device_problem_reports: int = 0  # reports naming at least one device problem code
    patient_problem_reports: int = 0  # reports naming at least one patient problem code
    device_problems: list[CountShare] = Field(default_factory=list)
    patient_problems: list[CountShare] = Field(default_factory=list)
    udi_di_reports: int = 0  # reports whose device names a UDI-DI
    by_udi_di: list[CountShare] = Field(default_factory=list)
    brand_reports: int = 0  # reports whose device names a brand
    by_brand: list[CountShare] = Field(default_factory=list)
    eudamed_match: EudamedMatchFacts | None = None


class Facts(_Model):
    meta: ReportMeta
    product: ProductFacts
    identification: list[DeviceIdentification] = Field(default_factory=list)
    provenance: list[SnapshotFacts] = Field(default_factory=list)
    volumes: VolumeFacts
    top_events: list[CountShare] = Field(default_factory=list)
    trend: TrendFacts | None = None
    forecast: ForecastFacts | None = None
    anomalies: list[AnomalyFacts] = Field(default_factory=list)
    change_points: list[ChangePointFacts] = Field(default_factory=list)
    signals: SignalsFacts | None = None
    peers: PeerFacts | None = None
    recalls: RecallsFacts
    methods: MethodsFacts = Field(default_factory=MethodsFacts)
    # What could not be computed and why (e.g. "peer comparison: ..."), quoted in the text.
    notes: dict[str, list[str]] = Field(default_factory=dict)
    # Sections public data cannot supply: shown as marked inputs for the writer.
    writer_inputs: list[str] = Field(default_factory=list)
    device: DeviceFacts | None = None  # issue 12 item 6: device reports only
    source_flow: list[SourceFlowFacts] = Field(default_factory=list)  # issue 12 item 5
    # Labelled status of the event terms (issue 11 item 3): the label and each term's status.
    labelling: LabelFacts | None = None
    outliers: list[OutlierFacts] = Field(default_factory=list)  # issue 11 item 5
    # The manufacturer's/evaluator's inputs, completeness and next update (issue 12).
    cer: CerFacts | None = None
    # Issue 12 (versions): changes since the previous version; None for a first version.
    changes: ChangesFacts | None = None
    meddra: MeddraFacts | None = None  # issue 11 item 8 (None: not computed, e.g. devices)
    # Issue 14: the literature review (protocol, search, PRISMA, appraisal, trials).
    literature: LiteratureFacts | None = None

    def to_json(self) -> str:
        """Canonical serialization: the SHA-256 in every document footer is over these bytes."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


# --- number tracing --------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?")


def numbers_in_text(text: str) -> list[str]:
    """Every number in a text, normalized (thousands separators dropped, sign dropped).

    "1,234" -> "1234"; "12.50" -> "12.50" (trailing zeros are kept: a rewrite that turns
    12.50 into 12.5 is treated as a change of presentation, and both are accepted only if
    Facts allows both forms).
    """
    out = []
    for match in _NUMBER.finditer(text):
        token = match.group(0).lstrip("+-").replace(",", "")
        if token.endswith("."):
            token = token[:-1]
        out.append(token)
    return out


def _number_forms(value: float | int) -> Iterator[str]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield str(abs(value))
        return
    if value != value or value in (float("inf"), float("-inf")):
        return
    x = abs(value)
    for digits in range(0, 5):
        yield f"{x:.{digits}f}"
    if "e" not in repr(x):
        yield repr(x)  # the shortest exact form, for constants such as 0.00135
    if x == int(x):
        yield str(int(x))
    yield f"{x * 100:.1f}"  # a proportion shown as a percentage
    yield f"{x * 100:.0f}"


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def allowed_numbers(facts: Facts, extra: Iterable[str] = ()) -> set[str]:
    """Every number form the text may contain: numeric values in the forms templates use,
    and every number that appears inside a string or date of `Facts` (dates, identifiers,
    regulatory document names such as "MEDDEV 2.7/1 rev 4")."""
    allowed: set[str] = set(extra)
    for value in _walk(facts.model_dump(mode="python")):
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            allowed.update(_number_forms(value))
        elif isinstance(value, dt.datetime | dt.date):
            allowed.update(numbers_in_text(value.isoformat()))
            if isinstance(value, dt.datetime):  # "2026-11-23T14:15" hides the hour behind T
                allowed.update(numbers_in_text(value.isoformat(sep=" ")))
            allowed.add(str(value.year))
            allowed.add(str(value.day))
            allowed.add(str(value.month))
            allowed.add(f"{value.day:02d}")
        elif isinstance(value, str):
            allowed.update(numbers_in_text(value))
            allowed.update(numbers_in_text(value.replace("-", " ")))
    return allowed


def untraceable_numbers(text: str, facts: Facts, extra: Iterable[str] = ()) -> list[str]:
    """Numbers in `text` that `Facts` cannot account for (empty list = traceable)."""
    allowed = allowed_numbers(facts, extra)
    return [n for n in numbers_in_text(text) if n not in allowed]


# --- issue 12 items 3-4 (versions): ChangesFacts and its parts are in change_facts.py ---


# --- issue 14 (literature review): appended here so parallel work merges cleanly --------


class LitCriterionFacts(_Model):
    code: str
    text: str


class LitQueryFacts(_Model):
    database: str
    query: str


class LitProtocolFacts(_Model):
    version: int
    created_at: dt.datetime
    created_by: str
    population: str = ""
    intervention: str = ""
    comparator: str = ""
    outcomes: str = ""
    queries: list[LitQueryFacts] = Field(default_factory=list)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    inclusion: list[LitCriterionFacts] = Field(default_factory=list)
    exclusion: list[LitCriterionFacts] = Field(default_factory=list)


class LitDatabaseFacts(_Model):
    database: str
    query: str
    matched: int  # what the database said matches
    identified: int  # records fetched and stored (PRISMA "identified")
    capped: bool = False
    note: str = ""


class LitReasonFacts(_Model):
    code: str
    text: str
    count: int


class PrismaFacts(_Model):
    identified: int
    duplicates_removed: int
    unique: int
    awaiting_screening: int
    screened: int
    excluded_title_abstract: int
    excluded_title_abstract_reasons: list[LitReasonFacts] = Field(default_factory=list)
    sought_full_text: int
    awaiting_full_text: int
    full_text_assessed: int
    excluded_full_text: int
    excluded_full_text_reasons: list[LitReasonFacts] = Field(default_factory=list)
    included: int
    inconsistent: int = 0


class LitSearchFacts(_Model):
    search_id: int
    protocol_version: int
    started_at: dt.datetime
    finished_at: dt.datetime
    run_by: str
    databases: list[LitDatabaseFacts] = Field(default_factory=list)
    duplicates_by_rule: dict[str, int] = Field(default_factory=dict)
    synthetic: bool = False  # the demo's generated literature set


class LitFindingFacts(_Model):
    ref: int  # reference number
    event: str
    events: int | None = None
    patients: int | None = None
    percent: float | None = None  # events / patients, 1 decimal
    population: str = ""
    sdr: bool = False  # the event is also a post-market SDR of the product


class LitAppraisalFacts(_Model):
    ref: int
    record_id: int
    short: str  # "Smith 2021"
    grades: list[str]  # D1 A1 P1 R1 T1 O1 F1 S1 C1
    weight: int
    weight_class: str
    appraised_by: str
    appraised_at: dt.date


class LitTrialEventFacts(_Model):
    term: str
    group: str
    serious: bool
    affected: int | None = None
    at_risk: int | None = None


class LitTrialFacts(_Model):
    ref: int
    nct_id: str
    title: str
    status: str
    phase: str = ""
    enrollment: int | None = None
    completion_date: str | None = None
    adverse_events: list[LitTrialEventFacts] = Field(default_factory=list)


class LiteratureFacts(_Model):
    """The product's literature review as the report states it (every count is here)."""

    missing: list[str] = Field(default_factory=list)  # what is missing, as input required
    protocol: LitProtocolFacts | None = None
    search: LitSearchFacts | None = None
    prisma: PrismaFacts | None = None
    appraisals: list[LitAppraisalFacts] = Field(default_factory=list)
    not_appraised: int = 0  # included records without an appraisal
    findings: list[LitFindingFacts] = Field(default_factory=list)
    sdr_in_literature: list[str] = Field(default_factory=list)
    sdr_not_in_literature: list[str] = Field(default_factory=list)
    trials: list[LitTrialFacts] = Field(default_factory=list)
    trials_registered: int = 0
    trials_completed: int = 0
    trials_with_results: int = 0
    references: list[str] = Field(default_factory=list)  # Vancouver, numbered by position
    method: str = ""  # the appraisal method as stated (grades, weights, thresholds)
    standards: list[str] = Field(default_factory=list)  # MEDDEV A6, PRISMA 2020 references


Facts.model_rebuild()  # `literature` refers to LiteratureFacts, defined after Facts

"""Hand-built `Facts` and `Narrative` for the report tests: rich enough to draw every chart.

Built by hand (not from the store) so the document tests depend on the report layer only,
and every expected value is visible here.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from cerflow.narrative.facts import (
    AnomalyFacts,
    ChangePointFacts,
    CountShare,
    DeviceIdentification,
    Facts,
    ForecastFacts,
    LitDatabaseFacts,
    LiteratureFacts,
    LitProtocolFacts,
    LitReasonFacts,
    LitSearchFacts,
    PriorFacts,
    PrismaFacts,
    ProductFacts,
    RecallFacts,
    RecallsFacts,
    ReportMeta,
    SignalFacts,
    SignalsFacts,
    SnapshotFacts,
    ThresholdFacts,
    TrendFacts,
    VolumeFacts,
)
from cerflow.narrative.sections import Block, Narrative, Section, Table
from cerflow.report.render import render_report


def _months(start_year: int, start_month: int, n: int) -> list[str]:
    out = []
    y, m = start_year, start_month
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return out


def _signal(event: str, a: int, ror: float, ebgm: float, flags: list[str]) -> SignalFacts:
    half = 1.96 * math.sqrt(1 / a + 0.01)
    return SignalFacts(
        event=event,
        a=a,
        b=2400 - a,
        c=300 + a,
        d=50000,
        expected=round(a / ror, 2),
        prr=round(ror * 0.95, 2),
        prr_lo=round(ror * 0.95 * math.exp(-half), 2),
        prr_hi=round(ror * 0.95 * math.exp(half), 2),
        chi2=round(4.0 + a / 3, 2),
        ror=ror,
        ror_lo=round(ror * math.exp(-half), 2),
        ror_hi=round(ror * math.exp(half), 2),
        ic=round(math.log2(ebgm), 2),
        ic025=round(math.log2(ebgm) - 0.6, 2),
        ic975=round(math.log2(ebgm) + 0.6, 2),
        ebgm=ebgm,
        eb05=round(ebgm * 0.7, 2),
        eb95=round(ebgm * 1.35, 2),
        flags=flags,
    )


def build_facts(*, rich: bool = True) -> Facts:
    months = _months(2021, 1, 36)
    counts = [40 + i + (12 if i % 12 in (6, 7) else 0) for i in range(36)]
    counts[20] = 118  # an anomalous month
    fc_months = _months(2024, 1, 12)
    mean = [76.0 + 0.8 * i for i in range(12)]
    volumes = VolumeFacts(
        total_reports=sum(counts),
        period_start=dt.date(2021, 1, 1),
        period_end=dt.date(2023, 12, 31),
        months_covered=36,
        serious=1204,
        serious_percent=59.4,
        deaths=37,
        death_percent=1.8,
        hospitalizations=512,
        life_threatening=88,
        disability=41,
        by_event_type=[
            CountShare(label="Malfunction", count=1210, percent=59.7),
            CountShare(label="Injury", count=779, percent=38.4),
            CountShare(label="Death", count=37, percent=1.8),
        ],
        by_sex=[CountShare(label="Female", count=1100, percent=54.3)],
        by_year=[CountShare(label="2021", count=600, percent=29.6)],
    )
    top = [
        ("Occlusion", 412),
        ("Infusion line obstruction", 300),
        ("Device alarm issue", 250),
        ("Hyperglycaemia", 180),
        ("Insufficient information: no clinical signs, symptoms or conditions", 120),
        ("Skin irritation", 80),
    ]
    facts = Facts(
        meta=ReportMeta(
            report_id="CER-DQA-20240131-0001",
            version=2,
            title="Clinical Evaluation Report: post-market safety data",
            generated_at=dt.datetime(2024, 1, 31, 9, 30, tzinfo=dt.UTC),
            data_cutoff=dt.date(2023, 12, 31),
            cerflow_version="0.1.0",
            generated_data=True,
        ),
        product=ProductFacts(
            kind="device",
            query="DQA",
            display_name="Infusion pump (DQA)",
            product_codes=["DQA"],
            manufacturers=["Acme Medical"],
        ),
        identification=[
            DeviceIdentification(
                source="eudamed",
                udi_di="04012345678901",
                trade_name="Acme Flow",
                risk_class="IIb",
                manufacturer_name="Acme Medical",
                manufacturer_srn="DE-MF-000012345",
            )
        ],
        provenance=[
            SnapshotFacts(
                snapshot_id=1,
                source="openfda:device/event",
                location="https://api.fda.gov/device/event.json",
                query="device.device_report_product_code:DQA",
                retrieved_at=dt.datetime(2024, 1, 30, 8, 0, tzinfo=dt.UTC),
                record_count=2026,
                sha256="ab" * 32,
                is_generated=True,
                role="product",
            ),
            SnapshotFacts(
                snapshot_id=2,
                source="openfda:device/recall",
                location="https://api.fda.gov/device/recall.json",
                retrieved_at=dt.datetime(2024, 1, 30, 8, 5, tzinfo=dt.UTC),
                record_count=3,
                sha256="cd" * 32,
                is_generated=True,
                role="recalls",
            ),
        ],
        volumes=volumes,
        top_events=[
            CountShare(label=label, count=c, percent=round(100 * c / volumes.total_reports, 1))
            for label, c in top
        ],
        recalls=RecallsFacts(total=0, class_i=0, class_ii=0, class_iii=0),
    )
    if not rich:
        return facts
    facts.trend = TrendFacts(
        months=months,
        counts=counts,
        mk_tau=0.61,
        mk_z=5.2,
        mk_p=0.00001,
        mk_trend="increasing",
        sen_slope=1.02,
    )
    facts.forecast = ForecastFacts(
        method="ETS(A,A,N)",
        horizon=12,
        months=fc_months,
        mean=mean,
        lo80=[m - 8 - i for i, m in enumerate(mean)],
        hi80=[m + 8 + i for i, m in enumerate(mean)],
        lo95=[m - 13 - 1.5 * i for i, m in enumerate(mean)],
        hi95=[m + 13 + 1.5 * i for i, m in enumerate(mean)],
        mase=0.84,
        backtest_origins=12,
        total_expected=round(sum(mean), 1),
        total_lo95=round(sum(mean) - 200, 1),
        total_hi95=round(sum(mean) + 200, 1),
    )
    facts.anomalies = [
        AnomalyFacts(
            month=months[20],
            observed=118,
            expected=61.5,
            threshold=86.0,
            p_value=0.00002,
            distribution="poisson",
            baseline_months=12,
        )
    ]
    facts.change_points = [ChangePointFacts(month=months[18], mean_before=52.1, mean_after=68.4)]
    facts.signals = SignalsFacts(
        background_reports=52400,
        product_reports=2026,
        product_label="DQA",
        pairs_tested=143,
        thresholds=ThresholdFacts(
            prr_min=2.0, chi2_min=4.0, min_count=3, ror025_min=1.0, ic025_min=0.0, eb05_min=2.0
        ),
        prior=PriorFacts(alpha1=0.2, beta1=0.1, alpha2=2.0, beta2=4.0, p=0.3, loglik=-1234.5),
        signals=[
            _signal("Occlusion", 412, 4.8, 4.1, ["evans", "ror", "ic", "ebgm"]),
            _signal("Infusion line obstruction", 300, 3.2, 2.9, ["evans", "ror", "ic", "ebgm"]),
            _signal("Device alarm issue", 250, 1.9, 1.7, ["ror", "ic"]),
            _signal("Skin irritation", 8, 2.6, 1.3, ["ror"]),
        ],
    )
    facts.recalls = RecallsFacts(
        total=3,
        class_i=1,
        class_ii=2,
        class_iii=0,
        items=[
            RecallFacts(
                recall_number="Z-1234-2022",
                source="openfda:device/recall",
                classification="Class II",
                report_date=dt.date(2022, 3, 14),
                status="Terminated",
                firm="Acme Medical",
                reason="Occlusion alarm may fail to sound.",
            ),
            RecallFacts(
                recall_number="Z-0456-2023",
                source="openfda:device/recall",
                classification="Class I",
                report_date=dt.date(2023, 6, 2),
                status="Ongoing",
                firm="Acme Medical",
                reason="Software error stops infusion.",
            ),
            RecallFacts(
                recall_number="Z-0999-2023",
                source="openfda:device/recall",
                classification="Class II",
                report_date=dt.date(2023, 6, 2),
                status="Ongoing",
                firm="Acme Medical",
                reason="Labeling.",
            ),
        ],
    )
    facts.writer_inputs = ["Clinical data from the manufacturer's own investigations"]
    facts.literature = _literature()
    return facts


def _literature() -> LiteratureFacts:
    """A small literature review (issue 14): enough for the PRISMA chart."""
    at = dt.datetime(2024, 1, 10, 9, 0, tzinfo=dt.UTC)
    return LiteratureFacts(
        protocol=LitProtocolFacts(version=1, created_at=at, created_by="writer@example.org"),
        search=LitSearchFacts(
            search_id=3,
            protocol_version=1,
            started_at=at,
            finished_at=at,
            run_by="writer@example.org",
            databases=[
                LitDatabaseFacts(database="pubmed", query="pump", matched=12, identified=12),
                LitDatabaseFacts(database="europepmc", query="pump", matched=9, identified=9),
            ],
        ),
        prisma=PrismaFacts(
            identified=21,
            duplicates_removed=5,
            unique=16,
            awaiting_screening=0,
            screened=16,
            excluded_title_abstract=10,
            excluded_title_abstract_reasons=[
                LitReasonFacts(code="E1", text="Not a pump", count=10)
            ],
            sought_full_text=6,
            awaiting_full_text=0,
            full_text_assessed=6,
            excluded_full_text=2,
            excluded_full_text_reasons=[LitReasonFacts(code="E2", text="No outcome", count=2)],
            included=4,
        ),
    )


SECTION_TITLES = [
    ("1", "Executive summary", 1),
    ("2", "Scope and product identification", 1),
    ("3", "Data sources and methods", 1),
    ("4", "Post-market data", 1),
    ("4.1", "Volumes and seriousness", 2),
    ("4.2", "Recalls and field safety corrective actions", 2),
    ("5", "Analysis", 1),
    ("5.1", "Trend", 2),
    ("5.2", "Forecast", 2),
    ("5.3", "Anomalies", 2),
    ("5.4", "Disproportionality", 2),
    ("6", "Clinical data from the manufacturer", 1),
    ("7", "Conclusions", 1),
    ("A", "Appendix: provenance", 1),
]

PROVENANCE_COLUMNS = ["Snapshot", "Source", "Retrieved", "Records", "SHA-256"]
EVENT_COLUMNS = ["Event", "Reports", "Percent"]


def build_narrative(facts: Facts) -> Narrative:
    """A narrative with every block kind, charts included, in the shape part A produces."""
    sections = [
        Section(id=f"s-{n.replace('.', '-')}", number=n, title=t, level=lv)
        for n, t, lv in SECTION_TITLES
    ]
    by_number = {s.number: s for s in sections}
    v = facts.volumes
    by_number["1"].blocks = [
        Block(
            kind="paragraph",
            text=(
                f"{v.total_reports:,} reports were received between {v.period_start} and "
                f"{v.period_end}; {v.serious_percent}% were serious."
            ),
        ),
        Block(kind="bullets", items=["Increasing reporting trend.", "3 recalls, 1 of Class I."]),
    ]
    by_number["2"].blocks = [Block(kind="paragraph", text="The device is an infusion pump (DQA).")]
    by_number["3"].blocks = [
        Block(kind="paragraph", text="Reports were retrieved from openFDA." * 20),
    ]
    by_number["4.1"].blocks = [
        Block(kind="paragraph", text="Seriousness and outcomes are shown below."),
        Block(
            kind="chart", chart_id="outcomes", text="Seriousness, outcomes and device event types."
        ),
        Block(
            kind="table",
            table=Table(
                caption="Most frequently reported events",
                columns=EVENT_COLUMNS,
                rows=[[e.label, f"{e.count:,}", f"{e.percent:.1f}"] for e in facts.top_events],
            ),
        ),
        Block(kind="chart", chart_id="top_events", text="Most frequently reported events."),
    ]
    by_number["4.2"].blocks = [
        Block(kind="chart", chart_id="recalls_timeline", text="Recalls by report date and class."),
    ]
    by_number["5.1"].blocks = [
        Block(kind="chart", chart_id="monthly_counts", text="Monthly reports with Sen trend line."),
    ]
    by_number["5.2"].blocks = [
        Block(kind="chart", chart_id="forecast", text="Twelve-month forecast with intervals."),
    ]
    by_number["5.3"].blocks = [
        Block(kind="chart", chart_id="anomalies", text="Flagged months and change points."),
    ]
    by_number["5.4"].blocks = [
        Block(kind="chart", chart_id="signal_forest", text="ROR and EBGM with intervals."),
    ]
    by_number["6"].blocks = [
        Block(
            kind="writer_input",
            text="Summarise the manufacturer's clinical investigations and PMCF studies.",
        ),
        Block(kind="chart", chart_id="prisma_flow", text="PRISMA 2020 flow diagram."),
    ]
    by_number["7"].blocks = [
        Block(kind="paragraph", text="The benefit-risk profile remains acceptable.")
    ]
    by_number["A"].blocks = [
        Block(
            kind="table",
            table=Table(
                caption="Queries and files behind this report",
                columns=PROVENANCE_COLUMNS,
                rows=[
                    [
                        str(p.snapshot_id),
                        p.source,
                        p.retrieved_at.isoformat(),
                        f"{p.record_count:,}",
                        p.sha256,
                    ]
                    for p in facts.provenance
                ],
            ),
        )
    ]
    return Narrative(sections=sections)


@pytest.fixture
def facts() -> Facts:
    return build_facts()


@pytest.fixture
def sparse_facts() -> Facts:
    """No trend, forecast, signals or recalls: those charts must be omitted."""
    return build_facts(rich=False)


@pytest.fixture
def narrative(facts: Facts) -> Narrative:
    return build_narrative(facts)


PDF_RENDERERS = ["typst", "weasyprint"]


def pdf_from_renderer(
    facts: Facts,
    narrative: Narrative,
    out: dict[str, Path],
    renderer: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """`out` (a default run's files, whose PDF is Typst's) with the PDF from `renderer`."""
    if renderer == "typst":
        return out
    pdf = render_report(
        facts, narrative, tmp_path_factory.mktemp(renderer), formats=["pdf"], pdf_renderer=renderer
    )["pdf"]
    return {**out, "pdf": pdf}

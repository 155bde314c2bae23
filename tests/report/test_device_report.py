"""Issue 12 items 5 and 6: the dedup flow in words, device specifics, the EUDAMED link and
no machine path in any output. Every expected number is counted by hand from the store
below.

Device reports (FDA product code FRN), all without a country:

    key  event type   brand        UDI-DI          device problems      patient problems
    r1   death        PUMPA        00012345678905  occlusion            hypoglycaemia
    r2   injury       PUMPA        00012345678905  occlusion, alarm     hypoglycaemia, burn
    r3   malfunction  PUMPA        -               alarm                -
    r4   malfunction  PUMPB        00098765432109  occlusion            -
    r5   malfunction  -            -               -                    -
    o1   injury       (code QQQ, background only)  alarm                burn

FRN: 5 reports; serious = death + injury = 2 (40.0%); malfunctions 3 (60.0%).
Device problems: occlusion 3 (60.0%), alarm 2 (40.0%); 4 reports name one.
Patient problems: hypoglycaemia 2 (40.0%), burn 1 (20.0%); 2 reports name one.
UDI-DI: 00012345678905 2 (40.0%), 00098765432109 1 (20.0%); 3 reports name one.
Brand: PUMPA 3 (60.0%), PUMPB 1 (20.0%); 4 reports name one.

MAUDE import: 9 rows read, 2 duplicate rows (superseded) and 1 deleted case removed,
6 passed to the store and stored (all new).

EUDAMED: e1 carries UDI-DI 00012345678905 (named in r1/r2: matched by UDI-DI); e2 only the
SRN DE-MF-000000042; e3 the product code FRN; e4 none of these (never linked).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pypdf
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cerflow.cli import app
from cerflow.config import get_settings
from cerflow.db import make_engine
from cerflow.etl.load_keyed import load_devices
from cerflow.etl.load_reports import load_reports
from cerflow.etl.records import CanonicalDevice, CanonicalEvent, CanonicalProduct, CanonicalReport
from cerflow.narrative.facts import ChangePointFacts, Facts, untraceable_numbers
from cerflow.narrative.render import write_narrative
from cerflow.report.facts_builder import build_facts
from cerflow.reports.schemas import ReportCreate
from cerflow.sources.base import Provenance
from cerflow.store import migrate
from tests.report.store_factory import _day

UDI_A = "00012345678905"
UDI_B = "00098765432109"
SRN = "DE-MF-000000042"

# Machine paths as a bulk import records them: several absolute files joined by ", ".
MAUDE_PROV = Provenance(
    source="maude_bulk",
    location="/home/alice/cerflow-data/maude/mdrfoiThru2025.zip, "
    "/home/alice/cerflow-data/maude/foidevproblem.zip",
    query="bulk files",
    sha256="d" * 64,
)
EUDAMED_PROV = Provenance(
    source="eudamed_public",
    location="file:///srv/builds/run-17/eudamed/devices.json",
    sha256="e" * 64,
)


def _dev(brand: str | None, udi: str | None, code: str = "FRN") -> CanonicalProduct:
    return CanonicalProduct(
        role="device",
        product_key=brand or "UNKNOWN",
        brand_name=brand,
        product_code=code,
        manufacturer="Pump Co",
        udi_di=udi,
    )


def _ev(device: list[str], patient: list[str]) -> list[CanonicalEvent]:
    return [CanonicalEvent(t, t.capitalize(), "device_problem") for t in device] + [
        CanonicalEvent(t, t.capitalize(), "patient_problem") for t in patient
    ]


def _rep(
    key: str, month: int, event_type: str, dev: CanonicalProduct, events: list[CanonicalEvent]
) -> CanonicalReport:
    serious = event_type in ("death", "injury")
    return CanonicalReport(
        source="maude",
        source_key=key,
        kind="device",
        received=_day(2024, month, 3),
        event_type=event_type,
        serious=serious,
        death=event_type == "death",
        products=[dev],
        events=events,
    )


def device_reports() -> list[CanonicalReport]:
    return [
        _rep("r1", 1, "death", _dev("PUMPA", UDI_A), _ev(["occlusion"], ["hypoglycaemia"])),
        _rep(
            "r2",
            2,
            "injury",
            _dev("PUMPA", UDI_A),
            _ev(["occlusion", "alarm"], ["hypoglycaemia", "burn"]),
        ),
        _rep("r3", 3, "malfunction", _dev("PUMPA", None), _ev(["alarm"], [])),
        _rep("r4", 4, "malfunction", _dev("PUMPB", UDI_B), _ev(["occlusion"], [])),
        _rep("r5", 5, "malfunction", _dev(None, None), []),
        _rep("o1", 5, "injury", _dev("OTHER", None, "QQQ"), _ev(["alarm"], ["burn"])),
    ]


def eudamed() -> list[CanonicalDevice]:
    return [
        CanonicalDevice(
            "eudamed_public", "e1", udi_di=UDI_A, trade_name="Pump A EU", risk_class="IIb"
        ),
        CanonicalDevice("eudamed_public", "e2", trade_name="Other name", manufacturer_srn=SRN),
        CanonicalDevice("eudamed_public", "e3", trade_name="Third", product_codes=["FRN"]),
        CanonicalDevice("eudamed_public", "e4", udi_di="04000000000001", trade_name="Unrelated"),
    ]


def fill(engine: Engine) -> None:
    # The reader's own counts: 9 rows, 2 older versions and 1 deleted case dropped.
    load_reports(engine, device_reports(), MAUDE_PROV, source_stats={"superseded": 2, "deleted": 1})
    load_devices(engine, eudamed(), EUDAMED_PROV)


@pytest.fixture
def store(db_engine: Engine) -> Engine:
    fill(db_engine)
    return db_engine


def _shares(rows: list[object]) -> list[tuple[str, int, float]]:
    return [(r.label, r.count, r.percent) for r in rows]  # type: ignore[attr-defined]


def test_device_facts_by_hand(store: Engine) -> None:
    f = build_facts(store, device_codes=["FRN"])
    d = f.device
    assert d is not None
    assert (f.volumes.total_reports, f.volumes.serious, f.volumes.serious_percent) == (5, 2, 40.0)
    assert (d.malfunctions, d.malfunction_percent) == (3, 60.0)
    assert d.serious_event_types == ["death", "injury"]
    assert "death or injury" in d.seriousness_rule and "malfunction" in d.seriousness_rule
    assert d.device_problem_reports == 4
    assert _shares(d.device_problems) == [("Occlusion", 3, 60.0), ("Alarm", 2, 40.0)]
    assert d.patient_problem_reports == 2
    assert _shares(d.patient_problems) == [("Hypoglycaemia", 2, 40.0), ("Burn", 1, 20.0)]
    # device problems are never ranked as patient events, and the other way round
    assert {e.label for e in d.patient_problems}.isdisjoint({e.label for e in d.device_problems})
    assert d.udi_di_reports == 3
    assert _shares(d.by_udi_di) == [(UDI_A, 2, 40.0), (UDI_B, 1, 20.0)]
    assert d.brand_reports == 4
    assert _shares(d.by_brand) == [("PUMPA", 3, 60.0), ("PUMPB", 1, 20.0)]


def test_eudamed_link_rule_per_record(store: Engine) -> None:
    plain = build_facts(store, device_codes=["FRN"])
    # Without --udi-di/--srn: the UDI-DI named in the reports and the product code link.
    assert [(d.udi_di, d.matched_by) for d in plain.identification] == [
        (UDI_A, "UDI-DI"),
        (None, "FDA product code"),
    ]
    asked = build_facts(store, device_codes=["FRN"], udi_dis=["04000000000001"], srns=[SRN.lower()])
    assert [(d.trade_name, d.matched_by) for d in asked.identification] == [
        ("Pump A EU", "UDI-DI"),
        ("Other name", "SRN"),
        ("Third", "FDA product code"),
        ("Unrelated", "UDI-DI"),
    ]
    m = asked.device.eudamed_match if asked.device else None
    assert m is not None and (m.udi_dis, m.srns, m.matched) == (["04000000000001"], [SRN], 4)
    assert "04000000000001" in m.rule and SRN in m.rule


def test_bad_eudamed_keys_are_refused(store: Engine) -> None:
    with pytest.raises(ValueError, match="SRN 'DE-123' is not a single registration number"):
        build_facts(store, device_codes=["FRN"], srns=["DE-123"])
    with pytest.raises(ValueError, match="UDI-DI 'no spaces please' is not a device identifier"):
        build_facts(store, device_codes=["FRN"], udi_dis=["no spaces please"])
    with pytest.raises(ValueError, match="give --device-code"):
        build_facts(store, drug="aspirin", udi_dis=[UDI_A])


def test_api_request_validates_eudamed_keys() -> None:
    ok = ReportCreate(product_ref="FRN", udi_di=[UDI_A, UDI_A], srn=[SRN.lower()])
    assert (ok.udi_di, ok.srn) == ([UDI_A], [SRN])
    with pytest.raises(pydantic.ValidationError, match="not a single registration number"):
        ReportCreate(product_ref="FRN", srn=["XX"])


def test_source_flow_in_order(store: Engine) -> None:
    f = build_facts(store, device_codes=["FRN"])
    (snap,) = [p for p in f.provenance if p.source == "maude_bulk"]
    assert snap.location == "mdrfoiThru2025.zip, foidevproblem.zip"
    assert (snap.rows_before_dedup, snap.superseded, snap.deleted, snap.record_count) == (
        9,
        2,
        1,
        6,
    )
    assert (snap.stored, snap.inserted) == (6, 6)
    (flow,) = f.source_flow
    assert (flow.source, flow.rows_read, flow.superseded, flow.deleted, flow.passed) == (
        "maude_bulk",
        9,
        2,
        1,
        6,
    )
    assert (flow.stored, flow.inserted, flow.updated, flow.product_reports) == (6, 6, 0, 5)
    assert flow.rows_read - flow.superseded - flow.deleted == flow.passed


def _section_text(facts: Facts, sid: str) -> str:
    sec = {s.id: s for s in write_narrative(facts).sections}[sid]
    return "\n".join("\n".join([b.text or "", *b.items]) for b in sec.blocks)


def _tables(facts: Facts, sid: str) -> dict[str, list[list[str]]]:
    sec = {s.id: s for s in write_narrative(facts).sections}[sid]
    return {b.table.caption: b.table.rows for b in sec.blocks if b.table}


def test_narrative_device_sections(store: Engine) -> None:
    f = build_facts(store, device_codes=["FRN"], srns=[SRN])
    tables = _tables(f, "top-events")
    assert tables["Most frequent device problem codes"] == [
        ["Occlusion", "3", "60.0%"],
        ["Alarm", "2", "40.0%"],
    ]
    assert tables["Most frequent patient problem codes"] == [
        ["Hypoglycaemia", "2", "40.0%"],
        ["Burn", "1", "20.0%"],
    ]
    assert tables["Reports by UDI-DI of the device"] == [
        [UDI_A, "2", "40.0%"],
        [UDI_B, "1", "20.0%"],
    ]
    assert tables["Reports by brand name of the device"][0] == ["PUMPA", "3", "60.0%"]
    assert "Most frequently reported events" not in tables  # no mixed ranking for devices
    serious = _section_text(f, "seriousness")
    assert "counts as serious when its MAUDE event type is death or injury" in serious
    assert "2 (40.0%) of the reports were serious; 3 (60.0%) were malfunction reports" in serious
    scope = _section_text(f, "identification")
    assert "in this order of precedence" in scope and SRN in scope
    ident = _tables(f, "identification")["EUDAMED device identification"]
    assert [row[-1] for row in ident] == ["UDI-DI", "SRN", "FDA product code"]
    # every country is unknown: one sentence, no table
    appendix = _section_text(f, "appendix-data")
    assert "No report gives the country of occurrence (5 reports without it)" in appendix
    assert not any("country" in c for c in _tables(f, "appendix-data"))
    methods = _section_text(f, "data-sources")
    assert (
        "9 rows read; 2 duplicates or older case versions removed; 1 deleted case removed; "
        "6 passed to the store; 6 stored (6 new, 0 updated, 0 unchanged)"
    ) in methods
    assert "a number missing between them is an import of other data" in methods
    flow_cols = next(
        b.table.columns
        for s in write_narrative(f).sections
        if s.id == "data-sources"
        for b in s.blocks
        if b.table
    )
    assert flow_cols[3:7] == [
        "Rows read",
        "Duplicates and older versions removed",
        "Deleted cases removed",
        "Passed to the store",
    ]
    for s in write_narrative(f).sections:
        for b in s.blocks:
            text = " ".join([b.text or "", *b.items])
            assert untraceable_numbers(text, f) == [], (s.id, text)


# --- no machine path in any output ------------------------------------------------------

_ABS = re.compile(
    r"(?<![\w:/.])(/(home|srv|tmp|work|usr|opt|var|root|Users|builds)/)|[A-Za-z]:\\\\|file://"
)


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db = tmp_path / "dev.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    fill(engine)
    engine.dispose()
    monkeypatch.setenv("CERFLOW_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CERFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CERFLOW_LLM_BASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_udi_di_srn_and_no_absolute_path_in_any_output(cli_store: Path) -> None:
    out = cli_store / "out"
    result = CliRunner().invoke(
        app,
        ["report", "--device-code", "FRN", "--offline", "--srn", SRN, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    facts = json.loads((out / "facts.json").read_text())
    assert [d["matched_by"] for d in facts["identification"]] == [
        "UDI-DI",
        "SRN",
        "FDA product code",
    ]
    pdf = next(out.glob("*.pdf"))
    docx = next(out.glob("*.docx"))
    html = next(out.glob("*.html"))
    texts = {
        "facts.json": (out / "facts.json").read_text(),
        "html": html.read_text(),
        "pdf": "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(pdf).pages),
    }
    with zipfile.ZipFile(docx) as z:
        texts["docx"] = "\n".join(
            z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml")
        )
    for name, text in texts.items():
        assert "mdrfoiThru2025.zip" in text or (name == "pdf" and "mdrfoiThru2025" in text), name
        hits = [m.group(0) for m in _ABS.finditer(text)]
        assert hits == [], (name, hits[:5])
        assert "alice" not in text and "run-17" not in text, name
    # the scan itself finds a planted path (so the regex is not vacuous)
    assert _ABS.search("see /home/alice/cerflow-data/x.zip") is not None
    assert _ABS.search("file:///srv/builds/x.json") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device-code", "FRN", "--udi-di", "bad id"], "is not a device identifier"),
        (["--device-code", "FRN", "--srn", "DE-1"], "is not a single registration number"),
        (["--drug", "aspirin", "--udi-di", UDI_A], "use them with --device-code"),
    ],
)
def test_cli_refuses_bad_eudamed_keys(cli_store: Path, args: list[str], message: str) -> None:
    out = cli_store / "bad"
    result = CliRunner().invoke(app, ["report", *args, "--offline", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not out.exists()


def test_one_value_breakdowns_are_sentences(store: Engine) -> None:
    f = build_facts(store, device_codes=["FRN"])
    assert f.device is not None
    f.device.by_udi_di = f.device.by_udi_di[:1]
    f.device.udi_di_reports = 2
    f.device.by_brand = f.device.by_brand[:1]
    f.device.brand_reports = 3
    text = _section_text(f, "top-events")
    assert f"Every report that names a UDI-DI (2) names {UDI_A}" in text
    assert "Every report that names a brand (3) names PUMPA" in text
    tables = _tables(f, "top-events")
    assert "Reports by UDI-DI of the device" not in tables
    assert "Reports by brand name of the device" not in tables


def test_real_eudamed_records_link_by_srn_and_basic_udi_di(
    db_engine: Engine, shared_data: Path
) -> None:
    """25 real EUDAMED search results (Amann Girrbach, dental): they carry no FDA product
    code and no trade name a MAUDE report uses, so only --srn / --udi-di can link them. The
    expected counts are read from the JSON directly, not through cerflow."""
    from cerflow.etl.eudamed import device_from_search_item

    name = "Delapro_README_05_devices_udiDiData_search_by_srn.json"
    items = json.loads((shared_data / "eudamed" / name).read_text(encoding="utf-8"))["content"]
    load_reports(db_engine, device_reports(), MAUDE_PROV)
    load_devices(db_engine, [device_from_search_item(i) for i in items], EUDAMED_PROV)
    assert build_facts(db_engine, device_codes=["FRN"]).identification == []
    srn = items[0]["manufacturerSrn"]
    by_srn = build_facts(db_engine, device_codes=["FRN"], srns=[srn])
    assert len(by_srn.identification) == sum(1 for i in items if i["manufacturerSrn"] == srn)
    assert {d.matched_by for d in by_srn.identification} == {"SRN"}
    basic = items[0]["basicUdi"]  # a HIBCC "++..." Basic UDI-DI
    by_udi = build_facts(db_engine, device_codes=["FRN"], udi_dis=[basic.lower()])
    assert sorted(d.udi_di or "" for d in by_udi.identification) == sorted(
        i["primaryDi"] for i in items if i["basicUdi"] == basic
    )
    assert {d.matched_by for d in by_udi.identification} == {"UDI-DI"}


def test_anomaly_caption_promises_only_what_is_marked(store: Engine) -> None:
    f = build_facts(store, device_codes=["FRN"])
    f.anomalies, f.change_points = [], []

    def caption(facts: Facts) -> str:
        return next(
            b.text
            for s in write_narrative(facts).sections
            for b in s.blocks
            if b.kind == "chart" and b.chart_id == "anomalies"
        )

    assert "so nothing is marked" in caption(f)
    f.change_points = [ChangePointFacts(month="2024-03", mean_before=1.0, mean_after=2.0)]
    assert caption(f) == (
        "Monthly reports with the change points marked (no month was above the control limit)."
    )


def test_eudamed_rule_lists_keys_in_the_order_the_match_applies() -> None:
    from cerflow.report.compute import eudamed_rule

    rule = eudamed_rule([UDI_A], [SRN])
    order = [rule.index(k) for k in (UDI_A, "MAUDE reports", SRN, "FDA product codes", "trade")]
    assert order == sorted(order)
    assert SRN not in eudamed_rule([], []) and "SRN" not in eudamed_rule([], [])

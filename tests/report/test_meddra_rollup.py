"""The MedDRA roll-up in a CER: the store of `store_factory` coded with the made-up files.

Hand counts (atorvastatin, suspect/interacting: a1 myalgia+nausea, a2 myalgia, a3 nausea,
a4 myalgia+headache, a5 rash; n = 5). Primary SOC, unique reports:
    Musculoskeletal a1 a2 a4 = 3 (60.0 %), Gastrointestinal a1 a3 = 2 (40.0 %),
    Nervous a4 = 1 (20.0 %), Skin a5 = 1 (20.0 %)
HLT 2x2 tables over the drug background (N = 16 reports with a product and an event):
    Muscle symptoms (myalgia only): a = 3 (a1 a2 a4), b = 2, c = 2 (c1, m10), d = 9;
        ROR = 3*9 / (2*2) = 6.75
    Nausea and vomiting symptoms (nausea, and headache by its secondary HLT): a = 3
        (a1 a3 a4), b = 2, c = 9 (six metformin nausea + three headache reports), d = 2;
        ROR = 3*2 / (2*9) = 0.33
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from cerflow.config import Settings
from cerflow.narrative.facts import untraceable_numbers
from cerflow.narrative.render import write_narrative
from cerflow.report.facts_builder import build_facts
from cerflow.store.meddra import MeddraFormatError
from tests.report import store_factory as sf

FAKE = Path(__file__).resolve().parents[1] / "fixtures" / "meddra_fake"
EVERY_PAIR = {  # thresholds every pair meets, so every HLT is listed with its 2x2 table
    "signal_prr_min": 0.01,
    "signal_chi2_min": 0.0,
    "signal_min_count": 1,
}


@pytest.fixture
def store(db_engine: Engine) -> Engine:
    sf.fill(db_engine)
    return db_engine


def _text(f: object, section: str) -> str:
    return "\n".join(t for s in write_narrative(f).sections if s.id == section for t in s.texts())  # type: ignore[arg-type]


def test_soc_groups_and_hlt_tables_equal_hand_counts(store: Engine) -> None:
    settings = Settings(meddra_dir=FAKE, **EVERY_PAIR)
    f = build_facts(store, drug="atorvastatin", settings=settings)
    m = f.meddra
    assert m is not None and m.available
    assert m.version == "0.0 English (made up)"
    assert (m.product_terms, m.coded_terms, m.uncoded) == (4, 4, [])
    assert [(r.soc.split(" (")[0], r.reports, r.percent) for r in m.socs] == [
        ("Musculoskeletal and connective tissue disorders", 3, 60.0),
        ("Gastrointestinal disorders", 2, 40.0),
        ("Nervous system disorders", 1, 20.0),
        ("Skin and subcutaneous tissue disorders", 1, 20.0),
    ]
    assert m.hlt_pairs_tested == 4
    assert m.hlt_background_reports == 16  # N: the 2x2 tables below add up to it
    hlt = {x.event.split(" (")[0]: x for x in m.hlt_signals}
    muscle, nausea = hlt["Muscle symptoms"], hlt["Nausea and vomiting symptoms"]
    assert (muscle.a, muscle.b, muscle.c, muscle.d) == (3, 2, 2, 9)
    assert muscle.ror == pytest.approx(6.75)
    assert (nausea.a, nausea.b, nausea.c, nausea.d) == (3, 2, 9, 2)
    assert nausea.ror == pytest.approx(0.33)
    # rash: a5 only, no other report names it (c = 0): named apart, never ranked
    assert m.hlt_no_background == ["Rashes, eruptions and exanthems NEC (made up)"]
    assert "Rashes, eruptions and exanthems NEC" not in hlt
    text = _text(f, "meddra")
    assert "Muscle symptoms" in text and "primary System Organ Class" in text
    narrative = write_narrative(f)
    assert untraceable_numbers("\n".join(narrative.all_texts()), f) == []


def test_without_meddra_the_report_says_so(store: Engine) -> None:
    f = build_facts(store, drug="atorvastatin", settings=Settings())
    assert f.meddra is not None and not f.meddra.available
    assert "no MedDRA files were supplied" in _text(f, "meddra")
    device = build_facts(store, device_codes=["LZG"], settings=Settings(meddra_dir=FAKE))
    assert device.meddra is not None and not device.meddra.available
    assert "not MedDRA" in _text(device, "meddra")


def test_a_bad_meddra_folder_fails_with_its_name(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(MeddraFormatError, match="CERFLOW_MEDDRA_DIR"):
        build_facts(store, drug="atorvastatin", settings=Settings(meddra_dir=tmp_path))

"""Drug peers by established pharmacologic class, on a hand-built store.

The store of `store_factory` (atorvastatin, metformin, lonely) plus four simvastatin
reports; classes: atorvastatin and simvastatin "HMG-CoA Reductase Inhibitor [EPC]",
metformin "Biguanide [EPC]". The peers of atorvastatin must be simvastatin only.

Hand counts (suspect/interacting reports; c1 names atorvastatin only as concomitant):
    atorvastatin (5): a1 myalgia+nausea, a2 myalgia, a3 nausea, a4 myalgia+headache, a5 rash
    simvastatin  (4): s1 myalgia, s2 myalgia, s3 nausea, s4 rash
    myalgia  3/5 = 60.0 %, peers 2/4 = 50.0 %; nausea 2/5 = 40.0 %, 1/4 = 25.0 %
    headache 1/5 = 20.0 %, 0/4 = 0.0 %;       rash   1/5 = 20.0 %, 1/4 = 25.0 %
    myalgia 2x2 against the peers: a = 3, b = 2, c = 2, d = 2
    ROR = (3*2)/(2*2) = 1.5; PRR = (3/5)/(2/4) = 1.2
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cerflow.analysis.disproportionality import for_product
from cerflow.analysis.peers import compare_to_peers
from cerflow.config import Settings
from cerflow.etl.load_reports import load_reports
from cerflow.narrative.render import write_narrative
from cerflow.report.facts_builder import build_facts
from cerflow.sources.base import Provenance
from cerflow.store.product_classes import classes_of, products_in_classes, save_classes
from cerflow.store.product_data import read_product
from tests.report import store_factory as sf

HMG = "HMG-CoA Reductase Inhibitor [EPC]"
BIG = "Biguanide [EPC]"
CLASS_PROV = Provenance(source="openfda:/drug/event.json", location="memory://", sha256="f" * 64)


@pytest.fixture
def store(db_engine: Engine) -> Engine:
    sf.fill(db_engine)
    sim = sf._suspect("SIMVASTATIN")
    day = sf._day(2024, 2, 1)
    load_reports(
        db_engine,
        [
            sf._rep("s1", day, [sim], ["myalgia"]),
            sf._rep("s2", day, [sim], ["myalgia"]),
            sf._rep("s3", day, [sim], ["nausea"]),
            sf._rep("s4", day, [sim], ["rash"]),
        ],
        CLASS_PROV,
    )
    save_classes(
        db_engine,
        [("ATORVASTATIN", HMG), ("SIMVASTATIN", HMG), ("METFORMIN", BIG)],
        source="test",
    )
    return db_engine


def test_classes_are_stored_once_and_read_back(store: Engine) -> None:
    assert save_classes(store, [("ATORVASTATIN", HMG)], source="again") == 0
    with store.connect() as conn:
        assert classes_of(conn, ["ATORVASTATIN"]) == [HMG]
        assert products_in_classes(conn, [HMG]) == ["ATORVASTATIN", "SIMVASTATIN"]
        assert products_in_classes(conn, [BIG]) == ["METFORMIN"]


def test_peers_are_the_other_products_of_the_class(store: Engine) -> None:
    data = read_product(store, drug="atorvastatin")
    assert data.drug_peers is not None
    assert data.drug_peers.classes == (HMG,)
    assert data.drug_peers.peers == ("SIMVASTATIN",)  # not metformin, not lonely
    cmp = compare_to_peers(data.drug_peers.products, data.drug_peers.events, product="ATORVASTATIN")
    assert (cmp.product_reports, cmp.peer_reports) == (5, 4)
    assert cmp.result is not None
    row = for_product(cmp.result, "ATORVASTATIN").filter(event="myalgia").row(0, named=True)
    assert (row["a"], row["b"], row["c"], row["d"]) == (3, 2, 2, 2)
    assert row["ror"] == pytest.approx(1.5)
    assert row["prr"] == pytest.approx(1.2)


def test_report_names_the_class_and_the_proportions(store: Engine) -> None:
    f = build_facts(store, drug="atorvastatin")
    assert f.peers is not None
    pc = f.peers
    assert pc.basis == "pharm_class"
    assert pc.pharm_classes == [HMG]
    assert pc.peer_products == ["SIMVASTATIN"]
    assert (pc.product_reports, pc.peer_reports) == (5, 4)
    got = {
        r.event.casefold(): (r.product_reports, r.product_percent, r.peer_reports, r.peer_percent)
        for r in pc.profile
    }
    assert got == {
        "myalgia": (3, 60.0, 2, 50.0),
        "nausea": (2, 40.0, 1, 25.0),
        "headache": (1, 20.0, 0, 0.0),
        "rash": (1, 20.0, 1, 25.0),
    }
    text = "\n".join(t for s in write_narrative(f).sections if s.id == "peers" for t in s.texts())
    assert HMG in text
    assert "not made" not in text


def test_no_class_and_no_peer_say_why(store: Engine) -> None:
    lonely = build_facts(store, drug="lonely")
    assert lonely.peers is None
    assert "no established pharmacologic class" in lonely.notes["peers"][0]
    metformin = build_facts(store, drug="metformin")
    assert metformin.peers is None
    assert metformin.notes["peers"] == [f'no other product of the class "{BIG}" is in the store']


def test_an_event_no_peer_reports_is_named_not_ranked(store: Engine) -> None:
    # headache: a = 1 (a4), c = 0 (no simvastatin report): only a corrected ratio exists
    f = build_facts(store, drug="atorvastatin", settings=Settings(signal_min_count=1))
    assert f.peers is not None
    assert f.peers.no_peer_reports == ["Headache"]
    assert f.peers.no_peer_reports_count == 1
    assert all(min(x.a, x.b, x.c, x.d) > 0 for x in f.peers.signals)
    text = "\n".join(t for s in write_narrative(f).sections if s.id == "peers" for t in s.texts())
    assert "1 event of the product is named by no report of a class peer: Headache" in text

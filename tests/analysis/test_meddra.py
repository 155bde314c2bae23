"""MedDRA roll-up on the made-up file set (tests/fixtures/meddra_fake), against hand counts.

Events (report: terms), n = 4 reports:
    r1: myalgia, muscle pain (an LLT of Myalgia), nausea
    r2: headache            (primary SOC Nervous; also under a Gastrointestinal HLT)
    r3: feeling sick (an LLT of Nausea), xyz (not in MedDRA)
    r4: muscular weakness
By primary SOC (unique reports):
    Gastrointestinal: r1, r3 -> 2 (50.0 %), terms nausea, feeling sick -> 2
    Musculoskeletal:  r1, r4 -> 2 (50.0 %), terms myalgia, muscle pain, muscular weakness -> 3
    Nervous system:   r2     -> 1 (25.0 %), terms headache -> 1 (its secondary SOC not counted)
    7 distinct terms, 6 coded, uncoded: xyz
By HLT (unique report x HLT):
    r1: Muscle symptoms, Nausea and vomiting symptoms
    r2: Headaches NEC, Nausea and vomiting symptoms
    r3: Nausea and vomiting symptoms
    r4: Muscle symptoms
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cerflow.analysis import meddra as md
from cerflow.store.meddra import MeddraFormatError, read_meddra

FAKE = Path(__file__).resolve().parents[1] / "fixtures" / "meddra_fake"
EVENTS = pl.DataFrame(
    {
        "report_id": [1, 1, 1, 2, 3, 3, 4],
        "event": [
            "myalgia",
            "muscle pain",
            "nausea",
            "headache",
            "feeling sick",
            "xyz",
            "muscular weakness",
        ],
    }
)


def test_reader_takes_pts_llts_and_the_primary_soc() -> None:
    t = read_meddra(FAKE)
    assert t.version == "0.0 English (made up)"
    terms = dict(t.terms.iter_rows())
    assert terms["muscle pain"] == terms["myalgia"] == 91000001
    assert terms["feeling sick"] == 91000002
    primary = {r["pt_name"]: r["soc_code"] for r in t.primary.iter_rows(named=True)}
    assert primary["Headache"] == 94000003  # the Y row of mdhier, not the N one
    assert t.pt_hlt.filter(pt_code=91000003).height == 2
    assert t.counts["mdhier.asc"] == 6


def test_soc_rollup_equals_the_hand_counts() -> None:
    t = read_meddra(FAKE)
    roll = md.soc_rollup(EVENTS, 4, t.terms, t.primary)
    got = [
        (r["soc_name"].split(" (")[0], r["reports"], r["percent"], r["terms"])
        for r in roll.socs.iter_rows(named=True)
    ]
    assert got == [
        ("Gastrointestinal disorders", 2, 50.0, 2),
        ("Musculoskeletal and connective tissue disorders", 2, 50.0, 3),
        ("Nervous system disorders", 1, 25.0, 1),
    ]
    assert (roll.product_terms, roll.coded_terms, roll.uncoded) == (7, 6, ["xyz"])


def test_hlt_events_equal_the_hand_rollup() -> None:
    t = read_meddra(FAKE)
    hlt = md.hlt_events(EVENTS, t.terms, t.pt_hlt)
    got = {(r, e.split(" (")[0]) for r, e in hlt.iter_rows()}
    assert got == {
        (1, "Muscle symptoms"),
        (1, "Nausea and vomiting symptoms"),
        (2, "Headaches NEC"),
        (2, "Nausea and vomiting symptoms"),
        (3, "Nausea and vomiting symptoms"),
        (4, "Muscle symptoms"),
    }


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "m"
    out.mkdir(parents=True)
    for p in FAKE.glob("*.asc"):
        (out / p.name).write_bytes(p.read_bytes())
    return out


def test_missing_file_and_bad_line_are_named(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "hlt_pt.asc").unlink()
    with pytest.raises(MeddraFormatError, match=r"lacks hlt_pt\.asc.*CERFLOW_MEDDRA_DIR"):
        read_meddra(d)
    d = _copy(tmp_path / "x")
    (d / "pt.asc").write_text("91000001$Myalgia$\nabc$Nausea$$94000002$\n")
    with pytest.raises(MeddraFormatError, match=r"pt\.asc line 1: 3 \$-separated"):
        read_meddra(d)
    (d / "pt.asc").write_text("abc$Nausea$$94000002$\n")
    with pytest.raises(MeddraFormatError, match=r"pt\.asc line 1, field pt_code"):
        read_meddra(d)
    with pytest.raises(MeddraFormatError, match="does not exist"):
        read_meddra(tmp_path / "nowhere")

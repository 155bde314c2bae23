"""Template narrative: chapter order, writer inputs, and every printed number traceable."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import Engine

from cerflow.narrative.facts import Facts, allowed_numbers, numbers_in_text
from cerflow.narrative.render import (
    TemplateMarkupError,
    fmt_dec,
    fmt_int,
    fmt_p_stat,
    fmt_pct,
    parse_blocks,
    write_narrative,
)
from cerflow.report.facts_builder import build_facts

CHAPTER_IDS = [
    "executive-summary",
    "scope",
    "data-sources-methods",
    "post-market-data",
    "analysis",
    "literature",
    "limitations",
    "conclusions",
    "sign-off",
    "references",
    "appendix-data",
    "appendix-provenance",
]


def _untraceable(facts: Facts) -> list[tuple[str, str]]:
    narrative = write_narrative(facts)
    allowed = allowed_numbers(facts)
    return [
        (n, text[:120])
        for text in narrative.all_texts()
        for n in numbers_in_text(text)
        if n not in allowed
    ]


def test_every_number_is_in_facts_drug(drug_facts: Facts) -> None:
    narrative = write_narrative(drug_facts)
    texts = narrative.all_texts()
    assert sum(len(numbers_in_text(t)) for t in texts) > 100  # the test checks something
    assert _untraceable(drug_facts) == []


def test_every_number_is_in_facts_device(device_facts: Facts) -> None:
    assert _untraceable(device_facts) == []


def test_every_number_is_in_facts_degenerate(small_store: Engine) -> None:
    facts = build_facts(small_store, drug="lonely")  # one report, no event
    assert _untraceable(facts) == []
    text = " ".join(write_narrative(facts).all_texts())
    assert "not estimable" in text or "No report of the product names an event" in text
    assert "nan" not in text.lower().split()


def test_a_stray_number_is_caught(drug_facts: Facts) -> None:
    """The tracing check itself can fail: a number Facts does not hold is reported."""
    allowed = allowed_numbers(drug_facts)
    assert "987654" not in allowed
    assert [n for n in numbers_in_text("observed 987,654 reports") if n not in allowed] == [
        "987654"
    ]


def test_chapters_in_order_with_numbers(drug_facts: Facts) -> None:
    sections = write_narrative(drug_facts).sections
    top = [s for s in sections if s.level == 1]
    assert [s.id for s in top] == CHAPTER_IDS
    assert [s.number for s in top] == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "A", "B"]
    subs = {s.id: s.number for s in sections if s.level == 2}
    assert subs["volumes"] == "4.1" and subs["signals"] == "5.4" and subs["recalls"] == "4.4"


def test_writer_inputs_and_charts(drug_facts: Facts) -> None:
    blocks = [b for s in write_narrative(drug_facts).sections for b in s.blocks]
    writer = [b.text for b in blocks if b.kind == "writer_input"]
    for item in drug_facts.writer_inputs:
        assert any(item in w for w in writer), item
    charts = {b.chart_id for b in blocks if b.kind == "chart"}
    assert {"monthly_counts", "forecast", "anomalies", "top_events", "outcomes"} <= charts
    assert "recalls_timeline" in charts  # the product has one recall


def test_generated_data_statement_opens_the_report(drug_facts: Facts) -> None:
    plain = write_narrative(drug_facts).sections[0].blocks[0].text
    assert "generated sample data" not in plain
    facts = drug_facts.model_copy(deep=True)
    facts.meta.generated_data = True
    first = write_narrative(facts).sections[0].blocks[0]
    assert first.kind == "paragraph"
    assert first.text.startswith("This report is built from generated sample data")


def test_tables_carry_the_hand_counts(drug_facts: Facts) -> None:
    sections = {s.id: s for s in write_narrative(drug_facts).sections}
    top = next(b.table for b in sections["top-events"].blocks if b.table)
    assert top.columns == ["Event", "Reports", "% of reports"]
    assert top.rows[0] == ["Myalgia", "3", "60.0%"]
    prov = next(b.table for b in sections["appendix-provenance"].blocks if b.table)
    sha = prov.columns.index("SHA-256")
    assert {row[sha] for row in prov.rows} == {"a" * 64, "b" * 64, "c" * 64}
    summary = " ".join(b.text for b in sections["executive-summary"].blocks)
    assert "5 reports" in summary and "2 (40.0%)" in summary


def test_filters_print_traceable_forms() -> None:
    rng = random.Random(7)

    for _i in range(200):
        x = round(rng.uniform(0, 20000), rng.randint(0, 4))
        digits = rng.randint(0, 4)
        printed = numbers_in_text(fmt_dec(x, digits))
        forms = {f"{x:.{d}f}" for d in range(5)}
        assert printed[0] in forms
    assert fmt_int(1234567) == "1,234,567"
    assert fmt_pct(12.3) == "12.3%"
    assert fmt_dec(None) == "not estimable"
    assert fmt_p_stat(0.00001) == "p < 0.0001" and fmt_p_stat(0.0312) == "p = 0.0312"
    with pytest.raises(ValueError):
        fmt_dec(1.0, 6)


def test_parse_blocks_markup() -> None:
    text = """::section s1 1 One
First line
continues here.

- a
- b

::chart monthly_counts
Caption.

::table Cap
| x | y |
| 1 | 2 |

::writer
Fill this in.
::section s2 1.1 Sub
Last.
"""
    s1, s2 = parse_blocks(text, "t")
    assert [b.kind for b in s1.blocks] == ["paragraph", "bullets", "chart", "table", "writer_input"]
    assert s1.blocks[0].text == "First line continues here."
    assert s1.blocks[1].items == ["a", "b"]
    assert (s1.blocks[2].chart_id, s1.blocks[2].text) == ("monthly_counts", "Caption.")
    assert s1.blocks[3].table is not None and s1.blocks[3].table.rows == [["1", "2"]]
    assert s1.blocks[4].text == "Fill this in."
    assert (s2.level, s2.blocks[0].text) == (2, "Last.")
    with pytest.raises(TemplateMarkupError, match="before the first"):
        parse_blocks("text\n", "t")
    with pytest.raises(TemplateMarkupError, match="cells"):
        parse_blocks("::section a 1 A\n::table T\n| a | b |\n| 1 |\n", "t")


def test_dates_print_iso(drug_facts: Facts) -> None:
    text = " ".join(write_narrative(drug_facts).all_texts())
    assert drug_facts.meta.data_cutoff == dt.date(2024, 4, 11)
    assert "2024-04-11" in text


def test_generated_time_of_day_is_traceable(device_facts: Facts) -> None:
    """The appendix prints generated_at as 'YYYY-MM-DD HH:MM UTC'; at 14:15 the 14 and 15
    are facts too (the hour used to be hidden behind the isoformat 'T')."""
    meta = device_facts.meta.model_copy(update={"generated_at": dt.datetime(2026, 11, 23, 14, 15)})
    facts = device_facts.model_copy(update={"meta": meta})
    assert {"14", "15"} <= allowed_numbers(facts)
    assert _untraceable(facts) == []

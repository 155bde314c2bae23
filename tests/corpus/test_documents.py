"""Hostile names in the data come out of the HTML report as text, never as markup.

A product, manufacturer or event name comes from public reports anyone can file; the HTML
renderer (`report/html.py`, autoescape on) must show `<script>` as `&lt;script&gt;`.
Read-only use of the report fixtures: nothing in report/ is changed.
"""

from __future__ import annotations

import lxml.html

from cerflow.narrative.sections import Block, Table
from cerflow.report.html import render_html
from tests.corpus.strings import INJECTIONS
from tests.report.conftest import build_facts, build_narrative

SCRIPT = INJECTIONS["html"]


def test_hostile_names_are_escaped_in_the_html_report() -> None:
    facts = build_facts()
    facts.product.display_name = f"Pump {SCRIPT}"
    facts.product.manufacturers = [f"Acme {SCRIPT}", INJECTIONS["template"]]
    facts.identification[0].trade_name = f'Flow"><img src=x onerror=alert(1)>{SCRIPT}'
    narrative = build_narrative(facts)
    first = narrative.sections[0]
    first.blocks.append(Block(kind="paragraph", text=f"Event {SCRIPT} {INJECTIONS['template']}"))
    first.blocks.append(
        Block(
            kind="table",
            table=Table(
                caption=f"Events {SCRIPT}",
                columns=["event", "n"],
                rows=[[name, "1"] for name in INJECTIONS.values()],
            ),
        )
    )
    first.blocks.append(Block(kind="bullets", items=[SCRIPT, INJECTIONS["csv_formula"]]))

    html = render_html(facts, narrative, {})

    assert SCRIPT not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tree = lxml.html.fromstring(html)
    scripts = [s.text_content() for s in tree.iter("script")]
    assert not any("alert(1)" in s for s in scripts)
    assert not list(tree.iter("img"))
    text = tree.text_content()
    assert SCRIPT in text  # shown to the reader, as text
    assert "{{7*7}}" in text and "Event <script>alert(1)</script> {{7*7}}" in " ".join(text.split())

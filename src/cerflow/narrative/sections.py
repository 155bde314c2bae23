"""The document-independent shape of a CER: sections of paragraphs, tables and charts.

The narrative layer fills it from `Facts`; the report layer renders the same object to
HTML/PDF and DOCX, so the formats cannot drift apart (same headings, same tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(slots=True)
class Table:
    caption: str
    columns: list[str]
    rows: list[list[str]]  # already formatted cell texts (numbers from Facts)


@dataclass(slots=True)
class Block:
    """One paragraph, table, chart reference or writer-input placeholder, in order."""

    kind: Literal["paragraph", "table", "chart", "writer_input", "bullets", "supplied"]
    text: str = ""  # paragraph text, chart caption, or writer-input instruction
    table: Table | None = None
    chart_id: str | None = None  # key into the charts mapping (e.g. "monthly_counts")
    items: list[str] = field(default_factory=list)  # bullets
    # writer_input: the CER inputs field that fills it (`::writer <field>`); a "supplied"
    # block is that field's text from the inputs (text = its label, items = paragraphs).
    input_key: str | None = None


@dataclass(slots=True)
class Section:
    id: str  # stable anchor, e.g. "executive-summary"
    number: str  # "1", "4.2"
    title: str
    level: int  # 1 = chapter, 2 = subsection
    blocks: list[Block] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Every human-readable string of the section (for number tracing)."""
        out = [self.title]
        for b in self.blocks:
            if b.text:
                out.append(b.text)
            out.extend(b.items)
            if b.table is not None:
                out.append(b.table.caption)
                out.extend(b.table.columns)
                for row in b.table.rows:
                    out.extend(row)
        return out


@dataclass(slots=True)
class Narrative:
    sections: list[Section]
    llm: dict[str, object] = field(default_factory=dict)  # model, tokens, cost, accepted

    def all_texts(self) -> list[str]:
        return [t for s in self.sections for t in s.texts()]

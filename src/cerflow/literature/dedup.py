"""Deduplication of literature records across databases (pure; no I/O).

Rules, applied in this order (PRISMA asks for the count removed by each):
1. same PMID;
2. same PMCID (upper-cased, ``PMC`` prefix ensured);
3. same DOI (lower-cased, without ``https://doi.org/`` or ``doi:``);
4. same normalized title (Unicode NFKD, accents and punctuation dropped, lower-case,
   single spaces) and the same publication year; a record without a year never matches
   on title.

Records are linked transitively: if A and B share a PMID and B and C share a DOI, all three
are one study. The kept record of a group is its first in input order (databases are
given in protocol order, so PubMed's record wins over Europe PMC's when both exist); its
missing identifiers are filled in from the others. A duplicate is counted under the first
rule (in the order above) that linked it to the group's kept record chain.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from cerflow.sources.literature_base import LiteratureRecord

RULES = ("pmid", "pmcid", "doi", "title_year")
_DOI_PREFIX = re.compile(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_NON_WORD = re.compile(r"[^\w]+")


def norm_pmid(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    return text.lstrip("0") or None if text.isdigit() else None


def norm_pmcid(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip().upper()
    if text.isdigit():
        text = "PMC" + text
    return text if re.fullmatch(r"PMC\d+", text) else None


def norm_doi(value: str | None) -> str | None:
    if not value:
        return None
    text = _DOI_PREFIX.sub("", value.strip()).strip().lower()
    return text if text.startswith("10.") else None


def norm_title(value: str | None) -> str | None:
    if not value:
        return None
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NON_WORD.sub(" ", text.lower()).replace("_", " ")
    text = " ".join(text.split())
    return text or None


def _keys(rec: LiteratureRecord) -> dict[str, str | None]:
    title = norm_title(rec.title)
    return {
        "pmid": norm_pmid(rec.pmid),
        "pmcid": norm_pmcid(rec.pmcid),
        "doi": norm_doi(rec.doi),
        "title_year": f"{title}|{rec.year}" if title and rec.year is not None else None,
    }


@dataclass(slots=True)
class DedupResult:
    """Unique records, and how many duplicates each rule removed."""

    unique: list[LiteratureRecord]
    removed_by_rule: dict[str, int]
    identified: int
    groups: list[list[int]] = field(default_factory=list)  # input indices, kept first
    rule_of: dict[int, str] = field(default_factory=dict)  # duplicate index -> its rule

    @property
    def removed(self) -> int:
        return sum(self.removed_by_rule.values())


def deduplicate(records: Sequence[LiteratureRecord]) -> DedupResult:
    """Group duplicates by PMID, PMCID, DOI, then title + year; see the module docstring."""
    n = len(records)
    parent = list(range(n))
    # The rule that first joined each index to its group (None for roots).
    how: list[str | None] = [None] * n

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    keys = [_keys(r) for r in records]
    for rule in RULES:
        first: dict[str, int] = {}
        for i in range(n):
            key = keys[i][rule]
            if key is None:
                continue
            if key not in first:
                first[key] = i
                continue
            a, b = find(first[key]), find(i)
            if a == b:
                continue
            keep, drop = (a, b) if a < b else (b, a)
            parent[drop] = keep
            # `drop`'s whole group joins now; each of its members not yet counted gets
            # this rule, and its former root (counted as kept until now) too.
            how[drop] = rule
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    removed = dict.fromkeys(RULES, 0)
    rule_of: dict[int, str] = {}
    unique: list[LiteratureRecord] = []
    ordered = sorted(groups.values(), key=lambda g: g[0])
    for members in ordered:
        kept = records[members[0]]
        for j in members[1:]:
            rule = how[j] or _first_shared(keys[j], keys, members) or "title_year"
            removed[rule] += 1
            rule_of[j] = rule
        unique.append(_merge(kept, [records[j] for j in members[1:]]))
    return DedupResult(
        unique=unique, removed_by_rule=removed, identified=n, groups=ordered, rule_of=rule_of
    )


def _first_shared(
    mine: dict[str, str | None], keys: list[dict[str, str | None]], members: list[int]
) -> str | None:
    for rule in RULES:
        value = mine[rule]
        if value is not None and sum(1 for m in members if keys[m][rule] == value) > 1:
            return rule
    return None


def _merge(kept: LiteratureRecord, others: list[LiteratureRecord]) -> LiteratureRecord:
    if not others:
        return kept
    fill: dict[str, object] = {}
    for name in ("pmid", "pmcid", "doi", "nct_id", "abstract", "journal", "year"):
        if getattr(kept, name) in (None, ""):
            for other in others:
                value = getattr(other, name)
                if value not in (None, ""):
                    fill[name] = value
                    break
    if not kept.authors:
        for other in others:
            if other.authors:
                fill["authors"] = other.authors
                break
    return dataclasses.replace(kept, **fill) if fill else kept  # type: ignore[arg-type]

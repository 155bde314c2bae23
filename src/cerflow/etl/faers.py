"""Joined FAERS / AERS quarterly case (from `sources.faers_ascii`) -> `CanonicalReport`.

Field choices a reviewer may ask about:
- Identity: `source_key` = caseid (legacy: case), `source_record_id` = primaryid (legacy:
  isr), `source_version` = caseversion. Legacy AERS has no version number, so it is 0 there;
  the reader has already kept the highest isr of each case within the quarter.
- `received` = `init_fda_dt`, the date FDA received the *first* version of the case (as
  openFDA's `receivedate`), so a follow-up never moves a case to a later period in trends.
  Legacy AERS has no initial date: `fda_dt` (receipt of this version) is used there.
- `event` = `event_dt` with its precision (YYYY, YYYYMM or YYYYMMDD).
- Products: role PS/SS -> suspect, C -> concomitant, I -> interacting; key from `prod_ai`
  (active ingredient, current layout) else `drugname`; `seq` = drug_seq (legacy: the row's
  position within the case, because legacy drug_seq is a file-wide id).
- Events: REAC `pt` case-folded; a PT repeated within one case is kept once.
- Outcomes: OUTC codes DE LT HO DS CA RI OT -> the seven flags; `serious` = any flag (FAERS
  records outcome codes only for serious reports, so no code means not serious).
- Malformed values (a date that is not a date, an unknown role or outcome code) raise
  `SourceFormatError` naming member, line and field; the loader then stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from cerflow.etl.normalize import age_in_years, parse_partial_date, sex_code
from cerflow.etl.records import CanonicalEvent, CanonicalProduct, CanonicalReport, PartialDate
from cerflow.sources.base import SourceFormatError, SourceRecord
from cerflow.store.keys import drug_key, term_key

ROLES = {"PS": "suspect", "SS": "suspect", "C": "concomitant", "I": "interacting"}
OUTCOMES = {
    "DE": "death",
    "LT": "life_threatening",
    "HO": "hospitalization",
    "DS": "disability",
    "CA": "congenital_anomaly",
    "RI": "required_intervention",
    "OT": "other_serious",
}


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _date(
    row: dict[str, Any], name: str, member: str, members: dict[str, str]
) -> PartialDate | None:
    try:
        return parse_partial_date(row.get(name))
    except (ValueError, KeyError) as exc:
        raise SourceFormatError(
            f"not a date (expected YYYY, YYYYMM or YYYYMMDD): {exc}",
            location=members.get(member, member),
            line=row.get("_line"),
            field=name,
        ) from None


def faers_case_to_report(record: SourceRecord) -> CanonicalReport:
    """One joined case -> one canonical report (see the module docstring for the rules)."""
    p = record.payload
    members: dict[str, str] = p.get("members", {})
    demo: dict[str, Any] = p["demo"]
    legacy = p.get("layout") == "aers"
    if legacy:
        key, record_id, version = demo["case"], demo["isr"], 0
        received = _date(demo, "fda_dt", "demo", members)
        sex_value = demo.get("gndr_cod")
        country = None
    else:
        key, record_id = demo["caseid"], demo["primaryid"]
        version = int(demo["caseversion"])
        received = _date(demo, "init_fda_dt", "demo", members) or _date(
            demo, "fda_dt", "demo", members
        )
        sex_value = demo.get("sex")
        country = _text(demo, "occr_country")
    report = CanonicalReport(
        source="faers",
        source_key=str(key),
        kind="drug",
        source_version=version,
        source_record_id=str(record_id),
        received=received,
        event=_date(demo, "event_dt", "demo", members),
        country=country,
        sex=sex_code(sex_value),  # type: ignore[arg-type]
        age_years=age_in_years(_text(demo, "age"), _text(demo, "age_cod")),
        reporter_type=_text(demo, "occp_cod"),
    )
    for position, drug in enumerate(p.get("drug", []), 1):
        role_code = (_text(drug, "role_cod") or "").upper()
        role = ROLES.get(role_code)
        if role is None:
            raise SourceFormatError(
                f"unknown drug role {role_code!r} (expected PS, SS, C or I)",
                location=members.get("drug", "drug"),
                line=drug.get("_line"),
                field="role_cod",
            )
        name = _text(drug, "drugname")
        ingredient = _text(drug, "prod_ai")
        product_key = drug_key(ingredient) or drug_key(name)
        seq = position if legacy else _seq(drug, members)
        report.products.append(
            CanonicalProduct(
                role=role,  # type: ignore[arg-type]
                product_key=product_key,
                raw_name=name,
                seq=seq,
                route=_text(drug, "route"),
            )
        )
    seen: set[str] = set()
    for reac in p.get("reac", []):
        raw = _text(reac, "pt")
        term = term_key(raw)
        if not term or term in seen:
            continue
        seen.add(term)
        report.events.append(CanonicalEvent(term=term, term_raw=raw, term_type="pt"))
    for outc in p.get("outc", []):
        code = (_text(outc, "outc_cod") or "").upper()
        flag = OUTCOMES.get(code)
        if flag is None:
            raise SourceFormatError(
                f"unknown outcome code {code!r} (expected one of {', '.join(OUTCOMES)})",
                location=members.get("outc", "outc"),
                line=outc.get("_line"),
                field="outc_cod",
            )
        setattr(report, flag, True)
    report.serious = any(getattr(report, flag) for flag in OUTCOMES.values())
    return report


def _seq(drug: dict[str, Any], members: dict[str, str]) -> int:
    value = _text(drug, "drug_seq") or ""
    if not (value.isdigit() and value.isascii()):
        raise SourceFormatError(
            f"expected a whole number, got {value!r}",
            location=members.get("drug", "drug"),
            line=drug.get("_line"),
            field="drug_seq",
        )
    return int(value)


def faers_reports(records: Iterable[SourceRecord]) -> Iterator[CanonicalReport]:
    """Lazily map a reader's records, so an import streams end to end."""
    for record in records:
        yield faers_case_to_report(record)

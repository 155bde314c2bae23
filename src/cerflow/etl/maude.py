"""openFDA device-event documents (bulk reader or `/device/event.json`) -> `CanonicalReport`.

One function serves both paths because both give the same document shape; it accepts the
descriptions openFDA serves ("Injury", "Manufacturer report") and the raw bulk-file codes
("IN", "M") alike, and every optional part (`patient`, `mdr_text`, device fields) may be
missing.

Rules a reviewer may ask about:
- Key: `mdr_report_key` (MAUDE's report key; follow-ups of a report share it). `source_version`
  is `date_changed` as YYYYMMDD when present (current bulk layout), else 0, so an older file
  imported after a newer one does not overwrite it.
- Dates: `date_received` (falling back to the first device's `date_received` when the master
  row is absent) and `date_of_event`, with the precision the source gave.
- `event_type`: death | injury | malfunction | other | no answer (None when empty).
- Outcome flags from every patient's `sequence_number_outcome` (descriptions or the codes
  L H S C R O D); "Other" is MedWatch's "other serious (important medical event)".
  `death` = event type Death or a Death outcome; `serious` = death or injury (None when the
  event type is unknown and no death is recorded).
- Sex and age: the first patient that gives them (`patient_sex`, `patient_age` such as
  "65 YR", "3 MO"; current layout and API only).
- One device product per `device[]` entry; `product_key` is the upper-case FDA product code
  (`device_report_product_code`), '' when the report gives none.
- Events: `product_problems` as device problems, `patient[].patient_problems` as patient
  problems, case-folded with `term_key`.
- Reporter: `report_source_code` -> manufacturer | voluntary | user_facility | distributor.
- Narrative: the "Description of Event or Problem" texts, joined by blank lines.
"""

from __future__ import annotations

import re
from typing import Any

from cerflow.etl.normalize import age_in_years, parse_partial_date, sex_code
from cerflow.etl.records import CanonicalEvent, CanonicalProduct, CanonicalReport, PartialDate
from cerflow.sources.base import SourceFormatError
from cerflow.sources.maude_codes import EVENT_TYPE, SEQUENCE_NUMBER_OUTCOME, TEXT_TYPE_CODE
from cerflow.store.keys import device_code, term_key

SOURCE = "maude"

_EVENT_TYPES = {
    "death": "death",
    "injury": "injury",
    "malfunction": "malfunction",
    "other": "other",
    "no answer provided": "no answer",
    "no answer": "no answer",
}
_REPORTERS = {
    "m": "manufacturer",
    "manufacturer report": "manufacturer",
    "p": "voluntary",
    "voluntary report": "voluntary",
    "u": "user_facility",
    "user facility report": "user_facility",
    "d": "distributor",
    "distributor report": "distributor",
}
_OUTCOME_FLAGS = {
    "life threatening": "life_threatening",
    "hospitalization": "hospitalization",
    "disability": "disability",
    "congenital anomaly": "congenital_anomaly",
    "required intervention": "required_intervention",
    "death": "death",
    "other": "other_serious",
}
_DESCRIPTION = TEXT_TYPE_CODE["D"].casefold()
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)")
_AGE_UNITS = {
    "": "YR",
    "Y": "YR",
    "YR": "YR",
    "YRS": "YR",
    "YEAR": "YR",
    "YEARS": "YR",
    "MO": "MON",
    "MOS": "MON",
    "MON": "MON",
    "MONTH": "MON",
    "MONTHS": "MON",
    "W": "WK",
    "WK": "WK",
    "WKS": "WK",
    "WEEK": "WK",
    "WEEKS": "WK",
    "D": "DY",
    "DA": "DY",
    "DY": "DY",
    "DAY": "DY",
    "DAYS": "DY",
    "H": "HR",
    "HR": "HR",
    "HRS": "HR",
    "HOUR": "HR",
    "HOURS": "HR",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value).strip()


def normalize_event_type(value: Any) -> str | None:
    """death | injury | malfunction | other | no answer; None when empty or unknown."""
    text = _text(value)
    if not text:
        return None
    text = EVENT_TYPE.get(text.upper(), text)
    return _EVENT_TYPES.get(text.casefold())


def reporter_type(value: Any) -> str | None:
    text = _text(value).casefold()
    return _REPORTERS.get(text) if text else None


def outcome_terms(value: Any) -> list[str]:
    """Outcome descriptions in a `sequence_number_outcome` value, whatever its spelling."""
    parts = value if isinstance(value, list) else [value]
    names = {v.casefold(): v for v in SEQUENCE_NUMBER_OUTCOME.values()}
    found: list[str] = []
    for part in parts:
        for token in re.split(r"[;,]", _text(part)):
            token = re.sub(r"^\s*\d+\s*[.):-]?\s*", "", token).strip()
            if not token:
                continue
            desc = SEQUENCE_NUMBER_OUTCOME.get(token.upper()) or names.get(token.casefold())
            if desc and desc not in found:
                found.append(desc)
    return found


def patient_age_years(value: Any) -> float | None:
    """'65 YR', '3 MO', '45' (years), '10 DA' -> years; None when missing or not an age."""
    match = _AGE.match(_text(value))
    if not match:
        return None
    unit = _AGE_UNITS.get(match.group(2).upper())
    if unit is None:
        return None
    return age_in_years(match.group(1), unit)


def _date(doc: dict[str, Any], name: str, key: str) -> PartialDate | None:
    try:
        return parse_partial_date(_text(doc.get(name)) or None)
    except (ValueError, KeyError):
        raise SourceFormatError(
            f"unparseable date {doc.get(name)!r}",
            location=f"device event mdr_report_key={key}",
            field=name,
        ) from None


def _seq(value: Any, default: int) -> int:
    try:
        return int(float(_text(value)))
    except ValueError:
        return default


def _dicts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if v is not None and str(v).strip()]


def device_event_to_canonical(doc: dict[str, Any]) -> CanonicalReport:
    """Map one openFDA device-event document; raises `SourceFormatError` on a bad date."""
    key = _text(doc.get("mdr_report_key"))
    devices = _dicts(doc.get("device"))
    patients = _dicts(doc.get("patient"))
    texts = _dicts(doc.get("mdr_text"))

    received = _date(doc, "date_received", key)
    if received is None and devices:
        received = _date(devices[0], "date_received", key)
    changed = _date(doc, "date_changed", key)
    version = int(changed.value.strftime("%Y%m%d")) if changed else 0

    report = CanonicalReport(
        source=SOURCE,
        source_key=key,
        kind="device",
        source_version=version,
        source_record_id=_text(doc.get("report_number")) or None,
        received=received,
        event=_date(doc, "date_of_event", key),
        event_type=normalize_event_type(doc.get("event_type")),
        reporter_type=reporter_type(doc.get("report_source_code")),
    )
    country = _text(doc.get("reporter_country_code")).upper()
    if len(country) == 2 and country.isalpha():
        report.country = country

    for patient in patients:
        for outcome in outcome_terms(patient.get("sequence_number_outcome")):
            flag = _OUTCOME_FLAGS.get(outcome.casefold())
            if flag:
                setattr(report, flag, True)
        if report.sex is None:
            sex = sex_code(_text(patient.get("patient_sex")) or None)
            report.sex = "F" if sex == "F" else "M" if sex == "M" else None
        if report.age_years is None:
            report.age_years = patient_age_years(patient.get("patient_age"))

    if report.event_type == "death":
        report.death = True
    if report.death or report.event_type == "injury":
        report.serious = True
    elif report.event_type in ("malfunction", "other"):
        report.serious = False

    for index, device in enumerate(devices, 1):
        code = device_code(_text(device.get("device_report_product_code")) or None)
        brand = _text(device.get("brand_name")) or None
        generic = _text(device.get("generic_name")) or None
        report.products.append(
            CanonicalProduct(
                role="device",
                product_key=code or "",
                raw_name=brand or generic,
                seq=_seq(device.get("device_sequence_number"), index),
                product_code=code,
                brand_name=brand,
                manufacturer=_text(device.get("manufacturer_d_name")) or None,
                udi_di=_text(device.get("udi_di")) or None,
            )
        )

    for problem in _strings(doc.get("product_problems")):
        report.events.append(
            CanonicalEvent(
                term=term_key(problem), term_raw=problem.strip(), term_type="device_problem"
            )
        )
    for patient in patients:
        for problem in _strings(patient.get("patient_problems")):
            report.events.append(
                CanonicalEvent(
                    term=term_key(problem), term_raw=problem.strip(), term_type="patient_problem"
                )
            )

    narrative = [
        _text(t.get("text"))
        for t in texts
        if _text(t.get("text_type_code")).casefold() in (_DESCRIPTION, "d") and _text(t.get("text"))
    ]
    report.narrative = "\n\n".join(narrative) or None
    return report

"""What a stored record keeps from its source beyond the normalized fields (migration 0010).

Vancouver references need the journal abbreviation, volume, issue and pages; the CER's
clinical-trial table needs a ClinicalTrials.gov study's status, phase, enrolment, dates
and its posted adverse-event rows. The clients keep the source's own record in `payload`;
this module picks those few fields out once, when a search is stored, so the report never
parses source formats.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # nosec B405 - parses our own re-serialized PubMed XML
from typing import Any

from cerflow.sources.ctgov import adverse_events
from cerflow.sources.literature_base import LiteratureRecord


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "", [], {})}


def _pubmed(payload: Any) -> dict[str, Any]:
    xml = payload.get("xml") if isinstance(payload, dict) else None
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)  # nosec B314 - produced by the client from parsed XML
    except ET.ParseError:
        return {}
    art = root.find(".//Article")
    if art is None:
        return {}
    issue = art.find("Journal/JournalIssue")
    return _clean(
        {
            "journal_abbrev": art.findtext("Journal/ISOAbbreviation"),
            "volume": issue.findtext("Volume") if issue is not None else None,
            "issue": issue.findtext("Issue") if issue is not None else None,
            "pages": art.findtext("Pagination/MedlinePgn"),
        }
    )


def _europepmc(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {}
    info = item.get("journalInfo") or {}
    journal = info.get("journal") or {}
    return _clean(
        {
            "journal_abbrev": item.get("journalIsoAbbreviation")
            or journal.get("isoabbreviation")
            or journal.get("medlineAbbreviation"),
            "volume": item.get("journalVolume") or info.get("volume"),
            "issue": item.get("issue") or info.get("issue"),
            "pages": item.get("pageInfo"),
        }
    )


def _date(struct: Any) -> str | None:
    return str(struct.get("date")) if isinstance(struct, dict) and struct.get("date") else None


def trial_details(study: Any) -> dict[str, Any]:
    """Status, design and posted adverse events of a ClinicalTrials.gov v2 study."""
    if not isinstance(study, dict):
        return {}
    proto = study.get("protocolSection") or {}
    status = proto.get("statusModule") or {}
    design = proto.get("designModule") or {}
    enrolment = design.get("enrollmentInfo") or {}
    rows = [
        {
            "term": r.term,
            "organ_system": r.organ_system,
            "serious": r.serious,
            "group": r.group_title or r.group_id,
            "affected": r.num_affected,
            "at_risk": r.num_at_risk,
        }
        for r in adverse_events(study)
    ]
    return _clean(
        {
            "overall_status": status.get("overallStatus"),
            "start_date": _date(status.get("startDateStruct")),
            "completion_date": _date(status.get("completionDateStruct")),
            "first_posted": _date(status.get("studyFirstPostDateStruct")),
            "phases": list(design.get("phases") or []),
            "study_type": design.get("studyType"),
            "enrollment": enrolment.get("count"),
            "has_results": bool(study.get("hasResults")) or bool(rows),
            "adverse_events": rows,
        }
    )


def record_details(record: LiteratureRecord) -> dict[str, Any] | None:
    """The details kept with a stored record (None when the source gives none)."""
    if record.database == "pubmed":
        out = _pubmed(record.payload)
    elif record.database == "europepmc":
        out = _europepmc(record.payload)
    elif record.database == "ctgov":
        out = trial_details(record.payload)
    else:
        out = {}
    return out or None

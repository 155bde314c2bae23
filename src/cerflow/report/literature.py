"""The literature chapter's facts, read from the store (issue 14).

    read_literature(engine, keys) -> LiteratureFacts
    apply_literature(facts, literature) -> Facts

The product's latest protocol version and its latest search; the PRISMA 2020 counts of
that search from its screening log (`literature.prisma`, the same rule as screening); the
current appraisal of every included record with its findings; the ClinicalTrials.gov
records of the search as registered studies (completed ones with posted adverse events);
and the references of the included records and trials in Vancouver style (ICMJE /
NLM "Citing Medicine": up to six authors, then "et al.").

A finding whose event is also a post-market SDR of the product is marked so, by the
store's term rule (`store.keys.term_key`: Unicode NFKC, single spaces, case-folded), the
rule the signal table and reviews use. Without a protocol or a search the facts name what
is missing, and the chapter says so as an input required.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cerflow.literature.appraisal import (
    CONTRIBUTION_WEIGHTS,
    HIGH_AT,
    MODERATE_AT,
    SUITABILITY_WEIGHTS,
    Contribution,
    Suitability,
    current_appraisals,
)
from cerflow.literature.models import (
    LiteratureProtocol,
    LiteratureRecordRow,
    LiteratureScreeningDecision,
    LiteratureSearch,
)
from cerflow.literature.prisma import prisma_counts
from cerflow.narrative.facts import (
    Facts,
    LitAppraisalFacts,
    LitCriterionFacts,
    LitDatabaseFacts,
    LiteratureFacts,
    LitFindingFacts,
    LitProtocolFacts,
    LitQueryFacts,
    LitReasonFacts,
    LitSearchFacts,
    LitTrialEventFacts,
    LitTrialFacts,
    PrismaFacts,
)
from cerflow.store.keys import term_key

MAX_AUTHORS = 6
STANDARDS = [
    "European Commission. MEDDEV 2.7/1 revision 4: Clinical evaluation: a guide for "
    "manufacturers and notified bodies under Directives 93/42/EEC and 90/385/EEC. 2016. "
    "Appendix A6: appraisal of clinical data.",
    "Page MJ, McKenzie JE, Bossuyt PM, Boutron I, Hoffmann TC, Mulrow CD, et al. The PRISMA "
    "2020 statement: an updated guideline for reporting systematic reviews. BMJ. "
    "2021;372:n71. doi:10.1136/bmj.n71.",
]
_LETTERS = {
    "device": "D",
    "application": "A",
    "population": "P",
    "report": "R",
    "design": "T",
    "outcomes": "O",
    "follow_up": "F",
    "statistics": "S",
    "clinical_significance": "C",
}


def method_text() -> str:
    """The appraisal method, from the constants the weights are computed with."""
    suit = ", ".join(f"{_LETTERS[k]} {w}" for k, w in SUITABILITY_WEIGHTS.items())
    contrib = ", ".join(f"{_LETTERS[k]} {w}" for k, w in CONTRIBUTION_WEIGHTS.items())
    return (
        "Each included record is graded after MEDDEV 2.7/1 rev 4 Appendix A6 for suitability "
        "(D device or drug, A application and setting, P population, R report quality: grade 1 "
        "best to 3) and contribution (T design, O outcomes, F follow-up, S statistical "
        "significance, C clinical significance: 1 yes, 2 no). The overall weight is the share "
        f"of the weighted points earned (suitability {suit}; contribution {contrib}; a "
        "suitability grade 2 earns half the points, grade 3 none; a contribution of 2 none), "
        f"as a whole percentage: high from {HIGH_AT}, moderate from {MODERATE_AT}, else low, "
        "and never above low for another device or drug (D3). The flow of records is "
        "reported after PRISMA 2020."
    )


COMPLETED = {"COMPLETED"}


def _sentence(text: str) -> str:
    text = " ".join(text.split()).rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


def vancouver(
    *,
    authors: Sequence[str],
    title: str,
    journal: str | None,
    year: int | None,
    volume: str | None = None,
    issue: str | None = None,
    pages: str | None = None,
    doi: str | None = None,
    pmid: str | None = None,
    nct_id: str | None = None,
) -> str:
    """One reference in Vancouver style (NLM Citing Medicine, as ICMJE asks).

    Journal article: ``Authors. Title. Journal. Year;Vol(Issue):pages. doi:X. PMID: N.``
    with at most six authors, then "et al."; a trial registration:
    ``Sponsor. Title. ClinicalTrials.gov identifier: NCT... Available from: URL``.
    """
    names = [" ".join(a.replace(".", "").replace(",", "").split()) for a in authors if a.strip()]
    head = ", ".join(names[:MAX_AUTHORS]) + (", et al" if len(names) > MAX_AUTHORS else "")
    parts = [_sentence(head)] if head else []
    parts.append(_sentence(title))
    if nct_id:
        if year:
            parts.append(f"ClinicalTrials.gov; {year}.")
        parts.append(f"ClinicalTrials.gov identifier: {nct_id}.")
        parts.append(f"Available from: https://clinicaltrials.gov/study/{nct_id}")
        return " ".join(parts)
    where = ""
    if journal:
        where = _sentence(journal).rstrip(".") + "."
    when = str(year) if year else ""
    if volume:
        when += f";{volume}"
        if issue:
            when += f"({issue})"
    if pages:
        when += f":{pages}"
    if where:
        parts.append(where)
    if when:
        parts.append(when + ".")
    if doi:
        parts.append(f"doi:{doi}.")
    if pmid:
        parts.append(f"PMID: {pmid}.")
    return " ".join(parts)


def _reference(rec: LiteratureRecordRow) -> str:
    d = rec.details or {}
    return vancouver(
        authors=[str(a) for a in rec.authors or []],
        title=rec.title,
        journal=d.get("journal_abbrev") or rec.journal,
        year=rec.year,
        volume=d.get("volume"),
        issue=d.get("issue"),
        pages=d.get("pages"),
        doi=rec.doi,
        pmid=rec.pmid,
        nct_id=rec.nct_id if rec.database == "ctgov" else None,
    )


def _short(rec: LiteratureRecordRow) -> str:
    first = str((rec.authors or [""])[0]).split(" ")[0] if rec.authors else rec.source_id
    return f"{first} {rec.year}" if rec.year else first


def _protocol_facts(row: LiteratureProtocol) -> LitProtocolFacts:
    data: dict[str, Any] = row.data or {}
    q = data.get("question") or {}
    return LitProtocolFacts(
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by_email,
        population=q.get("population") or "",
        intervention=q.get("intervention") or "",
        comparator=q.get("comparator") or "",
        outcomes=q.get("outcomes") or "",
        queries=[
            LitQueryFacts(database=db, query=(data.get("queries") or {}).get(db, ""))
            for db in data.get("databases") or []
        ],
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
        inclusion=[LitCriterionFacts(**c) for c in data.get("inclusion") or []],
        exclusion=[LitCriterionFacts(**c) for c in data.get("exclusion") or []],
    )


def _latest_protocol(
    session: Session, keys: Sequence[tuple[str, str]]
) -> LiteratureProtocol | None:
    for kind, ref in keys:
        row = session.scalars(
            select(LiteratureProtocol)
            .where(LiteratureProtocol.product_kind == kind, LiteratureProtocol.product_ref == ref)
            .order_by(LiteratureProtocol.version.desc())
            .limit(1)
        ).first()
        if row is not None:
            return row
    return None


def read_literature(engine: Engine, keys: Sequence[tuple[str, str]]) -> LiteratureFacts:
    """The literature facts of the product stored under `keys` ((kind, ref) pairs)."""
    with Session(engine) as session:
        proto_row = _latest_protocol(session, keys)
        if proto_row is None:
            return LiteratureFacts(
                missing=[
                    "a literature search protocol (cerflow literature protocol set), then a "
                    "search, screening and appraisal of the included records"
                ]
            )
        protocol = _protocol_facts(proto_row)
        search = session.scalars(
            select(LiteratureSearch)
            .where(
                LiteratureSearch.product_kind == proto_row.product_kind,
                LiteratureSearch.product_ref == proto_row.product_ref,
            )
            .order_by(LiteratureSearch.id.desc())
            .limit(1)
        ).first()
        if search is None:
            return LiteratureFacts(
                protocol=protocol,
                missing=[
                    f"a literature search of protocol version {protocol.version} "
                    "(cerflow literature search), then screening and appraisal"
                ],
            )
        versions = {
            p.id: p.version
            for p in session.scalars(
                select(LiteratureProtocol).where(LiteratureProtocol.id == search.protocol_id)
            )
        }
        records = list(
            session.scalars(
                select(LiteratureRecordRow)
                .where(LiteratureRecordRow.search_id == search.id)
                .order_by(LiteratureRecordRow.position)
            )
        )
        ids = [r.id for r in records]
        decisions = list(
            session.scalars(
                select(LiteratureScreeningDecision).where(
                    LiteratureScreeningDecision.record_id.in_(ids)
                )
            )
        )
        appraisals = current_appraisals(session=session, search_id=search.id)
        return _facts(protocol, search, versions, records, decisions, appraisals)


def _facts(
    protocol: LitProtocolFacts,
    search: LiteratureSearch,
    versions: dict[int, int],
    records: list[LiteratureRecordRow],
    decisions: list[LiteratureScreeningDecision],
    appraisals: dict[int, Any],
) -> LiteratureFacts:
    dbs = [q.database for q in protocol.queries]
    counts = prisma_counts(records, decisions, database_order=dbs)
    texts = {c.code: c.text for c in protocol.exclusion}

    def reasons(by_code: dict[str, int]) -> list[LitReasonFacts]:
        return [
            LitReasonFacts(code=k, text=texts.get(k, "no reason given"), count=v)
            for k, v in by_code.items()
        ]

    stored = search.counts or {}
    db_counts = stored.get("databases") or {}
    databases = [
        LitDatabaseFacts(
            database=db,
            query=str((db_counts.get(db) or {}).get("query") or ""),
            matched=int((db_counts.get(db) or {}).get("total") or 0),
            identified=counts.identified_by_database.get(db, 0),
            capped=bool((db_counts.get(db) or {}).get("capped")),
            note=str((db_counts.get(db) or {}).get("note") or ""),
        )
        for db in [*dbs, *[d for d in counts.identified_by_database if d not in dbs]]
    ]
    by_id = {r.id: r for r in records}
    refs: list[str] = []
    appraisal_facts: list[LitAppraisalFacts] = []
    findings: list[LitFindingFacts] = []
    included = [by_id[i] for i in sorted(counts.included_ids, key=lambda i: by_id[i].position)]
    not_appraised = 0
    for rec in included:
        refs.append(_reference(rec))
        ref_no = len(refs)
        row = appraisals.get(rec.id)
        if row is None:
            not_appraised += 1
            continue
        s, c = (
            Suitability.model_validate(row.suitability),
            Contribution.model_validate(row.contribution),
        )
        appraisal_facts.append(
            LitAppraisalFacts(
                ref=ref_no,
                record_id=rec.id,
                short=_short(rec),
                grades=[*s.model_dump().values(), *c.model_dump().values()],
                weight=int(row.weight or 0),
                weight_class=row.weight_class or "low",
                appraised_by=row.appraised_by_email,
                appraised_at=row.appraised_at.date(),
            )
        )
        for f in row.findings or []:
            n, total = f.get("events"), f.get("patients")
            findings.append(
                LitFindingFacts(
                    ref=ref_no,
                    event=str(f.get("event") or ""),
                    events=n,
                    patients=total,
                    percent=round(100.0 * n / total, 1) if n is not None and total else None,
                    population=str(f.get("population") or ""),
                )
            )
    trials: list[LitTrialFacts] = []
    completed = with_results = 0
    for rec in records:
        if rec.database != "ctgov" or rec.duplicate_of_id is not None or not rec.nct_id:
            continue
        d = rec.details or {}
        status = str(d.get("overall_status") or "UNKNOWN")
        events = [
            LitTrialEventFacts(
                term=str(e.get("term") or ""),
                group=str(e.get("group") or ""),
                serious=bool(e.get("serious")),
                affected=e.get("affected"),
                at_risk=e.get("at_risk"),
            )
            for e in d.get("adverse_events") or []
        ]
        completed += status in COMPLETED
        with_results += bool(events)
        if rec.id in counts.included_ids:
            ref_no = 1 + [r.id for r in included].index(rec.id)
        else:
            refs.append(_reference(rec))
            ref_no = len(refs)
        trials.append(
            LitTrialFacts(
                ref=ref_no,
                nct_id=rec.nct_id,
                title=rec.title,
                status=status.replace("_", " ").lower(),
                phase=", ".join(str(p) for p in d.get("phases") or []),
                enrollment=d.get("enrollment"),
                completion_date=d.get("completion_date"),
                adverse_events=events,
            )
        )
    synthetic = any(
        bool(p.get("generated")) for p in search.provenance or [] if isinstance(p, dict)
    )
    missing: list[str] = []
    if counts.awaiting_screening or counts.awaiting_full_text:
        missing.append(
            f"screening of {counts.awaiting_screening + counts.awaiting_full_text} records "
            "still awaiting a decision (cerflow literature screen)"
        )
    if not_appraised:
        missing.append(
            f"an appraisal of {not_appraised} included records (cerflow literature appraise)"
        )
    return LiteratureFacts(
        missing=missing,
        protocol=protocol,
        search=LitSearchFacts(
            search_id=search.id,
            protocol_version=versions.get(search.protocol_id, protocol.version),
            started_at=search.started_at,
            finished_at=search.finished_at,
            run_by=search.created_by_email,
            databases=databases,
            duplicates_by_rule={
                k: int(v) for k, v in (stored.get("duplicates_by_rule") or {}).items()
            },
            synthetic=synthetic,
        ),
        prisma=PrismaFacts(
            identified=counts.identified,
            duplicates_removed=counts.duplicates_removed,
            unique=counts.unique,
            awaiting_screening=counts.awaiting_screening,
            screened=counts.screened,
            excluded_title_abstract=counts.excluded_title_abstract,
            excluded_title_abstract_reasons=reasons(counts.excluded_title_abstract_reasons),
            sought_full_text=counts.sought_full_text,
            awaiting_full_text=counts.awaiting_full_text,
            full_text_assessed=counts.full_text_assessed,
            excluded_full_text=counts.excluded_full_text,
            excluded_full_text_reasons=reasons(counts.excluded_full_text_reasons),
            included=counts.included,
            inconsistent=counts.inconsistent,
        ),
        appraisals=appraisal_facts,
        not_appraised=not_appraised,
        findings=findings,
        trials=trials,
        trials_registered=len(trials),
        trials_completed=completed,
        trials_with_results=with_results,
        references=[f"[{i}] {r}" for i, r in enumerate(refs, start=1)],
    )


def apply_literature(facts: Facts, literature: LiteratureFacts) -> Facts:
    """`facts` with the literature chapter's facts, findings matched against the SDRs."""
    sdr = {}
    if facts.signals is not None:
        sdr = {term_key(s.event): s.event for s in facts.signals.signals}
    found = {term_key(f.event) for f in literature.findings}
    lit = literature.model_copy(deep=True, update={"method": method_text(), "standards": STANDARDS})
    for f in lit.findings:
        f.sdr = term_key(f.event) in sdr
    lit.sdr_in_literature = [ev for key, ev in sdr.items() if key in found]
    lit.sdr_not_in_literature = [ev for key, ev in sdr.items() if key not in found]
    return facts.model_copy(update={"literature": lit})

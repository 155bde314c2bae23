"""The report and analysis jobs.

A report job is the CLI's report: it calls `cerflow.report.pipeline.generate_report` with
the job's settings, so the facts, the narrative (LLM-polished when `llm_base_url` is set)
and the documents are those `cerflow report` writes for the same store. What the job adds
is delivery: files are written to a scratch directory and published atomically at
`<data_dir>/reports/<job id>/` (a re-run replaces it, so there is one copy), and the
`CerReport` row is written once, in the transaction that marks the job succeeded.
The analysis job is the facts stage alone, summarised for the API and for alerts.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cerflow.cer_inputs.service import load_for_report
from cerflow.jobs import params
from cerflow.jobs.context import JobContext, JobResult
from cerflow.jobs.errors import ContendedJobError, PermanentJobError
from cerflow.narrative.changes import VersionSnapshot
from cerflow.narrative.facts import Facts
from cerflow.report.facts_builder import ProductNotFoundError
from cerflow.report.pipeline import FORMATS, ReportResult, compute_facts, generate_report
from cerflow.reports.files import reports_dir
from cerflow.reports.models import CerReport
from cerflow.versions import service as versions

# Where each stage of `generate_report` puts the job's progress bar.
STAGE_PROGRESS = {
    "facts": (5, "reading the store and computing the facts"),
    "narrative": (40, "writing the narrative"),
    "charts": (60, "drawing the charts and rendering the documents"),
    "done": (90, "documents written"),
}


def _scope(kind: str, ref: str) -> dict[str, Any]:
    return {
        "drug": ref if kind == "drug" else None,
        "device_codes": [ref] if kind == "device" else None,
    }


def summarize(facts: Facts) -> dict[str, Any]:
    signals = facts.signals.signals if facts.signals is not None else []
    return {
        "reports": facts.volumes.total_reports,
        "signals": [
            {
                "event": s.event,
                "a": s.a,
                "prr": s.prr,
                "ror025": s.ror_lo,
                "ic025": s.ic025,
                "eb05": s.eb05,
                "flags": list(s.flags),
            }
            for s in signals
        ],
        "anomalies": [
            {"month": a.month, "observed": a.observed, "expected": a.expected}
            for a in facts.anomalies
        ],
    }


def _background(ctx: JobContext) -> dict[str, Any]:
    """The job's disproportionality background and, for openFDA, its counts provider."""
    from cerflow.ingest.openfda_background import counts_provider
    from cerflow.report.background import check_background

    raw = ctx.params.get("background") or ctx.settings.signal_background
    try:
        chosen = check_background(str(raw))
    except ValueError as exc:
        raise PermanentJobError(str(exc)) from None
    counts = counts_provider(ctx.settings) if chosen == "openfda" else None
    return {"background": chosen, "background_counts": counts}


def run_analysis(ctx: JobContext) -> JobResult:
    kind, ref = params.product(ctx.params)
    ctx.fault("start")
    ctx.progress(10, "computing disproportionality, trends and anomalies")
    try:
        facts = compute_facts(
            ctx.engine,
            **_scope(kind, ref),
            since=params.date(ctx.params, "since"),
            until=params.date(ctx.params, "until"),
            settings=ctx.settings,
            report_id=ctx.job_id,
            **_background(ctx),
        )
    except (ProductNotFoundError, ValueError) as exc:
        raise PermanentJobError(str(exc)) from None
    ctx.fault("end")
    return {"product_kind": kind, "product_ref": ref, **summarize(facts)}, None


def _generate(
    ctx: JobContext,
    kind: str,
    ref: str,
    formats: list[str],
    out: Path,
    *,
    version: int = 1,
    previous: VersionSnapshot | None = None,
) -> ReportResult:
    def stage(name: str) -> None:
        if name == "narrative":  # the facts are computed; nothing is rendered yet
            ctx.fault("render")
        percent, step = STAGE_PROGRESS.get(name, (90, name))
        ctx.progress(percent, step)

    settings = ctx.settings
    if ctx.params.get("polish") is False:  # the writer asked for the template text only
        settings = settings.model_copy(update={"llm_base_url": None})
    try:
        result = generate_report(
            ctx.engine,
            out_dir=out,
            **_scope(kind, ref),
            since=params.date(ctx.params, "since"),
            until=params.date(ctx.params, "until"),
            settings=settings,
            formats=formats,
            report_id=ctx.job_id,
            stage=stage,
            udi_dis=list(ctx.params.get("udi_di") or []),
            srns=list(ctx.params.get("srn") or []),
            **_background(ctx),
            cer_inputs=load_for_report(ctx.engine, kind=kind, ref=ref),
            version=version,
            previous=previous,
        )
    except (ProductNotFoundError, ValueError) as exc:
        raise PermanentJobError(str(exc)) from None
    return result


LLM_USAGE_KEYS = (
    "enabled",
    "model",
    "paragraphs",
    "accepted",
    "rejected",
    "failed",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)


def _llm_usage(result: ReportResult) -> dict[str, Any]:
    """The polishing's token use and cost, recorded on the job (the CLI prints the same)."""
    llm = result.narrative.llm or {}
    return {k: llm[k] for k in LLM_USAGE_KEYS if k in llm} or {"enabled": False}


def run_report(ctx: JobContext) -> JobResult:
    kind, ref = params.product(ctx.params)
    asked = list(ctx.params.get("formats") or ["json"])
    bad = [f for f in asked if f not in FORMATS]
    if bad:
        raise PermanentJobError(f"unknown report format(s) {bad}; choose from {', '.join(FORMATS)}")
    formats = list(dict.fromkeys(["json", *asked]))  # a facts.json beside every report
    ctx.fault("start")
    base = reports_dir(ctx.settings.data_dir)
    base.mkdir(parents=True, exist_ok=True)
    final = base / ctx.job_id
    # An attempt killed mid-render left its scratch directory; this one owns the job now.
    for stale in base.glob(f".{ctx.job_id}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    # Created by the renderer when the documents are drawn, not before.
    tmp = base / f".{ctx.job_id}.{uuid.uuid4().hex[:8]}.tmp"
    # Version n of the product: numbered now (the number is printed in the documents) and
    # recorded with the report; a concurrent report that took n first makes this one retry.
    with ctx.factory() as session:
        number, previous = versions.next_version(
            session=session, product_kind=kind, product_ref=ref
        )
    try:
        report = _generate(ctx, kind, ref, formats, tmp, version=number, previous=previous)
        files = {str(fmt): str(Path(path).relative_to(tmp)) for fmt, path in report.files.items()}
        ctx.fault("publish")
        # A previous execution that died after this point left a complete directory;
        # replacing it keeps exactly one copy at the deterministic path.
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    ctx.progress(95, "recording the report")
    title = f"CER - {report.facts.product.display_name}"
    lease = ctx.lease
    facts_json = report.facts.model_dump(mode="json")
    facts_sha256 = report.facts.sha256()

    def finalize(session: Session) -> None:
        if session.get(CerReport, lease.job_id) is None:
            session.add(
                CerReport(
                    id=lease.job_id,
                    job_id=lease.job_id,
                    owner_id=lease.owner_id,
                    product_kind=kind,
                    product_ref=ref,
                    title=title[:300],
                    files=files,
                )
            )
        if versions.for_report(session=session, report_id=lease.job_id) is not None:
            return
        try:
            with session.begin_nested():
                versions.record_version(
                    session=session,
                    product_kind=kind,
                    product_ref=ref,
                    number=number,
                    report_id=lease.job_id,
                    title=title,
                    facts=facts_json,
                    facts_sha256=facts_sha256,
                    narrative=report.template_texts,
                    actor=versions.actor_for_user(session=session, user_id=lease.owner_id),
                    files=list(files),
                )
        except IntegrityError:
            raise ContendedJobError(
                f"version {number} of {kind} {ref} was recorded by another report meanwhile; "
                "the job is retried and takes the next number (not counted as a failed attempt)"
            ) from None

    result = {
        "report_id": ctx.job_id,
        "report_url": f"/api/v1/reports/{ctx.job_id}",
        "formats": sorted(files),
        "facts_sha256": facts_sha256,
        "version": number,
        "llm": _llm_usage(report),
    }
    return result, finalize

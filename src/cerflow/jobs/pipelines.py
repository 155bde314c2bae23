"""The work behind each job type: ingest, analysis, report, refresh of a watched product.

Each function is idempotent: ingest upserts, analysis only reads, a report is written to
a directory named after its job (replaced atomically) and recorded once per job.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cerflow.jobs.context import JobContext
from cerflow.jobs.errors import PermanentJobError

Finalizer = Callable[[Session], None]
Pipeline = Callable[[JobContext], tuple[dict[str, Any], Finalizer | None]]

REPORT_FORMATS = ("json", "html", "pdf", "docx")


def reports_dir(data_dir: Path) -> Path:
    return data_dir / "reports"


def _product(params: dict[str, Any]) -> tuple[str, str]:
    kind = params.get("product_kind")
    ref = params.get("product_ref")
    if kind not in ("drug", "device") or not isinstance(ref, str) or not ref.strip():
        raise PermanentJobError(
            "job parameters need product_kind ('drug' or 'device') and a product_ref; "
            f"got product_kind={kind!r}, product_ref={ref!r}"
        )
    return kind, ref.strip()


def _date(params: dict[str, Any], name: str) -> dt.date | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise PermanentJobError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def _facts(ctx: JobContext, kind: str, ref: str) -> Any:
    try:
        from cerflow.report.facts_builder import ProductNotFoundError, build_facts
        from cerflow.report.signal_cache import SignalCache
    except ImportError as exc:  # report generation not installed in this build
        raise PermanentJobError(f"report generation is not available: {exc}") from None
    try:
        return build_facts(
            ctx.engine,
            drug=ref if kind == "drug" else None,
            device_codes=[ref] if kind == "device" else None,
            since=_date(ctx.params, "since"),
            until=_date(ctx.params, "until"),
            settings=ctx.settings,
            report_id=ctx.job_id,
            # The database-wide disproportionality run, shared by every report on the same
            # data version (report/signal_cache.py); workers share data_dir in deployments.
            signal_cache=SignalCache(ctx.settings.data_dir / "cache" / "signals"),
        )
    except (ProductNotFoundError, ValueError) as exc:
        raise PermanentJobError(str(exc)) from None


def run_ingest(ctx: JobContext) -> tuple[dict[str, Any], Finalizer | None]:
    from cerflow.ingest.openfda import datasets, run_dataset
    from cerflow.sources import openfda as ofda

    kind, ref = _product(ctx.params)
    ctx.fault("start")
    try:
        plan = datasets(
            ref if kind == "drug" else None,
            [ref] if kind == "device" else [],
            _date(ctx.params, "since"),
            _date(ctx.params, "until"),
            bool(ctx.params.get("recalls", True)),
        )
    except ValueError as exc:
        raise PermanentJobError(str(exc)) from None
    loaded: dict[str, Any] = {}
    with ofda.OpenFDAClient.from_settings(ctx.settings) as client:
        for i, ds in enumerate(plan):
            ctx.progress(5 + 90 * i // max(1, len(plan)), f"fetching {ds.name}")
            total, stats = run_dataset(client, ctx.engine, ds)
            loaded[ds.name] = {
                "matched": total,
                "inserted": stats.inserted,
                "updated": stats.updated,
                "unchanged": stats.unchanged,
                "rejected": stats.rejected,
            }
    ctx.fault("end")
    return {"datasets": loaded}, None


def summarize(facts: Any) -> dict[str, Any]:
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


def run_analysis(ctx: JobContext) -> tuple[dict[str, Any], Finalizer | None]:
    kind, ref = _product(ctx.params)
    ctx.fault("start")
    ctx.progress(10, "computing disproportionality, trends and anomalies")
    facts = _facts(ctx, kind, ref)
    ctx.fault("end")
    return {"product_kind": kind, "product_ref": ref, **summarize(facts)}, None


def _render(ctx: JobContext, facts: Any, out: Path, formats: list[str]) -> dict[str, str]:
    files: dict[str, str] = {}
    (out / "facts.json").write_text(facts.to_json(), encoding="utf-8")
    files["json"] = "facts.json"
    others = [f for f in formats if f != "json"]
    if others:
        try:
            from cerflow.narrative.render import write_narrative
            from cerflow.report.render import render_report
        except ImportError:
            raise PermanentJobError(
                f"formats {', '.join(others)} need the document renderer, which this build "
                "does not have yet; ask for formats=['json']"
            ) from None
        ctx.progress(60, "writing the narrative")
        narrative = write_narrative(facts)
        ctx.progress(75, f"rendering {', '.join(others)}")
        rendered = render_report(facts, narrative, out, others)
        for fmt, path in dict(rendered).items():
            files[str(fmt)] = str(Path(path).relative_to(out))
    return files


def run_report(ctx: JobContext) -> tuple[dict[str, Any], Finalizer | None]:
    from cerflow.reports.models import CerReport

    kind, ref = _product(ctx.params)
    formats = list(ctx.params.get("formats") or ["json"])
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad:
        raise PermanentJobError(
            f"unknown report format(s) {bad}; choose from {', '.join(REPORT_FORMATS)}"
        )
    ctx.fault("start")
    ctx.progress(5, "reading the store")
    facts = _facts(ctx, kind, ref)
    ctx.progress(40, "facts computed")
    ctx.fault("render")
    base = reports_dir(ctx.settings.data_dir)
    base.mkdir(parents=True, exist_ok=True)
    final = base / ctx.job_id
    tmp = base / f".{ctx.job_id}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        files = _render(ctx, facts, tmp, formats)
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
    title = f"CER - {facts.product.display_name}"
    lease = ctx.lease

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

    result = {
        "report_id": ctx.job_id,
        "report_url": f"/api/v1/reports/{ctx.job_id}",
        "formats": sorted(files),
        "facts_sha256": facts.sha256(),
    }
    return result, finalize


def run_refresh(ctx: JobContext) -> tuple[dict[str, Any], Finalizer | None]:
    from cerflow.alerts.service import refresh_watched

    return refresh_watched(ctx)


PIPELINES: dict[str, Pipeline] = {
    "ingest": run_ingest,
    "analysis": run_analysis,
    "report": run_report,
    "refresh": run_refresh,
}

"""The report workspace: start a report, watch its job, open and download the documents.

Reports run as jobs exactly as through the API (`kind="report"`, same payload), so a report
started here and one started with `POST /api/v1/reports` are the same thing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from cerflow.api.deps import JobSubmitterDep, SessionDep, SettingsDep
from cerflow.auth.models import Role
from cerflow.errors import CerflowError
from cerflow.jobs import service as jobs_service
from cerflow.products.service import resolve
from cerflow.reports import service as reports_service
from cerflow.reports.models import CerReport
from cerflow.reports.schemas import ReportCreate
from cerflow.versions import service as versions_service
from cerflow.web.deps import CsrfField, PageSession, check_csrf, require_role
from cerflow.web.form_errors import first_errors
from cerflow.web.render import page

router = APIRouter(include_in_schema=False)

FORMATS = ("pdf", "html", "docx", "json")
MEDIA = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
# The report's own HTML is opened as a document of its own: no script may run in it and it
# may load nothing from elsewhere (its charts are inline SVG, its styles inline).
REPORT_HTML_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "font-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)


def _is_admin(ws: Any) -> bool:
    return bool(ws.role.allows(Role.ADMIN))


def _reports(session: SessionDep, ws: Any, limit: int = 50) -> list[CerReport]:
    stmt = select(CerReport)
    if not _is_admin(ws):
        stmt = stmt.where(CerReport.owner_id == ws.user_id)
    return list(session.scalars(stmt.order_by(CerReport.created_at.desc()).limit(limit)))


def _llm_available(request: Request) -> bool:
    return bool(request.app.state.cerflow.settings.llm_base_url)


@router.get("/reports", response_class=HTMLResponse)
def reports(request: Request, ws: PageSession, session: SessionDep, product: str = "") -> Response:
    recent_jobs = [
        j
        for j in jobs_service.recent_for_owner(session=session, owner_id=ws.user_id, limit=20)
        if j.state in ("queued", "running", "retrying", "failed")
    ]
    return page(
        request,
        "reports.html.j2",
        ws=ws,
        reports=_reports(session, ws),
        jobs=recent_jobs,
        form={
            "product_ref": product[:255],
            "since": "",
            "until": "",
            "formats": ["pdf", "html"],
            "polish": True,
            "background": "",
            "udi_di": "",
            "srn": "",
        },
        llm_available=_llm_available(request),
        errors={},
        can_act=ws.role.allows(Role.ANALYST),
    )


def _lines(text: str) -> list[str]:
    """A textarea of identifiers: one per line (commas and spaces also separate)."""
    return [x for x in text.replace(",", " ").split() if x]


@router.post("/reports", response_class=HTMLResponse)
def start_report(
    request: Request,
    ws: PageSession,
    session: SessionDep,
    submitter: JobSubmitterDep,
    csrf_token: CsrfField = "",
    # Lengths and formats are checked by `ReportCreate` below, so each error lands next to
    # its field instead of in a JSON document.
    product_ref: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
    formats: Annotated[list[str] | None, Form()] = None,
    polish: Annotated[str, Form(max_length=5)] = "",
    background: Annotated[str, Form(max_length=20)] = "",
    udi_di: Annotated[str, Form(max_length=4000)] = "",
    srn: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    chosen = [f for f in (formats or []) if f in FORMATS]
    form = {
        "product_ref": product_ref,
        "since": since,
        "until": until,
        "formats": chosen,
        "polish": polish == "on",
        "background": background,
        "udi_di": udi_di,
        "srn": srn,
    }
    errors: dict[str, str] = {}
    body: ReportCreate | None = None
    try:
        body = ReportCreate.model_validate(
            {
                "product_ref": product_ref.strip(),
                "since": since or None,
                "until": until or None,
                "formats": chosen or ["pdf"],
                "polish": polish == "on",
                "background": background or None,
                "udi_di": _lines(udi_di),
                "srn": _lines(srn),
            }
        )
        kind, key = resolve(body.product_ref)
        kind = body.product_kind or kind
        if kind != "device" and (body.udi_di or body.srn):  # as POST /api/v1/reports says
            errors = {
                ("udi_di" if body.udi_di else "srn"): "UDI-DIs and SRNs link EUDAMED device "
                f"records, but {body.product_ref!r} is a {kind}: leave them empty or "
                "give a device product code"
            }
    except ValidationError as exc:
        errors = first_errors(exc)
    except CerflowError as exc:
        errors = {"product_ref": str(exc)}
    if errors or body is None:
        if "model" in errors or "form" in errors:  # the since/until order check
            errors.setdefault("until", errors.pop("model", errors.pop("form", "")))
        return page(
            request,
            "reports.html.j2",
            ws=ws,
            reports=_reports(session, ws),
            jobs=[],
            form=form,
            errors=errors,
            can_act=True,
            llm_available=_llm_available(request),
            status_code=422,
        )
    handle = submitter.submit(
        session=session,
        kind="report",
        payload={
            "product_kind": body.product_kind or kind,
            "product_ref": key,
            "since": body.since.isoformat() if body.since else None,
            "until": body.until.isoformat() if body.until else None,
            "formats": list(dict.fromkeys(body.formats)),
            "polish": body.polish,
            "udi_di": body.udi_di,
            "srn": body.srn,
            "background": body.background,
        },
        requested_by=ws.user_id,
    )
    return RedirectResponse(f"/jobs/{handle.id}", status_code=303)


def _job(session: SessionDep, ws: Any, job_id: str) -> Any:
    return jobs_service.visible(
        session=session, job_id=job_id, user_id=ws.user_id, is_admin=_is_admin(ws)
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, ws: PageSession, session: SessionDep) -> Response:
    job = _job(session, ws, job_id)
    return page(request, "job.html.j2", ws=ws, job=job, report=session.get(CerReport, job.id))


@router.get("/jobs/{job_id}/status", response_class=HTMLResponse)
def job_status(request: Request, job_id: str, ws: PageSession, session: SessionDep) -> Response:
    """The fragment the job page polls (htmx) until the job is finished."""
    job = _job(session, ws, job_id)
    return page(
        request, "_job_status.html.j2", ws=ws, job=job, report=session.get(CerReport, job.id)
    )


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def report_page(request: Request, report_id: str, ws: PageSession, session: SessionDep) -> Response:
    r = reports_service.visible(
        session=session, report_id=report_id, user_id=ws.user_id, is_admin=_is_admin(ws)
    )
    return page(request, "report.html.j2", ws=ws, r=r, formats=[f for f in FORMATS if f in r.files])


@router.get("/reports/{report_id}/files/{fmt}")
def report_file(
    report_id: str,
    fmt: str,
    ws: PageSession,
    session: SessionDep,
    settings: SettingsDep,
    download: bool = False,
) -> Response:
    if fmt not in MEDIA:
        raise CerflowError(f"unknown format {fmt!r}; choose from {', '.join(MEDIA)}", 404)
    r = reports_service.visible(
        session=session, report_id=report_id, user_id=ws.user_id, is_admin=_is_admin(ws)
    )
    path = reports_service.file_path(report=r, fmt=fmt, data_dir=settings.data_dir)
    versions_service.record_download(  # issue 12: the audit trail names every download
        session=session,
        report_id=r.id,
        actor=versions_service.actor_for_user(session=session, user_id=ws.user_id, role=ws.role),
        fmt=fmt,
        via="web",
    )
    inline = fmt in ("html", "pdf", "json") and not download
    resp = FileResponse(
        path,
        media_type=MEDIA[fmt],
        filename=f"cer-{r.id}.{fmt}",
        content_disposition_type="inline" if inline else "attachment",
    )
    resp.headers["cache-control"] = "private, no-store"
    if fmt == "html":
        resp.headers["content-security-policy"] = REPORT_HTML_CSP
        resp.headers["x-frame-options"] = "SAMEORIGIN"
    return resp

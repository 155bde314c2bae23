"""Report versions, approval and changes in the browser; the audit trail for admins.

The same service functions as `/api/v1/versions` and `/api/v1/audit`: who may see a
version (analysts, approvers and admins every one; a viewer those they generated), who may
approve (approver or admin, with the facts hash that was reviewed) and what is recorded
(an "approved" audit row; a "downloaded" row per file served).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import func, select

from cerflow.api.deps import SessionDep, SettingsDep
from cerflow.auth.models import Role
from cerflow.errors import CerflowError, ConflictError, NotFoundError
from cerflow.products.service import resolve
from cerflow.reports import service as reports_service
from cerflow.reports.models import CerReport
from cerflow.versions import service as versions_service
from cerflow.versions.diff_html import render_diff_html
from cerflow.versions.models import AuditAction, AuditEvent, ReportVersion
from cerflow.versions.schemas import ApproveIn
from cerflow.web.deps import CsrfField, PageSession, check_csrf, require_role
from cerflow.web.form_errors import first_errors
from cerflow.web.render import page
from cerflow.web.report_pages import MEDIA, REPORT_HTML_CSP
from cerflow.web.session import WebSession

router = APIRouter(include_in_schema=False)
AUDIT_PAGE = 50
ACTIONS = [a.value for a in AuditAction]


def _files(session: SessionDep, rows: list[ReportVersion]) -> dict[str, list[str]]:
    """Formats on disk per report id (a version made on the command line has none here)."""
    ids = [r.report_id for r in rows]
    if not ids:
        return {}
    reports = session.scalars(select(CerReport).where(CerReport.id.in_(ids)))
    return {r.id: [f for f in ("html", "pdf", "docx", "json") if f in r.files] for r in reports}


def _versions_page(
    request: Request,
    ws: WebSession,
    session: SessionDep,
    ref: str,
    *,
    errors: dict[int, dict[str, str]] | None = None,
    form: dict[str, str] | None = None,
    compare: tuple[ReportVersion, ReportVersion, Markup] | None = None,
    status_code: int = 200,
) -> Response:
    kind, key = resolve(ref)
    rows = versions_service.list_versions(
        session=session, user_id=ws.user_id, role=ws.role, product_ref=key
    )
    numbers = {r.number for r in rows}
    return page(
        request,
        "versions.html.j2",
        ws=ws,
        ref=key,
        kind=kind,
        versions=rows,
        files=_files(session, rows),
        has_previous={r.id: any(n < r.number for n in numbers) for r in rows},
        errors=errors or {},
        form=form or {},
        compare=compare,
        can_approve=ws.role.allows(Role.APPROVER),
        status_code=status_code,
    )


@router.get("/products/{ref}/versions", response_class=HTMLResponse)
def versions(request: Request, ref: str, ws: PageSession, session: SessionDep) -> Response:
    return _versions_page(request, ws, session, ref)


def _visible(session: SessionDep, ws: WebSession, version_id: int) -> ReportVersion:
    return versions_service.visible(
        session=session, version_id=version_id, user_id=ws.user_id, role=ws.role
    )


def _diff_body(before: ReportVersion, after: ReportVersion, session: SessionDep) -> Markup:
    """The body of the API's HTML diff (built from escaped values) to show inside a page."""
    changes = versions_service.diff(session=session, before=before, after=after)
    html = render_diff_html(before, after, changes)
    body = html.split("<body>", 1)[1].rsplit("</body>", 1)[0]
    body = body.split("</h1>", 1)[1]  # the page's own heading names the two versions
    # one heading level down: the page has its own h1
    for n in (3, 2):
        body = body.replace(f"<h{n}>", f"<h{n + 1}>").replace(f"</h{n}>", f"</h{n + 1}>")
    return Markup(body)  # render_diff_html escapes every value it inserts


@router.get("/versions/{version_id}/compare", response_class=HTMLResponse)
def compare_previous(
    request: Request, version_id: int, ws: PageSession, session: SessionDep
) -> Response:
    """The changes since the previous version, shown in the versions page."""
    after = _visible(session, ws, version_id)
    before = versions_service.previous_of(session=session, version=after)
    before = _visible(session, ws, before.id)
    return _versions_page(
        request,
        ws,
        session,
        after.product_ref,
        compare=(before, after, _diff_body(before, after, session)),
    )


@router.post("/versions/{version_id}/approve", response_class=HTMLResponse)
def approve(
    request: Request,
    version_id: int,
    ws: PageSession,
    session: SessionDep,
    csrf_token: CsrfField = "",
    facts_sha256: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.APPROVER)
    row = _visible(session, ws, version_id)
    form = {"facts_sha256": facts_sha256[:64], "note": note[:4000]}
    errors: dict[str, str] = {}
    try:
        body = ApproveIn.model_validate(
            {"facts_sha256": facts_sha256.strip(), "note": note.strip() or None}
        )
    except ValidationError as exc:
        errors = first_errors(
            exc,
            messages={
                "facts_sha256": "Copy the 64-character facts hash shown for this version "
                "(it names the content you reviewed).",
                "note": "The note is at most 4,000 characters.",
            },
        )
    else:
        try:
            versions_service.approve(
                session=session,
                version=row,
                actor=versions_service.actor_for_user(
                    session=session, user_id=ws.user_id, role=ws.role
                ),
                facts_sha256=body.facts_sha256,
                note=body.note,
            )
        except ConflictError as exc:
            errors["facts_sha256" if "mismatch" in str(exc) else "form"] = str(exc)
        else:
            return RedirectResponse(
                f"/products/{row.product_ref}/versions#v{row.id}", status_code=303
            )
    return _versions_page(
        request,
        ws,
        session,
        row.product_ref,
        errors={row.id: errors},
        form=form,
        status_code=409 if "form" in errors else 422,
    )


@router.get("/versions/{version_id}/files/{fmt}")
def version_file(
    version_id: int,
    fmt: str,
    ws: PageSession,
    session: SessionDep,
    settings: SettingsDep,
    download: bool = False,
) -> Response:
    """A version's document, for everyone who may see the version (an approver reads the
    report an analyst generated); each file served is an audit row."""
    if fmt not in MEDIA:
        raise CerflowError(f"unknown format {fmt!r}; choose from {', '.join(MEDIA)}", 404)
    row = _visible(session, ws, version_id)
    report = session.get(CerReport, row.report_id)
    if report is None:
        raise NotFoundError(
            f"version {row.number} of {row.product_ref} was generated on the command line: "
            "its files are where that command wrote them"
        )
    path = reports_service.file_path(report=report, fmt=fmt, data_dir=settings.data_dir)
    versions_service.record_download(
        session=session,
        report_id=report.id,
        actor=versions_service.actor_for_user(session=session, user_id=ws.user_id, role=ws.role),
        fmt=fmt,
        via="web",
    )
    inline = fmt in ("html", "pdf", "json") and not download
    resp = FileResponse(
        path,
        media_type=MEDIA[fmt],
        filename=f"cer-{row.product_ref}-v{row.number}.{fmt}",
        content_disposition_type="inline" if inline else "attachment",
    )
    resp.headers["cache-control"] = "private, no-store"
    if fmt == "html":
        resp.headers["content-security-policy"] = REPORT_HTML_CSP
        resp.headers["x-frame-options"] = "SAMEORIGIN"
    return resp


@router.get("/admin/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    ws: PageSession,
    session: SessionDep,
    product: str = "",
    action: str = "",
    p: int = 1,
) -> Response:
    """The audit trail (admins), newest first, filtered by product and action, paged."""
    require_role(ws, Role.ADMIN)
    product = product.strip()[:255]
    errors: dict[str, str] = {}
    chosen: Literal["generated", "reviewed", "approved", "downloaded"] | None = None
    if action and action not in ACTIONS:
        errors["action"] = f"choose one of {', '.join(ACTIONS)}"
    elif action:
        chosen = action  # type: ignore[assignment]
    stmt = select(AuditEvent)
    if product:
        try:
            kind, key = resolve(product)
        except CerflowError as exc:
            errors["product"] = str(exc)
        else:
            stmt = stmt.where(AuditEvent.product_kind == kind, AuditEvent.product_ref == key)
    if chosen:
        stmt = stmt.where(AuditEvent.action == chosen)
    p = max(1, min(p, 10_000))
    rows: list[AuditEvent] = []
    total = 0
    if not errors:
        total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = list(
            session.scalars(
                stmt.order_by(AuditEvent.id.desc()).offset((p - 1) * AUDIT_PAGE).limit(AUDIT_PAGE)
            )
        )
    pages = max(1, -(-total // AUDIT_PAGE))
    return page(
        request,
        "audit.html.j2",
        ws=ws,
        rows=rows,
        actions=ACTIONS,
        form={"product": product, "action": action[:20]},
        errors=errors,
        p=p,
        pages=pages,
        total=total,
        status_code=422 if errors else 200,
    )

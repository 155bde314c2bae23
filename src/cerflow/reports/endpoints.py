"""Reports: create (202 + job id), list, get, download. Files come from the worker's output.

The `Idempotency-Key` header makes a create safe to repeat: the same key (per user) gives
the same job instead of a second report.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from cerflow.api import API_PREFIX
from cerflow.api.deps import (
    AnalystUser,
    JobSubmitterDep,
    SessionDep,
    SettingsDep,
    StateDep,
    ViewerUser,
)
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS, NOT_FOUND
from cerflow.auth.models import Role
from cerflow.auth.service import Principal
from cerflow.errors import CerflowError
from cerflow.products.service import resolve
from cerflow.reports import listing, service
from cerflow.reports.models import CerReport
from cerflow.reports.schemas import Format, ReportAccepted, ReportCreate, ReportOut
from cerflow.versions import service as versions

router = APIRouter(prefix=f"{API_PREFIX}/reports", tags=["reports"], responses={**AUTH_RESPONSES})

ReportId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
MEDIA = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _out(r: CerReport) -> dict[str, Any]:
    return {
        "id": r.id,
        "job_id": r.job_id,
        "product_kind": r.product_kind,
        "product_ref": r.product_ref,
        "title": r.title,
        "formats": sorted(r.files),
        "created_at": r.created_at,
    }


def _visible(session: SessionDep, principal: Principal, report_id: str) -> CerReport:
    return service.visible(
        session=session,
        report_id=report_id,
        user_id=principal.user_id,
        is_admin=principal.role == Role.ADMIN,
    )


@router.post("", response_model=ReportAccepted, status_code=202, responses={**BODY_ERRORS})
def create_report(
    body: ReportCreate,
    user: AnalystUser,
    session: SessionDep,
    submitter: JobSubmitterDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> ReportAccepted:
    """Start a report job; poll `status_url`, then download from `/api/v1/reports/{job_id}`."""
    kind, key = resolve(body.product_ref)
    kind = body.product_kind or kind
    if kind != "device" and (body.udi_di or body.srn):
        raise CerflowError(
            f"udi_di and srn link EUDAMED device records, but {body.product_ref!r} is a "
            f"{kind}: send them with a device product code",
            422,
        )
    handle = submitter.submit(
        session=session,
        kind="report",
        payload={
            "product_kind": kind,
            "product_ref": key,
            "since": body.since.isoformat() if body.since else None,
            "until": body.until.isoformat() if body.until else None,
            "formats": list(dict.fromkeys(body.formats)),
            "polish": body.polish,
            "udi_di": body.udi_di,
            "srn": body.srn,
            "background": body.background,
        },
        requested_by=user.user_id,
        idempotency_key=f"user:{user.user_id}:report:{idempotency_key}"
        if idempotency_key
        else None,
    )
    return ReportAccepted(
        job_id=handle.id, state=handle.state, status_url=f"/api/v1/jobs/{handle.id}"
    )


@router.get("", response_model=list[ReportOut])
async def list_reports(user: ViewerUser, state: StateDep) -> Response:
    """The caller's newest 200 reports (may lag a worker's new report by up to 1 s)."""
    body = listing.cached_json(state.session_factory, user.user_id)
    if body is None:
        body = await run_in_threadpool(listing.list_json, state.session_factory, user.user_id)
    return Response(content=body, media_type="application/json")


@router.get("/{report_id}", response_model=ReportOut, responses={**NOT_FOUND})
def get_report(report_id: ReportId, user: ViewerUser, session: SessionDep) -> dict[str, Any]:
    return _out(_visible(session, user, report_id))


@router.get(
    "/{report_id}/download/{fmt}",
    response_class=FileResponse,
    responses={**NOT_FOUND, 200: {"content": {m: {} for m in MEDIA.values()}}},
)
def download_report(
    report_id: ReportId, fmt: Format, user: ViewerUser, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    r = _visible(session, user, report_id)
    path = service.file_path(report=r, fmt=fmt, data_dir=settings.data_dir)
    actor = versions.actor_for_user(
        session=session, user_id=user.user_id, role=user.role, api_key_id=user.api_key_id
    )
    versions.record_download(session=session, report_id=r.id, actor=actor, fmt=fmt)
    return FileResponse(path, media_type=MEDIA[fmt], filename=f"cer-{r.id}.{fmt}")

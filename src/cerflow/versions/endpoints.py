"""Report versions (list, review, approve, diff) and the audit trail (admins).

Versions: analysts, approvers and admins see every version; a viewer only versions they
generated. Approving needs the role `approver` (or `admin`) and the facts hash that was
reviewed. The audit trail is for admins only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse

from cerflow.api import API_PREFIX
from cerflow.api.deps import AdminUser, AnalystUser, ApproverUser, SessionDep, ViewerUser
from cerflow.api.errors import AUTH_RESPONSES, BODY_ERRORS, CONFLICT, NOT_FOUND
from cerflow.auth.service import Principal
from cerflow.text_rules import IDENTIFIER
from cerflow.versions import service
from cerflow.versions.diff_html import render_diff_html
from cerflow.versions.models import ReportVersion
from cerflow.versions.schemas import (
    ApproveIn,
    AuditOut,
    ReviewIn,
    VersionDetail,
    VersionOut,
)


def _single_query_values(request: Request) -> None:
    """`?product_ref=A&product_ref=B` is refused (FastAPI would silently keep the last)."""
    keys = [k for k, _ in request.query_params.multi_items()]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:  # FastAPI's documented 422 shape, like every other bad parameter
        raise RequestValidationError(
            [
                {"loc": ("query", k), "msg": "given more than once", "type": "value_error"}
                for k in repeated
            ]
        )


router = APIRouter(
    prefix=f"{API_PREFIX}/versions",
    tags=["versions"],
    responses={**AUTH_RESPONSES},
    dependencies=[Depends(_single_query_values)],
)
audit_router = APIRouter(
    prefix=f"{API_PREFIX}/audit",
    tags=["audit"],
    responses={**AUTH_RESPONSES},
    dependencies=[Depends(_single_query_values)],
)

VersionId = Annotated[int, Path(ge=1, le=2**62)]


def _visible(session: SessionDep, user: Principal, version_id: int) -> ReportVersion:
    return service.visible(
        session=session, version_id=version_id, user_id=user.user_id, role=user.role
    )


def _actor(session: SessionDep, user: Principal) -> service.Actor:
    return service.actor_for_user(
        session=session, user_id=user.user_id, role=user.role, api_key_id=user.api_key_id
    )


@router.get("", response_model=list[VersionOut])
def list_versions(
    user: ViewerUser,
    session: SessionDep,
    product_ref: Annotated[str | None, Query(max_length=255, pattern=IDENTIFIER)] = None,
) -> list[ReportVersion]:
    """Newest first (200 at most), optionally of one product."""
    return service.list_versions(
        session=session, user_id=user.user_id, role=user.role, product_ref=product_ref
    )


@router.get("/{version_id}", response_model=VersionDetail, responses={**NOT_FOUND})
def get_version(version_id: VersionId, user: ViewerUser, session: SessionDep) -> dict[str, Any]:
    """A version for review: state, facts hash, snapshots, changes since its previous one."""
    row = _visible(session, user, version_id)
    changes = None
    if service.has_previous(session=session, version=row):
        prev = service.previous_of(session=session, version=row)
        changes = service.diff(session=session, before=prev, after=row)
    out = VersionOut.model_validate(row).model_dump()
    return {**out, "changes": changes}


@router.post(
    "/{version_id}/review",
    response_model=AuditOut,
    status_code=201,
    responses={**NOT_FOUND, **BODY_ERRORS},
)
def review_version(
    version_id: VersionId, body: ReviewIn, user: AnalystUser, session: SessionDep
) -> Any:
    """Record a review (comment, reviewer, time and the version's facts hash)."""
    row = _visible(session, user, version_id)
    return service.review(
        session=session, version=row, actor=_actor(session, user), comment=body.comment
    )


@router.post(
    "/{version_id}/approve",
    response_model=VersionOut,
    responses={**NOT_FOUND, **CONFLICT, **BODY_ERRORS},
)
def approve_version(
    version_id: VersionId, body: ApproveIn, user: ApproverUser, session: SessionDep
) -> ReportVersion:
    """Approve a draft (role approver or admin); the approved version is immutable."""
    row = _visible(session, user, version_id)
    return service.approve(
        session=session,
        version=row,
        actor=_actor(session, user),
        facts_sha256=body.facts_sha256,
        note=body.note,
    )


@router.get(
    "/{version_id}/diff/{other_id}",
    responses={
        **NOT_FOUND,
        200: {"content": {"application/json": {}, "text/html": {}}},
    },
)
def diff_versions(
    version_id: VersionId,
    other_id: VersionId,
    user: ViewerUser,
    session: SessionDep,
    fmt: Annotated[Literal["json", "html"], Query(alias="format")] = "json",
) -> Response:
    """Changes from version `version_id` to version `other_id` (JSON, or a readable HTML page)."""
    before = _visible(session, user, version_id)
    after = _visible(session, user, other_id)
    changes = service.diff(session=session, before=before, after=after)
    if fmt == "html":
        return HTMLResponse(render_diff_html(before, after, changes))
    return Response(changes.model_dump_json(), media_type="application/json")


@audit_router.get("", response_model=list[AuditOut])
def list_audit(
    user: AdminUser,
    session: SessionDep,
    product_ref: Annotated[str | None, Query(max_length=255, pattern=IDENTIFIER)] = None,
    version_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    action: Literal["generated", "reviewed", "approved", "downloaded"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    """Who generated, reviewed, approved and downloaded each version, newest first."""
    return service.audit_list(
        session=session,
        version_id=version_id,
        product_ref=product_ref,
        action=action,
        limit=limit,
    )

"""Signal review in the browser: one page per product and event with the decision history
and the form to record a new decision (analysts), reason required."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from cerflow.api.deps import SessionDep
from cerflow.auth.models import Role
from cerflow.products.service import resolve
from cerflow.signal_reviews import service as reviews
from cerflow.signal_reviews.schemas import DECISIONS, ReviewCreate
from cerflow.web.deps import CsrfField, PageSession, check_csrf, require_role
from cerflow.web.form_errors import first_errors
from cerflow.web.render import page
from cerflow.web.session import WebSession

router = APIRouter(include_in_schema=False)
LABELS = {"validated": "Validated", "refuted": "Refuted", "needs_review": "Needs review"}


def _review_page(
    request: Request,
    ws: WebSession,
    session: SessionDep,
    ref: str,
    event: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    _, key = resolve(ref)
    key_event = reviews.event_key(event)
    past = [
        r for r in reviews.history(session=session, product_ref=key) if r.event_key == key_event
    ]
    return page(
        request,
        "review.html.j2",
        ws=ws,
        ref=key,
        event=event,
        history=past,
        decisions=[(d, LABELS[d]) for d in DECISIONS],
        errors=errors or {},
        form=form or {"decision": "", "reason": ""},
        can_act=ws.role.allows(Role.ANALYST),
        status_code=status_code,
    )


@router.get("/products/{ref}/review", response_class=HTMLResponse)
def review(
    request: Request, ref: str, ws: PageSession, session: SessionDep, event: str = ""
) -> Response:
    return _review_page(request, ws, session, ref, event[:500])


@router.post("/products/{ref}/review", response_class=HTMLResponse)
def record_review(
    request: Request,
    ref: str,
    ws: PageSession,
    session: SessionDep,
    csrf_token: CsrfField = "",
    event: Annotated[str, Form()] = "",
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    try:
        body = ReviewCreate.model_validate({"event": event, "decision": decision, "reason": reason})
    except ValidationError as exc:
        errors = first_errors(
            exc,
            messages={
                "decision": "Choose validated, refuted or needs review.",
                "reason": "Give the reason in at least 10 characters (what the review showed).",
            },
        )
        return _review_page(
            request,
            ws,
            session,
            ref,
            event[:500],
            errors=errors,
            form={"decision": decision[:20], "reason": reason[:4000]},
            status_code=422,
        )
    reviews.record(session=session, product_ref=ref, body=body, user_id=ws.user_id)
    _, key = resolve(ref)
    return RedirectResponse(f"/products/{key}#signals-h", status_code=303)

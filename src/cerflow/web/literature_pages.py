"""The literature workspace of a product: protocol, latest search, screening queue.

Same services as the API and the CLI (`literature.service`, `literature.screening`), so a
decision made here obeys the same rules and shows up in the same screening log. An LLM
suggestion is shown as a suggestion with a "confirm" button that records the human's
decision (`llm_suggested`); the include/exclude buttons beside it override it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cerflow.api.deps import SessionDep, SettingsDep
from cerflow.auth.models import Role
from cerflow.errors import NotFoundError
from cerflow.literature import screening, service
from cerflow.products.service import resolve
from cerflow.web.deps import CsrfField, PageSession, check_csrf, require_role
from cerflow.web.render import page
from cerflow.web.session import WebSession

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
VIEWS = {"queue": "To decide", "all": "All records", **{s: s for s in screening.STATES}}
STATE_LABELS = {
    "to_screen": "to screen (title/abstract)",
    "excluded_title_abstract": "excluded at title/abstract",
    "full_text": "to assess in full text",
    "excluded_full_text": "excluded at full text",
    "included": "included",
}


def _literature_page(
    request: Request,
    ws: WebSession,
    session: SessionDep,
    settings: SettingsDep,
    ref: str,
    *,
    search_id: int | None = None,
    view: str = "queue",
    p: int = 1,
    error: tuple[int, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    kind, key = resolve(ref)
    found = service.get_protocol(session=session, product_ref=key)
    searches = service.list_searches(session=session, product_ref=key)
    search = None
    if search_id is not None:
        search = screening.get_search(session=session, search_id=search_id, product_ref=key)
    elif searches:
        search = searches[0]
    ctx: dict[str, Any] = {}
    if search is not None:
        version, proto = screening.protocol_of(session, search)
        states = screening.record_states(session, search.id)
        if view == "queue":
            shown = [st for st in states if st.next_stage is not None]
        elif view == "all":
            shown = states
        else:
            shown = [st for st in states if st.state == view]
        pages = max(1, -(-len(shown) // PER_PAGE))
        p = min(max(p, 1), pages)
        ctx = {
            "search_version": version,
            "reasons": proto.exclusion,
            "tally": screening.tally(states),
            "shown": shown[(p - 1) * PER_PAGE : p * PER_PAGE],
            "shown_total": len(shown),
            "pages": pages,
        }
    return page(
        request,
        "literature.html.j2",
        ws=ws,
        ref=key,
        kind=kind,
        protocol_row=found[0] if found else None,
        protocol=found[1] if found else None,
        searches=searches,
        search=search,
        view=view if view in VIEWS else "queue",
        views=VIEWS,
        p=p,
        state_labels=STATE_LABELS,
        stage_labels=screening.STAGE_LABELS,
        error=error,
        message=message,
        can_act=ws.role.allows(Role.ANALYST),
        llm_on=screening.suggestions_enabled(settings),
        llm_max=settings.literature_llm_max_per_request,
        status_code=status_code,
        **ctx,
    )


@router.get("/products/{ref}/literature", response_class=HTMLResponse)
def literature(
    request: Request,
    ref: str,
    ws: PageSession,
    session: SessionDep,
    settings: SettingsDep,
    search: int | None = None,
    view: str = "queue",
    p: int = 1,
    asked: int | None = None,
    valid: int | None = None,
    failed: int = 0,
) -> Response:
    message = None
    if asked is not None:
        message = (
            f"{asked} record{'s' if asked != 1 else ''} sent to the LLM; {valid or 0} "
            "suggestions to confirm or override. A suggestion is not a decision."
            + (" The LLM API failed; try again later." if failed else "")
        )
    return _literature_page(
        request, ws, session, settings, ref, search_id=search, view=view[:40], p=p, message=message
    )


def _int(value: str) -> int | None:
    return int(value) if re.fullmatch(r"\d{1,18}", value.strip()) else None


@router.post("/products/{ref}/literature/decisions", response_class=HTMLResponse)
def decide(
    request: Request,
    ref: str,
    ws: PageSession,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    search_id: Annotated[str, Form(max_length=20)] = "",
    record_id: Annotated[str, Form(max_length=20)] = "",
    stage: Annotated[str, Form(max_length=20)] = "",
    decision: Annotated[str, Form(max_length=10)] = "",
    reason_code: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    suggestion_id: Annotated[str, Form(max_length=20)] = "",
    view: Annotated[str, Form(max_length=40)] = "queue",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    _, key = resolve(ref)
    sid, rid = _int(search_id), _int(record_id)
    if sid is None or rid is None:
        return _literature_page(
            request,
            ws,
            session,
            settings,
            key,
            error=(0, "Choose a record of a search and a decision, then send the form again."),
            status_code=422,
        )
    try:
        screening.record_decision(
            session=session,
            search_id=sid,
            record_id=rid,
            stage=stage,
            decision=decision,
            # the reason select belongs to "exclude"; a choice left in it means nothing on
            # "include"
            reason_code=(reason_code or None) if decision == "exclude" else None,
            note=note,
            user_id=ws.user_id,
            suggestion_id=_int(suggestion_id),
            product_ref=key,
        )
    except screening.ScreeningError as exc:
        return _literature_page(
            request,
            ws,
            session,
            settings,
            key,
            search_id=sid,
            view=view,
            error=(rid, f"Nothing was saved: {exc}"),
            status_code=422,
        )
    return RedirectResponse(
        f"/products/{key}/literature?search={sid}&view={view if view in VIEWS else 'queue'}"
        f"#rec-{rid}",
        status_code=303,
    )


@router.post("/products/{ref}/literature/suggestions", response_class=HTMLResponse)
def ask_llm(
    request: Request,
    ref: str,
    ws: PageSession,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    search_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    _, key = resolve(ref)
    if not screening.suggestions_enabled(settings):
        raise screening.SuggestionsOff(
            "LLM screening suggestions are off on this server (an administrator sets "
            "CERFLOW_LITERATURE_LLM_SUGGESTIONS and CERFLOW_LLM_BASE_URL)"
        )
    sid = _int(search_id)
    if sid is None:
        raise NotFoundError(f"no literature search {search_id!r} of {key}")
    res = screening.suggest(
        session=session, search_id=sid, settings=settings, user_id=ws.user_id, product_ref=key
    )
    return RedirectResponse(
        f"/products/{key}/literature?search={sid}&asked={res.asked}&valid={res.valid}"
        f"&failed={res.failed}",
        status_code=303,
    )


@router.get("/products/{ref}/literature/screening.csv")
def screening_csv(ref: str, ws: PageSession, session: SessionDep, search: int = 0) -> Response:
    _, key = resolve(ref)
    found = screening.get_search(session=session, search_id=search, product_ref=key)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", found.product_ref)
    return Response(
        screening.screening_log_csv(session, found.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="screening-{name}-{found.id}.csv"'},
    )

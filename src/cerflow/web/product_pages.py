"""Home, search and the product page.

The figures come from the same service the API's product endpoints use
(`cerflow.products.service`), so a page and `GET /api/v1/products/{ref}` never disagree.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from cerflow.alerts.models import Alert
from cerflow.api.deps import JobSubmitterDep, SessionDep, SettingsDep
from cerflow.auth.models import Role
from cerflow.errors import CerflowError
from cerflow.narrative.render import flag_names
from cerflow.products import service as products
from cerflow.reports.models import CerReport
from cerflow.store import product_queries as pq
from cerflow.versions import service as versions_service
from cerflow.web.charts import monthly_bars
from cerflow.web.deps import CsrfField, PageSession, check_csrf, require_role
from cerflow.web.render import page

router = APIRouter(include_in_schema=False)

SearchText = Annotated[str, Query(max_length=200)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ws: PageSession, session: SessionDep) -> Response:
    watched = products.list_watched(session=session, user_id=ws.user_id)
    reports = list(
        session.scalars(
            select(CerReport)
            .where(CerReport.owner_id == ws.user_id)
            .order_by(CerReport.created_at.desc())
            .limit(5)
        )
    )
    unread = len(
        list(
            session.scalars(
                select(Alert.id)
                .where(Alert.user_id == ws.user_id, Alert.acknowledged_at.is_(None))
                .limit(100)
            )
        )
    )
    return page(request, "home.html.j2", ws=ws, watched=watched, reports=reports, unread=unread)


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, ws: PageSession, session: SessionDep, q: SearchText = "") -> Response:
    text = q.strip()
    hits = products.search(session=session, query=text, limit=25) if len(text) >= 2 else []
    return page(request, "search.html.j2", ws=ws, q=text, hits=hits)


@router.get("/search/suggest", response_class=HTMLResponse)
def suggest(request: Request, ws: PageSession, session: SessionDep, q: SearchText = "") -> Response:
    """The htmx fragment under the search box: up to 8 products of the store as you type."""
    text = q.strip()
    hits = products.search(session=session, query=text, limit=8) if len(text) >= 2 else []
    return page(request, "_suggestions.html.j2", ws=ws, q=text, hits=hits)


def sdr_rows(facts: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The signal table of a stored report version: its SDRs and the closed ones, with
    the methods each meets, labelled status, status and review (read from facts.json, so
    the page shows exactly what the report says)."""
    signals = facts.get("signals") or {}
    sdr = signals.get("sdr") or {}
    rows = []
    for row in [*(signals.get("signals") or []), *(sdr.get("closed") or [])]:
        rows.append(
            {
                "event": row.get("event", ""),
                "a": row.get("a") or 0,
                "eb05": row.get("eb05"),
                "ic025": row.get("ic025"),
                "methods": flag_names(row.get("flags") or []),  # the report's own names
                "labelled": row.get("labelled") or "no label",
                "status": row.get("status") or "not compared",
                "first_detected": row.get("first_detected"),
                "review": row.get("review"),
            }
        )
    meta = {
        "primary": sdr.get("primary_criterion"),
        "background": (signals.get("background") or {}).get("description"),
        "refused": (signals.get("background") or {}).get("refused_reason"),
    }
    return rows, meta


@router.get("/products/{ref}", response_class=HTMLResponse)
def product(
    request: Request, ref: str, ws: PageSession, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        kind, key = products.resolve(ref)
    except CerflowError as exc:
        return page(request, "not_found.html.j2", ws=ws, message=str(exc), q=ref, status_code=422)
    version = products.data_version(session=session)
    detail = products.detail(session=session, settings=settings, ref=ref, version=version)
    if detail is None:
        return page(
            request,
            "not_found.html.j2",
            ws=ws,
            message=f"{ref} is not in the store yet.",
            q=ref,
            kind=kind,
            status_code=404,
        )
    sel = products._selector(kind, key)
    freshness = pq.product_freshness(session.connection(), sel)
    reviews = {k: r for k, r in pq.latest_signal_reviews(session.connection(), kind, key).items()}
    chart = Markup(monthly_bars([(m.month, m.count) for m in detail.monthly]))
    watched = any(
        w.product_ref == key for w in products.list_watched(session=session, user_id=ws.user_id)
    )
    stmt = select(CerReport).where(CerReport.product_ref == key, CerReport.product_kind == kind)
    if not ws.role.allows(Role.ADMIN):
        stmt = stmt.where(CerReport.owner_id == ws.user_id)
    reports = list(session.scalars(stmt.order_by(CerReport.created_at.desc()).limit(10)))
    latest = versions_service.list_versions(
        session=session, user_id=ws.user_id, role=ws.role, product_ref=key, limit=1
    )
    sdr, sdr_meta = sdr_rows(latest[0].facts) if latest else ([], {})
    return page(
        request,
        "product.html.j2",
        latest_version=latest[0] if latest else None,
        sdr=sdr,
        sdr_meta=sdr_meta,
        ws=ws,
        d=detail,
        chart=chart,
        freshness=freshness,
        reviews=reviews,
        watched=watched,
        reports=reports,
        can_act=ws.role.allows(Role.ANALYST),
    )


@router.post("/products/{ref}/refresh")
def refresh(
    request: Request,
    ref: str,
    ws: PageSession,
    session: SessionDep,
    jobs: JobSubmitterDep,
    csrf_token: CsrfField = "",
) -> Response:
    """Fetch fresh data for the product (an ingest job); the job page shows its progress."""
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    kind, key = products.resolve(ref)
    handle = jobs.submit(
        session=session,
        kind="ingest",
        payload={"product_kind": kind, "product_ref": key},
        requested_by=ws.user_id,
    )
    return RedirectResponse(f"/jobs/{handle.id}", status_code=303)


@router.post("/products/{ref}/watch")
def watch(
    request: Request, ref: str, ws: PageSession, session: SessionDep, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(request, ws, csrf_token)
    require_role(ws, Role.ANALYST)
    _, key = products.resolve(ref)
    products.watch(session=session, user_id=ws.user_id, product_ref=key, note=None)
    return RedirectResponse(f"/products/{key}", status_code=303)

"""Page rendering: one Jinja2 environment, autoescaped, with what every page needs.

Every page gets the signed-in user (role for showing or hiding actions), the CSRF token for
its forms and htmx requests, and the asset version used to bust browser caches.
Jinja2 loads with the first page rendered, not when the app is built.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from cerflow.web.assets import asset_url
from cerflow.web.session import WebSession

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"


def _n(value: int | float | None) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


@lru_cache(maxsize=1)
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is escaped; no template marks data safe
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["n"] = _n
    env.filters["when"] = _when
    env.globals["asset"] = asset_url
    return env


def page(
    request: Request,
    template: str,
    *,
    ws: WebSession | None,
    status_code: int = 200,
    csrf: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A full page (or an htmx fragment when the template is one)."""
    html = (
        environment()
        .get_template(template)
        .render(
            request_path=request.url.path,
            user=ws,
            csrf=csrf if csrf is not None else (ws.csrf if ws else ""),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})

"""Mount the web pages, their static files and the offline API docs on the application.

The API stays under `/api/*`; pages own every other path, so a proxy can route both to the
same process. Errors on pages are pages (an HTML message with a way back), errors on the
API stay JSON problem documents.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cerflow.api.errors import cerflow_error_handler, validation_error_handler
from cerflow.errors import CerflowError
from cerflow.web import (
    admin_pages,
    alert_pages,
    auth_pages,
    inputs_pages,
    literature_pages,
    live,
    product_pages,
    report_pages,
    review_pages,
    version_pages,
    watch_pages,
)
from cerflow.web import session as web_session
from cerflow.web.assets import STATIC_PREFIX, asset_url, static_app
from cerflow.web.deps import SignInRequired
from cerflow.web.render import page

API_PATHS = ("/api/", "/ws", "/openapi.json", "/docs", "/healthz", "/readyz", "/metrics")


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(API_PATHS)


def _page_session(request: Request) -> web_session.WebSession | None:
    state = getattr(request.app.state, "cerflow", None)
    if state is None:
        return None
    return web_session.read(state.settings, request.cookies.get(web_session.SESSION_COOKIE))


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = auth_pages.safe_next(exc.next_path)
    if request.headers.get("hx-request"):
        # htmx follows redirects inside the fragment; tell it to load the sign-in page instead.
        return Response(status_code=204, headers={"HX-Redirect": f"/login?next={target}"})
    return RedirectResponse(f"/login?next={target}", status_code=303)


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CerflowError)
    if not is_page(request):
        return await cerflow_error_handler(request, exc)
    return page(
        request,
        "error.html.j2",
        ws=_page_session(request),
        status_code=exc.status_code,
        message=str(exc),
        code=exc.status_code,
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not is_page(request):
        from fastapi.exception_handlers import http_exception_handler

        return await http_exception_handler(request, exc)
    return page(
        request,
        "error.html.j2",
        ws=_page_session(request),
        status_code=exc.status_code,
        message="There is no page at this address." if exc.status_code == 404 else str(exc.detail),
        code=exc.status_code,
    )


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not is_page(request):
        return await validation_error_handler(request, exc)
    fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
    return page(
        request,
        "error.html.j2",
        ws=_page_session(request),
        status_code=422,
        message="The request had a value this page cannot take"
        + (f" ({', '.join(fields)})" if fields else "")
        + ". Go back, correct it and send it again.",
        code=422,
    )


def install(app: FastAPI) -> None:
    app.mount(STATIC_PREFIX, static_app(), name="static")
    for router in (
        auth_pages.router,
        product_pages.router,
        report_pages.router,
        alert_pages.router,
        admin_pages.router,
        review_pages.router,
        watch_pages.router,
        live.router,
        inputs_pages.router,
        literature_pages.router,
        version_pages.router,
    ):
        app.include_router(router)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(CerflowError, _error)
    app.add_exception_handler(StarletteHTTPException, _not_found)
    app.add_exception_handler(RequestValidationError, _invalid)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        """Swagger UI from the package's own copy: it works offline and behind a closed proxy."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="cerflow API",
            swagger_js_url=asset_url("vendor/swagger-ui/swagger-ui-bundle.js"),
            swagger_css_url=asset_url("vendor/swagger-ui/swagger-ui.css"),
            swagger_favicon_url=asset_url("favicon.svg"),
        )

"""Pure ASGI fast path for cached product reads: `GET /api/v1/products/{ref}` on a cache hit.

Why: a profile of one cached read (benchmarks/api_cpu.py) put about two thirds of its CPU
in FastAPI's routing (matching ~15 route patterns) and dependency solving (security
schemes, path-parameter validation, the role check), around an endpoint that only looks
up bytes. This sits inside every middleware (request id and access log, metrics, security
headers, CORS, control-character guard, body limit, rate limit), just in front of the
router, and does the same checks directly:

- the path has the route's shape and passes its `ref` rule (`ProductRef`: 1-255
  characters, no NUL or '/', not only spaces; `search` is another route);
- a bearer JWT authenticates exactly as the endpoint's dependency does
  (`api.deps.bearer_principal`: signature, expiry, issuer, type, token version), and the
  role allows reading (viewer);
- the body is in the per-process copy or the cache at the current data version.

If any of these does not hold (no or bad credentials, an API key, a wrong role, a miss,
an odd path) it does nothing and passes the request on unchanged to the router, whose
endpoint and dependencies answer it (401/403/404/422, or a computed body) as before. So
it can only serve a hit the endpoint would also have served, with the same body and
headers; `scope["route"]` is set to the endpoint's route so metrics and logs name the
same template.
"""

from __future__ import annotations

import re

import structlog
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from cerflow.api import API_PREFIX
from cerflow.api.deps import AppState, bearer_principal
from cerflow.auth.models import Role
from cerflow.auth.security import API_KEY_PREFIX
from cerflow.auth.service import AuthError
from cerflow.products import detail_cache, endpoints

PREFIX = f"{API_PREFIX}/products/"
_REF = re.compile(r"^[^\x00/]*\S[^\x00/]*$")  # the pattern of `endpoints.ProductRef`
ROUTE_PATH = PREFIX + "{ref}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def plain_ref(path: str) -> str | None:
    """The `ref` of a product-detail path if it obeys the route's rule, else None."""
    if not path.startswith(PREFIX):
        return None
    ref = path[len(PREFIX) :]
    # "/" first: the route's path segment never holds one, and `\S` in the pattern would.
    if "/" in ref or not 1 <= len(ref) <= 255 or ref == "search" or not _REF.match(ref):
        return None
    return ref


class CachedProductRead:
    """ASGI middleware: serve a cached product detail, or pass the request on untouched."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._route: APIRoute | None = None

    def _detail_route(self) -> APIRoute | None:
        """The endpoint's route object, the one FastAPI puts in `scope["route"]`."""
        if self._route is None:
            self._route = next(
                (
                    r
                    for r in endpoints.router.routes
                    if isinstance(r, APIRoute)
                    and r.path == ROUTE_PATH
                    and "GET" in (r.methods or ())
                ),
                None,
            )
        return self._route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        ref = plain_ref(scope["path"])
        if ref is None or not await self._serve(scope, send, ref):
            await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, send: Send, ref: str) -> bool:
        """True when the response has been sent; False leaves the request to the router."""
        auth = _header(scope, b"authorization")
        if not auth or _header(scope, b"x-api-key") is not None:
            return False
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token or token.startswith(API_KEY_PREFIX):
            return False
        route = self._detail_route()
        state: AppState | None = getattr(self.fastapi_app.state, "cerflow", None)
        if route is None or state is None:
            return False
        try:
            principal = await bearer_principal(state, token)
        except AuthError:
            return False  # the router's dependency answers 401 with its usual body
        if not principal.role.allows(Role.VIEWER):
            return False
        found = await detail_cache.lookup(self.fastapi_app.state, state, ref)
        if found.body is None:
            return False
        scope["route"] = route
        scope.setdefault("state", {})["principal"] = principal
        structlog.contextvars.bind_contextvars(user_id=principal.user_id)
        body = found.body
        headers = [
            (b"x-cache", b"hit"),
            (b"etag", body.etag.encode()),
        ]
        if detail_cache.not_modified(_header(scope, b"if-none-match"), body.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return True
        headers += [
            (b"content-length", str(len(body.raw)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body.raw})
        return True

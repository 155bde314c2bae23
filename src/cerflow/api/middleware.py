"""Pure ASGI middleware (no BaseHTTPMiddleware: it copies bodies and costs latency).

Order, outermost first: request context (id, access log, metrics, last-resort 500),
security headers, CORS, control-character guard, body size limit, rate limit, then the
cached product read fast path (`products.cached_read`) in front of the router.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cerflow.auth.security import API_KEY_PREFIX, InvalidToken, decode_token
from cerflow.config import Settings
from cerflow.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS
from cerflow.observability.runtime_metrics import HTTP_IN_FLIGHT, sample_process
from cerflow.ratelimit import Limit, RateLimiter

log = structlog.get_logger("cerflow.access")
# The stdlib logger behind `log`: asking it first skips structlog's processor chain (the
# event dict, contextvars merge, level filter) for every request when INFO is off.
_ACCESS_LOGGER = logging.getLogger("cerflow.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DOCS_PATHS = ("/docs", "/redoc")
_STATIC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI loads its bundle from the package's static files (no CDN) and boots it with an
# inline script, hence 'unsafe-inline' for scripts on /docs only.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'"
)
# The web pages: everything from this origin, no inline script or style (htmx is configured
# not to inject its indicator style), forms post only here.
_WEB_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)
_API_PATH_PREFIXES = ("/api/", "/ws", "/openapi.json", "/healthz", "/readyz", "/metrics")


def _header(scope: Scope, name: bytes) -> str | None:
    """One request header (`name` lower-case), first occurrence.

    Not `Headers(scope=scope).get(...)`: that raises and catches a KeyError for every
    absent header, and most of the headers the middleware asks about are absent; this
    showed up as a few per cent of a cached read's CPU.
    """
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _latency_children(method: str, route: str, status: str) -> tuple[Any, Any]:
    """The counter and histogram children of one (method, route, status), looked up once."""
    key = (method, route, status)
    children = _CHILDREN.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method=method, route=route, status=status),
            HTTP_LATENCY.labels(method=method, route=route),
        )
        if len(_CHILDREN) < 10_000:  # route templates, not raw paths: stays small
            _CHILDREN[key] = children
    return children


_CHILDREN: dict[tuple[str, str, str], tuple[Any, Any]] = {}
_IN_FLIGHT: dict[str, Any] = {}


def _in_flight(kind: str) -> Any:
    """The in-flight gauge child of `kind`, created on first use (after the fork)."""
    child = _IN_FLIGHT.get(kind)
    if child is None:
        child = _IN_FLIGHT[kind] = HTTP_IN_FLIGHT.labels(kind=kind)
    return child


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    raw = json.dumps(body).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


class RequestContextMiddleware:
    """Request id in logs and responses; one access log line and metrics per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] != "websocket":
                await self.app(scope, receive, send)
                return
            with _in_flight("websocket").track_inprogress():
                await self.app(scope, receive, send)
            return
        in_flight = _in_flight("http")
        incoming = _header(scope, b"x-request-id") or ""
        # 32 random hex digits, as uuid4().hex but without building a UUID object.
        request_id = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled_error", path=scope["path"])
            if response_started:
                raise
            status = 500
            await _send_json(
                send,
                500,
                {"detail": "internal server error", "request_id": request_id},
                {"x-request-id": request_id, **_security_headers(scope)},
            )
        finally:
            in_flight.dec()
            sample_process("api")
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or (
                scope["path"] if scope["path"] in _STATIC_PATHS else "unmatched"
            )
            method = scope["method"]
            count, latency = _latency_children(method, template, str(status))
            count.inc()
            latency.observe(elapsed)
            if _ACCESS_LOGGER.isEnabledFor(logging.INFO):  # production logs at WARNING
                log.info(
                    "request",
                    method=method,
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.clear_contextvars()


def _security_headers(scope: Scope) -> dict[str, str]:
    return dict(_HEADER_SETS[_header_set_key(scope)][0])


def _header_set_key(scope: Scope) -> tuple[str, bool, bool]:
    """(content security policy, HTTPS, under /api/): what the headers depend on."""
    path: str = scope["path"]
    csp = (
        _DOCS_CSP
        if path.startswith(_DOCS_PATHS)
        else (_API_CSP if path.startswith(_API_PATH_PREFIXES) else _WEB_CSP)
    )
    proto = (_header(scope, b"x-forwarded-proto") or "").split(",")[0].strip().lower()
    https = proto == "https" or scope.get("scheme") == "https"
    return csp, https, path.startswith("/api/")


def _build_header_set(csp: str, https: bool, api: bool) -> tuple[tuple[str, str], ...]:
    headers = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("content-security-policy", csp),
    ]
    if https:
        headers.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
    if api:
        headers.append(("cache-control", "no-store"))
    return tuple(headers)


# Every combination built once, as text and as the raw ASGI header pairs: the middleware
# runs on every response and used to rebuild and encode the same dict each time.
_HEADER_SETS: dict[
    tuple[str, bool, bool], tuple[tuple[tuple[str, str], ...], tuple[tuple[bytes, bytes], ...]]
] = {}
for _csp in (_API_CSP, _DOCS_CSP, _WEB_CSP):
    for _https in (False, True):
        for _api in (False, True):
            _set = _build_header_set(_csp, _https, _api)
            _HEADER_SETS[(_csp, _https, _api)] = (
                _set,
                tuple((k.encode(), v.encode()) for k, v in _set),
            )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _HEADER_SETS[_header_set_key(scope)][1]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw list, not MutableHeaders: its `in` raises a KeyError per absent name.
                raw = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in raw}
                raw += [pair for pair in extra if pair[0] not in present]
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodySizeLimitMiddleware:
    """413 before reading a body whose declared length is too big, or once streaming exceeds it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await _send_json(send, 400, {"detail": "invalid Content-Length header"}, {})
                return
            if too_big:
                await self._refuse(send)
                return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not refused:
                    # Answer now and tell the app the client left, so it stops reading.
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def send_wrapper(message: Message) -> None:
            if not refused:  # after a 413, whatever the app answers is dropped
                await send(message)

        await self.app(scope, limited_receive, send_wrapper)

    async def _refuse(self, send: Send) -> None:
        await _send_json(
            send,
            413,
            {"detail": f"request body larger than {self.max_bytes} bytes"},
            {"connection": "close"},
        )


class RateLimitMiddleware:
    """Per client address always; per principal when the request carries credentials.

    The principal is read from the token without touching the database: a valid JWT gives
    its user, an API key its digest (an invalid key just gets its own bucket and is refused
    later by authentication). Limits apply under /api/ only.
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter, settings: Settings) -> None:
        self.app = app
        self.limiter = limiter
        self.settings = settings
        self.secret = settings.secret_key.get_secret_value()

    def _principal(self, scope: Scope) -> str | None:
        auth = _header(scope, b"authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        key = _header(scope, b"x-api-key") or (token if token.startswith(API_KEY_PREFIX) else "")
        if key:
            return "key:" + hashlib.sha256(key.encode()).hexdigest()[:24]
        if token:
            try:
                claims = decode_token(
                    token, secret=self.secret, issuer=self.settings.jwt_issuer, typ="access"
                )
            except InvalidToken:
                return None
            return f"user:{claims.sub}"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        limits = [Limit("ip", client[0] if client else "unknown", self.settings.rate_limit_per_ip)]
        principal = self._principal(scope)
        if principal:
            limits.append(Limit("user", principal, self.settings.rate_limit_per_user))
        decision = await self.limiter.hit(limits)
        if not decision.allowed:
            await _send_json(
                send,
                429,
                {"detail": f"rate limit exceeded ({decision.scope}); retry later"},
                {"retry-after": str(decision.retry_after)},
            )
            return
        await self.app(scope, receive, send)

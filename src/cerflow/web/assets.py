"""Static files bundled in the package, served with long cache lifetimes.

URLs carry a hash of the file's bytes (`/static/app.css?v=1a2b3c4d`), so a browser may keep
a file for a year and still gets the new one after an upgrade.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/static"


@lru_cache(maxsize=64)
def _digest(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def asset_url(name: str) -> str:
    return f"{STATIC_PREFIX}/{name}?v={_digest(name)}"


class CachedStatic(StaticFiles):
    """StaticFiles with `Cache-Control`: immutable for versioned URLs, short otherwise."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        versioned = b"v=" in scope.get("query_string", b"")
        value = b"public, max-age=31536000, immutable" if versioned else b"public, max-age=300"

        async def send_with_cache(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
                headers.append((b"cache-control", value))
                message["headers"] = headers
            await send(message)

        await super().__call__(scope, receive, send_with_cache)


def static_app() -> CachedStatic:
    return CachedStatic(directory=STATIC)

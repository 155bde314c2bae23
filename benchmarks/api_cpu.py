"""Benchmark: CPU microseconds per request through the ASGI apps, no sockets, no load generator.

    uv run python benchmarks/api_cpu.py [--requests 20000] [--profile cached|bare]

Why: on the shared 2-core machine the load test's ceilings move with everyone else's load,
but the CPU one request costs the server process does not. This drives the production app
(`cerflow.app.create_app`, production settings: every middleware, JWT auth, Redis rate
limiting, PostgreSQL behind) and, in the same run, the bare FastAPI endpoint of
`api_load.py` directly through ASGI: `GET /api/v1/products/DQA` with a warm cache, and
`GET /bare`. Figures are process CPU seconds (`time.process_time`) over N sequential
requests, so they include this process's Redis client work but not the Redis server's,
and none of uvicorn's HTTP parsing (the same for both apps). Requests run in batches of 50
concurrent ones, as under load, so batched Redis round trips are shared as in production.

Also counts, for one cached request, the Redis commands sent (client side) and the SQL
statements executed. Prints one JSON object; `--profile` prints a cProfile of the chosen
path to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import BARE_APP, PRODUCT_PATH, REDIS_URL, drop_database, make_database, seed

BATCH = 50


async def _call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(body)


async def _cpu_per_request(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], n: int, profile: bool
) -> float:
    for _ in range(5):  # warm up (first-use lookups, caches)
        status, body = await _call(app, path, headers)
        assert status == 200, (status, body[:200])
    prof = cProfile.Profile() if profile else None
    cpu = time.process_time()
    if prof:
        prof.enable()
    for _ in range(n // BATCH):
        results = await asyncio.gather(*(_call(app, path, headers) for _ in range(BATCH)))
        assert all(s == 200 for s, _ in results), results[0]
    if prof:
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(60)
        out2 = io.StringIO()
        pstats.Stats(prof, stream=out2).sort_stats("tottime").print_stats(40)
        print(out.getvalue(), out2.getvalue(), file=sys.stderr)
    return (time.process_time() - cpu) / (n // BATCH * BATCH) * 1e6


async def _run(args: argparse.Namespace, token: str, settings: Any) -> dict[str, Any]:
    import redis.asyncio as aredis
    from sqlalchemy import event

    from cerflow.app import create_app

    ns: dict[str, Any] = {}
    exec(BARE_APP, ns)  # the same bare app as api_load.py
    bare = ns["app"]
    app = create_app(settings)
    auth = [(b"authorization", f"Bearer {token}".encode())]
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        state = app.state.cerflow
        status, _ = await _call(app, PRODUCT_PATH, auth)  # fills the cache
        assert status == 200
        # Per-request counts: Redis commands (client side) and SQL statements.
        statements: list[str] = []

        def on_sql(*a: Any) -> None:
            statements.append(str(a[2])[:80])

        engine = state.session_factory.kw["bind"]
        event.listen(engine, "before_cursor_execute", on_sql)
        commands: list[str] = []
        original: Any = aredis.Redis.execute_command
        pipe_original: Any = aredis.client.Pipeline.execute

        async def counted(self: Any, *a: Any, **kw: Any) -> Any:
            commands.append(str(a[0]))
            return await original(self, *a, **kw)

        async def counted_pipe(self: Any, *a: Any, **kw: Any) -> Any:
            commands.append(f"pipeline[{len(self.command_stack)}]")
            return await pipe_original(self, *a, **kw)

        aredis.Redis.execute_command = counted  # type: ignore[method-assign]
        aredis.client.Pipeline.execute = counted_pipe  # type: ignore[method-assign]
        await asyncio.sleep(1.1)  # let the data-version memo expire once, as in steady state
        await _call(app, PRODUCT_PATH, auth)
        await asyncio.sleep(0.2)  # its background refresh, if any
        commands.clear()
        statements.clear()
        status, _ = await _call(app, PRODUCT_PATH, auth)
        await asyncio.sleep(0.05)
        out["one_cached_request"] = {"redis_calls": list(commands), "sql": list(statements)}
        aredis.Redis.execute_command = original  # type: ignore[method-assign]
        aredis.client.Pipeline.execute = pipe_original  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", on_sql)

        cached = await _cpu_per_request(
            app, PRODUCT_PATH, auth, args.requests, args.profile == "cached"
        )
    bare_us = await _cpu_per_request(bare, "/bare", [], args.requests, args.profile == "bare")
    out["cpu_us_per_request"] = {
        "cached_product_read": round(cached, 1),
        "bare_fastapi": round(bare_us, 1),
        "bare_over_cached": round(bare_us / cached, 3),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--profile", choices=("cached", "bare"), default=None)
    args = parser.parse_args()

    from pydantic import SecretStr

    from cerflow.config import Settings

    secret = secrets.token_urlsafe(48)
    db_name, db_url = make_database()
    prefix = f"cerflow-bench:{uuid.uuid4().hex[:8]}:"
    os.environ.update(
        {
            "CERFLOW_ENVIRONMENT": "production",
            "CERFLOW_LOG_LEVEL": "WARNING",
            "CERFLOW_REDIS_URL": REDIS_URL,
            "CERFLOW_REDIS_KEY_PREFIX": prefix,
        }
    )
    try:
        settings = Settings(
            database_url=db_url,
            secret_key=SecretStr(secret),
            access_token_ttl_seconds=7200,
            rate_limit_per_user=100_000_000,
            rate_limit_per_ip=100_000_000,
        )
        token = seed(db_url, settings)
        load_before = os.getloadavg()
        result = asyncio.run(_run(args, token, settings))
        print(
            json.dumps(
                {
                    "benchmark": "api_cpu",
                    "requests": args.requests,
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    **result,
                },
                indent=2,
            )
        )
    finally:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        drop_database(db_name)


if __name__ == "__main__":
    main()

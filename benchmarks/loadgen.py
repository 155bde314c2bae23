"""A lean closed-loop HTTP/1.1 load generator (asyncio + uvloop), the locust model minus its cost.

    python benchmarks/loadgen.py --host http://127.0.0.1:8000 --path /bare --users 1000 \
        --duration 15 [--token T] [--rate-per-user 0]

Same model as the locust users of `api_load.py`: each simulated user keeps one keep-alive
connection, sends a GET, reads the whole response, then pauses 1 s (or, with
`--rate-per-user r`, paces itself to r requests/s like locust's `constant_throughput`).
Users are spawned at users/4 per second, evenly spaced, and statistics start once all are
running (as locust's `--reset-stats`). Why not locust: on a 2-core machine locust's per-request CPU
(gevent, its stats, its HTTP client) takes a large share of the core the server needs;
this costs a fraction of it, so more of the machine measures the server. The bare-endpoint
ceiling is measured with the same generator in the same run, so the comparison holds.

Prints one JSON object: requests, errors, throughput_rps and p50/p95/p99 in ms (exact
percentiles of the measured requests). A request counts as an error on a status >= 400,
a connection failure or no answer within 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlsplit

TIMEOUT_S = 30.0


class Stats:
    def __init__(self) -> None:
        self.measuring = False
        self.latencies: list[float] = []
        self.errors = 0
        self.window_start = 0.0
        self.completed = 0  # every answered request, spawn phase included


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep_alive) after consuming one response (Content-Length bodies only)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value.strip())
        elif lname == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
    if length:
        await reader.readexactly(length)
    return status, keep_alive


async def user(
    host: str, port: int, request: bytes, pause: float, paced: bool, stats: Stats, stop: float
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < stop:
        started = time.perf_counter()
        ok = False
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), TIMEOUT_S
                )
            writer.write(request)
            status, keep_alive = await asyncio.wait_for(_read_response(reader), TIMEOUT_S)
            ok = status < 400
            if not keep_alive:
                writer.close()
                reader = writer = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            if writer is not None:
                writer.close()
            reader = writer = None
        elapsed = time.perf_counter() - started
        stats.completed += ok
        if stats.measuring and time.monotonic() <= stop:
            stats.latencies.append(elapsed)
            if not ok:
                stats.errors += 1
        wait = max(0.0, pause - elapsed) if paced else pause
        await asyncio.sleep(min(wait, max(0.0, stop - time.monotonic())))
    if writer is not None:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.host)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    headers = [f"GET {args.path} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*"]
    if args.token:
        headers.append(f"Authorization: Bearer {args.token}")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode()
    paced = args.rate_per_user > 0
    pause = 1.0 / args.rate_per_user if paced else 1.0
    stats = Stats()
    start = time.monotonic()
    stop = start + args.duration
    spawn_rate = max(10, args.users // 4)
    tasks = []
    # Evenly spaced starts (not a burst per second): users pausing a fixed time keep the
    # phase they start with, so a burst would recur every second for the whole run.
    for i in range(args.users):
        tasks.append(asyncio.create_task(user(host, port, request, pause, paced, stats, stop)))
        if i + 1 < args.users:
            await asyncio.sleep(start + (i + 1) / spawn_rate - time.monotonic())
    stats.measuring = True
    stats.window_start = time.monotonic()
    await asyncio.gather(*tasks)
    window = max(1e-9, stop - stats.window_start)
    lat = sorted(stats.latencies)

    cuts = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99

    def pct(q: int) -> float:
        return round(cuts[q - 1] * 1000, 1) if cuts else 0.0

    return {
        "users": args.users,
        "requests": len(lat),
        "errors": stats.errors,
        "throughput_rps": round(len(lat) / window, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "window_s": round(window, 1),
        "completed_all_phases": stats.completed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--rate-per-user", type=float, default=0.0)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(run(args))))
    else:
        print(json.dumps(uvloop.run(run(args))))


if __name__ == "__main__":
    main()

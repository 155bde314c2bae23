"""A slow rate-limit call does not switch the cache off; misses are computed once."""

from __future__ import annotations

import asyncio

import redis
from pydantic import SecretStr

from cerflow.config import Settings
from cerflow.products.detail_cache import SingleFlight
from cerflow.redis import RedisClients, RedisGate


def _clients() -> RedisClients:
    # Never connects: the gates are plain state.
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0", secret_key=SecretStr("k" * 48), redis_retry_seconds=60
    )
    return RedisClients(settings)


def test_a_rate_limiter_timeout_leaves_the_cache_gate_open() -> None:
    clients = _clients()
    clients.limiter_gate.failed(redis.TimeoutError("slow"), operation="rate_limit")
    assert not clients.limiter_gate.available()
    assert clients.gate.available() and not clients.gate.is_down
    assert clients.unreachable is False  # slow, not gone: per-process copies stay


def test_refused_connections_mark_redis_unreachable_until_a_call_succeeds() -> None:
    gate = RedisGate(60, "cache")
    gate.failed(TimeoutError(), operation="cache_get")
    assert (gate.is_down, gate.is_unreachable) == (True, False)
    gate.failed(redis.ConnectionError("refused"), operation="cache_get")
    assert (gate.is_down, gate.is_unreachable) == (True, True)
    gate.succeeded()
    assert (gate.is_down, gate.is_unreachable, gate.available()) == (False, False, True)
    clients = _clients()
    clients.limiter_gate.failed(ConnectionRefusedError(), operation="rate_limit")
    assert clients.unreachable is True


def test_concurrent_misses_share_one_computation() -> None:
    calls: list[int] = []

    async def compute() -> bytes | None:
        calls.append(1)
        await asyncio.sleep(0.01)
        return b"{}"

    async def scenario() -> tuple[list[bytes | None], bytes | None]:
        flight = SingleFlight()
        key = ("1", "device", "DQA")
        together = await asyncio.gather(*(flight.run(key, compute) for _ in range(50)))
        later = await flight.run(key, compute)  # finished: the next miss computes again
        return list(together), later

    together, later = asyncio.run(scenario())
    assert together == [b"{}"] * 50 and later == b"{}"
    assert len(calls) == 2


def test_a_caller_that_leaves_does_not_cancel_the_others() -> None:
    async def compute() -> bytes | None:
        await asyncio.sleep(0.02)
        return b"done"

    async def scenario() -> bytes | None:
        flight = SingleFlight()
        key = ("1", "device", "DQA")
        first = asyncio.ensure_future(flight.run(key, compute))
        second = asyncio.ensure_future(flight.run(key, compute))
        await asyncio.sleep(0)
        first.cancel()
        return await second

    assert asyncio.run(scenario()) == b"done"

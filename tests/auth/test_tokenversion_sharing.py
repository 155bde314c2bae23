"""Concurrent requests of one user share one token-version look-up (`auth.tokenversion`).

Unit level, no database: `_lookup` is replaced by a counting stand-in, so what is checked
is how many look-ups run and what each request is told, not timing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cerflow.auth import tokenversion
from cerflow.auth.models import Role
from cerflow.auth.service import AuthError, Principal

USER = 41


@pytest.fixture(autouse=True)
def _empty_memo() -> None:
    tokenversion.invalidate()


@pytest.fixture
def versions(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The stored version (settable) and the look-ups made; each look-up takes 50 ms."""
    state: dict[str, Any] = {"version": 3, "calls": 0}

    def lookup(_factory: Any, user_id: int) -> int | None:
        assert user_id == USER
        state["calls"] += 1
        seen = int(state["version"])  # what the query reads, then the round trip
        time.sleep(0.05)
        return seen

    monkeypatch.setattr(tokenversion, "_lookup", lookup)
    return state


def _principal(version: int) -> Principal:
    return Principal(kind="user", user_id=USER, role=Role.VIEWER, token_version=version)


async def _many(n: int, version: int) -> list[BaseException | None]:
    results = await asyncio.gather(
        *(tokenversion.ensure_current(None, _principal(version)) for _ in range(n)),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    return list(results)


def test_two_hundred_concurrent_misses_make_one_lookup(versions: dict[str, Any]) -> None:
    assert asyncio.run(_many(200, 3)) == [None] * 200
    assert versions["calls"] == 1


def test_a_stale_token_is_refused_by_every_request_sharing_the_lookup(
    versions: dict[str, Any],
) -> None:
    results = asyncio.run(_many(20, 2))  # the user's version moved on to 3
    assert all(isinstance(r, AuthError) for r in results)
    assert versions["calls"] == 1


def test_a_change_during_a_lookup_is_not_hidden_by_it(versions: dict[str, Any]) -> None:
    async def scenario() -> tuple[BaseException | None, BaseException | None]:
        first = asyncio.ensure_future(tokenversion.ensure_current(None, _principal(3)))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)  # its look-up is running
        versions["version"] = 4
        tokenversion.invalidate()  # as the ORM event does after a role change
        second = await asyncio.gather(
            tokenversion.ensure_current(None, _principal(3)),  # type: ignore[arg-type]
            return_exceptions=True,
        )
        return (await asyncio.gather(first, return_exceptions=True))[0], second[0]

    first, second = asyncio.run(scenario())
    assert first is None  # began before the change
    assert isinstance(second, AuthError)  # after it: its own look-up, the new version
    assert versions["calls"] == 2


def test_an_expired_answer_is_never_used(
    versions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> BaseException | None:
        await tokenversion.ensure_current(None, _principal(3))  # type: ignore[arg-type]
        versions["version"] = 5  # changed by another process: no ORM event here
        now = tokenversion._clock()
        monkeypatch.setattr(tokenversion, "_clock", lambda: now + tokenversion.TTL_SECONDS + 0.01)
        return (await _many(1, 3))[0]

    assert isinstance(asyncio.run(scenario()), AuthError)

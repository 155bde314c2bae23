"""EUDAMED clients against the local replay of both APIs (real records, real protocol)."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr
from structlog.testing import capture_logs

from cerflow.sources.base import SourceFormatError
from cerflow.sources.eudamed import (
    DATALAKE_KEY_HEADER,
    EudamedDataLakeClient,
    EudamedError,
    EudamedPublicClient,
    _parse_retry_after,
    _RateLimiter,
)
from tests.replay.eudamed_server import SECOND_SRN, EudamedReplay

SRN = "AT-MF-000000252"
ZIRKON_DI = "E4947660611"
ZIRKON_UUID = "c7418f9f-3f31-4329-b2c1-956377dbe23b"
ACTOR_UUID = "6bb2017f-b4df-452f-9799-798f063f535d"


@pytest.fixture
def real_dir(shared_data: Path) -> Path:
    return shared_data / "eudamed"


@pytest.fixture
def replay(real_dir: Path) -> Iterator[EudamedReplay]:
    with EudamedReplay(real_dir, datalake_page_size=10) as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(replay: EudamedReplay, sleeps: list[float]) -> Iterator[EudamedPublicClient]:
    with EudamedPublicClient(
        replay.url,
        timeout=10,
        requests_per_second=1e9,
        max_retries=3,
        backoff_base=0.5,
        sleep=sleeps.append,
    ) as c:
        yield c


def _real(real_dir: Path, name: str) -> Any:
    return json.loads((real_dir / name).read_text(encoding="utf-8"))


def _waits(sleeps: list[float]) -> list[float]:
    """Retry waits only (the rate limiter's nanosecond pauses are left out)."""
    return [s for s in sleeps if s > 0.01]


# -- public API: paging -------------------------------------------------------------------


def test_search_by_srn_follows_spring_pages(
    client: EudamedPublicClient, replay: EudamedReplay
) -> None:
    records = list(client.search_devices(srn=SRN, page_size=25))

    # 25 real + 1 real (by primaryDi) + 40 variants - 5 moved to a second SRN = 61
    assert len(records) == 61
    assert {r.payload["manufacturerSrn"] for r in records} == {SRN}
    assert len({r.payload["uuid"] for r in records}) == 61
    sent = replay.requests_to("/tools/eudamed/api/devices/udiDiData")
    assert [(r.query["page"], r.query["pageSize"], r.query["srn"]) for r in sent] == [
        ("0", "25", SRN),
        ("1", "25", SRN),
        ("2", "25", SRN),
    ]
    stats = client.last_stats
    assert (stats.pages, stats.received, stats.matched, stats.dropped_mismatch) == (3, 61, 61, 0)
    assert stats.total_elements == 61


def test_page_size_is_capped_at_300(client: EudamedPublicClient, replay: EudamedReplay) -> None:
    records = list(client.search_devices(srn=SRN, page_size=1000))
    assert len(records) == 61
    sent = replay.requests_to("/tools/eudamed/api/devices/udiDiData")
    assert [r.query["pageSize"] for r in sent] == ["300"]


def test_provenance_per_page_is_the_sha256_of_the_bytes_received(
    client: EudamedPublicClient, replay: EudamedReplay
) -> None:
    records = list(client.search_devices(srn=SRN, page_size=25))
    by_page: dict[str, str] = {r.provenance.location: r.provenance.sha256 for r in records}
    assert len(by_page) == 3
    for location, digest in by_page.items():
        body = httpx.get(location).content  # the replay is deterministic: same bytes again
        assert hashlib.sha256(body).hexdigest() == digest
        assert "page=" in location and "srn=AT-MF-000000252" in location
    first = records[0].provenance
    assert first.source == "eudamed:/devices/udiDiData"
    assert first.query is not None and "pageSize=25" in first.query
    assert first.retrieved_at.tzinfo is not None


def test_search_by_primary_di_returns_the_real_record(
    client: EudamedPublicClient, real_dir: Path
) -> None:
    records = list(client.search_devices(udi_di=ZIRKON_DI))
    expected = _real(real_dir, "Delapro_README_07_devices_udiDiData_search_by_primaryDi.json")
    assert [r.payload for r in records] == expected["content"]
    assert records[0].kind == "device"


def test_trade_name_is_a_substring_search(client: EudamedPublicClient) -> None:
    names = sorted(r.payload["tradeName"] for r in client.search_devices(trade_name="bissgabel"))
    # real: "Bissgabel partiell (2 Stück)", "Bissgabel total (2 Stück)"; variants 0, 26 of the
    # first and 2, 28 of the second
    assert names == [
        "Bissgabel partiell (2 Stück)",
        "Bissgabel partiell (2 Stück) (Variante 0)",
        "Bissgabel partiell (2 Stück) (Variante 26)",
        "Bissgabel total (2 Stück)",
        "Bissgabel total (2 Stück) (Variante 2)",
        "Bissgabel total (2 Stück) (Variante 28)",
    ]


def test_search_without_any_filter_is_refused(client: EudamedPublicClient) -> None:
    with pytest.raises(ValueError, match="at least one of"):
        list(client.search_devices())


# -- public API: the silently ignored filter ----------------------------------------------


def test_ignored_filter_records_are_dropped_and_counted(
    client: EudamedPublicClient, replay: EudamedReplay
) -> None:
    replay.ignored_filters = {"primaryDi"}
    records = list(client.search_devices(udi_di=ZIRKON_DI))
    assert [r.payload["uuid"] for r in records] == [ZIRKON_UUID]
    stats = client.last_stats
    assert (stats.received, stats.matched, stats.dropped_mismatch) == (66, 1, 65)


def test_ignored_filter_with_no_match_fails_clearly(
    client: EudamedPublicClient, replay: EudamedReplay
) -> None:
    replay.ignored_filters = {"srn"}
    with pytest.raises(EudamedError, match=r"none of the 66 records returned matches") as err:
        list(client.search_devices(srn="DE-MF-000099999"))
    assert "srn=DE-MF-000099999" in str(err.value)


def test_srn_filter_keeps_manufacturers_apart(client: EudamedPublicClient) -> None:
    records = list(client.search_devices(srn=SECOND_SRN))
    assert len(records) == 5
    assert {r.payload["manufacturerName"] for r in records} == {"Amann Girrbach Variant GmbH"}


def test_empty_result_is_not_an_error(client: EudamedPublicClient) -> None:
    assert list(client.search_devices(udi_di="E4940000000")) == []
    assert client.last_stats.received == 0


# -- public API: retries ------------------------------------------------------------------


def test_429_honours_retry_after(
    client: EudamedPublicClient, replay: EudamedReplay, sleeps: list[float]
) -> None:
    replay.fail_next("/devices/udiDiData", 429, headers={"Retry-After": "7"})
    records = list(client.search_devices(udi_di=ZIRKON_DI))
    assert len(records) == 1
    assert _waits(sleeps) == [7.0]
    assert len(replay.requests_to("/tools/eudamed/api/devices/udiDiData")) == 2


def test_500_then_success_backs_off_exponentially(
    client: EudamedPublicClient, replay: EudamedReplay, sleeps: list[float]
) -> None:
    replay.fail_next("/devices/udiDiData", 500, times=2)
    records = list(client.search_devices(udi_di=ZIRKON_DI))
    assert len(records) == 1
    assert _waits(sleeps) == [0.5, 1.0]
    assert len(replay.requests_to("/tools/eudamed/api/devices/udiDiData")) == 3


def test_dropped_connection_is_retried(
    client: EudamedPublicClient, replay: EudamedReplay, sleeps: list[float]
) -> None:
    replay.fail_next("/devices/udiDiData", 0)
    assert len(list(client.search_devices(udi_di=ZIRKON_DI))) == 1
    assert _waits(sleeps) == [0.5]


def test_persistent_503_gives_up_with_a_clear_error(
    client: EudamedPublicClient, replay: EudamedReplay
) -> None:
    replay.fail_next("/devices/udiDiData", 503, times=10)
    with pytest.raises(EudamedError, match=r"failed after 4 attempts: HTTP 503"):
        list(client.search_devices(udi_di=ZIRKON_DI))
    assert len(replay.requests_to("/tools/eudamed/api/devices/udiDiData")) == 4


def test_404_is_not_retried(client: EudamedPublicClient, replay: EudamedReplay) -> None:
    with pytest.raises(EudamedError, match="HTTP 404"):
        client.device_detail("00000000-0000-0000-0000-000000000000")
    assert len(replay.requests_to("/tools/eudamed/api/devices/udiDiData/")) == 1


# -- public API: detail and actors --------------------------------------------------------


def test_device_detail_is_the_real_record(client: EudamedPublicClient, real_dir: Path) -> None:
    record = client.device_detail(ZIRKON_UUID)
    assert record.kind == "device_detail"
    assert record.payload == _real(real_dir, "Delapro_README_06_devices_udiDiData_detail.json")
    assert record.provenance.source == "eudamed:/devices/udiDiData/{uuid}"


def test_device_detail_refuses_path_tricks(client: EudamedPublicClient) -> None:
    with pytest.raises(ValueError, match="not a EUDAMED uuid"):
        client.device_detail("../eos")


def test_search_actors_pages_and_verifies(
    client: EudamedPublicClient, replay: EudamedReplay
) -> None:
    actors = list(client.search_actors(country_iso2_code="de", page_size=10))
    assert len(actors) == 25
    assert actors[0].payload["srn"] == "DE-AR-000000001"
    assert [r.query["page"] for r in replay.requests_to("/tools/eudamed/api/eos")] == [
        "0",
        "1",
        "2",
    ]
    names = [a.payload["name"] for a in client.search_actors(name="europecert")]
    assert names == ["Europecert", "Europecert UG (haftungsbeschränkt)"]


def test_actor_public_information(client: EudamedPublicClient, real_dir: Path) -> None:
    record = client.actor_public_information(ACTOR_UUID)
    expected = _real(real_dir, "Delapro_README_04_actors_publicInformation.json")
    assert record.payload == expected
    assert record.payload["actorDataPublicView"]["eudamedIdentifier"] == SRN


def test_page_without_content_is_a_format_error() -> None:
    transport = httpx.MockTransport(lambda req: httpx.Response(200, json={"items": []}))
    with (
        EudamedPublicClient(
            "https://eudamed.test/api", transport=transport, requests_per_second=1e9
        ) as c,
        pytest.raises(SourceFormatError, match="'content'"),
    ):
        list(c.search_devices(srn=SRN))


def test_server_ignoring_the_page_parameter_is_detected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        item = {"uuid": "u", "primaryDi": "X", "manufacturerSrn": SRN}
        return httpx.Response(200, json={"content": [item], "number": 0, "last": False})

    transport = httpx.MockTransport(handler)
    with (
        EudamedPublicClient(
            "https://eudamed.test/api", transport=transport, requests_per_second=1e9
        ) as c,
        pytest.raises(EudamedError, match="asked for page 1, got page 0"),
    ):
        list(c.search_devices(srn=SRN))


# -- data lake ----------------------------------------------------------------------------


def test_datalake_follows_next_link_cursors(replay: EudamedReplay) -> None:
    with EudamedDataLakeClient(replay.datalake_url, requests_per_second=1e9) as c:
        records = list(c.iter_udi(srn=SRN))
        stats = c.last_stats
    assert len(records) == 61
    assert {r.payload["MF_SRN"] for r in records} == {SRN}
    sent = replay.requests_to("/eudamed/udi")
    assert len(sent) == 7  # 61 records, 10 a page
    assert sent[0].query == {"format": "json", "api-version": "v1.0", "MF_SRN": SRN}
    assert all("$after" in r.query and r.query["MF_SRN"] == SRN for r in sent[1:])
    assert len({r.query["$after"] for r in sent[1:]}) == 6
    assert stats.pages == 7
    assert records[0].provenance.source == "eudamed_datalake:/udi"


def test_datalake_sends_the_key_in_a_header_and_never_shows_it(
    real_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "k-3f9a1c7e-secret"
    # The app's logging setup caches bound loggers on first use; once another test has used
    # the module's logger, capture_logs() cannot see it. A fresh proxy can be captured.
    import cerflow.sources.eudamed as eudamed_module

    monkeypatch.setattr(eudamed_module, "log", structlog.get_logger("cerflow.sources.eudamed"))
    with EudamedReplay(real_dir, api_key=key) as server:
        server.fail_next("/udi", 500)
        with (
            capture_logs() as logs,
            EudamedDataLakeClient(
                server.datalake_url,
                api_key=SecretStr(key),
                requests_per_second=1e9,
                sleep=lambda s: None,
            ) as c,
        ):
            records = list(c.iter_udi(udi_di=ZIRKON_DI))
        assert [r.payload["UUID"] for r in records] == [ZIRKON_UUID]
        assert all(r.headers.get(DATALAKE_KEY_HEADER) == key for r in server.requests)
        assert all(key not in r.raw_query for r in server.requests)
        assert logs and key not in repr(logs)

        with (
            EudamedDataLakeClient(
                server.datalake_url, api_key=SecretStr("wrong-key-77"), requests_per_second=1e9
            ) as c,
            pytest.raises(EudamedError, match="HTTP 401") as err,
        ):
            list(c.iter_udi(udi_di=ZIRKON_DI))
        assert "wrong-key-77" not in str(err.value)


def test_datalake_unknown_parameter_is_reported(replay: EudamedReplay) -> None:
    with (
        EudamedDataLakeClient(replay.datalake_url, requests_per_second=1e9) as c,
        pytest.raises(EudamedError, match="Invalid Query Parameter: MF_NAME"),
    ):
        list(c.iter_actors(MF_NAME="Amann"))


def test_datalake_actors(replay: EudamedReplay) -> None:
    with EudamedDataLakeClient(replay.datalake_url, requests_per_second=1e9) as c:
        actors = list(c.iter_actors())
    assert len(actors) == 25
    assert actors[0].payload["ACTOR_ID"] == "DE-AR-000000001"
    assert len(replay.requests_to("/eudamed/actors")) == 3


def test_datalake_refuses_a_cursor_to_another_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "value": [{"UUID": "u", "PRIMARY_DI": "X", "MF_SRN": SRN}],
                "nextLink": "https://evil.example/eudamed/udi?$after=abc",
            },
        )

    with (
        EudamedDataLakeClient(
            "https://datalake.test/eudamed",
            api_key=SecretStr("sekrit"),
            transport=httpx.MockTransport(handler),
        ) as c,
        pytest.raises(EudamedError, match="another host") as err,
    ):
        list(c.iter_udi(srn=SRN))
    assert "sekrit" not in str(err.value)


def test_datalake_cursor_loop_is_detected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "value": [{"UUID": "u", "PRIMARY_DI": "X", "MF_SRN": SRN}],
                "nextLink": "https://datalake.test/eudamed/udi?$after=same",
            },
        )

    with (
        EudamedDataLakeClient(
            "https://datalake.test/eudamed",
            transport=httpx.MockTransport(handler),
            requests_per_second=1e9,
        ) as c,
        pytest.raises(EudamedError, match="cursor loops"),
    ):
        list(c.iter_udi(srn=SRN))


# -- helpers ------------------------------------------------------------------------------


def test_rate_limiter_spaces_requests() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = _RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    limiter.wait()
    limiter.wait()
    now[0] += 0.2
    limiter.wait()
    now[0] += 5.0
    limiter.wait()
    assert slept == pytest.approx([0.5, 0.3])


def test_retry_after_forms() -> None:
    assert _parse_retry_after("12") == 12.0
    assert _parse_retry_after(None) is None
    assert _parse_retry_after("soon") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    parsed = _parse_retry_after(email.utils.format_datetime(later, usegmt=True))
    assert parsed is not None and 25 <= parsed <= 30

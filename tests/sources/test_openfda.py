"""openFDA client against the local replay server: paging, splitting, retries, limits."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cerflow.sources import openfda as ofda
from cerflow.sources.openfda import OpenFDAClient, OpenFDAError, TokenBucket
from tests.replay.openfda_server import (
    OpenFDAReplayServer,
    build_dataset,
    field_values,
    load_examples,
    make_drug_events,
    matches,
    parse_search,
)

KEY = "test-key-0123456789"


class FakeClock:
    """Time that only moves when the client sleeps: waits are asserted, never taken."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dataset(shared_data: Path) -> dict[str, list[dict[str, Any]]]:
    return build_dataset(shared_data, drug_events=120, device_events=30)


@pytest.fixture
def server(dataset: dict[str, list[dict[str, Any]]]) -> Iterator[OpenFDAReplayServer]:
    with OpenFDAReplayServer(dataset, api_key=KEY) as srv:
        yield srv


def make_client(srv: OpenFDAReplayServer, clock: FakeClock, **kw: Any) -> OpenFDAClient:
    kw.setdefault("requests_per_minute", 6000)
    return OpenFDAClient(srv.base_url, KEY, clock=clock, sleep=clock.sleep, **kw)


def ascorbic_ids(docs: list[dict[str, Any]], since: dt.date, until: dt.date) -> set[str]:
    """Independent oracle: which reports name ascorbic acid and fall in the window."""
    lo, hi = since.strftime("%Y%m%d"), until.strftime("%Y%m%d")
    out = set()
    for d in docs:
        names = [
            n.upper()
            for drug in d["patient"]["drug"]
            for n in [
                drug.get("medicinalproduct", ""),
                *drug.get("openfda", {}).get("generic_name", []),
            ]
        ]
        if "ASCORBIC ACID" in names and lo <= d["receivedate"] <= hi:
            out.add(d["safetyreportid"])
    return out


# ---------------------------------------------------------------- search builders


def test_drug_search_covers_harmonized_and_verbatim_names() -> None:
    assert ofda.drug_search('aspi"rin ') == (
        '(patient.drug.openfda.generic_name:"ASPI RIN" OR '
        'patient.drug.openfda.brand_name:"ASPI RIN" OR '
        'patient.drug.openfda.substance_name:"ASPI RIN" OR '
        'patient.drug.medicinalproduct:"ASPI RIN")'
    )
    with pytest.raises(ValueError, match="empty"):
        ofda.drug_search('  "" ')


def test_device_search_single_and_several_codes() -> None:
    assert ofda.device_search(["dqa"]) == "device.device_report_product_code:DQA"
    assert ofda.device_search(["DQA", "lzg", "DQA"]) == (
        "device.device_report_product_code:(DQA OR LZG)"
    )
    assert ofda.device_search(["FOZ"], field="product_code") == "product_code:FOZ"
    with pytest.raises(ValueError, match="product code 'DQ A'"):
        ofda.device_search(["DQ A"])
    with pytest.raises(ValueError, match="at least one"):
        ofda.device_search([])


def test_date_range_and_url_encoding_match_openfda_examples() -> None:
    rng = ofda.date_range("receivedate", dt.date(2004, 1, 1), dt.date(2008, 12, 31))
    assert rng == "receivedate:[20040101 TO 20081231]"
    with pytest.raises(ValueError, match="starts after"):
        ofda.date_range("receivedate", dt.date(2009, 1, 1), dt.date(2008, 1, 1))
    query = ofda.encode_query(
        {"search": ofda.and_search(ofda.device_search(["A1B", "C2D"]), rng), "limit": 5}
    )
    assert query == (
        "search=device.device_report_product_code:(A1B+OR+C2D)+AND+"
        "receivedate:[20040101+TO+20081231]&limit=5"
    )
    assert ofda.normalize_endpoint("drug/event") == "/drug/event.json"


def test_replay_search_parser_understands_client_syntax(dataset: dict[str, Any]) -> None:
    node = parse_search(
        ofda.and_search(
            ofda.device_search(["NIQ", "XXX"]),
            ofda.date_range("date_received", dt.date(2020, 1, 1), dt.date(2020, 3, 31)),
        )
    )
    docs = dataset["/device/event.json"]
    got = {d["mdr_report_key"] for d in docs if matches(node, d)}
    want = {
        d["mdr_report_key"]
        for d in docs
        if d["device"][0]["device_report_product_code"] == "NIQ"
        and "20200101" <= d["date_received"] <= "20200331"
    }
    assert got == want and got


# ---------------------------------------------------------------- paging


def test_pages_until_total_and_yields_every_record_once(
    server: OpenFDAReplayServer, dataset: dict[str, Any], clock: FakeClock
) -> None:
    since, until = dt.date(2020, 1, 1), dt.date(2020, 12, 31)
    with make_client(server, clock, page_size=7) as client:
        records = list(client.iter_drug_events("ascorbic acid", since, until))
    ids = [r.payload["safetyreportid"] for r in records]
    want = ascorbic_ids(dataset["/drug/event.json"], since, until)
    assert len(ids) == len(set(ids)) == len(want) == 60
    assert set(ids) == want
    reqs = server.requests_to("/drug/event.json")
    assert [int(r.params.get("skip", 0)) for r in reqs] == list(range(0, 60, 7))
    assert all(r.params["limit"] == "7" for r in reqs)
    assert all(r.params["api_key"] == KEY for r in reqs)
    assert all(r.params["sort"] == "receivedate:asc" for r in reqs)
    # provenance: one per page, key redacted, checksum of the body
    first = records[0].provenance
    assert first.source == "openfda:/drug/event.json"
    assert "api_key=REDACTED" in first.location and KEY not in first.location
    assert len(first.sha256) == 64
    assert len({r.provenance.sha256 for r in records}) == len(reqs)


def test_splits_date_windows_beyond_skip_limit(dataset: dict[str, Any], clock: FakeClock) -> None:
    # Shrink openFDA's limits (limit<=10, skip<=20: 30 reachable) to exercise the split
    # with 120 records; the algorithm is the same at 1,000 / 25,000.
    with (
        OpenFDAReplayServer(dataset, max_limit=10, max_skip=20) as srv,
        OpenFDAClient(
            srv.base_url, None, page_size=10, max_skip=20, clock=clock, sleep=clock.sleep
        ) as client,
    ):
        since, until = dt.date(2020, 1, 1), dt.date(2020, 12, 31)
        records = list(client.iter_records("/drug/event.json", None, "receivedate", since, until))
        ids = [r.payload["safetyreportid"] for r in records]
        assert len(ids) == len(set(ids)) == 120
        assert client.stats.windows_split >= 3
        reqs = srv.requests
        assert all(int(r.params.get("skip", 0)) <= 20 for r in reqs)
        assert all(int(r.params["limit"]) <= 10 for r in reqs)
        assert not any("api_key" in r.params for r in reqs)
        windows = {r.params["search"] for r in reqs}
        assert "receivedate:[20200101 TO 20201231]" in windows
        assert "receivedate:[20200101 TO 20200701]" in windows  # first half
        # records come out in date order because windows are walked left to right
        dates = [r.payload["receivedate"] for r in records]
        assert dates == sorted(dates)


def test_single_day_beyond_reach_raises_instead_of_truncating(
    shared_data: Path, clock: FakeClock
) -> None:
    ex = load_examples(shared_data)
    docs = make_drug_events(ex, 40, start=dt.date(2021, 5, 5), spread_days=0)
    with (
        OpenFDAReplayServer({"/drug/event.json": docs}, max_limit=10, max_skip=20) as srv,
        OpenFDAClient(
            srv.base_url, None, page_size=10, max_skip=20, clock=clock, sleep=clock.sleep
        ) as client,
        pytest.raises(OpenFDAError, match=r"40 records on the single day 2021-05-05"),
    ):
        list(client.iter_records("/drug/event.json", None, "receivedate", None, None))


@pytest.mark.slow
def test_real_openfda_limits_with_26001_records(shared_data: Path, clock: FakeClock) -> None:
    """One record past reach at openFDA's real limits (limit 1000, skip 25000) splits once."""
    ex = load_examples(shared_data)
    base = {"safetyreportid": "", "receivedate": "", "patient": ex.drug_event["patient"]}
    docs = []
    for i in range(26_001):
        doc = dict(base)
        doc["safetyreportid"] = str(30_000_000 + i)
        doc["receivedate"] = (dt.date(2019, 1, 1) + dt.timedelta(days=i % 730)).strftime("%Y%m%d")
        docs.append(doc)
    with (
        OpenFDAReplayServer({"/drug/event.json": docs}) as srv,
        OpenFDAClient(srv.base_url, None, clock=clock, sleep=clock.sleep) as client,
    ):
        got = list(
            client.iter_records(
                "/drug/event.json", None, "receivedate", dt.date(2019, 1, 1), dt.date(2020, 12, 30)
            )
        )
        assert len({r.payload["safetyreportid"] for r in got}) == len(got) == 26_001
        assert client.stats.windows_split == 1
        assert max(int(r.params.get("skip", 0)) for r in srv.requests) <= 25_000
        assert {r.params["limit"] for r in srv.requests} == {"1000"}


def test_search_without_results_is_empty_not_an_error(
    server: OpenFDAReplayServer, clock: FakeClock
) -> None:
    with make_client(server, clock) as client:
        assert list(client.iter_drug_events("no such drug zzz")) == []
        assert client.total("/drug/event.json", ofda.drug_search("no such drug zzz")) == 0
        assert client.count("/drug/event.json", 'safetyreportid:"nothing"', "serious") == []
    assert len(server.requests) == 3


def test_search_beyond_reach_without_date_field_raises(
    dataset: dict[str, Any], clock: FakeClock
) -> None:
    with (
        OpenFDAReplayServer(dataset, max_limit=10, max_skip=20) as srv,
        OpenFDAClient(
            srv.base_url, None, page_size=10, max_skip=20, clock=clock, sleep=clock.sleep
        ) as client,
        pytest.raises(OpenFDAError, match="120 records match but only 30 can be paged"),
    ):
        list(client.iter_records("/drug/event.json", None))


# ---------------------------------------------------------------- counts


def test_count_returns_terms_and_flags_the_1000_term_cap(
    shared_data: Path, clock: FakeClock
) -> None:
    ex = load_examples(shared_data)
    docs = make_drug_events(ex, 1001)
    with OpenFDAReplayServer({"/drug/event.json": docs}) as srv, make_client(srv, clock) as c:
        small = c.count("/drug/event.json", None, "serious")
        assert small == [("1", 1001)]
        assert small.capped is False
        big = c.count("/drug/event.json", None, "safetyreportid.exact")
        assert len(big) == 1000 and big.capped is True
        assert srv.requests[-1].params["count"] == "safetyreportid.exact"
        assert srv.requests[-1].params["limit"] == "1000"


# ---------------------------------------------------------------- retries and errors


def test_429_honours_retry_after(server: OpenFDAReplayServer, clock: FakeClock) -> None:
    server.fail_next(429, times=1, headers={"Retry-After": "7"})
    with make_client(server, clock, requests_per_minute=6000) as client:
        assert client.total("/device/event.json", ofda.device_search(["NIQ"])) == 15
        assert client.stats.retries == 1
    assert len(server.requests) == 2
    assert 7.0 in clock.sleeps
    assert server.requests[0].params == server.requests[1].params


def test_500_then_success_backs_off_with_jitter(
    server: OpenFDAReplayServer, clock: FakeClock
) -> None:
    server.fail_next(500, times=2)
    with make_client(server, clock, backoff_initial=1.0, backoff_max=60.0) as client:
        assert client.total("/device/event.json", None) == 30
    assert len(server.requests) == 3
    backoffs = [s for s in clock.sleeps if s >= 0.5]
    assert len(backoffs) == 2
    # tenacity's exponential jitter: initial * 2**n + uniform(0, 1)
    assert 1.0 <= backoffs[0] <= 2.0 and 2.0 <= backoffs[1] <= 3.0


def test_5xx_forever_gives_up_with_redacted_url(
    server: OpenFDAReplayServer, clock: FakeClock
) -> None:
    server.fail_next(503, times=100)
    with make_client(server, clock, max_retries=3) as client, pytest.raises(OpenFDAError) as err:
        client.total("/drug/event.json", None)
    assert len(server.requests) == 4
    assert err.value.status == 503
    assert "gave up after 4 attempts" in str(err.value)
    assert "api_key=REDACTED" in str(err.value) and KEY not in str(err.value)


def test_error_body_raises_without_retry(server: OpenFDAReplayServer, clock: FakeClock) -> None:
    with make_client(server, clock) as client, pytest.raises(OpenFDAError) as err:
        client.page("/drug/event.json", None, limit=5000)
    assert len(server.requests) == 1
    assert err.value.status == 400 and err.value.code == "BAD_REQUEST"
    assert "Limit cannot exceed 1000" in err.value.message
    assert KEY not in str(err.value)


def test_invalid_api_key_is_a_clear_error(server: OpenFDAReplayServer, clock: FakeClock) -> None:
    client = OpenFDAClient(server.base_url, "wrong-key", clock=clock, sleep=clock.sleep)
    with client, pytest.raises(OpenFDAError, match="API_KEY_INVALID") as err:
        client.total("/drug/event.json", None)
    assert "wrong-key" not in str(err.value)


def test_network_errors_are_retried_then_reported(clock: FakeClock) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenFDAClient(
        f"http://127.0.0.1:{port}", KEY, max_retries=2, clock=clock, sleep=clock.sleep, timeout=2
    )
    with client, pytest.raises(OpenFDAError, match="ConnectError") as err:
        client.total("/drug/event.json", None)
    assert client.stats.requests == 3 and client.stats.retries == 2
    assert KEY not in str(err.value)


# ---------------------------------------------------------------- rate limiting


def test_token_bucket_spaces_requests_to_the_rate(
    server: OpenFDAReplayServer, clock: FakeClock
) -> None:
    with make_client(server, clock, requests_per_minute=60) as client:
        for _ in range(5):
            client.total("/drug/event.json", None)
    assert client.limiter.waited == pytest.approx([1.0] * 4)
    gaps = [b.time - a.time for a, b in zip(server.requests, server.requests[1:], strict=False)]
    assert len(gaps) == 4  # the replay server saw every request
    assert clock.now == pytest.approx(1004.0)


def test_default_rate_is_openfdas_240_per_minute(clock: FakeClock) -> None:
    bucket = TokenBucket(240, clock=clock, sleep=clock.sleep)
    for _ in range(241):
        bucket.acquire()
    # 240 waits of 0.25 s: 241 requests take 60 s, never more than 240 in a minute
    assert clock.now - 1000.0 == pytest.approx(60.0)


def test_daily_quota_without_key(clock: FakeClock) -> None:
    bucket = TokenBucket(6000, daily_limit=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    with pytest.raises(OpenFDAError, match="daily request limit of 3"):
        bucket.acquire()
    clock.now += 86_400
    bucket.acquire()  # a new day


def test_client_picks_daily_limit_from_key(clock: FakeClock) -> None:
    with OpenFDAClient("http://127.0.0.1:9", None, clock=clock) as anon:
        assert anon.limiter.daily_limit == 1000
    with OpenFDAClient("http://127.0.0.1:9", KEY, clock=clock) as keyed:
        assert keyed.limiter.daily_limit == 120_000


def test_retry_after_http_date() -> None:
    assert ofda._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert ofda._retry_after("12") == 12.0
    assert ofda._retry_after("soon") is None


def test_replay_field_values_flatten_lists(dataset: dict[str, Any]) -> None:
    doc = dataset["/drug/event.json"][0]
    assert field_values(doc, "patient.drug.openfda.generic_name") == ["ASCORBIC ACID"]

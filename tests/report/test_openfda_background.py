"""Issue 11, 1(b): a drug's 2x2 tables against openFDA's whole-database counts.

The replay openFDA holds a hand-made FAERS: in 2020, 5 reports of atorvastatin and 60 of
other drugs (N = 65), plus 10 reports of 2019 that the window must leave out. The store
is filled from it with atorvastatin alone, so the store's own background is the product
itself; against openFDA's counts the 2x2 tables are the hand-built ones below, and PRR,
ROR and IC equal their textbook formulas written out here (the oracle).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from scipy import stats
from sqlalchemy import Engine

from cerflow.cache import MemoryCache, RedisCache
from cerflow.config import Settings
from cerflow.ingest.openfda import datasets, ingest_openfda
from cerflow.ingest.openfda_background import (
    background_cache,
    counts_provider,
    fetch_background,
)
from cerflow.narrative.facts import Facts, untraceable_numbers
from cerflow.narrative.render import write_narrative
from cerflow.redis import make_redis
from cerflow.report.background import check_background
from cerflow.report.facts_builder import build_facts
from cerflow.sources.openfda import OpenFDAClient
from cerflow.sources.openfda_background import fetch_drug_background
from tests.conftest import REDIS_TEST_URL
from tests.replay.openfda_server import OpenFDAReplayServer
from tests.report import store_factory as sf

SINCE, UNTIL = dt.date(2020, 1, 1), dt.date(2020, 12, 31)
KEY = "bg-secret-key-7"


def _doc(example: dict[str, Any], i: int, drug: str, terms: list[str], day: str) -> dict[str, Any]:
    doc = copy.deepcopy(example)
    doc["safetyreportid"] = str(30_000_000 + i)
    doc["receivedate"] = day
    drug_row = copy.deepcopy(doc["patient"]["drug"][0])
    drug_row["medicinalproduct"] = drug
    drug_row["drugcharacterization"] = "1"
    drug_row["openfda"] = {"generic_name": [drug], "substance_name": [drug]}
    doc["patient"]["drug"] = [drug_row]
    doc["patient"]["reaction"] = [{"reactionmeddrapt": t} for t in terms]
    return doc


def hand_made_faers(shared_data: Path) -> list[dict[str, Any]]:
    raw = json.loads((shared_data / "openfda_api_examples/drug/event/_examples.json").read_text())
    header = dict(raw["header"])
    header.pop("safetyreport")
    example = {**header, "patient": raw["patient"]}
    rows: list[tuple[str, list[str], str]] = []
    # 2020: the product P (5 reports): Myalgia on 4, Nausea on 3 (two reports have both).
    # Older FAERS spells terms in capitals (openFDA's own count example: "NAUSEA"), and
    # openFDA counts each spelling apart: one report of each group says "MYALGIA".
    for terms in (
        ["Myalgia"],
        ["MYALGIA"],
        ["Myalgia", "Nausea"],
        ["Nausea"],
        ["Myalgia", "Nausea"],
    ):
        rows.append(("ATORVASTATIN", terms, "20200315"))
    # 2020: 60 reports of other drugs: Myalgia 3, Nausea 20, Headache 37
    rows += [("METFORMIN", ["Myalgia"], "20200601")] * 2
    rows += [("METFORMIN", ["MYALGIA"], "20200601")]
    rows += [("METFORMIN", ["Nausea"], "20200602")] * 20
    rows += [("LISINOPRIL", ["Headache"], "20201130")] * 37
    # 2019: outside the window, must not be counted anywhere
    rows += [("ATORVASTATIN", ["Myalgia"], "20190105")] * 2
    rows += [("METFORMIN", ["Myalgia"], "20190106")] * 8
    return [_doc(example, i, d, t, day) for i, (d, t, day) in enumerate(rows)]


def oracle(a: int, b: int, c: int, d: int) -> dict[str, float]:
    """Textbook 2x2 statistics (Evans 2001; Rothman 2004; Noren 2006), no correction:
    every cell of the tables below is positive."""
    n = a + b + c + d
    expected = (a + b) * (a + c) / n
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    ror = a * d / (b * c)
    gamma = stats.gamma(a + 0.5, scale=1 / (expected + 0.5))
    return {
        "prr": (a / (a + b)) / (c / (c + d)),
        "ror": ror,
        "ror_lo": math.exp(math.log(ror) - 1.959964 * se),
        "ror_hi": math.exp(math.log(ror) + 1.959964 * se),
        "expected": expected,
        "ic": math.log2((a + 0.5) / (expected + 0.5)),
        "ic025": math.log2(gamma.ppf(0.025)),
    }


@pytest.fixture
def server(shared_data: Path) -> Iterator[OpenFDAReplayServer]:
    with OpenFDAReplayServer({"/drug/event.json": hand_made_faers(shared_data)}, api_key=KEY) as s:
        yield s


@pytest.fixture
def settings(server: OpenFDAReplayServer, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        openfda_base_url=server.base_url,
        openfda_api_key=KEY,
        openfda_requests_per_minute=60_000,
        openfda_max_retries=1,
        redis_url=None,
        # The hand-built FAERS is 65 reports: small enough to check by hand, so the
        # background-size floor (1,000 by default) is lowered; the share rule still holds.
        background_min_reports=50,
        signal_min_product_reports=1,
    )


@pytest.fixture
def store(sqlite_engine: Engine, settings: Settings) -> Engine:
    """The store holds atorvastatin alone (as `cerflow ingest openfda --drug` leaves it)."""
    plan = datasets("atorvastatin", [], SINCE, UNTIL, recalls=False)
    ingest_openfda(sqlite_engine, plan, settings=settings)
    return sqlite_engine


def _facts(engine: Engine, settings: Settings, cache: MemoryCache) -> Facts:
    return build_facts(
        engine,
        drug="atorvastatin",
        since=SINCE,
        until=UNTIL,
        settings=settings,
        background="openfda",
        background_counts=counts_provider(settings, cache=cache),
    )


def test_one_product_store_against_openfda_equals_hand_built_2x2(
    store: Engine, settings: Settings, server: OpenFDAReplayServer
) -> None:
    # the store's own background is the product itself: b, c, d would describe nothing
    local = build_facts(store, drug="atorvastatin", since=SINCE, until=UNTIL, settings=settings)
    assert local.signals is not None and local.signals.background is not None
    assert local.signals.background.source == "store"
    assert local.signals.background.reports == 5
    assert local.signals.background.complete_extracts is False
    assert local.signals.background.description == (
        "the local store (N = 5 drug reports received from 2020-01-01 to 2020-12-31 that "
        "name a product and an event; it holds "
        "openFDA search results (only the reports of the products searched for))"
    )

    # ...and a background that is the product itself is refused (5 of 5 reports).
    assert local.signals.background.refused is True
    assert "100.0%" in (local.signals.background.refused_reason or "")
    assert local.signals.signals == []

    local_text = "\n".join(write_narrative(local).all_texts())
    assert "does not hold complete source extracts" in local_text
    assert untraceable_numbers(local_text, local) == []

    cache = MemoryCache(3600)
    facts = _facts(store, settings, cache)
    s = facts.signals
    assert s is not None and s.background is not None
    assert (s.background_reports, s.product_reports, s.pairs_tested) == (65, 5, 2)
    rows = {x.event.casefold(): x for x in s.top_by_ebgm}
    # hand-built tables: Myalgia a=4 b=1 c=3 d=57; Nausea a=3 b=2 c=20 d=40
    assert (rows["myalgia"].a, rows["myalgia"].b, rows["myalgia"].c, rows["myalgia"].d) == (
        4,
        1,
        3,
        57,
    )
    assert (rows["nausea"].a, rows["nausea"].b, rows["nausea"].c, rows["nausea"].d) == (
        3,
        2,
        20,
        40,
    )
    for name, cells in (("myalgia", (4, 1, 3, 57)), ("nausea", (3, 2, 20, 40))):
        want = oracle(*cells)
        got = rows[name]
        assert got.prr == pytest.approx(want["prr"], abs=0.005)
        assert got.ror == pytest.approx(want["ror"], abs=0.005)
        assert got.ror_lo == pytest.approx(want["ror_lo"], abs=0.005)
        assert got.ror_hi == pytest.approx(want["ror_hi"], abs=0.005)
        assert got.expected == pytest.approx(want["expected"], abs=0.005)
        assert got.ic == pytest.approx(want["ic"], abs=0.005)
        assert got.ic025 == pytest.approx(want["ic025"], abs=0.005)
        assert got.ebgm is None and got.eb05 is None  # no all-pairs prior
    assert rows["myalgia"].prr == 16.0 and rows["myalgia"].ror == 76.0  # by hand
    assert s.prior is None

    bg = s.background
    assert bg.source == "openfda"
    assert (bg.reports, bg.product_reports) == (65, 5)
    assert (bg.window_start, bg.window_end) == (SINCE, UNTIL)
    assert bg.description == (
        "the whole FAERS database as counted by openFDA for reports received from "
        "2020-01-01 to 2020-12-31, N = 65 reports"
    )
    assert not bg.ebgm_available and bg.ebgm_absent_reason and "prior" in bg.ebgm_absent_reason
    assert bg.from_cache is False
    assert [q.purpose for q in bg.queries] == ["N", "product", "product-event", "event"]
    assert all("receivedate:[20200101+TO+20201231]" in q.url for q in bg.queries)
    assert all(KEY not in q.url and "api_key=REDACTED" in q.url for q in bg.queries)
    assert "count=patient.reaction.reactionmeddrapt.exact" in bg.queries[2].url
    assert bg.query is not None and "ATORVASTATIN" in bg.query
    assert all(len(q.sha256) == 64 for q in bg.queries)
    assert "EBGM is not computed" in " ".join(facts.notes["signals"])

    # the text names the background, its N and window, says why EBGM is absent, and
    # prints the count requests in the provenance appendix; every number traces to facts
    narrative = write_narrative(facts)
    text = "\n".join(narrative.all_texts())
    assert (
        "Background: the whole FAERS database as counted by openFDA for reports received "
        "from 2020-01-01 to 2020-12-31, N = 65 reports." in text
    )
    assert "EBGM is not computed against the openFDA counts" in text
    assert "reports in the store" not in text
    assert "openFDA count requests of the disproportionality background" in text
    assert untraceable_numbers(text, facts) == []

    # second run: the cache answers, openFDA is not asked again, retrieval times kept
    asked = len(server.requests)
    again = _facts(store, settings, cache)
    assert len(server.requests) == asked
    assert again.signals is not None and again.signals.background is not None
    assert again.signals.background.from_cache is True
    assert again.signals.background.queries == bg.queries
    assert again.signals.top_by_ebgm == s.top_by_ebgm


def test_terms_beyond_the_count_list_get_their_own_total(
    server: OpenFDAReplayServer, settings: Settings
) -> None:
    with OpenFDAClient.from_settings(settings) as client:
        counts = fetch_drug_background(
            client, drug="atorvastatin", since=SINCE, until=UNTIL, count_limit=2
        )
    # the product's count lists its top two spellings (Myalgia 3, Nausea 3: MYALGIA 1 is
    # beyond the limit, and a note says so); the whole-window count lists Headache (37) and
    # Nausea (23) only, so Myalgia is asked alone
    assert counts.pair_counts == {"Myalgia": 3, "Nausea": 3}
    assert counts.event_totals == {"Myalgia": 5, "Nausea": 23}
    assert any("rarer terms" in n for n in counts.notes)
    assert (counts.n_reports, counts.product_reports) == (65, 5)
    assert [q.purpose for q in counts.queries][-1] == "event:Myalgia"
    alone = server.requests[-1].params["search"]
    assert alone == (
        'patient.reaction.reactionmeddrapt.exact:"Myalgia" AND receivedate:[20200101 TO 20201231]'
    )


def test_cache_round_trip_and_bad_input(settings: Settings) -> None:
    cache = MemoryCache(3600)
    first = fetch_background(settings, drug="atorvastatin", since=SINCE, until=UNTIL, cache=cache)
    hit = fetch_background(settings, drug=" ATORVASTATIN ", since=SINCE, until=UNTIL, cache=cache)
    assert hit.from_cache and not first.from_cache
    assert (hit.pair_counts, hit.event_totals, hit.queries) == (
        first.pair_counts,
        first.event_totals,
        first.queries,
    )
    with pytest.raises(ValueError, match="after"):
        fetch_background(settings, drug="atorvastatin", since=UNTIL, until=SINCE, cache=cache)
    with pytest.raises(ValueError, match=r"'store'.*'openfda'"):
        check_background("faers")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"cerflow-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_TEST_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def test_counts_are_cached_in_redis(
    server: OpenFDAReplayServer, settings: Settings, redis_prefix: str
) -> None:
    """Production: the counts live in Redis, shared by every worker process."""
    shared = settings.model_copy(
        update={"redis_url": REDIS_TEST_URL, "redis_key_prefix": redis_prefix}
    )
    cache = background_cache(shared)
    assert isinstance(cache, RedisCache) and background_cache(shared) is cache
    first = fetch_background(shared, drug="atorvastatin", since=SINCE, until=UNTIL)
    asked = len(server.requests)
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        keys = list(client.scan_iter(match=f"{redis_prefix}*openfda_background*"))
        assert len(keys) == 1
        assert 0 < int(client.ttl(keys[0])) <= shared.openfda_background_cache_seconds
    finally:
        client.close()
    # another process (a fresh cache object on the same Redis) reads it without openFDA
    clients = make_redis(shared)
    assert clients is not None
    try:
        again = fetch_background(
            shared, drug="atorvastatin", since=SINCE, until=UNTIL, cache=RedisCache(clients, 60)
        )
    finally:
        clients.close()
    assert len(server.requests) == asked
    assert again.from_cache and again.pair_counts == first.pair_counts


def test_devices_keep_the_store_and_say_so(sqlite_engine: Engine) -> None:
    """openFDA's whole-database counts are for drugs: a device stays on the store."""
    sf.fill(sqlite_engine)

    def never(drug: str, since: dt.date, until: dt.date) -> Any:
        raise AssertionError("openFDA must not be asked for a device")

    facts = build_facts(
        sqlite_engine,
        device_codes=["lzg"],
        settings=Settings(signal_background="openfda"),
        background_counts=never,
    )
    assert facts.signals is not None and facts.signals.background is not None
    assert facts.signals.background.source == "store"
    assert facts.signals.background.reports == 4
    assert any("drugs only" in n for n in facts.notes["signals"])


def test_a_drug_openfda_does_not_know_is_not_estimable(
    store: Engine, settings: Settings, server: OpenFDAReplayServer
) -> None:
    """openFDA counts no report in the window: no ratio, the reason stated, N still named."""
    server.set_records("/drug/event.json", [])
    facts = _facts(store, settings, MemoryCache(60))
    assert facts.signals is None
    assert any("openFDA counts no report" in n for n in facts.notes["signals"])
    text = "\n".join(write_narrative(facts).all_texts())
    assert "openFDA counts no report of the product" in text

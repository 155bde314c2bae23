"""The per-data-version cache of the background disproportionality result.

A hit must give exactly the facts of an uncached build (every number, note and order), must
not read the background again, and new data must make it a miss.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from cerflow.etl.load_reports import load_reports
from cerflow.narrative.facts import Facts
from cerflow.report.facts_builder import build_facts
from cerflow.report.signal_cache import SignalCache
from cerflow.sources.base import Provenance
from cerflow.store import product_queries as rq
from tests.report import store_factory as sf


@pytest.fixture
def store(db_engine: Engine) -> Engine:
    sf.fill(db_engine)
    return db_engine


def _same(facts: Facts) -> dict[str, Any]:
    """Everything but the clock."""
    data = facts.model_dump(mode="json")
    data["meta"].pop("generated_at")
    return data


def _no_background(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = rq.background

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(rq, "background", counting)
    return calls


@pytest.mark.parametrize(
    "query",
    [
        {"drug": "atorvastatin"},
        {"drug": "metformin"},  # another product of the same kind: the same entry
        {"device_codes": ["LZG"]},
        {"device_codes": ["LZG", "DQA"]},  # merged codes: an entry of its own
        {"drug": "atorvastatin", "since": dt.date(2024, 1, 15), "until": dt.date(2024, 2, 28)},
    ],
)
def test_a_hit_gives_the_uncached_facts_without_reading_the_background(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: dict[str, Any]
) -> None:
    cache = SignalCache(tmp_path / "signals")
    plain = build_facts(store, **query)
    calls = _no_background(monkeypatch)
    cold = build_facts(store, signal_cache=cache, **query)
    assert len(calls) == 1 and len(list(cache.directory.glob("*.parquet"))) == 1
    warm = build_facts(store, signal_cache=cache, **query)
    assert len(calls) == 1  # the hit read no background
    assert _same(cold) == _same(plain) and _same(warm) == _same(plain)
    assert warm.signals is not None and warm.signals.signals == plain.signals.signals  # type: ignore[union-attr]
    assert list(warm.notes) == list(plain.notes)


def test_other_products_of_the_kind_share_one_entry(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = SignalCache(tmp_path / "signals")
    calls = _no_background(monkeypatch)
    build_facts(store, drug="atorvastatin", signal_cache=cache)
    metformin = build_facts(store, drug="metformin", signal_cache=cache)
    assert len(calls) == 1
    assert metformin.signals is not None and metformin.signals.product_label == "METFORMIN"
    assert metformin.signals.background_reports == 16


def test_new_data_make_it_a_miss(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = SignalCache(tmp_path / "signals")
    before = build_facts(store, drug="atorvastatin", signal_cache=cache)
    assert before.signals is not None and before.signals.background_reports == 16
    extra = sf._rep("m99", sf._day(2024, 3, 9), [sf._suspect("METFORMIN")], ["myalgia"])
    prov = Provenance(source="faers_ascii", location="memory://more", sha256="9" * 64)
    load_reports(store, [extra], prov)
    calls = _no_background(monkeypatch)
    from cerflow.config import Settings

    # The tiny store is refused as a background by default; relax that to see the tables.
    loose = Settings(
        background_min_reports=0, signal_min_product_reports=0, background_max_product_share=1.0
    )
    after = build_facts(store, drug="atorvastatin", signal_cache=cache, settings=loose)
    assert len(calls) == 1  # read again
    assert after.signals is not None and after.signals.background_reports == 17
    myalgia = next(s for s in after.signals.top_by_ebgm if s.event == "Myalgia")
    assert myalgia.c == 3  # c1, m10 and the new m99
    assert _same(after) == _same(build_facts(store, drug="atorvastatin", settings=loose))


def test_thresholds_are_part_of_the_key(store: Engine, tmp_path: Path) -> None:
    from cerflow.config import Settings

    cache = SignalCache(tmp_path / "signals")
    build_facts(store, drug="atorvastatin", signal_cache=cache)
    relaxed = Settings(
        signal_ror025_min=0.5,
        background_min_reports=0,
        signal_min_product_reports=0,
        background_max_product_share=1.0,
    )
    loose = build_facts(store, drug="atorvastatin", settings=relaxed, signal_cache=cache)
    assert loose.signals is not None and loose.signals.thresholds.ror025_min == 0.5
    assert "ror" in {x.event: x.flags for x in loose.signals.top_by_ebgm}["Myalgia"]


def test_a_broken_entry_is_a_miss(store: Engine, tmp_path: Path) -> None:
    cache = SignalCache(tmp_path / "signals")
    plain = build_facts(store, drug="atorvastatin")
    build_facts(store, drug="atorvastatin", signal_cache=cache)
    for table in cache.directory.glob("*.parquet"):
        table.write_bytes(b"not parquet")
    again = build_facts(store, drug="atorvastatin", signal_cache=cache)
    assert _same(again) == _same(plain)


def test_store_version_moves_with_every_load(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        empty = rq.store_version(conn)
    assert empty == rq.StoreVersion(0, None, None, None)
    load_reports(sqlite_engine, sf.product_reports(), sf.PRODUCT_PROV)
    with sqlite_engine.connect() as conn:
        one = rq.store_version(conn)
    load_reports(sqlite_engine, sf.product_reports(), sf.PRODUCT_PROV)  # same file again
    with sqlite_engine.connect() as conn:
        two = rq.store_version(conn)
    assert one.snapshots == 1 and one.last_sha256 == "a" * 64
    assert two.snapshots == 2 and two != one


def test_kind_totals_come_from_the_cache_until_data_land(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two whole-store scans (cut-off, reports per snapshot) run once per store
    version: a later report reads them from the cache and states the same numbers."""
    calls: list[tuple[str, Any, Any]] = []
    real = rq.kind_totals

    def counting(conn: Any, kind: str, since: Any, until: Any) -> rq.KindTotals:
        calls.append((kind, since, until))
        return real(conn, kind, since, until)

    monkeypatch.setattr(rq, "kind_totals", counting)
    cache = SignalCache(tmp_path / "signals")
    plain = build_facts(store, drug="atorvastatin")
    assert len(calls) == 1
    first = build_facts(store, drug="atorvastatin", signal_cache=cache)
    again = build_facts(store, drug="atorvastatin", signal_cache=cache)
    assert len(calls) == 2  # plain (no cache) and the first cached build; not the hit
    assert _same(again) == _same(first) == _same(plain)
    # What the cache holds is what plain SQL counts (an independent reading).
    (entry,) = (cache.directory / "totals").glob("*.json")
    cached = cache.get_totals(entry.stem)
    with store.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT snapshot_id, count(*) FROM reports WHERE kind = 'drug'"
                " AND snapshot_id IS NOT NULL GROUP BY snapshot_id"
            )
        ).all()
        latest = conn.execute(
            text("SELECT max(received_date) FROM reports WHERE kind = 'drug'")
        ).scalar_one()
    assert cached is not None and cached.in_store == {int(s): int(n) for s, n in rows}
    assert cached.cutoff == (dt.date.fromisoformat(latest) if isinstance(latest, str) else latest)
    # Another window is another entry; new data (a snapshot row) make every entry a miss.
    build_facts(store, drug="atorvastatin", signal_cache=cache, since=dt.date(2024, 1, 1))
    assert calls[-1] == ("drug", dt.date(2024, 1, 1), None)
    n = len(calls)
    prov = Provenance(source="test", location="memory://x", sha256="c" * 64, is_generated=True)
    load_reports(store, sf.product_reports()[:1], prov)
    build_facts(store, drug="atorvastatin", signal_cache=cache)
    assert len(calls) == n + 1


def _tiny_result(n: int) -> Any:
    import polars as pl

    from cerflow.analysis.disproportionality import ALL_METHODS, SignalResult
    from cerflow.analysis.thresholds import SignalThresholds

    table = pl.DataFrame({"product": [f"P{i}" for i in range(n)], "a": list(range(n))})
    return SignalResult(
        table=table,
        n_reports=n,
        prior=None,
        methods=ALL_METHODS,
        thresholds=SignalThresholds(),
        ic_method="test",
        n_strata=1,
        notes=(),
    )


def _entries(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.json"))


def test_the_disk_budget_drops_least_recently_used_entries_but_keeps_the_newest(
    tmp_path: Path,
) -> None:
    import os

    probe = SignalCache(tmp_path / "probe")
    probe.put("probe", _tiny_result(20_000))
    entry = sum(p.stat().st_size for p in (tmp_path / "probe").glob("probe.*"))
    cache = SignalCache(tmp_path / "c", max_bytes=int(2.5 * entry))
    for i, key in enumerate(("k1", "k2")):
        cache.put(key, _tiny_result(20_000))
        for p in (tmp_path / "c").glob(f"{key}.*"):
            os.utime(p, (1_000_000 + i, 1_000_000 + i))  # k1 older than k2
    assert _entries(tmp_path / "c") == ["k1", "k2"]
    assert cache.get("k1", product="P1") is not None  # k1 now the most recently used
    cache.put("k3", _tiny_result(20_000))  # three entries exceed 2.5 entries: k2 goes
    assert _entries(tmp_path / "c") == ["k1", "k3"]

    small = SignalCache(tmp_path / "s", max_bytes=1)  # below one entry: the newest stays
    small.put("a", _tiny_result(20_000))
    small.put("b", _tiny_result(20_000))
    assert _entries(tmp_path / "s") == ["b"]
    assert small.get("b", product="P7") is not None

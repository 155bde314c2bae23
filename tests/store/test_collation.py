"""The store database's collation (`cerflow.store.collation`): how store databases are
created, the advice on another collation, and that what users see in an order is the same
whatever the database collates (bytewise 'C', libc 'C.UTF-8', ICU 'en-US', SQLite).

The expected orders are written out by hand below (accents and case ignored first, then
case-folded with accents, then code points); the bytewise oracle is Python's sort of the
UTF-8 bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cerflow.db import make_engine
from cerflow.store import collation
from cerflow.store import product_queries as pq
from cerflow.store.product_queries import ProductSelector
from tests.conftest import PgDatabases
from tests.store.store_rows import add_report

# Event terms are stored case-folded; they keep their accents.
TERM_COUNTS = {
    "zèbre": 3,
    "étude": 2,
    "zebra": 1,
    "apple": 1,
    "ångström": 1,
    "banana split": 1,
    "banana": 1,
    "éclair": 1,
    "eclair": 1,
    "ezra": 1,
}
TERMS_IN_DISPLAY_ORDER = [
    ("zèbre", 3),
    ("étude", 2),
    ("ångström", 1),
    ("apple", 1),
    ("banana", 1),
    ("banana split", 1),
    ("eclair", 1),
    ("éclair", 1),
    ("ezra", 1),
    ("zebra", 1),
]
# Product names keep their case.
NAME_COUNTS = {
    "zebra": 1,
    "Zèbre": 2,
    "apple": 1,
    "Éclair": 1,
    "APPLE": 1,
    "banana": 1,
    "Ångström": 1,
    "eclair": 1,
    "Apple": 1,
}
NAMES_IN_DISPLAY_ORDER = [
    ("Zèbre", 2),
    ("Ångström", 1),
    ("APPLE", 1),
    ("Apple", 1),
    ("apple", 1),
    ("banana", 1),
    ("eclair", 1),
    ("Éclair", 1),
    ("zebra", 1),
]
ASPIRIN = ProductSelector.drug("ASPIRIN")


def _seed(engine: Engine) -> None:
    suspect = {"role": "suspect", "product_key": "ASPIRIN"}
    n = 0
    with Session(engine) as s:
        for term, count in TERM_COUNTS.items():
            for _ in range(count):
                n += 1
                add_report(
                    s, f"T{n}", received=dt.date(2021, 1, 1), products=[suspect], terms=[term]
                )
        for name, count in NAME_COUNTS.items():
            for _ in range(count):
                n += 1
                add_report(s, f"N{n}", products=[{**suspect, "brand_name": name}])
        s.commit()


DATABASES = {
    "C": {},  # the store's default
    "C.UTF-8": {"collate": "C.UTF-8"},
    "icu-en-US": {"collate": "C.UTF-8", "icu_locale": "en-US"},
}


@pytest.fixture(scope="module", params=["sqlite", *DATABASES])
def seeded(
    request: pytest.FixtureRequest,
    pg_databases: PgDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Engine]]:
    """One seeded store per collation (read only in these tests)."""
    label = request.param
    if label == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('collation')) / 'c.db'}"
        from cerflow.store import migrate

        engine = make_engine(url)
        migrate.upgrade(engine)
    else:
        try:
            url = pg_databases.create("collation", **DATABASES[label])
        except DBAPIError as exc:  # a server built without ICU
            if "icu" in label:
                pytest.skip(f"server cannot create an ICU database: {exc.orig}")
            raise
        engine = make_engine(url)
    _seed(engine)
    yield label, engine
    engine.dispose()


def test_display_key_order() -> None:
    sample = ["zebra", "Zèbre", "apple", "Éclair", "APPLE", "banana", "Ångström", "eclair", "Apple"]
    assert collation.sorted_for_display(sample) == [
        "Ångström",
        "APPLE",
        "Apple",
        "apple",
        "banana",
        "eclair",
        "Éclair",
        "zebra",
        "Zèbre",
    ]
    # equal under the first two levels only when equal: the order is total
    assert collation.display_key("Apple") < collation.display_key("apple")
    assert collation.display_key("ÉCLAIR") < collation.display_key("Éclair")


def test_by_count_then_display_drops_empty_and_cuts() -> None:
    rows = [("b", 2), (None, 9), ("", 9), ("A", 2), ("a", 3)]
    assert collation.by_count_then_display(rows, 2) == [("a", 3), ("A", 2)]


def test_top_terms_same_order_under_every_collation(seeded: tuple[str, Engine]) -> None:
    _label, engine = seeded
    with engine.connect() as conn:
        assert pq.product_top_terms(conn, ASPIRIN, 20) == TERMS_IN_DISPLAY_ORDER
        # a cut inside the tie at count 1 takes the first in display order
        assert pq.product_top_terms(conn, ASPIRIN, 4) == TERMS_IN_DISPLAY_ORDER[:4]


def test_product_names_same_order_under_every_collation(seeded: tuple[str, Engine]) -> None:
    _label, engine = seeded
    with engine.connect() as conn:
        assert pq.product_name_counts(conn, ASPIRIN, "name", 20) == NAMES_IN_DISPLAY_ORDER
        assert pq.product_name_counts(conn, ASPIRIN, "name", 3) == NAMES_IN_DISPLAY_ORDER[:3]


def test_the_databases_collate_as_created(seeded: tuple[str, Engine]) -> None:
    """What the fixtures made, and that the orders above were not equal by accident: the
    database's own ORDER BY is bytewise on 'C' and SQLite, linguistic on ICU."""
    label, engine = seeded
    with engine.connect() as conn:
        info = collation.database_collation(conn)
        raw = conn.execute(text("SELECT DISTINCT term FROM report_events ORDER BY term")).scalars()
        raw_order = list(raw)
        advice = collation.collation_advice(conn)
    bytewise = sorted(TERM_COUNTS, key=lambda t: t.encode())
    if label == "sqlite":
        assert info is None and advice is None
        assert raw_order == bytewise
        return
    assert info is not None
    if label == "C":
        assert (info.provider, info.collate, info.ctype) == ("libc", "C", "C.UTF-8")
        assert info.bytewise and advice is None
        assert raw_order == bytewise
    elif label == "C.UTF-8":
        assert (info.provider, info.collate) == ("libc", "C.UTF-8")
        assert not info.bytewise
        assert advice is not None and "libc 'C.UTF-8'" in advice
        assert "--lc-collate=C --lc-ctype=C.UTF-8" in advice
    else:
        assert (info.provider, info.locale) == ("icu", "en-US")
        assert not info.bytewise and advice is not None and "icu 'en-US'" in advice
        assert raw_order != bytewise
        assert raw_order[:2] == ["ångström", "apple"]  # linguistic: å sorts with a


def test_search_drugs_ties_in_display_order(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        for i, key in enumerate(["ZETA B", "ZETA A", "ZETA C", "ZETAB"]):
            add_report(s, f"S{i}", products=[{"role": "suspect", "product_key": key}])
        add_report(s, "S9", products=[{"role": "suspect", "product_key": "ZETA C"}])
        s.commit()
    with db_engine.connect() as conn:
        hits = pq.search_drugs(conn, "zeta", limit=3)
    assert hits == [("ZETA C", 2), ("ZETA A", 1), ("ZETA B", 1)]


def test_create_database_sql() -> None:
    assert collation.create_database_sql("cerflow_x") == (
        "CREATE DATABASE \"cerflow_x\" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER libc"
        " LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
    )
    assert "LOCALE_PROVIDER" not in collation.create_database_sql("x", server_version_num=140000)
    for bad in ('x"; DROP', "a b"):
        with pytest.raises(ValueError):
            collation.create_database_sql(bad)
    with pytest.raises(ValueError):
        collation.create_database_sql("x", collate="C'; --")

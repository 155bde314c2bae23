"""The store database's collation, and orderings that do not depend on it.

PostgreSQL compares text with the database's collation: in every text index build, index
update, sort and `GROUP BY` of the load. With `LC_COLLATE 'C'` a comparison is `memcmp` and
sorts use abbreviated keys; with a libc locale (`C.UTF-8`, `en_US.UTF-8`) every comparison
goes through `strcoll` and abbreviated keys are off. A FAERS quarter's load is dominated by
such comparisons (the product and event keys' indexes), so the store database is created
with `LC_COLLATE 'C'` (bytewise, which for UTF-8 is code-point order) and
`LC_CTYPE 'C.UTF-8'` (so `upper()`/`lower()` still know non-ASCII letters): the figures are in
docs/deployment.md ("Database collation") and benchmarks/README.md.

What users see must not depend on that choice (nor on a deployment that kept another
collation, nor on SQLite, whose default is bytewise): text shown in an order (event terms,
product names, search hits) is ordered here, in Python, by `display_key` (accents and case
ignored first, then case, then code points), never by the database's `ORDER BY text`.
`top_counted` picks the top rows of a (value, count) aggregate with ties at the cut decided
by that same key, whatever the database collates.

`create_database` is the one place that creates a PostgreSQL store database (tests,
benchmarks); `collation_advice` is what `cerflow db upgrade` prints when a store was
created otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select, text

STORE_LC_COLLATE = "C"
STORE_LC_CTYPE = "C.UTF-8"
# libc collations that compare bytewise (PostgreSQL's own fast path, memcmp)
BYTEWISE_LIBC = frozenset({"C", "POSIX"})

_NAME = re.compile(r"^[A-Za-z0-9_]{1,63}$")
_LOCALE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _checked(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"unsafe {what}: {value!r}")
    return value


def create_database_sql(
    name: str,
    *,
    collate: str = STORE_LC_COLLATE,
    ctype: str = STORE_LC_CTYPE,
    icu_locale: str | None = None,
    server_version_num: int = 150000,
) -> str:
    """The `CREATE DATABASE` statement of a store database. From template0 (the only
    template whose collation may be changed), UTF8. `icu_locale` makes an ICU database
    (PostgreSQL 15+; used by the tests to get a linguistic collation). The locale provider
    is named on 15+ so a cluster whose default provider is ICU still gets libc 'C'."""
    _checked(name, _NAME, "database name")
    parts = [f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"]
    if icu_locale is not None:
        parts.append(f"LOCALE_PROVIDER icu ICU_LOCALE '{_checked(icu_locale, _LOCALE, 'locale')}'")
    elif server_version_num >= 150000:
        parts.append("LOCALE_PROVIDER libc")
    parts.append(f"LC_COLLATE '{_checked(collate, _LOCALE, 'collation')}'")
    parts.append(f"LC_CTYPE '{_checked(ctype, _LOCALE, 'ctype')}'")
    return " ".join(parts)


def create_database(
    admin: Engine,
    name: str,
    *,
    collate: str = STORE_LC_COLLATE,
    ctype: str = STORE_LC_CTYPE,
    icu_locale: str | None = None,
) -> None:
    """Create PostgreSQL database `name` on the server of `admin` (connected to any
    database there, with the right to create databases) with the store's collation.
    Fails if it exists."""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
        sql = create_database_sql(
            name, collate=collate, ctype=ctype, icu_locale=icu_locale, server_version_num=version
        )
        conn.execute(text(sql))


def drop_database(admin: Engine, name: str) -> None:
    """Drop database `name` (connections to it are ended)."""
    _checked(name, _NAME, "database name")
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass(frozen=True, slots=True)
class DatabaseCollation:
    """How the connected PostgreSQL database compares text."""

    name: str
    provider: str  # libc, icu, builtin
    collate: str
    ctype: str
    locale: str | None  # the ICU or builtin locale, when the provider is not libc

    @property
    def bytewise(self) -> bool:
        """Comparisons are memcmp (libc C/POSIX, or PostgreSQL 17's builtin provider,
        whose C and C.UTF-8 both order by code point)."""
        if self.provider == "builtin":
            return True
        return self.provider == "libc" and self.collate in BYTEWISE_LIBC


_PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}


def database_collation(conn: Connection) -> DatabaseCollation | None:
    """The connected database's collation; None on SQLite (always bytewise there)."""
    if conn.dialect.name != "postgresql":
        return None
    row = (
        conn.execute(text("SELECT * FROM pg_database WHERE datname = current_database()"))
        .one()
        ._mapping
    )
    provider = _PROVIDERS.get(str(row.get("datlocprovider", "c")), "libc")
    locale = row.get("datlocale") or row.get("daticulocale")
    return DatabaseCollation(
        name=str(row["datname"]),
        provider=provider,
        collate=str(row["datcollate"]),
        ctype=str(row["datctype"]),
        locale=str(locale) if locale else None,
    )


def collation_advice(conn: Connection) -> str | None:
    """Advice when the store database does not collate bytewise (None when it does, or on
    SQLite): what it costs and how to recreate it. Nothing fails on another collation."""
    info = database_collation(conn)
    if info is None or info.bytewise:
        return None
    how = f"{info.provider} '{info.locale or info.collate}'"
    name = info.name
    return (
        f"The store database {name!r} collates text with {how}, not 'C'. cerflow works "
        "with it (what it shows is ordered the same either way), but text index builds and "
        "comparisons cost more server CPU: a FAERS quarter's load took 7-11 % more with "
        "C.UTF-8 and about 50 % more with en_US.UTF-8 than with C (docs/deployment.md, "
        "'Database collation'). A database's collation cannot be altered; to recreate "
        "it, stop the API and workers, then:\n"
        f"  pg_dump -Fc -d {name} -f {name}.dump\n"
        f"  createdb --template=template0 --encoding=UTF8 --locale-provider=libc "
        f"--lc-collate={STORE_LC_COLLATE} --lc-ctype={STORE_LC_CTYPE} {name}_c\n"
        f"  pg_restore --no-owner -d {name}_c {name}.dump\n"
        f"and point CERFLOW_DATABASE_URL at {name}_c (or rename the databases)."
    )


def display_key(value: str) -> tuple[str, str, str]:
    """Sort key for text shown in an order: letters without their accents and case first
    ('eclair' = 'Éclair'), then case-folded with accents ('eclair' < 'éclair'), then code
    points ('ÉCLAIR' < 'Éclair'), so the order is total and the same on every database."""
    folded = value.casefold()
    base = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return (base, folded, value)


def sorted_for_display(values: Iterable[str]) -> list[str]:
    """`values` in display order (`display_key`)."""
    return sorted(values, key=display_key)


def by_count_then_display(rows: Iterable[tuple[Any, Any]], limit: int) -> list[tuple[str, int]]:
    """(value, count) rows, most counted first, ties in display order, the first `limit`;
    rows whose value is None or empty are left out."""
    clean = [(str(v), int(n)) for v, n in rows if v]
    clean.sort(key=lambda r: (-r[1], display_key(r[0])))
    return clean[:limit]


def top_counted(
    conn: Connection, stmt: Select[Any, Any], count: Any, limit: int
) -> list[tuple[str, int]]:
    """The `limit` most counted rows of `stmt` (a SELECT of (value, count) grouped by
    value, without ORDER BY or LIMIT; `count` is its count expression), ties in display
    order. The database returns every row ranked within `limit` by count alone (`rank()`
    gives ties the same rank, so all rows tied at the cut come back) and the tie-break is
    made here: the same rows in the same order whatever the database collates."""
    ranked = stmt.add_columns(func.rank().over(order_by=count.desc()).label("count_rank"))
    sub = ranked.subquery()
    rows = conn.execute(select(sub.c[0], sub.c[1]).where(sub.c.count_rank <= limit)).all()
    return by_count_then_display(((v, n) for v, n in rows), limit)

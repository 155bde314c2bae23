"""A fingerprint of the whole store, to prove a refused input changed nothing.

Every table's rows are read in primary-key order and hashed; the result only changes if a
row was added, removed or modified in any table (Alembic's version table included).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, Engine, MetaData, select


def store_checksum(bind: Engine | Connection, meta: MetaData | None = None) -> str:
    """sha256 over every table (sorted by name) and its rows (sorted by primary key).

    Given a Connection, it reads inside that connection's transaction (the API tests run
    the app in savepoints of one outer transaction that is never committed). Pass `meta`
    (reflected once) when checksumming many times: reflection dominates the cost."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return store_checksum(conn, meta)
    conn = bind
    if meta is None:
        meta = MetaData()
        meta.reflect(bind=conn)
    digest = hashlib.sha256()
    for name in sorted(meta.tables):
        table = meta.tables[name]
        order = list(table.primary_key.columns) or list(table.columns)
        digest.update(f"\x00table {name}\n".encode())
        for row in conn.execute(select(table).order_by(*order)):
            digest.update(repr(tuple(row)).encode())
            digest.update(b"\n")
    return digest.hexdigest()

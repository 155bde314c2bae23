"""A fingerprint of the whole store, to prove a refused input changed nothing.

Every table's rows are read in primary-key order and hashed; the result only changes if a
row was added, removed or modified in any table (Alembic's version table included).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine, MetaData, select


def store_checksum(engine: Engine) -> str:
    """sha256 over every table (sorted by name) and its rows (sorted by primary key)."""
    meta = MetaData()
    meta.reflect(bind=engine)
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for name in sorted(meta.tables):
            table = meta.tables[name]
            order = list(table.primary_key.columns) or list(table.columns)
            digest.update(f"\x00table {name}\n".encode())
            for row in conn.execute(select(table).order_by(*order)):
                digest.update(repr(tuple(row)).encode())
                digest.update(b"\n")
    return digest.hexdigest()

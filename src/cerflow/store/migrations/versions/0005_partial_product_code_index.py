"""report_products: product-code index only over rows that have a code

Drug reports (FAERS, openFDA drug) carry no FDA device product code, so a full index on
product_code held one NULL entry per drug row: millions of entries no query reads, each
maintained on every insert (a third of a FAERS quarter's load time on PostgreSQL). The
queries that use it always filter on a code (`product_code = ...`), which implies
`product_code IS NOT NULL`, so both PostgreSQL and SQLite still choose it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ix_report_products_product_code"
_HAS_CODE = sa.text("product_code IS NOT NULL")


def upgrade() -> None:
    op.drop_index(_NAME, table_name="report_products")
    op.create_index(
        _NAME,
        "report_products",
        ["product_code", "report_id"],
        postgresql_where=_HAS_CODE,
        sqlite_where=_HAS_CODE,
    )


def downgrade() -> None:
    op.drop_index(_NAME, table_name="report_products")
    op.create_index(_NAME, "report_products", ["product_code", "report_id"])

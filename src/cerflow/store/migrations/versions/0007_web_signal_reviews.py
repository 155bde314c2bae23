"""signal_reviews: reviewers' decisions on signals (validated / refuted / needs review)

Append-only history per product and event; the newest decision is shown in the next
report's signal table, and refuted signals raise no new alert.

Revision ID: 0007w
Revises: 0006
Create Date: 2026-12-04 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007w"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "signal_reviews",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("product_kind", sa.String(length=8), nullable=False),
        sa.Column("product_ref", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=500), nullable=False),
        sa.Column("event_key", sa.String(length=500), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("user_id", big, nullable=True),
        sa.Column("user_email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_signal_reviews_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_reviews")),
    )
    op.create_index(
        "ix_signal_reviews_product",
        "signal_reviews",
        ["product_kind", "product_ref", "event_key"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_signal_reviews_product", table_name="signal_reviews")
    op.drop_table("signal_reviews")

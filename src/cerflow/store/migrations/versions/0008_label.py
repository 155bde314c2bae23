"""drug_labels: openFDA drug labels for the labelled-status check (issue 11 item 3)

One row per label set id with its version, effective date, drug key, names and the safety
sections' text; the snapshot row holds the query, URL, retrieval time and sha256.

Revision ID: 0008_label
Revises: 0008_backups
Create Date: 2026-12-05 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_label"
down_revision: str | None = "0008_backups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "drug_labels",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("set_id", sa.String(length=64), nullable=False),
        sa.Column("label_id", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("product_key", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("brand_names", json, nullable=False),
        sa.Column("generic_names", json, nullable=False),
        sa.Column("sections", json, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("snapshot_id", big, nullable=True),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["source_snapshots.id"],
            name=op.f("fk_drug_labels_snapshot_id_source_snapshots"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drug_labels")),
        sa.UniqueConstraint("set_id", name=op.f("uq_drug_labels_set_id")),
    )
    op.create_index(
        "ix_drug_labels_product_key",
        "drug_labels",
        ["product_key", "effective_date"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_drug_labels_product_key", table_name="drug_labels")
    op.drop_table("drug_labels")

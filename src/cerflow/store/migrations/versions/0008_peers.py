"""product_classes: drugs' established pharmacologic classes (openFDA pharm_class_epc)

The drug peer comparison needs a class per product key: openFDA harmonizes
`openfda.pharm_class_epc` on drug event records, kept here per product key so the peers of
a drug are the other stored products of the same class. A small table, one row per
(product key, class type, class).

Revision ID: 0008_peers
Revises: 0008_versions (re-chained onto the head of main)
Create Date: 2026-12-05 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_peers"
down_revision: str | None = "0008_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "product_classes",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("product_key", sa.String(length=255), nullable=False),
        sa.Column("class_type", sa.String(length=8), nullable=False),
        sa.Column("class_name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("snapshot_id", big, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["source_snapshots.id"],
            name=op.f("fk_product_classes_snapshot_id_source_snapshots"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_classes")),
        sa.UniqueConstraint(
            "product_key",
            "class_type",
            "class_name",
            name=op.f("uq_product_classes_product_key_class_type_class_name"),
        ),
    )
    op.create_index(
        "ix_product_classes_class",
        "product_classes",
        ["class_type", "class_name"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_product_classes_class", table_name="product_classes")
    op.drop_table("product_classes")

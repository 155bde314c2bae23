"""cer_inputs: the manufacturer's/evaluator's CER inputs, one current document per product

Revision ID: 0008_inputs
Revises: 0008_label
Create Date: 2026-12-05 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_inputs"
down_revision: str | None = "0008_label"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "cer_inputs",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("product_kind", sa.String(length=8), nullable=False),
        sa.Column("product_ref", sa.String(length=255), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_by", big, nullable=True),
        sa.Column("updated_by_email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_cer_inputs_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cer_inputs")),
        sa.UniqueConstraint(
            "product_kind", "product_ref", name=op.f("uq_cer_inputs_product_kind_product_ref")
        ),
    )


def downgrade() -> None:
    op.drop_table("cer_inputs")

"""literature appraisal: weight class and note; record details (citation, trial status)

Revision ID: 0011_lit_appraisal
Revises: 0010_lit_screening
Create Date: 2026-12-05 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_lit_appraisal"
down_revision: str | None = "0010_lit_screening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("literature_appraisals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weight_class", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    with op.batch_alter_table("literature_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "details",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("literature_records", schema=None) as batch_op:
        batch_op.drop_column("details")
    with op.batch_alter_table("literature_appraisals", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("weight_class")

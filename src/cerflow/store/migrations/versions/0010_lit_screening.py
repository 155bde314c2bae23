"""literature screening: LLM suggestions apart from decisions; carried-over and confirmed
decisions (FK names shortened: PostgreSQL truncates identifiers at 63 characters)

Revision ID: 0010_lit_screening
Revises: 0009_literature
Create Date: 2026-12-05 09:15:17.952260
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_lit_screening"
down_revision: str | None = "0009_literature"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "literature_screening_suggestions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column(
            "requested_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("requested_by_email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["literature_records.id"],
            name=op.f("fk_literature_screening_suggestions_record_id_literature_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_literature_screening_suggestions_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_literature_screening_suggestions")),
    )
    with op.batch_alter_table("literature_screening_suggestions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_literature_screening_suggestions_record_id"), ["record_id"], unique=False
        )

    with op.batch_alter_table("literature_screening_decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("carried_over", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "carried_from_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "suggestion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            "fk_lit_screening_decisions_carried_from",
            "literature_screening_decisions",
            ["carried_from_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            "fk_lit_screening_decisions_suggestion",
            "literature_screening_suggestions",
            ["suggestion_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("literature_screening_decisions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_lit_screening_decisions_suggestion", type_="foreignkey")
        batch_op.drop_constraint("fk_lit_screening_decisions_carried_from", type_="foreignkey")
        batch_op.drop_column("suggestion_id")
        batch_op.drop_column("carried_from_id")
        batch_op.drop_column("carried_over")

    with op.batch_alter_table("literature_screening_suggestions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_literature_screening_suggestions_record_id"))

    op.drop_table("literature_screening_suggestions")

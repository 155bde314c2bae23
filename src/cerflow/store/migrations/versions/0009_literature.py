"""literature: protocols, searches, records, screening, appraisal

Revision ID: 0009_literature
Revises: 0008_peers
Create Date: 2026-12-05 07:34:21.455262
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_literature"
down_revision: str | None = "0008_peers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "literature_protocols",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("product_kind", sa.String(length=8), nullable=False),
        sa.Column("product_ref", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_by_email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_literature_protocols_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_literature_protocols")),
        sa.UniqueConstraint(
            "product_kind",
            "product_ref",
            "version",
            name=op.f("uq_literature_protocols_product_kind_product_ref_version"),
        ),
    )
    op.create_table(
        "literature_searches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "protocol_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("product_kind", sa.String(length=8), nullable=False),
        sa.Column("product_ref", sa.String(length=255), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "provenance",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("identified", sa.Integer(), nullable=False),
        sa.Column("duplicates_removed", sa.Integer(), nullable=False),
        sa.Column("unique_records", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_by_email", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_literature_searches_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["protocol_id"],
            ["literature_protocols.id"],
            name=op.f("fk_literature_searches_protocol_id_literature_protocols"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_literature_searches")),
    )
    with op.batch_alter_table("literature_searches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_literature_searches_protocol_id"), ["protocol_id"], unique=False
        )

    op.create_table(
        "literature_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "search_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("database", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("pmid", sa.String(length=16), nullable=True),
        sa.Column("pmcid", sa.String(length=16), nullable=True),
        sa.Column("doi", sa.String(length=255), nullable=True),
        sa.Column("nct_id", sa.String(length=16), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=True),
        sa.Column(
            "authors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("journal", sa.Text(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column(
            "duplicate_of_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("duplicate_rule", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["literature_records.id"],
            name=op.f("fk_literature_records_duplicate_of_id_literature_records"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["literature_searches.id"],
            name=op.f("fk_literature_records_search_id_literature_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_literature_records")),
    )
    with op.batch_alter_table("literature_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_literature_records_search_doi", ["search_id", "doi"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_literature_records_search_id"), ["search_id"], unique=False
        )
        batch_op.create_index(
            "ix_literature_records_search_pmid", ["search_id", "pmid"], unique=False
        )

    op.create_table(
        "literature_appraisals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "suitability",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "contribution",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("weight", sa.Integer(), nullable=True),
        sa.Column(
            "findings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "appraised_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("appraised_by_email", sa.String(length=320), nullable=False),
        sa.Column("appraised_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appraised_by"],
            ["users.id"],
            name=op.f("fk_literature_appraisals_appraised_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["literature_records.id"],
            name=op.f("fk_literature_appraisals_record_id_literature_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_literature_appraisals")),
    )
    with op.batch_alter_table("literature_appraisals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_literature_appraisals_record_id"), ["record_id"], unique=False
        )

    op.create_table(
        "literature_screening_decisions",
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
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("llm_suggested", sa.Boolean(), nullable=False),
        sa.Column(
            "decided_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decided_by_email", sa.String(length=320), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_literature_screening_decisions_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["literature_records.id"],
            name=op.f("fk_literature_screening_decisions_record_id_literature_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_literature_screening_decisions")),
    )
    with op.batch_alter_table("literature_screening_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_literature_screening_decisions_record_id"), ["record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("literature_screening_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_literature_screening_decisions_record_id"))

    op.drop_table("literature_screening_decisions")
    with op.batch_alter_table("literature_appraisals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_literature_appraisals_record_id"))

    op.drop_table("literature_appraisals")
    with op.batch_alter_table("literature_records", schema=None) as batch_op:
        batch_op.drop_index("ix_literature_records_search_pmid")
        batch_op.drop_index(batch_op.f("ix_literature_records_search_id"))
        batch_op.drop_index("ix_literature_records_search_doi")

    op.drop_table("literature_records")
    with op.batch_alter_table("literature_searches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_literature_searches_protocol_id"))

    op.drop_table("literature_searches")
    op.drop_table("literature_protocols")

"""canonical data model

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:48:08.034988
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "source_snapshots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("retrieved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("is_generated", sa.Boolean(), nullable=False),
        sa.Column(
            "stats",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_snapshots")),
    )
    with op.batch_alter_table("source_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_snapshots_source"), ["source"], unique=False)

    op.create_table(
        "devices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_uuid", sa.String(length=64), nullable=False),
        sa.Column("udi_di", sa.String(length=128), nullable=True),
        sa.Column("basic_udi_di", sa.String(length=128), nullable=True),
        sa.Column("trade_name", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("risk_class", sa.String(length=16), nullable=True),
        sa.Column("manufacturer_name", sa.Text(), nullable=True),
        sa.Column("manufacturer_srn", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column(
            "product_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["source_snapshots.id"],
            name=op.f("fk_devices_snapshot_id_source_snapshots"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("source", "source_uuid", name=op.f("uq_devices_source_source_uuid")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index("ix_devices_basic_udi_di", ["basic_udi_di"], unique=False)
        batch_op.create_index("ix_devices_manufacturer_srn", ["manufacturer_srn"], unique=False)
        batch_op.create_index("ix_devices_udi_di", ["udi_di"], unique=False)

    op.create_table(
        "recalls",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recall_number", sa.String(length=64), nullable=False),
        sa.Column("product_type", sa.String(length=8), nullable=False),
        sa.Column("classification", sa.String(length=4), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("firm", sa.Text(), nullable=True),
        sa.Column("product_description", sa.Text(), nullable=True),
        sa.Column(
            "product_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "product_keys",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("report_date", sa.Date(), nullable=True),
        sa.Column("initiation_date", sa.Date(), nullable=True),
        sa.Column("classification_date", sa.Date(), nullable=True),
        sa.Column("termination_date", sa.Date(), nullable=True),
        sa.Column("distribution", sa.Text(), nullable=True),
        sa.Column("country", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["source_snapshots.id"],
            name=op.f("fk_recalls_snapshot_id_source_snapshots"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recalls")),
        sa.UniqueConstraint(
            "source", "recall_number", name=op.f("uq_recalls_source_recall_number")
        ),
    )
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.create_index("ix_recalls_report_date", ["report_date"], unique=False)

    op.create_table(
        "reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("source_version", sa.Integer(), nullable=False),
        sa.Column("source_record_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("received_date", sa.Date(), nullable=True),
        sa.Column("received_precision", sa.String(length=1), nullable=True),
        sa.Column("event_date", sa.Date(), nullable=True),
        sa.Column("event_precision", sa.String(length=1), nullable=True),
        sa.Column("country", sa.String(length=64), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("age_years", sa.Float(), nullable=True),
        sa.Column("serious", sa.Boolean(), nullable=True),
        sa.Column("death", sa.Boolean(), nullable=False),
        sa.Column("life_threatening", sa.Boolean(), nullable=False),
        sa.Column("hospitalization", sa.Boolean(), nullable=False),
        sa.Column("disability", sa.Boolean(), nullable=False),
        sa.Column("congenital_anomaly", sa.Boolean(), nullable=False),
        sa.Column("required_intervention", sa.Boolean(), nullable=False),
        sa.Column("other_serious", sa.Boolean(), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=True),
        sa.Column("reporter_type", sa.String(length=64), nullable=True),
        sa.Column("narrative", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["source_snapshots.id"],
            name=op.f("fk_reports_snapshot_id_source_snapshots"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("source", "source_key", name=op.f("uq_reports_source_source_key")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_kind_received", ["kind", "received_date"], unique=False)
        batch_op.create_index("ix_reports_received_date", ["received_date"], unique=False)

    op.create_table(
        "report_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("term", sa.String(length=255), nullable=False),
        sa.Column("term_raw", sa.String(length=255), nullable=True),
        sa.Column("term_type", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_events_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_events")),
    )
    with op.batch_alter_table("report_events", schema=None) as batch_op:
        batch_op.create_index("ix_report_events_report_id", ["report_id"], unique=False)
        batch_op.create_index("ix_report_events_term", ["term", "report_id"], unique=False)

    op.create_table(
        "report_products",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("product_key", sa.String(length=255), nullable=False),
        sa.Column("raw_name", sa.Text(), nullable=True),
        sa.Column("product_code", sa.String(length=8), nullable=True),
        sa.Column("brand_name", sa.Text(), nullable=True),
        sa.Column("manufacturer", sa.Text(), nullable=True),
        sa.Column("route", sa.String(length=64), nullable=True),
        sa.Column("udi_di", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_products_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_products")),
    )
    with op.batch_alter_table("report_products", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_products_product_code", ["product_code", "report_id"], unique=False
        )
        batch_op.create_index(
            "ix_report_products_product_key", ["product_key", "report_id"], unique=False
        )
        batch_op.create_index("ix_report_products_report_id", ["report_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("report_products", schema=None) as batch_op:
        batch_op.drop_index("ix_report_products_report_id")
        batch_op.drop_index("ix_report_products_product_key")
        batch_op.drop_index("ix_report_products_product_code")

    op.drop_table("report_products")
    with op.batch_alter_table("report_events", schema=None) as batch_op:
        batch_op.drop_index("ix_report_events_term")
        batch_op.drop_index("ix_report_events_report_id")

    op.drop_table("report_events")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_received_date")
        batch_op.drop_index("ix_reports_kind_received")

    op.drop_table("reports")
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.drop_index("ix_recalls_report_date")

    op.drop_table("recalls")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_udi_di")
        batch_op.drop_index("ix_devices_manufacturer_srn")
        batch_op.drop_index("ix_devices_basic_udi_di")

    op.drop_table("devices")
    with op.batch_alter_table("source_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_snapshots_source"))

    op.drop_table("source_snapshots")

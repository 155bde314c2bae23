"""report_versions and audit_events: report versions (draft/approved) and the audit trail

An approved version is immutable and audit rows are append-only: triggers refuse the
forbidden UPDATE/DELETE on both SQLite and PostgreSQL, so no code path (nor a manual SQL
session) can rewrite them.

Revision ID: 0008_versions
Revises: 0008_inputs (re-chained after merging main)
Create Date: 2026-12-05 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_versions"
down_revision: str | None = "0008_inputs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPROVED_MSG = "report version is approved and immutable"
AUDIT_MSG = "audit_events is append-only"

PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION cerflow_refuse_approved_version_change() RETURNS trigger AS $$
BEGIN
    IF OLD.state = 'approved' THEN
        RAISE EXCEPTION '{APPROVED_MSG}' USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION cerflow_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{AUDIT_MSG}' USING ERRCODE = 'check_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trg_report_versions_immutable
    BEFORE UPDATE OR DELETE ON report_versions
    FOR EACH ROW EXECUTE FUNCTION cerflow_refuse_approved_version_change();

CREATE TRIGGER trg_audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION cerflow_refuse_audit_change();
"""

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER trg_report_versions_no_update BEFORE UPDATE ON report_versions
    WHEN OLD.state = 'approved' BEGIN SELECT RAISE(ABORT, '{APPROVED_MSG}'); END""",
    f"""CREATE TRIGGER trg_report_versions_no_delete BEFORE DELETE ON report_versions
    WHEN OLD.state = 'approved' BEGIN SELECT RAISE(ABORT, '{APPROVED_MSG}'); END""",
    f"""CREATE TRIGGER trg_audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{AUDIT_MSG}'); END""",
    f"""CREATE TRIGGER trg_audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{AUDIT_MSG}'); END""",
)


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    js = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.create_table(
        "report_versions",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("product_kind", sa.String(length=8), nullable=False),
        sa.Column("product_ref", sa.String(length=255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("facts_sha256", sa.String(length=64), nullable=False),
        sa.Column("facts", js, nullable=False),
        sa.Column("narrative", js, nullable=False),
        sa.Column("snapshots", js, nullable=False),
        sa.Column("generated_by_id", big, nullable=True),
        sa.Column("generated_by", sa.String(length=320), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by_id", big, nullable=True),
        sa.Column("approved_by", sa.String(length=320), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_versions")),
        sa.UniqueConstraint(
            "product_kind", "product_ref", "number", name="uq_report_versions_number"
        ),
    )
    op.create_index(
        op.f("ix_report_versions_report_id"), "report_versions", ["report_id"], unique=False
    )
    op.create_table(
        "audit_events",
        sa.Column("id", big, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor_id", big, nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("version_id", big, nullable=True),
        sa.Column("report_id", sa.String(length=64), nullable=True),
        sa.Column("product_kind", sa.String(length=8), nullable=True),
        sa.Column("product_ref", sa.String(length=255), nullable=True),
        sa.Column("facts_sha256", sa.String(length=64), nullable=True),
        sa.Column("snapshots", js, nullable=False),
        sa.Column("detail", js, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_version", "audit_events", ["version_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
    else:
        for ddl in SQLITE_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS trg_report_versions_immutable ON report_versions")
        op.execute("DROP FUNCTION IF EXISTS cerflow_refuse_audit_change()")
        op.execute("DROP FUNCTION IF EXISTS cerflow_refuse_approved_version_change()")
    op.drop_index("ix_audit_events_version", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index(op.f("ix_report_versions_report_id"), table_name="report_versions")
    op.drop_table("report_versions")

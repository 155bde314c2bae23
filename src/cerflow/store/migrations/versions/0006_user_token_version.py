"""users: token_version

Access tokens carry the user's token version; a role change, deactivation or password
change bumps it, so tokens issued before stop working within seconds instead of at their
expiry. Existing rows start at 0, which is also what tokens without the claim count as.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")

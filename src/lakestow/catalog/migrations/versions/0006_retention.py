"""Organizations keep overwritten and deleted objects for a retention period (the warehouse
trash): seconds, 30 days unless set, 0 for none. Existing organizations get the default.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

THIRTY_DAYS = 30 * 86400


def upgrade() -> None:
    with op.batch_alter_table("organizations") as table:
        table.add_column(
            sa.Column(
                "retention_seconds",
                sa.Integer(),
                nullable=False,
                server_default=sa.text(str(THIRTY_DAYS)),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations") as table:
        table.drop_column("retention_seconds")

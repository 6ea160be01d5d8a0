"""Sign-in attempts counted per (name, address), per address and per name, replacing the
per-name list of failures: the counters are bumped atomically before a password is checked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_counters",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", "address", name="pk_sign_in_counters"),
    )
    op.create_index("ix_sign_in_counters_window_start", "sign_in_counters", ["window_start"])
    op.drop_table("sign_in_failures")


def downgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sign_in_failures_name", "sign_in_failures", ["name"])
    op.create_index("ix_sign_in_failures_at", "sign_in_failures", ["at"])
    op.drop_table("sign_in_counters")

"""What quantum tasks used and cost, and per-user quotas of QPU seconds and cost.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("max_qpu_seconds", sa.Float))
        users.add_column(sa.Column("max_cost", sa.Float))
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("task", sa.Integer, nullable=False),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("qpu_seconds", sa.Float, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("circuits", sa.Integer, nullable=False),
        sa.Column("shots", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_usage_job_id", "usage", ["job_id"])
    op.create_index("ix_usage_owner_ts", "usage", ["owner", "ts"])


def downgrade() -> None:
    op.drop_table("usage")
    with op.batch_alter_table("users") as users:
        users.drop_column("max_cost")
        users.drop_column("max_qpu_seconds")

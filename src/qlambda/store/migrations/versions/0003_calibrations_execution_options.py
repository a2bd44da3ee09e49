"""Calibration snapshots with history; a job's default execution options.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("snapshot", sa.String(40), nullable=False),
        sa.Column("taken_at", sa.Float, nullable=False),
        sa.Column("device_date", sa.String(64)),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_calibrations_backend", "calibrations", ["backend"])
    op.create_index("ix_calibrations_taken_at", "calibrations", ["taken_at"])
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("execution_options", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("execution_options")
    op.drop_index("ix_calibrations_taken_at", "calibrations")
    op.drop_index("ix_calibrations_backend", "calibrations")
    op.drop_table("calibrations")

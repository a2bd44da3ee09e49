"""Retention: when a job's output was deleted; ended jobs by status and end time.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FINAL = ("DONE", "ERROR", "CANCELED", "DROPPED")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("output_deleted_at", sa.Float))
    op.create_index("ix_jobs_status_ended", "jobs", ["status", "ended_at", "id"])
    # Retention ages a job from its end; an ended job always has one from now on.
    table = sa.table(
        "jobs",
        sa.column("status", sa.String),
        sa.column("ended_at", sa.Float),
        sa.column("started_at", sa.Float),
        sa.column("created_at", sa.Float),
    )
    op.execute(
        table.update()
        .where(table.c.status.in_(FINAL) & table.c.ended_at.is_(None))
        .values(ended_at=sa.func.coalesce(table.c.started_at, table.c.created_at))
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_status_ended", "jobs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("output_deleted_at")

"""Per-user limits, token expiry and revocation, interrupted runs, idempotent submissions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("max_priority", sa.Float))
        users.add_column(sa.Column("max_active_jobs", sa.Integer))
        users.add_column(sa.Column("max_running_jobs", sa.Integer))
    with op.batch_alter_table("tokens") as tokens:
        tokens.add_column(sa.Column("expires_at", sa.Float))
        tokens.add_column(sa.Column("revoked_at", sa.Float))
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("interruptions", sa.Integer, nullable=False, server_default="0"))
        jobs.add_column(sa.Column("idempotency_key", sa.String(200)))
        jobs.add_column(sa.Column("request_digest", sa.String(64)))
    op.create_index(
        "ix_jobs_owner_idempotency_key", "jobs", ["owner", "idempotency_key"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_idempotency_key", "jobs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("request_digest")
        jobs.drop_column("idempotency_key")
        jobs.drop_column("interruptions")
    with op.batch_alter_table("tokens") as tokens:
        tokens.drop_column("revoked_at")
        tokens.drop_column("expires_at")
    with op.batch_alter_table("users") as users:
        users.drop_column("max_running_jobs")
        users.drop_column("max_active_jobs")
        users.drop_column("max_priority")

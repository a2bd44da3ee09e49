"""How a job's result is encoded (JSON, or a pickle only its owner decodes); the
directory an embedded job runs in; the uid each sandboxed tenant runs as.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("uid", sa.Integer, nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("result_format", sa.String(16)))
        jobs.add_column(sa.Column("cwd", sa.String(1000)))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("cwd")
        jobs.drop_column("result_format")
    op.drop_table("tenants")

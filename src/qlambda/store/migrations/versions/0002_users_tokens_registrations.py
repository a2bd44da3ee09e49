"""Users, their API tokens (hashes only) and their named functions; jobs by owner.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(200), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tokens_user", "tokens", ["user"])
    op.create_table(
        "registrations",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("function_id", sa.String(40), sa.ForeignKey("functions.id"), nullable=False),
        sa.Column("dependencies", sa.JSON),
        sa.Column("parameters", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_jobs_owner", "jobs", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner", "jobs")
    op.drop_table("registrations")
    op.drop_table("tokens")
    op.drop_table("users")

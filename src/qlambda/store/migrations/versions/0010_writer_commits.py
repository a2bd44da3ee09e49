"""Commits left in doubt: each store writer's last committed transaction, which it sets
in every transaction, so that a COMMIT whose answer was lost is known to have happened
or not (a transaction id is handed out again after a crash, so it cannot say).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "writer_commits",
        sa.Column("writer", sa.String(32), primary_key=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("writer_commits")

"""Job listings a page at a time, newest first, whatever the filter: indexes that end
in (created_at, id), so a page after a cursor is an index range (the dashboard's jobs
page with 100,000 jobs stored); quantum tasks by the time they finished (utilisation).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_jobs_created_id": ("jobs", ["created_at", "id"]),
    "ix_jobs_status_created_id": ("jobs", ["status", "created_at", "id"]),
    "ix_jobs_owner_status_created_id": ("jobs", ["owner", "status", "created_at", "id"]),
    "ix_jobs_function_created_id": ("jobs", ["function_name", "created_at", "id"]),
    "ix_quantum_tasks_finished_at": ("quantum_tasks", ["finished_at"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table)

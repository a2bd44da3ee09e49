"""The platform core's schema: functions, jobs, events, quantum tasks, checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "functions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("entrypoint", sa.String(300)),
        sa.Column("signature", sa.Text),
        sa.Column("cpus", sa.Integer, nullable=False),
        sa.Column("timeout_s", sa.Float),
        sa.Column("memory_mb", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_functions_name", "functions", ["name"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("function_id", sa.String(40), sa.ForeignKey("functions.id"), nullable=False),
        sa.Column("function_name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("priority", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sub_status", sa.String(200)),
        sa.Column("reason", sa.Text),
        sa.Column("traceback", sa.Text),
        sa.Column("arguments", sa.LargeBinary, nullable=False),
        sa.Column("result", sa.LargeBinary),
        sa.Column("result_path", sa.String(500)),
        sa.Column("log_path", sa.String(500)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON),
    )
    op.create_index("ix_events_job_id", "events", ["job_id"])
    op.create_table(
        "quantum_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("primitive", sa.String(16), nullable=False),
        sa.Column("num_qubits", sa.Integer, nullable=False),
        sa.Column("estimated_seconds", sa.Float),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("busy_seconds", sa.Float),
        sa.Column("simulated_seconds", sa.Float),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_quantum_tasks_job_id", "quantum_tasks", ["job_id"])
    op.create_table(
        "checkpoints",
        sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in ("checkpoints", "quantum_tasks", "events", "jobs", "functions"):
        op.drop_table(table)

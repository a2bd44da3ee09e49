"""One owner per job: control planes and their leases, jobs' owners, shared logs, the
quantum queue and backend leaders of replicas; on PostgreSQL, notifications of changes.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHANNEL = "qlambda"  # qlambda.platform.bus listens here

# Each change another replica must hear of is notified by the transaction that makes it,
# so that it is heard only once committed and never without being committed. Payloads are
# '|'-separated; the user name comes last (it never holds a '|', but nothing relies on it).
POSTGRES_TRIGGERS = [
    f"""
    CREATE FUNCTION qlambda_job_notice() RETURNS trigger AS $$
    DECLARE
        what text;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            what := 'submitted';
        ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
            what := CASE
                WHEN NEW.status = 'RUNNING' THEN 'started'
                WHEN NEW.status = 'QUEUED' THEN 'requeued'
                ELSE 'ended'
            END;
        ELSIF NEW.cancel_requested AND NOT OLD.cancel_requested THEN
            what := 'cancel';
        ELSE
            what := 'claimed';
        END IF;
        PERFORM pg_notify('{CHANNEL}', concat_ws('|', 'j', what, NEW.id, NEW.status,
                                                coalesce(NEW.controller, ''), NEW.owner));
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER qlambda_job_inserted AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION qlambda_job_notice()
    """,
    """
    CREATE TRIGGER qlambda_job_changed AFTER UPDATE ON jobs
    FOR EACH ROW WHEN (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.controller IS DISTINCT FROM NEW.controller
        OR (NEW.cancel_requested AND NOT OLD.cancel_requested)
    ) EXECUTE FUNCTION qlambda_job_notice()
    """,
    f"""
    CREATE FUNCTION qlambda_quantum_notice() RETURNS trigger AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', concat_ws('|', 'q', NEW.state, NEW.id, NEW.backend,
                                                NEW.requester, NEW.job_id));
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER qlambda_quantum_inserted AFTER INSERT ON quantum_queue
    FOR EACH ROW EXECUTE FUNCTION qlambda_quantum_notice()
    """,
    """
    CREATE TRIGGER qlambda_quantum_changed AFTER UPDATE ON quantum_queue
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION qlambda_quantum_notice()
    """,
    f"""
    CREATE FUNCTION qlambda_registration_notice() RETURNS trigger AS $$
    DECLARE
        changed registrations;
    BEGIN
        changed := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        PERFORM pg_notify('{CHANNEL}', concat_ws('|', 'r', changed.name, changed.owner));
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER qlambda_registration_changed AFTER INSERT OR UPDATE OR DELETE
    ON registrations FOR EACH ROW EXECUTE FUNCTION qlambda_registration_notice()
    """,
    f"""
    CREATE FUNCTION qlambda_user_notice() RETURNS trigger AS $$
    BEGIN
        IF TG_TABLE_NAME = 'tokens' THEN
            PERFORM pg_notify('{CHANNEL}', concat_ws('|', 'u', NEW."user"));
        ELSE
            PERFORM pg_notify('{CHANNEL}', concat_ws('|', 'u', NEW.name));
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER qlambda_token_changed AFTER UPDATE ON tokens
    FOR EACH ROW EXECUTE FUNCTION qlambda_user_notice()
    """,
    """
    CREATE TRIGGER qlambda_user_changed AFTER UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION qlambda_user_notice()
    """,
]

DROP_POSTGRES_TRIGGERS = [
    "DROP TRIGGER IF EXISTS qlambda_user_changed ON users",
    "DROP TRIGGER IF EXISTS qlambda_token_changed ON tokens",
    "DROP FUNCTION IF EXISTS qlambda_user_notice()",
    "DROP TRIGGER IF EXISTS qlambda_registration_changed ON registrations",
    "DROP FUNCTION IF EXISTS qlambda_registration_notice()",
    "DROP TRIGGER IF EXISTS qlambda_quantum_changed ON quantum_queue",
    "DROP TRIGGER IF EXISTS qlambda_quantum_inserted ON quantum_queue",
    "DROP FUNCTION IF EXISTS qlambda_quantum_notice()",
    "DROP TRIGGER IF EXISTS qlambda_job_changed ON jobs",
    "DROP TRIGGER IF EXISTS qlambda_job_inserted ON jobs",
    "DROP FUNCTION IF EXISTS qlambda_job_notice()",
]


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("controller", sa.String(100)))
        jobs.add_column(
            sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_index("ix_jobs_controller", "jobs", ["controller"])
    op.create_table(
        "controllers",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("data_dir", sa.String(1000), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("lease_expires_at", sa.Float, nullable=False),
        sa.Column("address", sa.String(300)),
        sa.Column("stopped_at", sa.Float),
    )
    op.create_index("ix_controllers_lease_expires_at", "controllers", ["lease_expires_at"])
    op.create_table(
        "job_logs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("file_offset", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_job_logs_job_id", "job_logs", ["job_id"])
    op.create_table(
        "backend_leases",
        sa.Column("backend", sa.String(100), primary_key=True),
        sa.Column("controller", sa.String(100), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
    )
    op.create_table(
        "quantum_queue",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("requester", sa.String(100), nullable=False),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("priority", sa.Float, nullable=False),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("leader", sa.String(100)),
        sa.Column("request", sa.LargeBinary, nullable=False),
        sa.Column("result", sa.LargeBinary),
    )
    op.create_index("ix_quantum_queue_job_id", "quantum_queue", ["job_id"])
    op.create_index("ix_quantum_queue_backend_state", "quantum_queue", ["backend", "state", "id"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP_POSTGRES_TRIGGERS:
            op.execute(statement)
    op.drop_table("quantum_queue")
    op.drop_table("backend_leases")
    op.drop_table("job_logs")
    op.drop_table("controllers")
    op.drop_index("ix_jobs_controller", "jobs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("cancel_requested")
        jobs.drop_column("controller")

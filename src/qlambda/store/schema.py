"""Tables of the store. Times are seconds since the epoch (floats)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

functions = sa.Table(
    "functions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # digest of what is shipped
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "pickle" | "source"
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("entrypoint", sa.String(300)),
    sa.Column("signature", sa.Text),
    sa.Column("cpus", sa.Integer, nullable=False, default=1),
    sa.Column("timeout_s", sa.Float),
    sa.Column("memory_mb", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("function_id", sa.String(40), sa.ForeignKey("functions.id"), nullable=False),
    sa.Column("function_name", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False, default="local", index=True),
    sa.Column("priority", sa.Float, nullable=False, default=1.0),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("sub_status", sa.String(200)),
    sa.Column("reason", sa.Text),
    sa.Column("traceback", sa.Text),
    sa.Column("arguments", sa.LargeBinary, nullable=False),
    sa.Column("result", sa.LargeBinary),
    sa.Column("result_path", sa.String(500)),
    sa.Column("result_format", sa.String(16)),  # json | pickle (None: stored before formats)
    sa.Column("log_path", sa.String(500)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("execution_options", sa.JSON),  # default options of the job's primitives
    sa.Column("cwd", sa.String(1000)),  # where it runs (embedded: the submitter's directory)
    # times the server stopped while the job ran: past a limit it is not run again
    sa.Column("interruptions", sa.Integer, nullable=False, server_default="0"),
    # a retried submission with the same key finds this job instead of storing another
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("request_digest", sa.String(64)),  # sha256 of what was asked with that key
    sa.Index("ix_jobs_owner_idempotency_key", "owner", "idempotency_key", unique=True),
    sa.Column("output_deleted_at", sa.Float),  # when retention deleted its result and logs
    # retention walks one status's ended jobs from the oldest on
    sa.Index("ix_jobs_status_ended", "status", "ended_at", "id"),
    # the control plane that owns it (qlambda.platform.controller); its lease is the job's
    sa.Column("controller", sa.String(100), index=True),
    # a cancel asked of a replica that does not own the job: its owner carries it out
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    # a page of jobs, newest first, after a cursor, whatever the filter (qlambda.store.pages)
    sa.Index("ix_jobs_created_id", "created_at", "id"),
    sa.Index("ix_jobs_status_created_id", "status", "created_at", "id"),
    sa.Index("ix_jobs_owner_status_created_id", "owner", "status", "created_at", "id"),
    sa.Index("ix_jobs_function_created_id", "function_name", "created_at", "id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), nullable=False, index=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("data", sa.JSON),
)

quantum_tasks = sa.Table(
    "quantum_tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("backend", sa.String(100), nullable=False),
    sa.Column("primitive", sa.String(16), nullable=False),
    sa.Column("num_qubits", sa.Integer, nullable=False),
    sa.Column("estimated_seconds", sa.Float),
    sa.Column("queued_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float, index=True),  # QPU utilisation over time
    sa.Column("busy_seconds", sa.Float),
    sa.Column("simulated_seconds", sa.Float),
    sa.Column("outcome", sa.String(16), nullable=False),  # done | error | canceled
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # "user" | "admin"
    sa.Column("created_at", sa.Float, nullable=False),
    # per-user limits set by admins; NULL: the server's default
    sa.Column("max_priority", sa.Float),
    sa.Column("max_active_jobs", sa.Integer),
    sa.Column("max_running_jobs", sa.Integer),
    sa.Column("max_qpu_seconds", sa.Float),  # quotas (qlambda.platform.usage)
    sa.Column("max_cost", sa.Float),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),  # sha256 of the secret, never the secret
    sa.Column("user", sa.String(200), sa.ForeignKey("users.name"), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),  # NULL: never
    sa.Column("revoked_at", sa.Float),  # set once revoked; the row stays as a record
)

registrations = sa.Table(
    "registrations",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("function_id", sa.String(40), sa.ForeignKey("functions.id"), nullable=False),
    sa.Column("dependencies", sa.JSON),
    sa.Column("parameters", sa.JSON),  # [{name, kind, required}] for checking arguments
    sa.Column("created_at", sa.Float, nullable=False),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),
)

# --- Calibration snapshots of the quantum backends (qlambda.platform.calibration) ----------
# One row per snapshot that differed from the backend's previous one: the history.

calibrations = sa.Table(
    "calibrations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("backend", sa.String(100), nullable=False, index=True),
    sa.Column("snapshot", sa.String(40), nullable=False),  # Calibration.id (content digest)
    sa.Column("taken_at", sa.Float, nullable=False, index=True),
    sa.Column("device_date", sa.String(64)),  # the device's own calibration timestamp
    sa.Column("step", sa.Integer, nullable=False, default=0),  # drift step (0: as shipped)
    sa.Column("data", sa.JSON, nullable=False),  # Calibration.to_json()
)

# --- Sandboxed tenants (qlambda.engine.local.sandbox): each runs as a uid of its own ----------

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("uid", sa.Integer, nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

# --- Control planes and what they own (qlambda.platform.controller) -------------------------
# A control plane's lease is renewed by its heartbeat; the jobs whose ``controller`` names it
# share it. Lease times are on the database's clock (PostgreSQL's; SQLite: the one host's).

controllers = sa.Table(
    "controllers",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),  # <host>-<pid>-<random>
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("data_dir", sa.String(1000), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),  # "single" | "replica"
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("lease_expires_at", sa.Float, nullable=False, index=True),
    sa.Column("address", sa.String(300)),  # where it serves HTTP, when it does
    sa.Column("stopped_at", sa.Float),  # set when it stopped cleanly
)

# A job's log as its owner shipped it, for every replica to read: chunks in order.
job_logs = sa.Table(
    "job_logs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), nullable=False, index=True),
    sa.Column("source", sa.String(1000), nullable=False),  # the log file the bytes come from
    sa.Column("file_offset", sa.BigInteger, nullable=False),  # where they start in that file
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# Which replica dispatches a backend's quantum tasks: the leader's lease is its controller's.
backend_leases = sa.Table(
    "backend_leases",
    metadata,
    sa.Column("backend", sa.String(100), primary_key=True),
    sa.Column("controller", sa.String(100), nullable=False),
    sa.Column("since", sa.Float, nullable=False),
)

# Quantum tasks waiting for, or running on, a backend led by another replica. The request
# and the result are the bytes the dispatcher forwards, never opened here.
quantum_queue = sa.Table(
    "quantum_queue",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), nullable=False, index=True),
    sa.Column("requester", sa.String(100), nullable=False),  # the controller of the job
    sa.Column("backend", sa.String(100), nullable=False),
    sa.Column("priority", sa.Float, nullable=False),
    sa.Column("queued_at", sa.Float, nullable=False),
    # pending | running | done | error | canceled
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("leader", sa.String(100)),  # who runs it
    sa.Column("request", sa.LargeBinary, nullable=False),
    sa.Column("result", sa.LargeBinary),  # done: the result; error: the error, as data
    sa.Index("ix_quantum_queue_backend_state", "backend", "state", "id"),
)

# --- What quantum tasks used and cost (qlambda.platform.usage) -------------------------------
# One row per quantum task that ran, kept apart from its job (no foreign key): retention may
# delete the job, its usage still counts against its owner's quota.
usage = sa.Table(
    "usage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("job_id", sa.String(40), nullable=False, index=True),
    sa.Column("task", sa.Integer, nullable=False),  # the quantum task's number
    sa.Column("backend", sa.String(100), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),  # when it finished
    sa.Column("qpu_seconds", sa.Float, nullable=False),
    sa.Column("cost", sa.Float, nullable=False),
    sa.Column("circuits", sa.Integer, nullable=False),
    sa.Column("shots", sa.BigInteger, nullable=False),
    sa.Index("ix_usage_owner_ts", "owner", "ts"),
)

# --- Commits left in doubt (qlambda.store.writer) ---------------------------------------------
# Each store writer on PostgreSQL numbers its transactions and sets its row here in each of
# them: after a connection lost during COMMIT, the row says whether that one committed. (A
# transaction id cannot say it: one never written to disk is handed out again after a crash.)
writer_commits = sa.Table(
    "writer_commits",
    metadata,
    sa.Column("writer", sa.String(32), primary_key=True),  # a random id per writer
    sa.Column("sequence", sa.BigInteger, nullable=False),  # its last committed transaction
)

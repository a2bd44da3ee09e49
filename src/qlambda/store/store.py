"""Persistence of functions, jobs, events, quantum tasks, checkpoints, users (SQLAlchemy 2).

The default is a SQLite file in write-ahead-log mode; any SQLAlchemy URL works
(``QLAMBDA_DATABASE_URL``). Reads use pooled connections (on PostgreSQL in autocommit:
one round trip a read, no BEGIN and ROLLBACK around it); writes go through the single
``StoreWriter`` so they batch into few commits. While the database cannot be reached,
writes wait and retry and reads raise ``StoreUnavailableError`` (``qlambda.store.faults``).
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from qlambda.core.events import Event, EventKind
from qlambda.core.states import JobStatus
from qlambda.store import migrate, schema
from qlambda.store.faults import (
    Health,
    check_psycopg_connection,
    is_connection_error,
)
from qlambda.store.pages import (
    Cursor,
    JobFilter,
    job_page_statements,
    matching_names,
    merge_newest_first,
)
from qlambda.store.writer import PATIENCE, PendingWrite, StoreWriter

UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
ROLES = ("user", "admin")
TOKEN_PREFIX = "qlk_"
TOKEN_ID_LENGTH = 12
USER_LIMITS = (
    "max_priority",
    "max_active_jobs",
    "max_running_jobs",
    "max_qpu_seconds",
    "max_cost",
)
QUOTA_LIMITS = ("max_qpu_seconds", "max_cost")  # numbers >= 0, not counts
CONNECT_TIMEOUT = 5  # seconds: an unreachable PostgreSQL host fails a request, not hangs it
PROBE_INTERVAL = 1.0  # seconds between two readiness checks that reach the database


def token_digest(token: str) -> str:
    """What the store keeps of a token: a secret that cannot be read back from it."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(digest: str) -> str:
    """How a token is named in listings and revocations: the start of its digest."""
    return digest[:TOKEN_ID_LENGTH]


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, synchronous: str) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Store:
    """``synchronous`` (SQLite only): NORMAL survives process crashes; FULL also power loss."""

    def __init__(self, url: str, *, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in {"NORMAL", "FULL"}:
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.url = url
        dialect = sa.engine.make_url(url).get_backend_name()
        postgres = dialect == "postgresql"
        connect_args = {"connect_timeout": CONNECT_TIMEOUT} if postgres else {}
        self.engine = sa.create_engine(url, connect_args=connect_args)
        if self.engine.dialect.name == "sqlite":
            level = synchronous.upper()
            sa.event.listen(
                self.engine,
                "connect",
                lambda conn, record: _sqlite_pragmas(conn, record, level),
            )
        elif postgres and self.engine.dialect.driver == "psycopg":
            sa.event.listen(self.engine, "checkout", check_psycopg_connection)
        self._reader = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else self.engine
        )
        self.health = Health()
        self._probed_at = -PROBE_INTERVAL
        migrate.upgrade(self.engine)
        self.writer = StoreWriter(self.engine, health=self.health)

    @classmethod
    def open(cls, data_dir: str | Path) -> Store:
        url = os.environ.get("QLAMBDA_DATABASE_URL") or sqlite_url(Path(data_dir) / "qlambda.db")
        return cls(url)

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()

    # ----------------------------------------------------------------- health
    @property
    def available(self) -> bool:
        """False while the database is known to be unreachable (cheap: no I/O)."""
        return self.health.available

    def check_available(self) -> None:
        """Raise ``StoreUnavailableError`` while the database is known to be unreachable:
        what a new submission checks first, to be refused at once rather than wait."""
        if not self.health.available:
            raise self.health.unavailable()

    def committed(self, stored: PendingWrite, patience: float = PATIENCE) -> Any:
        """The write's result once committed (``StoreWriter.committed``: while the
        database cannot be reached, a write not yet attempted is given up after
        ``patience`` seconds and ``StoreUnavailableError`` raised)."""
        return self.writer.committed(stored, patience)

    def probe(self) -> bool:
        """Whether the database answers now (asked at most once a ``PROBE_INTERVAL``;
        in between, what is known)."""
        now = time.monotonic()
        if now - self._probed_at >= PROBE_INTERVAL:
            self._probed_at = now
            try:
                with self._reader.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                self.health.down(exc)
            else:
                self.health.up()
        return self.health.available

    # ----------------------------------------------------------------- writes
    def put_function(self, row: dict[str, Any]) -> PendingWrite:
        def write(conn: sa.Connection) -> None:
            exists = conn.execute(
                sa.select(schema.functions.c.id).where(schema.functions.c.id == row["id"])
            ).first()
            if exists is None:
                conn.execute(schema.functions.insert().values(**row))

        return self.writer.submit(write)

    def insert_job(self, row: dict[str, Any], *events: Event) -> PendingWrite:
        """Store a new job with its first events; the Future resolves once committed
        (``withdraw`` it to give the submission up while it is still queued)."""
        return self.writer.submit(
            None,
            inserted=(schema.jobs, [row]),
            appended=(schema.events, [_event_row(e) for e in events]),
        )

    def update_job(self, job_id: str, fields: dict[str, Any], *events: Event) -> PendingWrite:
        return self.writer.submit(
            None,
            updated=(schema.jobs, job_id, fields) if fields else None,
            appended=(schema.events, [_event_row(e) for e in events]),
        )

    def end_owned(
        self, job_id: str, controller: str, fields: dict[str, Any], *events: Event
    ) -> PendingWrite:
        """A job's end, stored only while ``controller`` owns the job: the write's result
        is False (nothing stored) when another control plane has claimed it since. Grouped
        with the batch's other updates, as ``update_job`` is."""
        return self.writer.submit(
            None,
            updated=(schema.jobs, job_id, fields),
            appended=(schema.events, [_event_row(e) for e in events]),
            only_if=("controller", controller),
        )

    def set_sub_status(self, job_id: str, text: str, event: Event) -> PendingWrite:
        """A running job's own status text, in its row (replicas read it there)."""
        return self.writer.submit(
            None,
            urgent=False,
            updated=(schema.jobs, job_id, {"sub_status": text}),
            appended=(schema.events, [_event_row(event)]),
        )

    def add_events(self, events: Sequence[Event]) -> PendingWrite:
        """Record events; they may wait a few milliseconds to share a commit."""
        return self.writer.submit(
            None, urgent=False, appended=(schema.events, [_event_row(e) for e in events])
        )

    def add_quantum_task(
        self, row: dict[str, Any], usage: dict[str, Any] | None = None
    ) -> PendingWrite:
        """A quantum task's row, and what it used (``usage``, its ``owner`` None when this
        control plane does not know it: then it is the owner of the task's job)."""
        if usage is None:
            return self.writer.submit(None, urgent=False, appended=(schema.quantum_tasks, [row]))
        if usage.get("owner") is not None:
            return self.writer.submit(
                None,
                urgent=False,
                inserted=(schema.usage, [usage]),
                appended=(schema.quantum_tasks, [row]),
            )
        table, jobs = schema.usage, schema.jobs
        values = {k: v for k, v in usage.items() if k != "owner"}
        columns = ["owner", *values]
        owner_of_job = sa.select(
            jobs.c.owner, *(sa.literal(v, table.c[k].type) for k, v in values.items())
        ).where(jobs.c.id == usage["job_id"])
        return self.writer.submit(
            lambda conn: conn.execute(table.insert().from_select(columns, owner_of_job)),
            urgent=False,
            appended=(schema.quantum_tasks, [row]),
        )

    def usage_totals(
        self,
        *,
        owner: str | None = None,
        job_id: str | None = None,
        since: float | None = None,
        by: str | None = None,
    ) -> list[dict[str, Any]]:
        """QPU seconds, cost and tasks summed over usage rows (``by``: one row per
        ``owner``, ``backend`` or ``job_id``; None: one row in all)."""
        table = schema.usage
        keys = [] if by is None else [table.c[by]]
        statement = sa.select(
            *keys,
            sa.func.coalesce(sa.func.sum(table.c.qpu_seconds), 0.0).label("qpu_seconds"),
            sa.func.coalesce(sa.func.sum(table.c.cost), 0.0).label("cost"),
            sa.func.count().label("tasks"),
        )
        if owner is not None:
            statement = statement.where(table.c.owner == owner)
        if job_id is not None:
            statement = statement.where(table.c.job_id == job_id)
        if since is not None:
            statement = statement.where(table.c.ts >= since)
        if keys:
            statement = statement.group_by(*keys).order_by(*keys)
        return [
            {**row, "qpu_seconds": float(row["qpu_seconds"]), "cost": float(row["cost"])}
            for row in self._all(statement)
        ]

    def save_checkpoint(
        self, job_id: str, ts: float, state: bytes, *, urgent: bool = True
    ) -> PendingWrite:
        def write(conn: sa.Connection) -> None:
            table = schema.checkpoints
            done = conn.execute(
                table.update().where(table.c.job_id == job_id).values(ts=ts, state=state)
            )
            if done.rowcount == 0:
                conn.execute(table.insert().values(job_id=job_id, ts=ts, state=state))

        event = Event(job_id, ts, EventKind.CHECKPOINT, {"bytes": len(state)})
        return self.writer.submit(
            write, urgent=urgent, appended=(schema.events, [_event_row(event)])
        )

    # ----------------------------------------------------------- users, tokens
    def create_user(
        self, name: str, role: str = "user", *, expires_at: float | None = None, **limits: Any
    ) -> str:
        """Add a user and return a new API token for them (shown once, stored hashed).
        ``limits``: ``max_priority``, ``max_active_jobs``, ``max_running_jobs``,
        ``max_qpu_seconds``, ``max_cost``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not name or len(name) > 200 or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(
                f"user name {name!r} is not accepted: use 1-200 letters, digits, '-' or '_'"
            )
        values = _user_limits(limits)
        if self.get_user(name) is not None:
            raise ValueError(f"user {name!r} already exists")
        now = time.time()
        self.committed(
            self.writer.submit(
                lambda conn: conn.execute(
                    schema.users.insert().values(name=name, role=role, created_at=now, **values)
                )
            )
        )
        return self.create_token(name, expires_at=expires_at)

    def set_user_limits(self, name: str, **limits: Any) -> dict[str, Any]:
        """Change some of a user's limits (None: back to the server's default)."""
        values = _user_limits(limits)
        if self.get_user(name) is None:
            raise ValueError(f"no user {name!r}")
        if values:
            table = schema.users
            self.committed(
                self.writer.submit(
                    lambda conn: conn.execute(
                        table.update().where(table.c.name == name).values(**values)
                    )
                )
            )
        row = self.get_user(name)
        assert row is not None
        return row

    def create_token(self, user: str, *, expires_at: float | None = None) -> str:
        if expires_at is not None and not expires_at > time.time():
            raise ValueError("a token's expiry must be in the future")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {
            "digest": token_digest(token),
            "user": user,
            "created_at": time.time(),
            "expires_at": expires_at,
        }
        self.committed(
            self.writer.submit(lambda conn: conn.execute(schema.tokens.insert().values(**row)))
        )
        return token

    def get_user(self, name: str) -> dict[str, Any] | None:
        rows = self._all(sa.select(schema.users).where(schema.users.c.name == name))
        return rows[0] if rows else None

    def list_users(self) -> list[dict[str, Any]]:
        return self._all(sa.select(schema.users).order_by(schema.users.c.name))

    def user_for_token(self, token: str) -> dict[str, Any] | None:
        """The user a token belongs to with the token's ``token_id``, ``expires_at`` and
        ``revoked_at`` (the caller refuses an expired or revoked one); None if unknown."""
        users, tokens = schema.users, schema.tokens
        statement = (
            sa.select(users, tokens.c.digest, tokens.c.expires_at, tokens.c.revoked_at)
            .join(tokens, tokens.c.user == users.c.name)
            .where(tokens.c.digest == token_digest(token))
        )
        rows = self._all(statement)
        if not rows:
            return None
        row = rows[0]
        row["token_id"] = token_id(row.pop("digest"))
        return row

    def tokens(self, user: str) -> list[dict[str, Any]]:
        """A user's tokens, oldest first: their ids (never the secrets), creation, expiry,
        revocation."""
        table = schema.tokens
        rows = self._all(sa.select(table).where(table.c.user == user).order_by(table.c.created_at))
        return [{"id": token_id(row.pop("digest")), **row} for row in rows]

    def revoke_tokens(self, user: str, token: str | None = None) -> list[str]:
        """Revoke all of a user's live tokens, or the one whose id (or a longer prefix of
        its id) or secret is ``token``; returns the ids revoked."""
        table = schema.tokens
        live = [row for row in self.tokens(user) if row["revoked_at"] is None]
        if token is not None:
            wanted = token_id(token_digest(token)) if token.startswith(TOKEN_PREFIX) else token
            if len(wanted) < 6:
                raise ValueError("give at least 6 characters of the token's id")
            known = [row for row in self.tokens(user) if row["id"].startswith(wanted.lower())]
            if not known:
                listed = ", ".join(row["id"] for row in live) or "none"
                raise ValueError(f"user {user!r} has no token {token!r}; live tokens: {listed}")
            if len(known) > 1:
                raise ValueError(f"{token!r} matches {len(known)} tokens; give more of the id")
            live = [row for row in known if row["revoked_at"] is None]
        ids = [row["id"] for row in live]
        if ids:
            now = time.time()
            prefixes = [table.c.digest.startswith(i) for i in ids]
            self.committed(
                self.writer.submit(
                    lambda conn: conn.execute(
                        table.update()
                        .where((table.c.user == user) & sa.or_(*prefixes))
                        .values(revoked_at=now)
                    )
                )
            )
        return ids

    # --------------------------------------------------------------- tenants
    def tenant_uid(self, name: str, base: int) -> int:
        """The uid a tenant's sandboxed jobs run as: ``base`` + n, the same for good."""
        table = schema.tenants

        def assign(conn: sa.Connection) -> int:
            found = conn.execute(sa.select(table.c.uid).where(table.c.name == name)).scalar()
            if found is not None:
                return int(found)
            highest = conn.execute(
                sa.select(sa.func.max(table.c.uid)).where(table.c.uid >= base)
            ).scalar()
            uid = base + 1 if highest is None else int(highest) + 1
            conn.execute(table.insert().values(name=name, uid=uid, created_at=time.time()))
            return uid

        return int(self.committed(self.writer.submit(assign)))

    # ----------------------------------------------------------- registrations
    def register(self, row: dict[str, Any]) -> PendingWrite:
        """Name a stored function for one owner (a newer registration replaces the older)."""
        table = schema.registrations

        def write(conn: sa.Connection) -> None:
            key = (table.c.owner == row["owner"]) & (table.c.name == row["name"])
            conn.execute(table.delete().where(key))
            conn.execute(table.insert().values(**row))

        return self.writer.submit(write)

    def registration(self, owner: str, name: str) -> dict[str, Any] | None:
        table = schema.registrations
        rows = self._all(sa.select(table).where((table.c.owner == owner) & (table.c.name == name)))
        return rows[0] if rows else None

    def registrations(self, owner: str | None = None) -> list[dict[str, Any]]:
        table = schema.registrations
        statement = sa.select(table).order_by(table.c.owner, table.c.name)
        if owner is not None:
            statement = statement.where(table.c.owner == owner)
        return self._all(statement)

    # ------------------------------------------------------------------ reads
    def _all(self, statement: sa.Executable) -> list[dict[str, Any]]:
        """The rows of a read. A pooled connection the server dropped is replaced once;
        an unreachable database raises ``StoreUnavailableError``."""
        for attempt in (1, 2):
            try:
                with self._reader.connect() as conn:
                    rows = [dict(row._mapping) for row in conn.execute(statement)]
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                stale = isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
                if attempt == 1 and stale:
                    continue  # the pool is emptied: the next try opens a new connection
                self.health.down(exc)
                raise self.health.unavailable() from exc
            self.health.up()
            return rows
        raise AssertionError("unreachable")

    def get_function(self, function_id: str) -> dict[str, Any] | None:
        rows = self._all(sa.select(schema.functions).where(schema.functions.c.id == function_id))
        return rows[0] if rows else None

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        rows = self._all(sa.select(schema.jobs).where(schema.jobs.c.id == job_id))
        return rows[0] if rows else None

    def list_jobs(
        self,
        *,
        statuses: Iterable[str] | None = None,
        owner: str | None = None,
        function: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[dict[str, Any]]:
        table = schema.jobs
        columns = [c for c in table.c if c.name not in ("arguments", "result")]
        statement = sa.select(*columns)
        if statuses is not None:
            statement = statement.where(table.c.status.in_(list(statuses)))
        if owner is not None:
            statement = statement.where(table.c.owner == owner)
        if function is not None:
            statement = statement.where(table.c.function_name == function)
        if newest_first:
            statement = statement.order_by(table.c.created_at.desc(), table.c.id.desc())
        else:
            statement = statement.order_by(table.c.created_at.asc(), table.c.id.asc())
        statement = statement.offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        return self._all(statement)

    def job_page(
        self, which: JobFilter, before: Cursor | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """A page of jobs newest first, after the cursor ``before`` (``qlambda.store.pages``):
        an index range however deep the page, with 100,000 jobs as with 10."""
        table = schema.jobs
        columns = [c for c in table.c if c.name not in ("arguments", "result", "traceback")]
        names = None
        if which.search:
            names = [row["name"] for row in self._all(matching_names(which.search))]
        statements = job_page_statements(columns, which, before, limit, names)
        pages = [self._all(s) for s in statements]
        return merge_newest_first(pages, limit)

    def job_counts(self, by: str = "owner") -> list[dict[str, Any]]:
        """Jobs per ``by`` (``owner`` or ``function_name``) and status."""
        table = schema.jobs
        column = table.c[by]
        statement = sa.select(column, table.c.status, sa.func.count().label("jobs")).group_by(
            column, table.c.status
        )
        return self._all(statement)

    def quantum_tasks_between(self, start: float, end: float) -> list[dict[str, Any]]:
        """Quantum tasks that finished in [start, end), by their finish time."""
        table = schema.quantum_tasks
        return self._all(
            sa.select(table.c.backend, table.c.started_at, table.c.finished_at, table.c.outcome)
            .where(table.c.finished_at >= start, table.c.finished_at < end)
            .order_by(table.c.finished_at)
        )

    def job_ids_starting_with(
        self, prefix: str, owner: str | None = None, limit: int | None = None
    ) -> list[str]:
        """Ids of the jobs (of ``owner``) whose id starts with ``prefix``, oldest first."""
        table = schema.jobs
        statement = sa.select(table.c.id).where(table.c.id.startswith(prefix, autoescape=True))
        if owner is not None:
            statement = statement.where(table.c.owner == owner)
        statement = statement.order_by(table.c.id).limit(limit)
        return [row["id"] for row in self._all(statement)]

    def job_for_key(self, owner: str, key: str) -> dict[str, Any] | None:
        """The job ``owner`` submitted with this idempotency key, if any."""
        table = schema.jobs
        rows = self._all(
            sa.select(table.c.id, table.c.request_digest).where(
                (table.c.owner == owner) & (table.c.idempotency_key == key)
            )
        )
        return rows[0] if rows else None

    def active_elsewhere(self, owner: str, controller: str) -> int:
        """The owner's jobs not ended that ``controller`` does not own."""
        table = schema.jobs
        statement = sa.select(sa.func.count()).where(
            table.c.status.in_(UNFINISHED),
            table.c.owner == owner,
            sa.or_(table.c.controller.is_(None), table.c.controller != controller),
        )
        rows = self._all(statement)
        return int(next(iter(rows[0].values())))

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        table = schema.jobs
        return self._all(
            sa.select(table).where(table.c.status.in_(UNFINISHED)).order_by(table.c.created_at)
        )

    def events(self, job_id: str | None = None) -> list[Event]:
        table = schema.events
        statement = sa.select(table).order_by(table.c.ts, table.c.id)
        if job_id is not None:
            statement = statement.where(table.c.job_id == job_id)
        return [
            Event(row["job_id"], row["ts"], EventKind(row["kind"]), row["data"] or {})
            for row in self._all(statement)
        ]

    def quantum_tasks(self, job_id: str | None = None) -> list[dict[str, Any]]:
        table = schema.quantum_tasks
        statement = sa.select(table).order_by(table.c.job_id, table.c.seq)
        if job_id is not None:
            statement = statement.where(table.c.job_id == job_id)
        return self._all(statement)

    def load_checkpoint(self, job_id: str) -> bytes | None:
        table = schema.checkpoints
        rows = self._all(sa.select(table.c.state).where(table.c.job_id == job_id))
        return rows[0]["state"] if rows else None

    # ----------------------------------------------------------- calibrations
    def add_calibration(self, row: dict[str, Any]) -> PendingWrite:
        return self.writer.submit(
            lambda conn: conn.execute(schema.calibrations.insert(), [row]), urgent=False
        )

    def calibrations(self, backend: str, limit: int | None = None) -> list[dict[str, Any]]:
        """A backend's calibration snapshots, newest first."""
        table = schema.calibrations
        statement = (
            sa.select(table)
            .where(table.c.backend == backend)
            .order_by(table.c.taken_at.desc(), table.c.id.desc())
        )
        if limit is not None:
            statement = statement.limit(limit)
        return self._all(statement)


def _user_limits(limits: dict[str, Any]) -> dict[str, Any]:
    unknown = set(limits) - set(USER_LIMITS)
    if unknown:
        raise ValueError(f"unknown user limit(s) {sorted(unknown)}; accepted: {USER_LIMITS}")
    for label, value in limits.items():
        if value is None:
            continue
        if label == "max_priority":
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"max_priority must be a positive number, not {value!r}")
        elif label in QUOTA_LIMITS:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{label} must be a finite number >= 0, not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive integer, not {value!r}")
    return dict(limits)


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "job_id": event.job_id,
        "ts": event.ts,
        "kind": event.kind.value,
        "data": event.data or None,
    }

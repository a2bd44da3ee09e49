"""Control planes, their leases and the jobs they own, as the database holds them.

A control plane (``qlambda.platform.controller``) has a row in ``controllers`` whose lease
its heartbeat renews; a job's ``controller`` names its owner, so a job's lease is its
owner's. Lease times are read and written on the database's own clock (PostgreSQL's
``clock_timestamp()``; SQLite's ``julianday('now')``), so replicas on several machines
need no synchronised clocks. Every function here takes a connection inside a transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from qlambda.core.errors import ConfigurationError
from qlambda.store import schema
from qlambda.store.store import UNFINISHED

MODES = ("single", "replica")
CHANNEL = "qlambda"  # PostgreSQL notifications (migration 0007, qlambda.platform.bus)
REGISTRATION_LOCK = 7164372  # concurrent starts against one PostgreSQL take turns
FORGET_AFTER = 86_400.0  # a controller stopped this long ago, owning nothing, is forgotten


class DatabaseInUseError(ConfigurationError):
    """The database is used by a live control plane in a way that excludes this one."""


def db_now(conn: sa.Connection) -> sa.ColumnElement[Any]:
    """The database's clock, in seconds since the epoch, as a SQL expression."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
    return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)", sa.Float)


def _live(conn: sa.Connection) -> sa.ColumnElement[bool]:
    return schema.controllers.c.lease_expires_at > db_now(conn)


def register(
    conn: sa.Connection, row: dict[str, Any], lease: float, *, others_dead: bool = False
) -> None:
    """Record a starting control plane, or raise ``DatabaseInUseError``.

    A ``single`` control plane must be the only live one; ``replica`` ones share the
    database with each other only. Earlier control planes of this host and data directory
    are dead (the caller holds the directory's lock), as are all others when
    ``others_dead`` (the caller holds the SQLite file's lock): their leases end now, so
    their jobs are claimed at once instead of a lease later.
    """
    table = schema.controllers
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(REGISTRATION_LOCK)))
    now = db_now(conn)
    dead = (table.c.host == row["host"]) & (table.c.data_dir == row["data_dir"])
    if others_dead:
        dead = sa.true()
    conn.execute(
        table.update().where(dead, table.c.lease_expires_at > now).values(lease_expires_at=now)
    )
    live = [dict(r._mapping) for r in conn.execute(sa.select(table).where(_live(conn)))]
    conflicting = [r for r in live if row["mode"] == "single" or r["mode"] == "single"]
    if conflicting:
        raise DatabaseInUseError(_in_use(conflicting[0], row["mode"]))
    owning = sa.select(schema.jobs.c.controller).where(
        schema.jobs.c.status.in_(UNFINISHED), schema.jobs.c.controller.is_not(None)
    )
    conn.execute(
        table.delete().where(
            table.c.lease_expires_at < now - FORGET_AFTER, table.c.id.not_in(owning)
        )
    )
    conn.execute(table.insert().values(**row, lease_expires_at=now + lease))


def _in_use(holder: dict[str, Any], mode: str) -> str:
    who = (
        f"control plane {holder['id']} (process {holder['pid']} on {holder['host']}, "
        f"data directory {holder['data_dir']!r})"
    )
    if mode == "single" and holder["mode"] == "replica":
        return (
            f"the database is in use by replicas, among them {who}; start this server as "
            "one of them ([platform] replica = true, `qlambda serve --replica`), or stop them"
        )
    if mode == "replica":
        return (
            f"the database is in use by {who}, which does not share it; restart it as a "
            "replica ([platform] replica = true, `qlambda serve --replica`) to add replicas"
        )
    return (
        f"the database is in use by {who}; one server uses a database unless every one is "
        "a replica ([platform] replica = true on PostgreSQL, see docs/team.md); stop it first"
    )


def renew(conn: sa.Connection, controller: str, lease: float, *, lapsed_ok: bool) -> bool:
    """Extend the lease by ``lease`` seconds from now. False when it had lapsed already
    (others may have taken what it owned), unless ``lapsed_ok``."""
    table = schema.controllers
    now = db_now(conn)
    condition = table.c.id == controller
    if not lapsed_ok:
        condition = condition & (table.c.lease_expires_at > now)
    done = conn.execute(table.update().where(condition).values(lease_expires_at=now + lease))
    return done.rowcount == 1


def others_live(conn: sa.Connection, controller: str) -> list[str]:
    table = schema.controllers
    statement = sa.select(table.c.id).where(_live(conn), table.c.id != controller)
    return [r[0] for r in conn.execute(statement)]


def notify(conn: sa.Connection, kind: str, *fields: str) -> None:
    """Tell the other replicas (PostgreSQL), once this transaction commits."""
    if conn.dialect.name == "postgresql":
        payload = "|".join((kind, *fields))
        conn.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


def release(conn: sa.Connection, controller: str) -> None:
    """A clean stop: the lease ends now (what it owned may be claimed at once, and the
    other replicas hear of it), and the backends it led are free."""
    table = schema.controllers
    conn.execute(
        table.update()
        .where(table.c.id == controller)
        .values(lease_expires_at=db_now(conn), stopped_at=time.time())
    )
    leases = schema.backend_leases
    conn.execute(leases.delete().where(leases.c.controller == controller))
    notify(conn, "c", "stopped", controller)


def set_address(conn: sa.Connection, controller: str, address: str) -> None:
    table = schema.controllers
    conn.execute(table.update().where(table.c.id == controller).values(address=address))


def claim_jobs(conn: sa.Connection, controller: str, limit: int) -> list[dict[str, Any]]:
    """Take up to ``limit`` unfinished jobs that no live control plane owns, oldest first,
    and return their rows. Rows another claimer has locked are skipped, not waited for."""
    jobs, controllers = schema.jobs, schema.controllers
    live = sa.select(controllers.c.id).where(_live(conn))
    statement = (
        sa.select(jobs)
        .where(
            jobs.c.status.in_(UNFINISHED),
            sa.or_(jobs.c.controller.is_(None), jobs.c.controller.not_in(live)),
        )
        .order_by(jobs.c.created_at, jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=jobs)
    )
    rows = [dict(r._mapping) for r in conn.execute(statement)]
    if rows:
        conn.execute(
            jobs.update()
            .where(jobs.c.id.in_([r["id"] for r in rows]))
            .values(controller=controller)
        )
    for row in rows:
        row["previous_controller"], row["controller"] = row["controller"], controller
    return rows


def controllers(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every known control plane, with whether its lease is live (``live``)."""
    table = schema.controllers
    statement = sa.select(table, _live(conn).label("live")).order_by(table.c.started_at)
    return [dict(r._mapping) for r in conn.execute(statement)]


def request_cancel(job_id: str) -> Callable[[sa.Connection], bool]:
    """Ask a job's owner to cancel it (it hears of it; a claimer of the job ends it
    CANCELED instead of running it); False when it has ended."""

    def write(conn: sa.Connection) -> bool:
        jobs = schema.jobs
        done = conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status.in_(UNFINISHED))
            .values(cancel_requested=True)
        )
        return bool(done.rowcount == 1)

    return write


def cancels_asked(conn: sa.Connection, controller: str) -> list[str]:
    """Unfinished jobs of ``controller`` whose cancel was asked (notifications missed)."""
    jobs = schema.jobs
    statement = sa.select(jobs.c.id).where(
        jobs.c.controller == controller,
        jobs.c.cancel_requested.is_(True),
        jobs.c.status.in_(UNFINISHED),
    )
    return [r[0] for r in conn.execute(statement)]

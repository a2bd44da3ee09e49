"""What the retention policy reads and deletes in the database, a batch at a time.

Jobs are walked per status from the oldest end on, by ``(ended_at, id)`` (the index
``ix_jobs_status_ended``), with keyset pagination so that a dry run, which deletes
nothing, pages exactly like a real one. Every statement re-checks that a job has
ended: an unfinished job is never touched, whatever the caller passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import sqlalchemy as sa

from qlambda.core.states import JobStatus
from qlambda.store import schema

FINAL = tuple(s.value for s in JobStatus if s.is_final)
Position = tuple[float, str]  # (ended_at, id): jobs sort by their end, then id


@dataclass(frozen=True)
class Candidate:
    id: str
    owner: str  # a sandboxed tenant's files are in its own folder
    ended_at: float
    result_path: str | None
    stored_bytes: int  # its inline result, arguments and checkpoint in the database


def nth_newest(store: Any, status: str, n: int) -> Position | None:
    """The position of the ``n``-th newest ended job of ``status`` (None if fewer)."""
    jobs = schema.jobs
    statement = (
        sa.select(jobs.c.ended_at, jobs.c.id)
        .where(jobs.c.status == status)
        .order_by(jobs.c.ended_at.desc(), jobs.c.id.desc())
        .offset(n - 1)
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(statement).first()
    return None if row is None else (row[0], row[1])


def candidates(
    store: Any,
    status: str,
    *,
    before: Position,
    after: Position | None = None,
    from_: Position | None = None,
    output_kept: bool = False,
    limit: int = 500,
) -> list[Candidate]:
    """Ended jobs of ``status`` positioned before ``before``, oldest first: past ``after``
    (exclusive; the last one of the previous page) or from ``from_`` (inclusive);
    ``output_kept``: only those whose output has not been deleted yet."""
    if status not in FINAL:
        raise ValueError(f"only ended jobs are ever deleted, not {status} ones")
    jobs = schema.jobs
    position = sa.tuple_(jobs.c.ended_at, jobs.c.id)
    conditions = [
        jobs.c.status == status,
        jobs.c.ended_at.is_not(None),
        position < sa.tuple_(sa.literal(before[0]), sa.literal(before[1])),
    ]
    if after is not None:
        conditions.append(position > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
    elif from_ is not None:
        conditions.append(position >= sa.tuple_(sa.literal(from_[0]), sa.literal(from_[1])))
    if output_kept:
        conditions.append(jobs.c.output_deleted_at.is_(None))
    checkpoints = schema.checkpoints
    stored = (
        sa.func.coalesce(sa.func.length(jobs.c.result), 0)
        + sa.func.coalesce(sa.func.length(jobs.c.arguments), 0)
        + sa.func.coalesce(sa.func.length(checkpoints.c.state), 0)
    )
    statement = (
        sa.select(
            jobs.c.id, jobs.c.owner, jobs.c.ended_at, jobs.c.result_path, stored.label("stored")
        )
        .select_from(jobs.outerjoin(checkpoints, checkpoints.c.job_id == jobs.c.id))
        .where(*conditions)
        .order_by(jobs.c.ended_at, jobs.c.id)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(statement).all()
    return [Candidate(r.id, r.owner, r.ended_at, r.result_path, r.stored) for r in rows]


def related(store: Any, ids: Sequence[str]) -> dict[str, int]:
    """Events and quantum tasks of these jobs (what deleting them whole also deletes)."""
    counts = {"events": 0, "quantum_tasks": 0}
    if not ids:
        return counts
    with store.engine.connect() as conn:
        for table in (schema.events, schema.quantum_tasks):
            counts[table.name] = conn.execute(
                sa.select(sa.func.count()).where(table.c.job_id.in_(ids))
            ).scalar_one()
    return counts


def delete_jobs(store: Any, ids: Sequence[str]) -> dict[str, int]:
    """Delete these jobs (if they have ended) with their events, quantum tasks and
    checkpoints, in one short transaction through the store's writer."""

    def write(conn: sa.Connection) -> dict[str, int]:
        ended = _ended(conn, ids)
        counts = {"jobs": 0, "events": 0, "quantum_tasks": 0}
        if not ended:
            return counts
        tables = (schema.events, schema.quantum_tasks, schema.checkpoints, schema.job_logs)
        for table in tables:
            deleted = conn.execute(table.delete().where(table.c.job_id.in_(ended))).rowcount
            if table.name in counts:
                counts[table.name] = deleted
        jobs = schema.jobs
        counts["jobs"] = conn.execute(
            jobs.delete().where(jobs.c.id.in_(ended), jobs.c.status.in_(FINAL))
        ).rowcount
        return counts

    return store.writer.submit(write).result() if ids else {"jobs": 0}


class DeletedOutputs(TypedDict):
    outputs: int  # rows whose outputs were dropped
    ids: list[str]  # their job ids


def delete_outputs(store: Any, ids: Sequence[str], now: float) -> DeletedOutputs:
    """Keep these ended jobs' rows, events and quantum tasks; drop their inline result,
    arguments and checkpoint, and mark when (so that ``result()`` says so from now on,
    before their files go). Returns the ``ids`` of those it marked."""

    def write(conn: sa.Connection) -> DeletedOutputs:
        ended = _ended(conn, ids)
        if not ended:
            return {"outputs": 0, "ids": []}
        for table in (schema.checkpoints, schema.job_logs):
            conn.execute(table.delete().where(table.c.job_id.in_(ended)))
        jobs = schema.jobs
        updated = conn.execute(
            jobs.update()
            .where(jobs.c.id.in_(ended), jobs.c.status.in_(FINAL))
            .values(result=None, result_path=None, arguments=b"", output_deleted_at=now)
        ).rowcount
        return {"outputs": updated, "ids": ended}

    if not ids:
        return {"outputs": 0, "ids": []}
    deleted: DeletedOutputs = store.writer.submit(write).result()
    return deleted


def oldest_unfinished_id(store: Any) -> str | None:
    jobs = schema.jobs
    with store.engine.connect() as conn:
        oldest: str | None = conn.execute(
            sa.select(sa.func.min(jobs.c.id)).where(jobs.c.status.not_in(FINAL))
        ).scalar_one_or_none()
        return oldest


def _ended(conn: sa.Connection, ids: Sequence[str]) -> list[str]:
    jobs = schema.jobs
    statement = sa.select(jobs.c.id).where(jobs.c.id.in_(list(ids)), jobs.c.status.in_(FINAL))
    return [row[0] for row in conn.execute(statement)]

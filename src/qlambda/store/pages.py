"""Jobs a page at a time, newest first, after a cursor (keyset pagination).

An offset page costs every row before it; a page after a cursor ``(created_at, id)``
is a range of an index ending in those columns (migration 0009), however deep it is.
Several statuses (and, for one owner, every status) are read one status at a time,
each an index range in order, and merged: one query with ``status IN (...)`` would
sort every matching row. A search reads the few function names that match it from the
functions table, then each name's jobs (an index range each) and the jobs whose id
starts with it (a range of the primary key), merged the same way.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from qlambda.core.states import JobStatus
from qlambda.store import schema

HEX_ID = re.compile(r"^[0-9a-f]{1,40}$")
MAX_SEARCH = 200
MAX_NAMES = 20  # a search matching more function names scans the jobs instead


@dataclass(frozen=True)
class JobFilter:
    """What a page of jobs is filtered by (None: anything).

    ``search`` matches the start of a job id or any part of a function name;
    ``min_priority`` keeps jobs of that priority or more; ``since`` and ``until``
    bound the submission time (seconds since the epoch).
    """

    statuses: tuple[str, ...] | None = None
    owner: str | None = None
    function: str | None = None
    search: str | None = None
    min_priority: float | None = None
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        if self.statuses is not None:
            known = {s.value for s in JobStatus}
            unknown = [s for s in self.statuses if s not in known]
            if unknown:
                raise ValueError(
                    f"unknown job status {unknown[0]!r}; accepted: {', '.join(sorted(known))}"
                )
        if self.search is not None and len(self.search) > MAX_SEARCH:
            raise ValueError(f"a search is at most {MAX_SEARCH} characters")


Cursor = tuple[float, str]  # (created_at, id) of the last job of the previous page


def matching_names(search: str) -> sa.Select[Any]:
    """The function names a search matches (at most ``MAX_NAMES`` + 1 of them)."""
    table = schema.functions
    return (
        sa.select(table.c.name)
        .where(table.c.name.contains(search, autoescape=True))
        .distinct()
        .limit(MAX_NAMES + 1)
    )


def job_page_statements(
    columns: Sequence[sa.ColumnElement[Any]],
    which: JobFilter,
    before: Cursor | None,
    limit: int,
    names: Sequence[str] | None = None,
) -> list[sa.Select[Any]]:
    """The statements whose rows, merged newest first, make the page (``limit`` rows
    each at most). ``names``: the function names the search matches (``matching_names``);
    None, or too many: the search is a condition on every job."""
    table = schema.jobs
    conditions: list[sa.ColumnElement[bool]] = []
    if which.function is not None:
        conditions.append(table.c.function_name == which.function)
    if which.min_priority is not None:
        conditions.append(table.c.priority >= which.min_priority)
    if which.since is not None:
        conditions.append(table.c.created_at >= which.since)
    if which.until is not None:
        conditions.append(table.c.created_at < which.until)
    split_search = bool(which.search) and names is not None and len(names) <= MAX_NAMES
    if which.search and not split_search:
        conditions.append(_search(which.search))
    if before is not None:
        created, job_id = before
        # an index range on created_at, the tie broken by id
        conditions.append(table.c.created_at <= created)
        conditions.append(sa.or_(table.c.created_at < created, table.c.id < job_id))
    if which.owner is not None:
        conditions.append(table.c.owner == which.owner)
    if split_search:
        assert which.search is not None and names is not None
        if which.statuses is not None:
            conditions.append(table.c.status.in_(which.statuses))
        parts: list[sa.ColumnElement[bool]] = [table.c.function_name == n for n in names]
        lowered = which.search.lower()
        if HEX_ID.match(lowered):
            parts.append(_id_prefix(lowered))
        return [
            sa.select(*columns)
            .where(*conditions, part)
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(limit)
            for part in parts
        ]
    statuses: Sequence[str | None] = (
        which.statuses
        if which.statuses is not None
        else ([s.value for s in JobStatus] if which.owner is not None else [None])
    )
    statements = []
    for status in statuses:
        statement = sa.select(*columns).where(*conditions)
        if status is not None:
            statement = statement.where(table.c.status == status)
        statements.append(
            statement.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
        )
    return statements


def merge_newest_first(pages: Sequence[list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    """The ``limit`` newest rows of pages each already newest first, each row once."""
    key: Callable[[dict[str, Any]], tuple[float, str]] = lambda row: (  # noqa: E731
        row["created_at"],
        row["id"],
    )
    if len(pages) == 1:
        return pages[0][:limit]
    rows: list[dict[str, Any]] = []
    for row in heapq.merge(*pages, key=key, reverse=True):
        if rows and rows[-1]["id"] == row["id"]:
            continue  # matched by two statements (a search's name and its id start)
        rows.append(row)
        if len(rows) == limit:
            break
    return rows


def _search(text: str) -> sa.ColumnElement[bool]:
    table = schema.jobs
    in_name = table.c.function_name.contains(text, autoescape=True)
    lowered = text.lower()
    if not HEX_ID.match(lowered):
        return in_name
    return sa.or_(_id_prefix(lowered), in_name)


def _id_prefix(prefix: str) -> sa.ColumnElement[bool]:
    """Ids starting with ``prefix``, as a range of the primary key (SQLite's LIKE would
    not use the index)."""
    table = schema.jobs
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return sa.and_(table.c.id >= prefix, table.c.id < upper)

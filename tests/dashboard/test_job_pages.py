"""Jobs a page at a time after a cursor (``Store.job_page``), on SQLite and PostgreSQL:
every filter, every page, the same jobs as filtering and sorting them all in Python;
and the query is an index range, not a scan and a sort."""

from __future__ import annotations

import itertools
import random

import pytest
import sqlalchemy as sa

from qlambda.store import Store
from qlambda.store.pages import JobFilter, job_page_statements

STATUSES = ["QUEUED", "RUNNING", "DONE", "ERROR", "CANCELED", "DROPPED"]


@pytest.fixture
def store_with_jobs(database_url):
    store = Store(database_url)
    rng = random.Random(7)
    prefix = f"{int(1_700_000_000.0 * 1000):011x}"[:4]  # every id starts with it
    names = ["qaoa", "vqe", "sample_counts", f"run_{prefix}"]
    for index, name in enumerate(names):
        store.put_function(
            {"id": f"f{index}", "name": name, "kind": "pickle", "payload": b"x", "cpus": 1,
             "created_at": 1.0}
        ).result()  # fmt: skip
    rows = []
    for n in range(600):
        created = 1_700_000_000.0 + n // 3  # ties: three jobs a second
        rows.append(
            {
                "id": f"{int(created * 1000):011x}{n:06x}",
                "function_id": "f0",
                "function_name": rng.choice(names),
                "owner": rng.choice(["alice", "bob", "carol"]),
                "priority": rng.choice([1.0, 2.0, 4.0]),
                "status": rng.choice(STATUSES),
                "arguments": b"a",
                "attempts": 1,
                "created_at": created,
            }
        )
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM jobs"))
        from qlambda.store import schema

        conn.execute(schema.jobs.insert(), rows)
    yield store, rows
    store.close()


def _expected(rows, which: JobFilter):
    kept = []
    for row in rows:
        if which.statuses and row["status"] not in which.statuses:
            continue
        if which.owner and row["owner"] != which.owner:
            continue
        if which.function and row["function_name"] != which.function:
            continue
        if which.min_priority is not None and row["priority"] < which.min_priority:
            continue
        if which.since is not None and row["created_at"] < which.since:
            continue
        if which.until is not None and row["created_at"] >= which.until:
            continue
        if which.search and not (
            row["id"].startswith(which.search.lower()) or which.search in row["function_name"]
        ):
            continue
        kept.append(row)
    kept.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    return [r["id"] for r in kept]


def _walk(store, which: JobFilter, limit: int):
    """Every page, following the cursor, as the dashboard does."""
    seen, before = [], None
    for _ in range(1000):
        page = store.job_page(which, before, limit)
        seen.extend(row["id"] for row in page)
        if len(page) < limit:
            return seen
        before = (page[-1]["created_at"], page[-1]["id"])
    raise AssertionError("the pages never ended")


FILTERS = [
    JobFilter(),
    JobFilter(statuses=("DONE",)),
    JobFilter(statuses=("DONE", "ERROR", "QUEUED")),
    JobFilter(owner="alice"),
    JobFilter(owner="bob", statuses=("RUNNING", "CANCELED")),
    JobFilter(function="vqe", min_priority=2.0),
    JobFilter(search="counts"),
    JobFilter(search="counts", statuses=("DONE", "ERROR"), owner="bob"),
    JobFilter(search=f"{int(1_700_000_000.0 * 1000):011x}"[:4]),  # ids and a name match
    JobFilter(since=1_700_000_050.0, until=1_700_000_120.0, owner="carol"),
]


@pytest.mark.parametrize(("which", "limit"), list(itertools.product(FILTERS, [7, 50])))
def test_pages_hold_every_matching_job_once_newest_first(store_with_jobs, which, limit):
    store, rows = store_with_jobs
    assert _walk(store, which, limit) == _expected(rows, which)


def test_an_id_prefix_finds_its_job(store_with_jobs):
    store, rows = store_with_jobs
    target = rows[123]["id"]
    found = store.job_page(JobFilter(search=target[:14]), None, 50)
    assert target in [row["id"] for row in found]
    assert store.job_page(JobFilter(search=target), None, 50)[0]["id"] == target


def test_bad_filters_are_refused_with_what_is_accepted():
    with pytest.raises(ValueError, match="unknown job status 'SLEEPING'; accepted"):
        JobFilter(statuses=("SLEEPING",))
    with pytest.raises(ValueError, match="at most 200"):
        JobFilter(search="x" * 201)


def test_a_page_after_a_cursor_is_an_index_range_on_sqlite(tmp_path):
    """SQLite's plan for each filter: an index search, and no sort of the rows."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        from qlambda.store import schema

        columns = [schema.jobs.c.id, schema.jobs.c.created_at]
        for which, names in (
            (JobFilter(), None),
            (JobFilter(statuses=("DONE",)), None),
            (JobFilter(owner="alice"), None),
            (JobFilter(owner="alice", statuses=("DONE",)), None),
            (JobFilter(function="vqe"), None),
            (JobFilter(search="ab"), ["vqe_ab", "ab_initio"]),  # names and an id start
        ):
            for statement in job_page_statements(columns, which, (1.0, "ab"), 50, names):
                compiled = statement.compile(store.engine, compile_kwargs={"literal_binds": True})
                with store.engine.connect() as conn:
                    plan = " | ".join(
                        row[-1] for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))
                    )
                assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (which, plan)
                if "PRIMARY KEY" not in plan:  # an id start: its few jobs are sorted
                    assert "TEMP B-TREE" not in plan, (which, plan)
    finally:
        store.close()

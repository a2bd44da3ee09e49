"""The store's writer: writes nobody waits for share a commit, an urgent one is
committed at once with them, nothing queued is lost at close."""

from __future__ import annotations

import sqlalchemy as sa

from qlambda.store import Store, StoreWriter, schema, sqlite_url

LONG = 60.0  # a linger no test waits out: only an urgent write or close ends it


def _event(n: int) -> dict:
    return {"job_id": "j1", "ts": float(n), "kind": "SUB_STATUS", "data": {"n": n}}


def _writer(tmp_path, linger: float) -> tuple[StoreWriter, Store, list[int]]:
    store = Store(sqlite_url(tmp_path / "q.db"))  # creates the tables
    function = {"id": "f1", "name": "f", "kind": "pickle", "payload": b"x", "cpus": 1}
    store.put_function({**function, "created_at": 1.0}).result(timeout=20)
    job = {"id": "j1", "function_id": "f1", "function_name": "f", "owner": "alice"}
    job.update(priority=1.0, status="QUEUED", arguments=b"", attempts=0, created_at=1.0)
    store.insert_job(job).result(timeout=20)
    commits: list[int] = []
    sa.event.listen(store.engine, "commit", lambda conn: commits.append(1))
    return StoreWriter(store.engine, linger=linger), store, commits


def _events(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.events.c.data).order_by(schema.events.c.ts))
        return [row.data["n"] for row in rows]


def test_an_urgent_write_commits_the_lingering_ones_with_it_at_once(tmp_path):
    writer, store, commits = _writer(tmp_path, LONG)
    try:
        lazy = [
            writer.submit(None, urgent=False, appended=(schema.events, [_event(n)]))
            for n in range(5)
        ]
        urgent = writer.submit(None, appended=(schema.events, [_event(5)]))
        urgent.result(timeout=20)  # not after the 60 s linger
        for write in lazy:
            assert write.done() and write.exception() is None
        assert _events(store) == [0, 1, 2, 3, 4, 5]
        assert len(commits) == 1  # one commit for all six
    finally:
        writer.close()
        store.close()


def test_lingering_writes_commit_by_themselves_and_at_close(tmp_path):
    writer, store, commits = _writer(tmp_path, 0.05)
    try:
        first = [
            writer.submit(None, urgent=False, appended=(schema.events, [_event(n)]))
            for n in range(3)
        ]
        for write in first:
            write.result(timeout=20)
        assert len(commits) == 1
    finally:
        writer.close()
    writer = StoreWriter(store.engine, linger=LONG)
    last = writer.submit(None, urgent=False, appended=(schema.events, [_event(3)]))
    writer.close()  # does not wait out the linger, and keeps the write
    assert last.result(timeout=0) is None
    assert _events(store) == [0, 1, 2, 3]
    store.close()

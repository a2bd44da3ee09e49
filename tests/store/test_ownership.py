"""Control planes' leases and the jobs they own, on a real SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from qlambda.core.events import Event, EventKind
from qlambda.store import Store, ownership, schema


@pytest.fixture
def store(database_url):
    opened = Store(database_url)
    opened.put_function(
        {"id": "f1", "name": "f", "kind": "pickle", "payload": b"x", "cpus": 1, "created_at": 1.0}
    ).result()
    yield opened
    opened.close()


def controller(name: str, mode: str = "replica") -> dict:
    return {
        "id": name,
        "host": "h",
        "pid": 1,
        "data_dir": f"/srv/{name}",
        "mode": mode,
        "started_at": time.time(),
    }


def job(store: Store, job_id: str, owner: str | None, status: str = "QUEUED") -> None:
    row = {
        "id": job_id,
        "function_id": "f1",
        "function_name": "f",
        "owner": "alice",
        "priority": 1.0,
        "status": status,
        "arguments": b"args",
        "created_at": time.time(),
        "controller": owner,
    }
    store.insert_job(row).result()


def expire(store: Store, name: str) -> None:
    table = schema.controllers
    with store.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == name).values(lease_expires_at=0.0))


def test_a_job_is_claimed_only_once_its_owners_lease_expired(store):
    with store.engine.begin() as conn:
        ownership.register(conn, controller("a"), 30)
        ownership.register(conn, controller("b"), 30)
    job(store, "j1", "a", "RUNNING")
    job(store, "j2", None)
    job(store, "j3", "b")
    with store.engine.begin() as conn:  # only the one nobody owns
        assert [r["id"] for r in ownership.claim_jobs(conn, "b", 10)] == ["j2"]
    expire(store, "a")
    with store.engine.begin() as conn:
        (claimed,) = ownership.claim_jobs(conn, "b", 10)
    assert claimed["id"] == "j1" and claimed["previous_controller"] == "a"
    assert store.get_job("j1")["controller"] == "b"
    # the late owner's end is not stored; the new owner's is
    fields = {"status": "DONE", "ended_at": time.time()}
    late = store.end_owned("j1", "a", fields, Event("j1", time.time(), EventKind.DONE))
    assert late.result() is False
    assert store.get_job("j1")["status"] == "RUNNING"
    assert store.events("j1") == []  # nor its event
    assert store.end_owned("j1", "b", fields, Event("j1", time.time(), EventKind.DONE)).result()
    assert store.get_job("j1")["status"] == "DONE"
    assert [e.kind for e in store.events("j1")] == [EventKind.DONE]


def test_guarded_ends_share_a_batch_with_other_writes(store):
    """Ends of several owners' jobs and new jobs, committed together: each end applies
    only where its owner owns the job."""
    for n in range(4):
        job(store, f"j{n}", "a" if n % 2 else "b", "RUNNING")
    fields = {"status": "DONE", "ended_at": time.time()}
    writes = [
        store.end_owned(f"j{n}", "a", fields, Event(f"j{n}", time.time(), EventKind.DONE))
        for n in range(4)
    ]
    writes.append(store.update_job("j0", {"sub_status": "plain"}))
    job(store, "j4", "a")  # an urgent write: the batch commits
    assert [w.result() for w in writes] == [False, True, False, True, None]
    statuses = {f"j{n}": store.get_job(f"j{n}")["status"] for n in range(5)}
    assert statuses == {
        "j0": "RUNNING",
        "j1": "DONE",
        "j2": "RUNNING",
        "j3": "DONE",
        "j4": "QUEUED",
    }
    assert store.get_job("j0")["sub_status"] == "plain"
    ended = {f"j{n}": [e.kind for e in store.events(f"j{n}")] for n in range(4)}
    assert ended == {"j0": [], "j1": [EventKind.DONE], "j2": [], "j3": [EventKind.DONE]}


def test_a_lapsed_lease_is_not_renewed(store):
    with store.engine.begin() as conn:
        ownership.register(conn, controller("a"), 30)
        assert ownership.renew(conn, "a", 30, lapsed_ok=False)
    expire(store, "a")
    with store.engine.begin() as conn:
        assert not ownership.renew(conn, "a", 30, lapsed_ok=False)  # others may own its jobs
        assert ownership.renew(conn, "a", 30, lapsed_ok=True)  # a single server's choice


def test_a_single_server_and_replicas_do_not_share_a_database(store):
    with store.engine.begin() as conn:
        ownership.register(conn, controller("a"), 30)
    with (
        pytest.raises(ownership.DatabaseInUseError, match="in use by replicas"),
        store.engine.begin() as conn,
    ):
        ownership.register(conn, controller("s", "single"), 30)
    expire(store, "a")  # once the replicas are gone, a single server may start
    with store.engine.begin() as conn:
        ownership.register(conn, controller("s", "single"), 30)
    with (
        pytest.raises(ownership.DatabaseInUseError, match="does not share it"),
        store.engine.begin() as conn,
    ):
        ownership.register(conn, controller("b"), 30)


# PostgreSQL only: a SQLite database serves one control plane, nothing claims concurrently
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_claims_skip_each_others_rows(store):
    for n in range(6):
        job(store, f"j{n}", None)
    first = store.engine.connect()
    try:
        with first.begin():
            mine = ownership.claim_jobs(first, "a", 3)  # rows locked until this commits
            with store.engine.begin() as second:
                theirs = ownership.claim_jobs(second, "b", 10)  # does not wait for them
        assert {r["id"] for r in mine} == {"j0", "j1", "j2"}
        assert {r["id"] for r in theirs} == {"j3", "j4", "j5"}
    finally:
        first.close()
    table = schema.jobs
    with store.engine.connect() as conn:
        owners = dict(conn.execute(sa.select(table.c.id, table.c.controller)).all())
    assert owners == {"j0": "a", "j1": "a", "j2": "a", "j3": "b", "j4": "b", "j5": "b"}

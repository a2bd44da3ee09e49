"""The store while its PostgreSQL server is killed (-9) and restarted: writes wait and
commit once it is back, reads say it cannot be reached, a queued write can be given up
(and then is never committed), dead pooled connections are replaced."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from qlambda.core.events import Event, EventKind
from qlambda.store import Store, StoreUnavailableError


def _job(job_id: str, **extra) -> dict:
    return {
        "id": job_id,
        "function_id": "f1",
        "function_name": "square",
        "owner": "alice",
        "priority": 1.0,
        "status": "QUEUED",
        "arguments": b"args",
        "attempts": 0,
        "created_at": 1.0,
        **extra,
    }


@pytest.fixture
def store_on_own_server(own_postgres):
    url = own_postgres.create_database("outage")
    store = Store(url)
    store.put_function(
        {"id": "f1", "name": "sq", "kind": "pickle", "payload": b"x", "cpus": 1, "created_at": 1}
    ).result()
    yield store, own_postgres
    store.close()


def _until(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_writes_wait_for_a_killed_database_and_commit_once_it_is_back(store_on_own_server):
    store, postgres = store_on_own_server
    store.insert_job(_job("before"), Event("before", 1.0, EventKind.SUBMITTED)).result(30)
    assert store.get_job("before")["status"] == "QUEUED"  # a pooled connection exists
    postgres.kill()

    with pytest.raises(StoreUnavailableError, match="cannot be reached"):
        store.get_job("before")  # a read says so at once (not a driver error)
    assert not store.available
    ended = store.update_job(
        "before", {"status": "DONE", "ended_at": 2.0}, Event("before", 2.0, EventKind.DONE)
    )
    new = store.insert_job(_job("during"), Event("during", 1.0, EventKind.SUBMITTED))
    given_up = store.insert_job(_job("given-up"), Event("given-up", 1.0, EventKind.SUBMITTED))
    time.sleep(1.0)
    assert not ended.done() and not new.done()  # kept, not failed
    assert given_up.withdraw()  # not attempted yet (the writer retries an earlier batch)

    postgres.restart()
    ended.result(60)
    new.result(60)
    assert given_up.cancelled()
    assert store.get_job("before")["status"] == "DONE"  # the pool's dead connection replaced
    assert store.get_job("during")["status"] == "QUEUED"
    assert store.get_job("given-up") is None  # withdrawn: never committed
    kinds = [e.kind for e in store.events("before")]
    assert kinds == [EventKind.SUBMITTED, EventKind.DONE]  # each event once
    assert _until(lambda: store.available)


def test_a_constraint_violation_fails_only_its_write_after_an_outage(store_on_own_server):
    store, postgres = store_on_own_server
    store.insert_job(_job("a"), Event("a", 1.0, EventKind.SUBMITTED)).result(30)
    postgres.kill()
    duplicate = store.insert_job(_job("a"), Event("a", 1.0, EventKind.SUBMITTED))
    fine = store.insert_job(_job("b"), Event("b", 1.0, EventKind.SUBMITTED))
    time.sleep(0.5)
    postgres.restart()
    fine.result(60)
    with pytest.raises(sa.exc.IntegrityError):
        duplicate.result(60)
    assert {row["id"] for row in store.list_jobs()} == {"a", "b"}


def test_the_store_notices_the_database_back_without_a_write(store_on_own_server):
    store, postgres = store_on_own_server
    postgres.kill()
    with pytest.raises(StoreUnavailableError):
        store.list_jobs()
    assert not store.probe()
    postgres.restart()
    assert _until(lambda: store.available)  # the writer tries it now and then
    assert store.probe()

"""The store while its PostgreSQL server is killed (-9) and restarted: writes wait and
commit once it is back, reads say it cannot be reached, a queued write can be given up
(and then is never committed), dead pooled connections are replaced. And a COMMIT whose
answer never reaches the store (a relay cuts the store's connection at that COMMIT): the
write is done exactly once whether the transaction committed or not, even when the
server crashed and hands the cut transaction's id to another transaction after its
restart."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import psycopg
import pytest
import sqlalchemy as sa
from tests.relay import Connection, Relay

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


def _store_with_a_function(url: str) -> Store:
    store = Store(url)
    store.put_function(
        {"id": "f1", "name": "sq", "kind": "pickle", "payload": b"x", "cpus": 1, "created_at": 1}
    ).result(30)
    return store


@pytest.fixture
def store_on_own_server(own_postgres):
    store = _store_with_a_function(own_postgres.create_database("outage"))
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


# psycopg sends COMMIT as a simple query: 'Q', its length (4 + 7), the text
COMMIT_MESSAGE = b"Q\x00\x00\x00\x0bCOMMIT\x00"


class CommitCutter(Relay):
    """A TCP relay to PostgreSQL. Once ``arm``-ed, the next COMMIT through it cuts its
    connection, in one of three ways: ``"answer lost"`` (PostgreSQL committed; its answer
    is dropped), ``"before commit"`` (the COMMIT never reaches PostgreSQL), ``"crash"``
    (``on_crash`` kills the server, then the COMMIT is dropped). New connections are
    closed at once while ``refusing`` is set."""

    def __init__(self, port: int, on_crash: Callable[[], None]) -> None:
        self.on_crash = on_crash
        self.mode: str | None = None
        self.cut = threading.Event()
        self.refusing = threading.Event()
        self._answer_dropped: set[int] = set()  # connections whose next answer is dropped
        super().__init__(("127.0.0.1", port))

    def arm(self, mode: str) -> None:
        self.cut.clear()
        self.mode = mode

    def admit(self, client: socket.socket) -> bool:
        if self.refusing.is_set():
            client.close()
            return False
        return True

    def forward(self, data: bytes, to_server: bool, connection: Connection) -> bytes | None:
        if not to_server:
            if id(connection) in self._answer_dropped:  # PostgreSQL answered: it committed
                self.cut.set()
                return None
            return data
        mode = self.mode
        if mode is None or COMMIT_MESSAGE not in data:
            return data
        self.mode = None
        if mode == "answer lost":
            self._answer_dropped.add(id(connection))
            return data
        if mode == "crash":
            self.refusing.set()
            self.on_crash()
        self.cut.set()
        return None


@pytest.fixture
def relayed(own_postgres):
    """A store that reaches its own PostgreSQL server through a ``CommitCutter``."""
    url = own_postgres.create_database("doubt")
    relay = CommitCutter(own_postgres.port, on_crash=own_postgres.kill)
    store = _store_with_a_function(url.replace(f":{own_postgres.port}/", f":{relay.port}/"))
    yield store, relay, own_postgres
    relay.refusing.clear()
    store.close()
    relay.close()


def _stored_once(store: Store, job_id: str) -> None:
    assert store.get_job(job_id)["status"] == "QUEUED"
    assert [event.kind for event in store.events(job_id)] == [EventKind.SUBMITTED]


@pytest.mark.parametrize("mode", ["answer lost", "before commit"])
def test_a_commit_whose_answer_is_lost_is_done_exactly_once(relayed, mode):
    store, relay, _ = relayed
    relay.arm(mode)
    stored = store.insert_job(_job("cut"), Event("cut", 1.0, EventKind.SUBMITTED))
    assert relay.cut.wait(30)
    stored.result(60)  # not an IntegrityError: a committed one is not inserted again
    _stored_once(store, "cut")


def test_a_commit_cut_by_a_crash_is_redone_even_when_its_transaction_id_is_reused(relayed):
    """After a crash PostgreSQL hands out again the transaction ids it never wrote to
    disk: ``txid_status`` of the cut transaction then reads "committed" once another
    transaction took its id. The store must not take that for its own commit."""
    store, relay, postgres = relayed
    relay.arm("crash")
    stored = store.insert_job(_job("crashed"), Event("crashed", 1.0, EventKind.SUBMITTED))
    assert relay.cut.wait(30)
    postgres.restart()
    # other clients commit transactions, and take the ids the crash forgot
    direct = postgres.database_url("doubt").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(direct, autocommit=True) as other:
        taken = [other.execute("SELECT txid_current()").fetchone() for _ in range(50)]
    assert len(taken) == 50
    time.sleep(0.5)
    assert not stored.done()  # the store has not been able to ask yet
    relay.refusing.clear()
    stored.result(60)
    _stored_once(store, "crashed")
    # and the store goes on writing
    store.insert_job(_job("after"), Event("after", 2.0, EventKind.SUBMITTED)).result(30)
    _stored_once(store, "after")

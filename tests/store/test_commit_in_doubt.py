"""A COMMIT whose answer never reaches the store, on a real PostgreSQL server behind a
relay that cuts the store's connection at that COMMIT: the write is done exactly once
whether the transaction committed or not, and even when the server crashed and hands
the cut transaction's id to another transaction after its restart."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from qlambda.core.events import Event, EventKind
from qlambda.store import Store

# psycopg sends COMMIT as a simple query: 'Q', its length (4 + 7), the text
COMMIT_MESSAGE = b"Q\x00\x00\x00\x0bCOMMIT\x00"


class CommitCutter:
    """A TCP relay to PostgreSQL. Once ``arm``-ed, the next COMMIT through it cuts its
    connection, in one of three ways: ``"answer lost"`` (PostgreSQL committed; its answer
    is dropped), ``"before commit"`` (the COMMIT never reaches PostgreSQL), ``"crash"``
    (``on_crash`` kills the server, then the COMMIT is dropped). Connections are refused
    while ``refusing`` is set."""

    def __init__(self, port: int, on_crash: Callable[[], None] = lambda: None) -> None:
        self.upstream = port
        self.on_crash = on_crash
        self.mode: str | None = None
        self.cut = threading.Event()
        self.refusing = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, mode: str) -> None:
        self.cut.clear()
        self.mode = mode

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            drop_answer = threading.Event()
            threading.Thread(
                target=self._to_server, args=(client, server, drop_answer), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(server, client, drop_answer), daemon=True
            ).start()

    def _to_server(self, client: socket.socket, server: socket.socket, drop: threading.Event):
        while data := _receive(client):
            mode = self.mode
            if mode is not None and COMMIT_MESSAGE in data:
                self.mode = None
                if mode == "answer lost":
                    drop.set()  # the other direction drops the answer and cuts
                    server.sendall(data)
                    continue
                if mode == "crash":
                    self.refusing.set()
                    self.on_crash()
                _close(client, server)
                self.cut.set()
                return
            with contextlib.suppress(OSError):
                server.sendall(data)
        _close(client, server)

    def _to_client(self, server: socket.socket, client: socket.socket, drop: threading.Event):
        while data := _receive(server):
            if drop.is_set():  # PostgreSQL answered the COMMIT: it committed
                _close(client, server)
                self.cut.set()
                return
            with contextlib.suppress(OSError):
                client.sendall(data)
        _close(client, server)


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()


def _job(job_id: str) -> dict:
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
    }


@pytest.fixture
def relayed(own_postgres):
    """A store that reaches its own PostgreSQL server through a ``CommitCutter``."""
    url = own_postgres.create_database("doubt")
    relay = CommitCutter(own_postgres.port, on_crash=own_postgres.kill)
    store = Store(url.replace(f":{own_postgres.port}/", f":{relay.port}/"))
    store.put_function(
        {"id": "f1", "name": "sq", "kind": "pickle", "payload": b"x", "cpus": 1, "created_at": 1}
    ).result(30)
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

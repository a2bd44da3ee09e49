"""A retried submission with the same Idempotency-Key stores one job, across restarts,
and the remote client retries a lost submission with its key."""

from __future__ import annotations

import base64
import socket
import threading
import uuid

import qlambda

SOURCE = base64.b64encode(b"def add(a, b):\n    return a + b\n").decode()
ADD = {"name": "add", "kind": "source", "content": SOURCE, "entrypoint": "f.py:add"}
BELL = 'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; h q[0]; cx q[0], q[1];'


def test_a_retry_with_the_same_key_returns_the_stored_job(new_server, database_url):
    server = new_server("--workers", "1", database_url=database_url)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"function": "add", "arguments": {"a": 1, "b": 2}}
    with server.http(server.tokens["alice"]) as alice, server.http(server.tokens["bob"]) as bob:
        for http in (alice, bob):
            assert http.post("/functions", json=ADD).status_code == 201
        first = alice.post("/jobs", json=body, headers=key)
        assert first.status_code == 201
        again = alice.post("/jobs", json=body, headers=key)
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        other = alice.post("/jobs", json={**body, "arguments": {"a": 5, "b": 2}}, headers=key)
        assert other.status_code == 422
        assert f"was used for another request (job {first.json()['id']})" in other.text
        # keys are per user: bob's same key is his own job
        bobs = bob.post("/jobs", json=body, headers=key)
        assert bobs.status_code == 201 and bobs.json()["id"] != first.json()["id"]
        # circuits too
        circuit = {"primitive": "estimator", "circuits": [BELL], "observables": ["ZZ"]}
        ckey = {"Idempotency-Key": "circuit-1"}
        one = alice.post("/circuits", json=circuit, headers=ckey)
        assert one.status_code == 201
        assert alice.post("/circuits", json=circuit, headers=ckey).json()["id"] == one.json()["id"]
        bad = alice.post("/jobs", json=body, headers={"Idempotency-Key": "has space"})
        assert bad.status_code == 422 and "printable ASCII" in bad.text
    server.kill()
    server.start()  # the key is stored with the job: a retry after a restart finds it
    with server.http(server.tokens["alice"]) as alice, server.http(server.tokens["bob"]) as bob:
        after = alice.post("/jobs", json=body, headers=key)
        assert after.status_code == 200 and after.json()["id"] == first.json()["id"]
        assert len(alice.get("/jobs", params={"function": "add"}).json()) == 1
        assert (
            alice.get(f"/jobs/{first.json()['id']}/result", params={"wait": 60}).json()["value"]
            == 3
        )
        assert [j["id"] for j in bob.get("/jobs").json()] == [bobs.json()["id"]]


class DroppingProxy:
    """A TCP proxy to the server that delivers the first ``POST /jobs`` to the server but
    drops the connection before the answer comes back: the client cannot know whether
    its job was stored."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
                if outbound and data.startswith(b"POST /jobs ") and self.dropped == 0:
                    self.dropped += 1
                    threading.Event().wait(1.0)  # the server stores the job meanwhile
                    for end in (source, target):
                        end.shutdown(socket.SHUT_RDWR)
                    return
        except OSError:
            pass
        finally:
            for end in (source, target):
                end.close()

    def close(self) -> None:
        self.listener.close()


def add(a, b):
    return a + b


def test_the_remote_client_retries_a_lost_submission_without_a_second_job(new_server):
    server = new_server("--workers", "1")
    proxy = DroppingProxy(int(server.url.rsplit(":", 1)[1]))
    try:
        with qlambda.Client(f"http://127.0.0.1:{proxy.port}", token=server.tokens["alice"]) as c:
            job = c.run(add, a=2, b=3)
            assert proxy.dropped == 1
            assert job.result(60) == 5
            assert [j.id for j in c.jobs()] == [job.id]  # stored once
    finally:
        proxy.close()

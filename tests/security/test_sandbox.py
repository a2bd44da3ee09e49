"""Attacks by one tenant's job on `qlambda serve`, with another tenant's data present.

Each test runs real jobs of user "mallory" in the default (sandboxed) server and asserts
that the attack fails and that "bob"'s jobs, results and logs are intact. The store is
SQLite or a real PostgreSQL server.
"""

from __future__ import annotations

import base64
import os
import signal
import time

import httpx
import pytest

import qlambda
from qlambda.core.errors import JobFailedError
from qlambda.store import Store

SECRET = "bob-secret-7f3a"


def bobs_job(ctx, secret):
    print(f"log line {secret}", flush=True)
    ctx.checkpoint({"secret": secret})
    with open("notes.txt", "w") as notes:
        notes.write(secret)
    return {"result": secret}


@pytest.fixture
def shared_server(new_server, database_url):
    server = new_server(
        "--workers", "2", users=("bob", "mallory"), admin=None, database_url=database_url
    )
    bob = qlambda.Client(server.url, token=server.tokens["bob"])
    mallory = qlambda.Client(server.url, token=server.tokens["mallory"])
    job = bob.run(bobs_job, secret=SECRET)
    assert job.result(120) == {"result": SECRET}
    server.bob_job = job
    yield server, bob, mallory
    bob.close()
    mallory.close()


def assert_bob_intact(server, bob):
    job = bob.job(server.bob_job.id)
    assert job.result(30) == {"result": SECRET}
    assert f"log line {SECRET}" in job.logs()
    headers = {"Authorization": f"Bearer {server.tokens['bob']}"}
    assert httpx.get(f"{server.url}/me", headers=headers).status_code == 200


# --------------------------------------------------------------------- the attacks
def look_around(data_dir, server_pid, port):
    """Everything a curious job tries, with what happened to each attempt."""
    import socket
    import sqlite3

    found = {}

    def read(path, size=64):
        with open(path, "rb") as handle:
            return handle.read(size)

    def attempt(name, action):
        try:
            found[name] = ("ok", action())
        except Exception as exc:
            found[name] = ("refused", f"{type(exc).__name__}: {exc}")

    attempt("list data dir", lambda: os.listdir(data_dir))
    attempt("read database", lambda: read(os.path.join(data_dir, "qlambda.db")))
    attempt(
        "sqlite insert admin",
        lambda: sqlite3.connect(os.path.join(data_dir, "qlambda.db")).execute(
            "INSERT INTO users (name, role, created_at) VALUES ('evil', 'admin', 0)"
        ),
    )
    attempt("list jobs", lambda: os.listdir(os.path.join(data_dir, "jobs")))
    attempt("bob's folder", lambda: os.listdir(os.path.join(data_dir, "jobs", "bob")))
    attempt("server environ", lambda: read(f"/proc/{server_pid}/environ"))
    attempt("kill server", lambda: os.kill(server_pid, signal.SIGTERM))
    attempt("processes", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    attempt("http to server", lambda: socket.create_connection(("127.0.0.1", port), 2).close())
    attempt("etc shadow", lambda: read("/etc/shadow"))
    attempt("my environment", lambda: dict(os.environ))
    return found


def test_a_job_cannot_reach_the_store_other_tenants_the_server_or_the_network(shared_server):
    server, bob, mallory = shared_server
    port = int(server.url.rsplit(":", 1)[1])
    found = mallory.run(
        look_around, data_dir=str(server.data_dir), server_pid=server.process.pid, port=port
    ).result(120)
    for name in (
        "read database",
        "sqlite insert admin",
        "bob's folder",
        "server environ",
        "kill server",
        "http to server",
        "etc shadow",
    ):
        assert found[name][0] == "refused", (name, found[name])
    # its own folders are all it sees of the data directory
    assert found["list jobs"] == ("ok", ["mallory"])
    assert SECRET not in str(found)
    # its own processes only: the sandbox's init, the zygote, this worker
    assert found["processes"][0] == "ok" and len(found["processes"][1]) <= 4
    environment = found["my environment"][1]
    assert not any(key.startswith("QLAMBDA") for key in environment)
    assert server.process.poll() is None
    assert_bob_intact(server, bob)
    store = Store(server.database_url) if server.database_url else Store.open(server.data_dir)
    try:
        assert [user["name"] for user in store.list_users()] == ["bob", "mallory"]
    finally:
        store.close()


class Detonator:
    """Runs a command in whichever process unpickles it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def returns_a_detonator(marker):
    return {"payload": Detonator(marker)}


def test_the_server_never_unpickles_what_a_job_returns(shared_server, tmp_path):
    server, bob, mallory = shared_server
    marker = tmp_path / "unpickled-in-the-server"
    job = mallory.run(returns_a_detonator, marker=str(marker))
    assert job.wait(120)
    headers = {"Authorization": f"Bearer {server.tokens['mallory']}"}
    answer = httpx.get(f"{server.url}/jobs/{job.id}/result", headers=headers).json()
    assert answer["status"] == "DONE"
    assert answer["is_json"] is False and answer["value"] is None
    assert base64.b64decode(answer["pickle"])  # opaque bytes, for the owner's client
    time.sleep(0.5)
    assert not marker.exists()
    assert server.process.poll() is None
    assert_bob_intact(server, bob)


def speaks_for_another_task(other_task_id):
    from qlambda.engine import current_channel, protocol

    channel = current_channel()
    forged = protocol.TaskDone(other_task_id, protocol.Encoded("json", b'"forged"'), None)
    channel.conn.send_bytes(protocol.encode(forged))
    time.sleep(30)
    return "not reached"


def sends_a_pickle():
    import pickle

    from qlambda.engine import current_channel

    current_channel().conn.send_bytes(pickle.dumps(("done", 1, True, "x")))
    time.sleep(30)


def sleeps_then_answers(seconds):
    time.sleep(seconds)
    return "bob's own answer"


@pytest.mark.parametrize("attack", ["forged task id", "pickle frame"])
def test_a_worker_that_breaks_the_protocol_is_stopped_alone(shared_server, attack):
    server, bob, mallory = shared_server
    bystander = bob.run(sleeps_then_answers, seconds=2)
    if attack == "forged task id":
        job = mallory.run(speaks_for_another_task, other_task_id=1)
    else:
        job = mallory.run(sends_a_pickle)
    with pytest.raises(JobFailedError, match="broke the message protocol"):
        job.result(60)
    assert bystander.result(60) == "bob's own answer"
    assert_bob_intact(server, bob)


def forks_and_writes(limit_mb):
    """A fork bomb and an oversized file: how far each gets."""
    import errno

    children, refused = [], None
    for _ in range(400):
        try:
            pid = os.fork()
        except OSError as exc:
            refused = errno.errorcode.get(exc.errno, str(exc.errno))
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    written, failure = 0, None
    try:
        with open("big.bin", "wb") as handle:
            for _ in range(limit_mb * 4):
                handle.write(b"x" * 2**19)
                written += 2**19
    except OSError as exc:
        failure = errno.errorcode.get(exc.errno, str(exc.errno))
    return {"forked": len(children), "refused": refused, "written": written, "failure": failure}


def test_processes_and_file_sizes_are_bounded_per_tenant(new_server, tmp_path):
    config = tmp_path / "server.toml"
    config.write_text("[sandbox]\nmax_processes = 48\nmax_file_mb = 4\n")
    server = new_server("--config", str(config), users=("bob", "mallory"), admin=None)
    with qlambda.Client(server.url, token=server.tokens["mallory"]) as mallory:
        found = mallory.run(forks_and_writes, limit_mb=4).result(120)
    assert found["refused"] == "EAGAIN" and found["forked"] < 48
    assert found["failure"] == "EFBIG" and found["written"] <= 4 * 2**20
    assert server.process.poll() is None
    with qlambda.Client(server.url, token=server.tokens["bob"]) as bob:
        assert bob.run(bobs_job, secret=SECRET).result(120) == {"result": SECRET}


def test_a_sandboxed_server_refuses_engines_it_cannot_sandbox(tmp_path):
    import subprocess
    import sys

    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "qlambda.cli",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--engine",
            "dask",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode != 0
    assert "sandboxed jobs need the local engine" in finished.stderr
    assert "--sandbox none" in finished.stderr

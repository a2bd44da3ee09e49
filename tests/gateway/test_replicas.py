"""Replicas: several real `qlambda serve --replica` processes on one real PostgreSQL.

One owner per job (its lease), any replica answering for any job, one queue per QPU
backend, and the faults: a replica killed with SIGKILL under load, a backend's leader
killed, a replica cut off from the database for longer than its lease.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
import sqlalchemy as sa
from tests.relay import Connection, Relay

import qlambda
from qlambda import JobStatus
from qlambda.core.events import EventKind
from qlambda.store import Store, schema
from qlambda.store.store import sqlite_url

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------- job functions
def prints_then_sleeps(lines, pause):
    for n in range(lines):
        print(f"line {n}", flush=True)
        time.sleep(pause)
    return lines


def sleeps(seconds):
    time.sleep(seconds)
    return seconds


def records_run(ctx, path, seconds):
    """Appends when it starts and when its work is done: what ran, where, how often."""
    with open(path, "a") as marks:
        marks.write(f"{ctx.job_id} {ctx.attempt} {os.getpid()} start {time.time()}\n")
    time.sleep(seconds)
    with open(path, "a") as marks:
        marks.write(f"{ctx.job_id} {ctx.attempt} {os.getpid()} end {time.time()}\n")
    return ctx.job_id


def ticks(ctx, path, count):
    """A line per tenth of a second: when it ran, and in which attempt."""
    for _ in range(count):
        with open(path, "a") as marks:
            marks.write(f"{ctx.attempt} {time.time()}\n")
        time.sleep(0.1)
    return count


def one_qpu_call(ctx, gate=None):
    from qiskit import QuantumCircuit

    while gate is not None and not os.path.exists(gate):  # the test says when
        time.sleep(0.02)

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    counts = ctx.sampler("qpu").run([circuit], shots=64).result()[0].data.meas.get_counts()
    return sum(counts.values())


# --------------------------------------------------------------------- helpers
def controller_of(database: str, job_id: str) -> str:
    store = Store(database)
    try:
        row = store.get_job(job_id)
        assert row is not None
        return row["controller"]
    finally:
        store.close()


def pid_of(controller: str) -> int:
    return int(controller.rsplit("-", 2)[1])


def wait_for(check, timeout=120, what="the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stream(server, token, job_id, into):
    """Collect the Server-Sent Events of one job from ``server`` until its end."""
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=server.url, headers=headers, timeout=120) as http,
        http.stream("GET", f"/jobs/{job_id}/stream") as response,
    ):
        for line in response.iter_lines():
            if line.startswith("event: "):
                into.append(line.removeprefix("event: "))
                if line == "event: end":
                    return


# ----------------------------------------------------------------------- tests
def test_any_replica_answers_for_a_job_another_runs(replicas):
    a, b = replicas(2, "--workers", "1")
    token = replicas.tokens["alice"]
    with qlambda.Client(a.url, token=token) as on_a, qlambda.Client(b.url, token=token) as on_b:
        job = on_a.run(prints_then_sleeps, lines=4, pause=0.5)
        assert pid_of(controller_of(replicas.database, job.id)) == a.process.pid
        events: list[str] = []
        watcher = threading.Thread(target=stream, args=(b, token, job.id, events))
        watcher.start()
        seen = on_b.job(job.id)
        wait_for(lambda: seen.status() is JobStatus.RUNNING, what="RUNNING through B")
        # B reads the log A ships while the job runs
        wait_for(lambda: "line 1" in seen.logs(), what="a running job's log through B")
        assert seen.result(120) == 4
        assert seen.logs() == "".join(f"line {n}\n" for n in range(4))  # whole, once ended
        watcher.join(60)
        assert events[0] == "status" and events[-1] == "end" and "transition" in events
        kinds = [e.kind for e in seen.events()]
        assert kinds[0] is EventKind.SUBMITTED and kinds[-1] is EventKind.DONE

        # cancel through B: a job running on A, and one queued behind it there
        running = on_a.run(sleeps, seconds=120)
        queued = on_a.run(sleeps, seconds=0)
        wait_for(lambda: on_b.job(running.id).status() is JobStatus.RUNNING, what="RUNNING")
        assert on_b.job(queued.id).status() is JobStatus.QUEUED
        assert on_b.job(queued.id).cancel()
        assert on_b.job(queued.id).status() is JobStatus.CANCELED
        assert on_b.job(running.id).cancel()
        assert on_b.job(running.id).wait(60)
        assert on_a.job(running.id).status() is JobStatus.CANCELED
        reasons = [e.data.get("reason") for e in on_b.job(running.id).events()]
        assert "canceled by the user" in reasons
        # A's worker was stopped, not left to finish: A runs the next job at once
        assert on_a.run(sleeps, seconds=0).result(60) == 0


@pytest.mark.parametrize("count", [2, 3])
def test_a_replica_killed_under_load_loses_no_acknowledged_job(replicas, tmp_path, count):
    servers = replicas(count, "--workers", "1", "--max-active-jobs", "1000")
    token = replicas.tokens["alice"]
    marks = tmp_path / "runs.log"
    clients = [qlambda.Client(s.url, token=token) for s in servers]
    victim = 0
    acknowledged: dict[str, int] = {}  # job id -> the replica that acknowledged it
    for _ in range(8):
        for index, client in enumerate(clients):
            acknowledged[client.run(records_run, path=str(marks), seconds=0.3).id] = index
    # the victim is busy (a job running, others queued) when it is killed
    wait_for(lambda: marks.exists() and marks.read_text().count(" start ") >= count + 2)
    survivors = [c for i, c in enumerate(clients) if i != victim]
    late: list[str] = []

    def keep_submitting() -> None:  # the survivors keep serving through the takeover
        for n in range(10):
            job = survivors[n % len(survivors)].run(records_run, path=str(marks), seconds=0.1)
            late.append(job.id)
            time.sleep(0.2)

    submitting = threading.Thread(target=keep_submitting)
    submitting.start()
    killed_at = time.time()
    servers[victim].kill()
    submitting.join(300)
    assert len(late) == 10
    for job_id in [*acknowledged, *late]:
        assert survivors[0].job(job_id).result(300) == job_id  # none lost
    runs: dict[str, list[tuple[int, str, float]]] = {}
    for line in marks.read_text().splitlines():
        job_id, attempt, _, what, at = line.split()
        runs.setdefault(job_id, []).append((int(attempt), what, float(at)))
    again = {job_id for job_id, run in runs.items() if sum(w == "start" for _, w, _ in run) > 1}
    # At least once: only a job the victim had started but whose end it had not stored
    # when it died runs again (its function had started, whether or not its start was
    # stored yet; or it had returned, its end still on its way to the database)
    assert len(again) <= 3  # one worker: the job it ran, and the last ends in flight
    for job_id in again:
        assert acknowledged.get(job_id) == victim
        events = survivors[0].job(job_id).events()
        requeued = [e for e in events if e.kind is EventKind.REQUEUED]
        assert len(requeued) == 1 and requeued[0].ts > killed_at
        last = max(at for _, what, at in runs[job_id] if what == "start")
        # its worker died with its server: nothing of the cut run ran once the job was claimed
        cut = [at for _, _, at in runs[job_id] if at < last]
        assert min(cut) < killed_at  # it had started on the victim
        assert max(cut) < requeued[0].ts < last
    for job_id in set(runs) - again:
        assert [what for _, what, _ in runs[job_id]] == ["start", "end"]  # exactly once
    with servers[1].http(replicas.tokens["root"]) as http:  # what an admin sees
        listed = {c["pid"]: c["live"] for c in http.get("/controllers").json()}
    assert listed == {s.process.pid: i != victim for i, s in enumerate(servers)}
    with servers[1].http(token) as http:
        assert http.get("/controllers").status_code == 403
    for client in clients:
        client.close()


def test_one_queue_and_policy_per_backend_across_replicas_and_its_leader_killed(replicas, tmp_path):
    backend = """
[[backend]]
name = "qpu"
kind = "aer"
num_qubits = 4
emulate_qpu_time = true
time_scale = 0.4
"""
    a, b = replicas(2, "--workers", "1", policy="priority", backends=backend)
    token = replicas.tokens["alice"]
    on_a, on_b = qlambda.Client(a.url, token=token), qlambda.Client(b.url, token=token)
    leaders = Store(replicas.database)
    try:
        with leaders.engine.connect() as conn:
            leader = conn.execute(sa.select(schema.backend_leases.c.controller)).scalar()
        assert pid_of(leader) == a.process.pid  # started first, A leads the backend
        gate = tmp_path / "gate"
        high = on_b.run(one_qpu_call, gate=str(gate), priority=5)
        wait_for(lambda: high.status() is JobStatus.RUNNING, what="the job on B to run")
        # low-priority tasks from the leader's own jobs wait, one runs ...
        low = [on_a.run(one_qpu_call, priority=1) for _ in range(4)]

        def started(job):
            return [e.ts for e in job.events() if e.kind is EventKind.QPU_STARTED]

        def queued(job):
            return [e.ts for e in job.events() if e.kind is EventKind.QPU_QUEUED]

        wait_for(lambda: all(queued(job) for job in low) and any(started(j) for j in low))
        # ... and a high-priority one from B, through the database, goes next
        gate.touch()
        assert high.result(120) == 64 and [j.result(120) for j in low] == [64] * 4
        high_started = started(high)[0]
        waiting_before = [j for j in low if started(j)[0] > queued(high)[0]]
        assert len(waiting_before) >= 2  # low ones still waiting when it came ...
        assert all(high_started < started(j)[0] for j in waiting_before)  # ... went after it

        # the leader killed while its QPU is busy: B takes the backend over
        more = [on_a.run(one_qpu_call, priority=1) for _ in range(2)]
        more += [on_b.run(one_qpu_call, priority=1) for _ in range(2)]
        wait_for(lambda: any(started(j) for j in more))
        a.kill()
        assert [on_b.job(j.id).result(180) for j in more] == [64] * 4
        with leaders.engine.connect() as conn:
            leader = conn.execute(sa.select(schema.backend_leases.c.controller)).scalar()
        assert pid_of(leader) == b.process.pid
    finally:
        leaders.close()
        on_a.close()
        on_b.close()


class Partition(Relay):
    """A TCP relay to PostgreSQL that the test can cut: from then on every byte either
    way is dropped and new connections hang, as when a network fails (nothing is closed)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._cut = threading.Event()
        super().__init__(target)

    def cut(self) -> None:
        self._cut.set()

    def admit(self, client: socket.socket) -> bool:
        return not self._cut.is_set()  # accepted, never answered

    def forward(self, data: bytes, to_server: bool, connection: Connection) -> bytes | None:
        return b"" if self._cut.is_set() else data

    def ended(self, connection: Connection) -> None:
        if not self._cut.is_set():
            connection.close()


def test_a_replica_cut_off_from_the_database_stops_its_jobs_before_another_takes_them(
    replicas, tmp_path
):
    address = sa.make_url(replicas.database)
    partition = Partition((address.host, address.port))
    through_partition = address.set(port=partition.port).render_as_string(hide_password=False)
    try:
        (a,) = replicas(1, "--workers", "1", database_url=through_partition)
        (b,) = replicas(1, "--workers", "1")
        token = replicas.tokens["alice"]
        marks = tmp_path / "ticks.log"
        with qlambda.Client(b.url, token=token) as on_b:
            with qlambda.Client(a.url, token=token) as on_a:
                job = on_a.run(ticks, path=str(marks), count=40)
            wait_for(lambda: marks.exists() and marks.read_text().count("\n") >= 5)
            partition.cut()
            cut_at = time.time()
            assert a.process.wait(120) == 75  # it stopped its jobs and left
            assert "gives up its jobs" in a.log()
            assert on_b.job(job.id).result(180) == 40
            requeued = [e for e in on_b.job(job.id).events() if e.kind is EventKind.REQUEUED]
        lines = [line.split() for line in marks.read_text().splitlines()]
        first = [float(at) for attempt, at in lines if attempt == "1"]
        second = [float(at) for attempt, at in lines if attempt == "2"]
        assert first and len(second) == 40
        assert max(first) < requeued[0].ts < min(second)  # stopped before it was claimed
        assert requeued[0].ts - cut_at > 0  # claimed only after the cut, once its lease expired
    finally:
        partition.close()


def test_a_server_that_would_not_share_the_database_is_refused(replicas, tmp_path):
    (replica,) = replicas(1, "--workers", "1")
    environment = {**os.environ, "QLAMBDA_DATABASE_URL": replicas.database}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "qlambda.cli",
            "serve",
            "--port",
            "0",
            "--sandbox",
            "none",
            "--data-dir",
            str(tmp_path / "single"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert done.returncode == 1
    assert "the database is in use by replicas" in done.stderr
    assert f"process {replica.process.pid}" in done.stderr


def serve_once(data_dir, database_url, *options):
    """A `qlambda serve` expected to refuse to start: its exit code and error output."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "qlambda.cli",
            "serve",
            "--port",
            "0",
            "--sandbox",
            "none",
            "--data-dir",
            str(data_dir),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QLAMBDA_DATABASE_URL": database_url},
    )


def test_a_second_server_on_one_sqlite_database_is_refused(new_server, tmp_path):
    database = sqlite_url(tmp_path / "shared.db")
    first = new_server("--workers", "1", "--sandbox", "none", database_url=database)
    second = serve_once(tmp_path / "second", database)  # a data directory of its own
    assert second.returncode == 1
    assert "the SQLite database" in second.stderr
    assert f"in use by process {first.process.pid}" in second.stderr
    assert "PostgreSQL" in second.stderr  # what to do instead
    replica = serve_once(tmp_path / "third", sqlite_url(tmp_path / "other.db"), "--replica")
    assert replica.returncode == 1
    assert "replica = true needs PostgreSQL" in replica.stderr
    with qlambda.Client(first.url, token=first.tokens["alice"]) as client:
        assert client.run(sleeps, seconds=0).result(60) == 0  # the first serves on

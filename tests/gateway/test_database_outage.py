"""`qlambda serve` on PostgreSQL while PostgreSQL is killed (-9) and restarted under load:
nothing acknowledged is lost or stranded, nothing refused runs, every job ends once;
meanwhile the API answers 503 with Retry-After and /ready says so. And the remote
client's deadlines: a wait returns at its timeout whatever the server sends."""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import qlambda
from qlambda import JobStatus
from qlambda.core.events import EventKind
from qlambda.store import Store

SUBMITTERS = 16  # each sends a submission, then another PAUSE after its answer
PAUSE = 0.25
OUTAGE_SECONDS = 5.0
AFTER_SECONDS = 3.0  # submissions go on this long once the database is back


def marks(directory, key, seconds):
    """Leaves one line per run in a file named after the submission's key."""
    with open(os.path.join(directory, key), "a") as runs:
        runs.write("ran\n")
    time.sleep(seconds)
    return key


def sleeps(seconds):
    time.sleep(seconds)
    return seconds


def _until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_database_outage_under_load_loses_nothing_and_runs_nothing_refused(
    new_server, own_postgres, tmp_path
):
    url = own_postgres.create_database("served")
    server = new_server(
        "--workers", "2", "--sandbox", "none", "--max-active-jobs", "10000", database_url=url
    )
    token = server.tokens["alice"]
    runs = tmp_path / "runs"
    runs.mkdir()
    with qlambda.Client(server.url, token=token) as client:
        client.register(marks)
        finished = client.run(sleeps, seconds=0)
        assert finished.result(60) == 0

    outcomes: dict[str, tuple[int, dict]] = {}  # key -> (status, body or headers)
    lock = threading.Lock()
    started, enough = threading.Event(), threading.Event()

    def submit(index: int) -> None:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as http:
            while not enough.is_set():
                started.set()
                key = uuid.uuid4().hex
                response = http.post(
                    "/jobs",
                    json={
                        "function": "marks",
                        "arguments": {"directory": str(runs), "key": key, "seconds": 0.02},
                    },
                    headers={"Idempotency-Key": key},
                )
                body = response.json() if response.status_code < 300 else {}
                with lock:
                    outcomes[key] = (response.status_code, {**body, **response.headers})
                time.sleep(PAUSE)

    readiness: list[tuple[float, int]] = []
    reads: list[tuple[int, str | None]] = []
    liveness: set[int] = set()
    watching = threading.Event()

    def watch() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            authorized = {"Authorization": f"Bearer {token}"}
            while not watching.is_set():
                readiness.append((time.monotonic(), http.get("/ready").status_code))
                liveness.add(http.get("/health").status_code)
                read = http.get(f"/jobs/{finished.id}/events", headers=authorized)
                reads.append((read.status_code, read.headers.get("retry-after")))
                time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    retried: list = []
    with ThreadPoolExecutor(SUBMITTERS) as pool:
        futures = [pool.submit(submit, index) for index in range(SUBMITTERS)]
        started.wait(30)
        time.sleep(1.0)  # submissions in flight
        own_postgres.kill()
        down_at = time.monotonic()
        # the Python client started during the outage retries until it is stored
        with qlambda.Client(server.url, token=token) as client, ThreadPoolExecutor(1) as one:
            during = one.submit(client.run, "marks", directory=str(runs), key="client", seconds=0)
            time.sleep(OUTAGE_SECONDS)
            own_postgres.restart()
            up_at = time.monotonic()
            retried.append(during.result(120).id)
        time.sleep(AFTER_SECONDS)
        enough.set()
        for future in futures:
            future.result()
    assert _until(lambda: readiness[-1][1] == 200, 60)
    watching.set()
    watcher.join()

    statuses = {status for status, _ in outcomes.values()}
    assert statuses <= {201, 503}, statuses  # never 400 or 500
    acknowledged = {key: body["id"] for key, (status, body) in outcomes.items() if status == 201}
    refused = [key for key, (status, _) in outcomes.items() if status == 503]
    assert refused and len(acknowledged) > 100, (len(refused), len(acknowledged))
    assert all(outcomes[key][1].get("retry-after") for key in refused)
    # /ready flipped to 503 during the outage and back to 200 after it
    assert any(status == 503 for at, status in readiness if down_at < at < up_at)
    assert readiness[-1][1] == 200
    assert liveness == {200}  # alive all along
    assert (503, "2") in reads and not any(status >= 500 and status != 503 for status, _ in reads)

    with qlambda.Client(server.url, token=token) as client:
        ids = [*acknowledged.values(), *retried]
        for job_id in ids:  # every acknowledged job ends, DONE
            assert client.job(job_id).wait(120), job_id
        infos = {job_id: client.job(job_id).info() for job_id in ids}
    assert {info.status for info in infos.values()} == {JobStatus.DONE}
    assert {info.attempts for info in infos.values()} == {1}

    store = Store(url)
    try:
        assert store.unfinished_jobs() == []  # nothing stranded
        rows = {row["id"]: row for row in store.list_jobs(owner="alice", limit=None)}
        for key, job_id in acknowledged.items():
            kinds = [event.kind for event in store.events(job_id)]
            assert kinds.count(EventKind.STARTED) == 1 and kinds.count(EventKind.DONE) == 1
            assert rows[job_id]["idempotency_key"] == key
        for key in refused:  # refused: never stored
            assert store.job_for_key("alice", key) is None
        stored_keys = {row["idempotency_key"] for row in rows.values()}
        assert stored_keys.isdisjoint(refused)
        assert len(rows) == len(acknowledged) + 2  # and the client's, and the first job
    finally:
        store.close()
    ran = {path.name: path.read_text().count("ran") for path in runs.iterdir()}
    assert set(ran) == {*acknowledged, "client"}  # nothing refused ran
    assert set(ran.values()) == {1}  # each exactly once
    not_ready = [at for at, status in readiness if status == 503]
    print(
        f"\n{len(outcomes)} submissions: {len(acknowledged)} acknowledged (201), "
        f"{len(refused)} refused (503); 0 lost, 0 refused ran, 0 stranded; /ready 503 "
        f"for {not_ready[-1] - not_ready[0]:.1f} s of the {up_at - down_at:.1f} s outage"
    )


def test_result_and_wait_keep_their_deadlines_whatever_the_server_sends(new_server, tmp_path):
    config = Path(tmp_path) / "server.toml"
    config.write_text("[gateway]\nheartbeat_seconds = 1\nmax_running_jobs = 1\n")
    server = new_server("--workers", "2", "--config", str(config))
    with qlambda.Client(server.url, token=server.tokens["alice"]) as client:
        long = client.run(sleeps, seconds=60)
        assert _until(lambda: long.status() is JobStatus.RUNNING, 60)
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            long.result(timeout=5)
        took = time.monotonic() - began
        assert 5 <= took < 30  # at its deadline, well before the job's end
        stuck = client.run(sleeps, seconds=0)  # queued behind the running limit of 1
        began = time.monotonic()
        assert stuck.wait(timeout=3) is False
        took = time.monotonic() - began
        assert 3 <= took < 30
        assert stuck.status() is JobStatus.QUEUED
        long.cancel()
        assert stuck.result(60) == 0

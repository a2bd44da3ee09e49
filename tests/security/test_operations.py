"""Operational safety: one server per data directory, jobs that keep the server from
running stop being retried, faults are 500 with an error id and no internals."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time

import pytest

import qlambda
from qlambda.platform.lock import LOCK_FILE, DataDirLockedError

SLEEPER = base64.b64encode(
    b"import time\n\ndef sleeps(seconds):\n    time.sleep(seconds)\n    return seconds\n\n"
    b"def big(n):\n    return 'x' * n\n"
).decode()


def function(name: str) -> dict:
    return {"name": name, "kind": "source", "content": SLEEPER, "entrypoint": f"s.py:{name}"}


def serve(data_dir, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "qlambda.cli",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_second_server_or_client_on_a_data_directory_is_refused_naming_the_holder(new_server):
    server = new_server("--workers", "1")
    with server.http(server.tokens["bob"]) as bob:
        assert bob.post("/functions", json=function("sleeps")).status_code == 201
        job = bob.post("/jobs", json={"function": "sleeps", "arguments": {"seconds": 0}})
    second = serve(server.data_dir)
    assert second.returncode == 1
    assert f"in use by process {server.process.pid}" in second.stderr
    with pytest.raises(DataDirLockedError, match=f"process {server.process.pid}"):
        qlambda.Client(data_dir=server.data_dir, workers=1)
    with server.http(server.tokens["bob"]) as bob:  # the first server serves on, intact
        answer = bob.get(f"/jobs/{job.json()['id']}/result", params={"wait": 60}).json()
        assert answer["status"] == "DONE"


def negate(x):
    return -x


def test_a_stale_lock_file_does_not_block(tmp_path):
    (tmp_path / LOCK_FILE).write_text("999999\n")  # left by a process long gone
    with qlambda.Client(data_dir=tmp_path, workers=1) as client:
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
        assert client.run(negate, x=-1).result(60) == 1
    with qlambda.Client(data_dir=tmp_path, workers=1):  # released by close()
        pass


def _starts(http, job_id: str) -> int:
    events = http.get(f"/jobs/{job_id}/events").json()
    return sum(event["kind"] == "STARTED" for event in events)


def test_a_job_the_server_died_under_three_times_ends_error(new_server, database_url):
    server = new_server("--workers", "2", database_url=database_url)
    tokens = server.tokens
    with server.http(tokens["alice"]) as alice, server.http(tokens["bob"]) as bob:
        for http in (alice, bob):
            assert http.post("/functions", json=function("sleeps")).status_code == 201
        bobs_done = bob.post("/jobs", json={"function": "sleeps", "arguments": {"seconds": 0}})
        bobs_done = bobs_done.json()["id"]
        assert bob.get(f"/jobs/{bobs_done}/result", params={"wait": 60}).json()["value"] == 0
        culprit = alice.post("/jobs", json={"function": "sleeps", "arguments": {"seconds": 600}})
        culprit = culprit.json()["id"]
    for kill in range(1, 4):
        with server.http(tokens["alice"]) as alice:
            deadline = time.monotonic() + 120
            # its start is stored (the events are read from the store): the kill
            # falls while it runs, not in the instant between its start and that write
            while _starts(alice, culprit) < kill:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        server.kill()
        server.start()
        with server.http(tokens["alice"]) as alice:
            row = alice.get(f"/jobs/{culprit}").json()
        if kill < 3:
            assert row["status"] in ("QUEUED", "RUNNING"), row  # run again
    assert row["status"] == "ERROR"
    assert row["reason"].startswith(
        "the server stopped 3 times while this job ran; it is not run again"
    )
    with server.http(tokens["bob"]) as bob:
        assert bob.get(f"/jobs/{bobs_done}/result").json()["value"] == 0  # intact
        again = bob.post("/jobs", json={"function": "sleeps", "arguments": {"seconds": 0}})
        assert (
            bob.get(f"/jobs/{again.json()['id']}/result", params={"wait": 60}).json()["value"] == 0
        )


def test_an_unexpected_fault_is_a_500_with_an_error_id_and_no_internals(new_server):
    server = new_server("--workers", "1")
    with server.http(server.tokens["alice"]) as alice, server.http(server.tokens["bob"]) as bob:
        for http in (alice, bob):
            assert http.post("/functions", json=function("big")).status_code == 201
        job = alice.post("/jobs", json={"function": "big", "arguments": {"n": 3_000_000}})
        job = job.json()["id"]
        assert alice.get(f"/jobs/{job}/result", params={"wait": 60}).status_code == 200
        bobs = bob.post("/jobs", json={"function": "big", "arguments": {"n": 10}}).json()["id"]
        # a result file lost under the server (a disk fault, an operator's mistake)
        (stored,) = (server.data_dir / "results").rglob(f"{job}.*")
        stored.unlink()
        answer = alice.get(f"/jobs/{job}/result")
        assert answer.status_code == 500
        body = answer.json()
        error_id = body["error_id"]
        assert re.fullmatch(r"[0-9a-f]{12}", error_id) and error_id in body["detail"]
        assert "results" not in body["detail"] and "Error" not in body["detail"]
        assert str(server.data_dir) not in answer.text
        # expected errors keep their 4xx
        assert alice.get("/jobs/nope").status_code == 404
        assert alice.post("/jobs", json={"function": "big", "x": 1}).status_code == 422
        # others are served on, their data intact
        assert bob.get(f"/jobs/{bobs}/result", params={"wait": 60}).json()["value"] == "x" * 10
    deadline = time.monotonic() + 10
    while error_id not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log()
    assert f"error {error_id} on GET /jobs/{job}/result" in log
    assert "FileNotFoundError" in log  # the operator sees what happened

"""Nothing lost: `kill -9` of a real server with jobs queued and running, then a restart.
Also per-user limits, and functions registered from the configuration file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

import qlambda
from qlambda import JobStatus
from qlambda.core.errors import LimitExceededError
from qlambda.core.events import EventKind


def counts_with_checkpoints(ctx, steps, pause):
    state = ctx.restore() or {"done": 0, "attempts": []}
    state["attempts"].append(ctx.attempt)
    for step in range(state["done"], steps):
        time.sleep(pause)
        state["done"] = step + 1
        print(f"attempt {ctx.attempt} step {step + 1}", flush=True)
        ctx.checkpoint(state)
    return state


def environment_variable(name):
    import os

    return os.environ.get(name)


def sleeps(seconds):
    time.sleep(seconds)
    return seconds


def test_kill_9_with_jobs_queued_and_running_loses_nothing(new_server, database_url):
    server = new_server("--workers", "1", database_url=database_url)
    tokens = server.tokens
    client = qlambda.Client(server.url, token=tokens["alice"])
    finished = client.run(counts_with_checkpoints, steps=1, pause=0.0)
    assert finished.result(60) == {"done": 1, "attempts": [1]}
    finished_events = finished.events()
    running = client.run(counts_with_checkpoints, steps=6, pause=0.5)
    queued = [client.run(counts_with_checkpoints, steps=1, pause=0.0) for _ in range(3)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(e.kind is EventKind.CHECKPOINT for e in running.events()) >= 2:
            break
        time.sleep(0.05)
    logs_before = running.logs()
    assert "attempt 1 step 2" in logs_before
    assert [job.status() for job in queued] == [JobStatus.QUEUED] * 3
    client.close()
    server.kill()

    server.start()  # same data directory, new process, new port
    client = qlambda.Client(server.url, token=tokens["alice"])
    resumed = client.job(running.id).result(120)
    assert resumed["done"] == 6
    assert resumed["attempts"] == [1, 2]  # resumed from its checkpoint, not from scratch
    assert [client.job(j.id).result(60) for j in queued] == [{"done": 1, "attempts": [1]}] * 3
    assert client.job(finished.id).result(10) == {"done": 1, "attempts": [1]}
    assert client.job(finished.id).events() == finished_events
    logs_after = client.job(running.id).logs()
    assert logs_after.startswith(logs_before)  # no log line already stored is lost
    assert "attempt 2 step 6" in logs_after
    assert "attempt 2 step 1\n" not in logs_after  # steps done before are not redone
    # user code runs where the store's address is not to be found
    assert client.run(environment_variable, name="QLAMBDA_DATABASE_URL").result(60) is None
    kinds = [e.kind for e in client.job(running.id).events()]
    assert EventKind.REQUEUED in kinds and kinds[-1] is EventKind.DONE
    client.close()


def test_per_user_limits_are_answered_with_429_and_a_reason(new_server):
    server = new_server(
        "--workers",
        "1",
        "--max-active-jobs",
        "2",
        "--max-running-jobs",
        "5",
        users=("alice", "bob"),
    )
    tokens = server.tokens
    alice = qlambda.Client(server.url, token=tokens["alice"])
    kept = [alice.run(sleeps, seconds=30) for _ in range(2)]
    with pytest.raises(LimitExceededError, match=r"2 active .* the limit is 2") as refused:
        alice.run(sleeps, seconds=0)
    assert refused.value.status == 429
    with qlambda.Client(server.url, token=tokens["bob"]) as bob:
        assert bob.run(sleeps, seconds=0).status() in (JobStatus.QUEUED, JobStatus.RUNNING)
    for job in kept:
        job.cancel()
        job.wait(60)
    assert alice.run(sleeps, seconds=0).result(60) == 0  # freed once they ended
    alice.close()


def test_jobs_past_the_running_limit_wait_while_other_users_run(new_server):
    server = new_server("--workers", "2", "--max-running-jobs", "1", users=("alice", "bob"))
    tokens = server.tokens
    with (
        qlambda.Client(server.url, token=tokens["alice"]) as alice,
        qlambda.Client(server.url, token=tokens["bob"]) as bob,
    ):
        first = alice.run(sleeps, seconds=30)
        deadline = time.monotonic() + 60
        while first.status() is not JobStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.05)
        second = alice.run(sleeps, seconds=0)  # accepted, not refused: it waits its turn
        assert bob.run(sleeps, seconds=0).result(60) == 0  # the free worker serves bob
        assert second.status() is JobStatus.QUEUED
        first.cancel()
        assert second.result(60) == 0


def test_functions_from_the_configuration_file_are_registered_at_start(tmp_path, new_server):
    (tmp_path / "square.py").write_text("def square(x):\n    return x * x\n")
    config = tmp_path / "server.toml"
    config.write_text(
        textwrap.dedent(
            """
            [platform]
            workers = 1

            [gateway]
            max_active_jobs = 50

            [[function]]
            name = "square"
            owner = "alice"
            source = "square.py"
            dependencies = ["numpy>=2"]
            """
        )
    )
    server = new_server("--config", str(config))
    with qlambda.Client(server.url, token=server.tokens["alice"]) as alice:
        assert alice.run("square", x=7).result(60) == 49


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[gateway]\nmax_jobs = 1\n", "unknown [gateway] setting(s) ['max_jobs']"),
        ("[[function]]\nname = 'f'\nowner = 'a'\nsource = 'missing.py'\n", "no file"),
        (
            "[[function]]\nname = 'f'\nowner = 'a'\nsource = 'f.py'\ndependencies = ['nopkg-x']\n",
            "nopkg-x is not installed",
        ),
    ],
)
def test_a_bad_configuration_stops_the_server_with_a_message(tmp_path, content, message):
    (tmp_path / "f.py").write_text("def f():\n    return 1\n")
    config = tmp_path / "bad.toml"
    config.write_text(content)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "qlambda.cli",
            "serve",
            "--port",
            "0",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert message in done.stderr

"""A QPU executor answers a job's worker over the worker's reply route: the control plane
still admits, schedules and records every task, but the result does not wait for it,
nor for the store; what does not fit a route goes the usual way."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import qlambda
from qlambda.core.events import EventKind


def bell(measured: bool = False):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if measured:
        circuit.measure_all()
    return circuit


def estimates(ctx, calls: int, marker: str | None = None, go: str | None = None) -> list:
    while go is not None and not Path(go).exists():
        time.sleep(0.01)
    estimator = ctx.estimator("aer")
    values, busy = [], []
    for _ in range(calls):
        job = estimator.run([(bell(), "ZZ")])
        values.append(float(job.result()[0].data.evs))
        busy.append(job.metrics()["busy_seconds"])
    if marker is not None:
        Path(marker).write_text("all answered")
    return [values, busy]


def samples(ctx, shots: int) -> int:
    result = ctx.sampler("aer").run([bell(measured=True)], shots=shots).result()
    return sum(result[0].data.meas.get_counts().values())


def writes_to_its_route() -> str:
    from qlambda.engine.channel import current_channel

    try:
        current_channel().route.send(b"forged")  # type: ignore[attr-defined]
    except OSError as exc:
        return f"refused: {exc.strerror}"
    return "sent"


def finished(job) -> list:
    return [e for e in job.events() if e.kind is EventKind.QPU_FINISHED]


def test_a_jobs_calls_are_answered_directly_and_still_recorded(client):
    job = client.run(estimates, calls=4)
    values, busy = job.result(120)
    assert values == [1.0] * 4
    assert all(seconds > 0 for seconds in busy)  # the timings came with the answer
    events = finished(job)
    assert [e.data["direct"] for e in events] == [True] * 4
    assert [e.data["outcome"] for e in events] == ["done"] * 4
    client.platform.store.writer.flush()
    rows = [r for r in client.platform.store.quantum_tasks() if r["job_id"] == job.id]
    assert len(rows) == 4 and all(r["busy_seconds"] > 0 for r in rows)


def test_an_answer_too_large_for_a_route_goes_through_the_control_plane(client):
    job = client.run(samples, shots=100_000)  # 100 kB of bits: over a route's 64 kB
    assert job.result(120) == 100_000
    assert [e.data["direct"] for e in finished(job)] == [False]


def test_answers_reach_the_worker_while_the_store_cannot_write(tmp_path):
    """The journal's writes wait for the store; the job's results do not."""
    blocked, release = threading.Event(), threading.Event()
    with qlambda.Client(data_dir=tmp_path / "data", workers=1) as client:
        assert client.wait_ready(180)

        def stall(conn, cursor, statement, *args):
            if statement.startswith(("INSERT INTO events", "INSERT INTO quantum_tasks")):
                blocked.set()
                release.wait(120)

        marker, go = tmp_path / "answered", tmp_path / "go"
        job = client.run(estimates, calls=5, marker=str(marker), go=str(go))
        sa.event.listen(client.platform.store.engine, "before_cursor_execute", stall)
        go.write_text("")
        try:
            give_up = time.monotonic() + 120
            while not marker.exists():
                assert time.monotonic() < give_up, "the job's calls were not answered"
                time.sleep(0.02)
            assert blocked.is_set() and not release.is_set()  # the writer is still held
        finally:
            release.set()
        values, _ = job.result(120)
        assert values == [1.0] * 5
        assert len(finished(job)) == 5  # nothing of the journal was lost
        client.platform.store.writer.flush()
        rows = [r for r in client.platform.store.quantum_tasks() if r["job_id"] == job.id]
        assert len(rows) == 5


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_a_sandboxed_job_is_answered_directly_and_cannot_write_to_its_route(tmp_path):
    config = {"sandbox": {"mode": "bwrap"}}
    with qlambda.Client(data_dir=tmp_path / "data", workers=1, config=config) as client:
        assert client.wait_ready(180)
        job = client.run(estimates, calls=3)
        assert job.result(180)[0] == [1.0] * 3
        assert [e.data["direct"] for e in finished(job)] == [True] * 3
        assert client.run(writes_to_its_route).result(120).startswith("refused")


def test_a_job_ends_only_once_its_directly_answered_tasks_are_recorded(client):
    """The executor answers the worker before the control plane has its report; the job's
    end still comes after that report (counted, journaled), every time."""

    def completed() -> int:
        return sum(row["completed"] for row in client.backends() if row["backend"] == "aer")

    for _ in range(20):
        before = completed()
        job = client.run(estimates, calls=1)
        assert job.result(120)[0] == [1.0]
        assert completed() == before + 1
        kinds = [e.kind for e in job.events()]
        assert kinds.index(EventKind.QPU_FINISHED) < kinds.index(EventKind.DONE)

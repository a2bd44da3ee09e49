"""A job waiting for a QPU says when its quantum work should start and be done."""

from __future__ import annotations

import time

from qlambda.core.states import JobStatus


def two_tasks_on_slow(ctx):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    sampler = ctx.sampler("slow")
    for _ in range(2):
        sampler.run([circuit], shots=100).result()
    return True


def test_a_waiting_job_shows_starts_in_and_done_in(client):
    jobs = [client.run(two_tasks_on_slow) for _ in range(3)]
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(j.done() for j in jobs):
        for job in jobs:
            info = job.info()
            if info.status is JobStatus.RUNNING and info.sub_status == "WAITING_FOR_QPU":
                seen.append(info)
        time.sleep(0.02)
    assert all(job.result(120) for job in jobs)
    assert seen, "no job was ever seen waiting for the QPU"
    waiting = [i for i in seen if i.starts_in_seconds and i.starts_in_seconds > 0]
    assert waiting
    info = waiting[0]
    assert info.done_in_seconds > info.starts_in_seconds
    assert "starts in about" in info.status_text and "done in about" in info.status_text
    assert client.jobs(limit=1)[0].info().starts_in_seconds is None  # finished: no estimate

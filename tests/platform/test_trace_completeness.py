"""Every quantum task of a job is in the store and in the exported trace, also when the
job ends the moment its last result arrives (or before its last task has run)."""

from __future__ import annotations

import time

import pandas as pd

from qlambda.platform.traces import export_traces

CALLS = 3


def bell():
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    return circuit


def short_job(ctx, calls: int = CALLS) -> int:
    """A few quantum calls, returning the moment the last result is in."""
    estimator = ctx.estimator("aer")
    for _ in range(calls):
        estimator.run([(bell(), "ZZ")]).result()
    return calls


def leaves_its_last_task_running(ctx) -> int:
    """Returns right after its last call, without waiting for its result."""
    estimator = ctx.estimator("slow")
    estimator.run([(bell(), "ZZ")]).result()
    estimator.run([(bell(), "ZZ")])
    return 2


def wait_until_idle(client, deadline: float = 120.0) -> None:
    """Until no quantum task waits or runs (the platform's own state, not a clock)."""
    give_up = time.monotonic() + deadline
    while any(row["pending"] or row["running"] for row in client.backends()):
        assert time.monotonic() < give_up, client.backends()
        time.sleep(0.02)


def recorded(client, job_ids: set[str]) -> pd.DataFrame:
    store = client.platform.store
    store.writer.flush()
    tasks = pd.DataFrame(store.quantum_tasks())
    return tasks[tasks.job_id.isin(job_ids)]


def test_every_task_of_many_short_jobs_is_stored_and_exported(client, tmp_path):
    jobs = [client.run(short_job) for _ in range(60)]
    for job in jobs:
        assert job.result(300) == CALLS
    ids = {job.id for job in jobs}
    tasks = recorded(client, ids)
    assert len(tasks) == CALLS * len(jobs)
    assert (tasks.outcome == "done").all()
    for job in jobs[:5]:
        kinds = [event.kind.value for event in job.events()]
        assert kinds.count("QPU_FINISHED") == CALLS
    written = export_traces(client.platform.store, tmp_path)
    iterations = pd.read_csv(written["num_iterations"])
    assert (iterations.tail(len(jobs)).num_iterations == CALLS).all()
    assert len(pd.read_csv(written["exec_time"])) >= CALLS * len(jobs)


def test_a_task_still_running_when_its_job_ends_is_stored(client):
    jobs = [client.run(leaves_its_last_task_running) for _ in range(3)]
    for job in jobs:
        assert job.result(300) == 2
    wait_until_idle(client)
    tasks = recorded(client, {job.id for job in jobs})
    assert len(tasks) == 2 * len(jobs)
    for job in jobs:
        finished = [e for e in job.events() if e.kind.value == "QPU_FINISHED"]
        assert len(finished) == 2


def test_the_platform_pilot_s_own_tasks_are_not_recorded_as_a_job_s(client, caplog):
    """A pilot's tasks carry its id ("pilot-N"), which has no job row to refer to: writing
    their events would fail (a foreign key) and cost the writer a retry of its batch."""
    from qiskit import QuantumCircuit

    pilot = client.platform.pilot
    circuit = QuantumCircuit(1)
    circuit.measure_all()
    assert pilot.sampler("aer").run([circuit], shots=10).result()[0].data.meas.num_shots == 10
    store = client.platform.store
    store.writer.flush()
    assert all(row["job_id"] != pilot.id for row in store.quantum_tasks())
    assert all(event.job_id != pilot.id for event in store.events())
    assert "store write failed" not in caplog.text

"""Pilots and serverless jobs on Dask: a scheduler and two workers started here.

The scheduler and workers are ``dask scheduler`` / ``dask worker`` processes on
loopback; the failure test adds a third worker and kills it mid-run. Only the
process trees started here are stopped.
"""

from __future__ import annotations

import time

import pytest
from qiskit import QuantumCircuit

import qlambda
from qlambda import JobStatus
from qlambda.core.errors import TimeLimitError
from qlambda.core.events import EventKind
from qlambda.pilot import PilotDescription, PilotManager

pytest.importorskip("distributed")
from qlambda.engine.dask.cluster import LoopbackDaskCluster
from qlambda.engine.remote.processes import running

# A loopback Dask cluster on a loaded 2-core machine has, rarely, timed out a test
# (1 run in 7, not reproduced since): such a run is retried, a real failure repeats.
pytestmark = [pytest.mark.cluster, pytest.mark.flaky(reruns=2)]


def wait_for_workers(engine, names, timeout=90.0, unlike=()):
    """Wait until exactly the named workers are up, not all at the ``unlike`` addresses."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = engine.workers()
        if sorted(workers.values()) == sorted(names) and set(workers) != set(unlike):
            return workers
        time.sleep(0.3)
    raise TimeoutError(f"the cluster did not reach workers {names}: {engine.workers()}")


@pytest.fixture(scope="module")
def cluster():
    cluster = LoopbackDaskCluster()
    try:
        cluster.scheduler()
        cluster.add_worker("a")
        cluster.add_worker("b", resources={"qpu_b": 1})
        yield cluster
    finally:
        trees = [p for started in cluster.processes for p in started.tree()]
        cluster.shutdown()
        assert not [p.pid for p in trees if running(p)]


@pytest.fixture(scope="module")
def pilot(cluster):
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="dask", address=cluster.address))
        wait_for_workers(pilot.engine, ["a", "b"])
        yield pilot


@pytest.fixture(scope="module")
def client(cluster, pilot, tmp_path_factory):
    with qlambda.Client(
        engine="dask",
        engine_address=cluster.address,
        data_dir=tmp_path_factory.mktemp("dask-platform"),
        backends=[{"name": "aer", "kind": "aer"}],
        seed=5,
    ) as client:
        assert client.wait_ready(120)
        yield client


def worker_after(seconds):
    from distributed import get_worker

    time.sleep(seconds)
    return get_worker().name


def test_pilot_tasks_run_on_both_workers(pilot):
    workers = {"a", "b"}
    alone = [pilot.submit(worker_after, 0.5, resources={"timeout": 60}) for _ in range(6)]
    batched = [pilot.submit(worker_after, 0.1) for _ in range(40)]
    assert {f.result(120) for f in alone} == workers
    assert {f.result(120) for f in batched} == workers


def test_a_worker_resource_pins_tasks_to_its_worker(pilot):
    futures = [
        pilot.submit(worker_after, 0, resources={"resources": {"qpu_b": 1}}) for _ in range(3)
    ]
    assert {f.result(120) for f in futures} == {"b"}
    with pytest.raises(ValueError, match=r"'qpu_z'; no Dask worker has that much"):
        pilot.submit(worker_after, 0, resources={"resources": {"qpu_z": 1}})


def bell_job(ctx, shots):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    print("sampling on dask", flush=True)
    counts = ctx.sampler().run([circuit], shots=shots).result()[0].data.meas.get_counts()
    ctx.checkpoint(counts)
    squares = ctx.map(lambda x: x * x, [2, 3])
    time.sleep(0.5)
    from distributed import get_worker

    return {"worker": get_worker().name, "counts": counts, "squares": squares}


def test_serverless_jobs_run_on_both_workers(client, pilot):
    jobs = [client.run(bell_job, shots=100) for _ in range(4)]
    results = [job.result(180) for job in jobs]
    assert {r["worker"] for r in results} == {"a", "b"}
    for result in results:
        assert sum(result["counts"].values()) == 100
        assert result["squares"] == [4, 9]
    assert "sampling on dask" in jobs[0].logs()


def ended_on(seconds):
    return worker_after(seconds), time.time()


def reports_its_worker(ctx, seconds):
    from distributed import get_worker

    worker = get_worker().name
    ctx.status(worker)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    return worker


@pytest.mark.slow
def test_killing_a_worker_mid_run_reschedules_its_work(cluster, client, pilot):
    doomed = cluster.add_worker("c")
    wait_for_workers(pilot.engine, ["a", "b", "c"])
    worker_c = "c"
    jobs = [client.run(reports_its_worker, seconds=3) for _ in range(3)]
    tasks = [pilot.submit(ended_on, 2, resources={"timeout": 120}) for _ in range(3)]
    deadline = time.monotonic() + 90
    on_c = []
    while not on_c and time.monotonic() < deadline:
        on_c = [job for job in jobs if job.sub_status() == worker_c]
        time.sleep(0.1)
    assert on_c, "no job started on the third worker"
    processes = doomed.tree()
    killed_at = time.time()
    cluster.kill(doomed)
    assert not [p.pid for p in processes if running(p)]

    for job in jobs:
        job.wait(120)
    statuses = [job.status() for job in jobs]
    assert statuses == [JobStatus.DONE] * 3, [(j.info(), pilot.engine.stats()) for j in jobs]
    results = [job.result(1) for job in jobs]
    assert worker_c not in results
    started = [e for e in on_c[0].events() if e.kind is EventKind.STARTED]
    assert len(started) == 2
    # every pilot task finished; none did on the killed worker after its death
    for name, ended in (f.result(120) for f in tasks):
        assert name in {"a", "b"} or ended < killed_at


# Last: restarting a worker after jobs fanned out (seceded threads) was seen to leave
# later tasks unscheduled; see docs/scale-out.md.
def test_a_time_limit_stops_the_task_and_restarts_its_worker(pilot):
    before = pilot.engine.workers()
    with pytest.raises(TimeLimitError, match="time limit of 1 s exceeded"):
        pilot.submit(worker_after, 60, resources={"timeout": 1}).result(60)
    after = wait_for_workers(pilot.engine, ["a", "b"], unlike=before)
    assert len(set(after) - set(before)) == 1  # one worker restarted, at a new address
    assert pilot.submit(worker_after, 0).result(60) in {"a", "b"}

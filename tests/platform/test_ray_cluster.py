"""Pilots and serverless jobs on a real two-node Ray cluster on this machine.

The module starts a head and a second node (each a ``ray start`` process with its
own temp folder and ports), joins them from this process, and stops exactly the
process trees it started. The failure test adds a third node and kills it mid-run.
"""

from __future__ import annotations

import time

import pytest
from qiskit import QuantumCircuit

import qlambda
from qlambda import JobStatus
from qlambda.core.events import EventKind
from qlambda.pilot import PilotDescription, PilotManager

ray = pytest.importorskip("ray")
from qlambda.engine.ray.cluster import LoopbackRayCluster, running  # noqa: E402

pytestmark = pytest.mark.cluster


def wait_for_nodes(engine, count, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = engine.nodes()
        if len(nodes) == count:
            return nodes
        time.sleep(0.5)
    raise TimeoutError(f"the cluster did not reach {count} nodes: {engine.nodes()}")


@pytest.fixture(scope="module")
def cluster():
    cluster = LoopbackRayCluster()
    try:
        cluster.head(cpus=1)
        cluster.add_node(cpus=1, resources={"qpu_b": 1}, name="b")
        yield cluster
    finally:
        trees = [p for node in cluster.nodes for p in node.tree()]
        cluster.shutdown()
        assert not [p.pid for p in trees if running(p)]


@pytest.fixture(scope="module")
def pilot(cluster):
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="ray", address=cluster.address))
        wait_for_nodes(pilot.engine, 2)
        yield pilot


@pytest.fixture(scope="module")
def client(cluster, pilot, tmp_path_factory):
    with qlambda.Client(
        engine="ray",
        engine_address=cluster.address,
        data_dir=tmp_path_factory.mktemp("ray-platform"),
        backends=[{"name": "aer", "kind": "aer"}],
        seed=3,
    ) as client:
        assert client.wait_ready(120)
        yield client


def node_after(seconds):
    time.sleep(seconds)
    return ray.get_runtime_context().get_node_id()


def nodes_used(pilot, rounds, **resources):
    """Where rounds of tasks ran; Ray fills the driver's node first, so a node that
    is still starting its first worker may get work only in a later round."""
    seen = set()
    for _ in range(rounds):
        futures = [pilot.submit(node_after, 0.5, resources=resources or None) for _ in range(8)]
        seen |= {f.result(120) for f in futures}
        if len(seen) == 2:
            break
    return seen


def test_pilot_tasks_run_on_both_nodes(pilot):
    node_ids = {n["id"] for n in pilot.engine.nodes()}
    assert nodes_used(pilot, 5, timeout=60) == node_ids  # one Ray task each
    assert nodes_used(pilot, 5) == node_ids  # in batches


def test_a_custom_resource_pins_tasks_to_its_node(pilot):
    node_b = next(n["id"] for n in pilot.engine.nodes() if "qpu_b" in n["resources"])
    futures = [pilot.submit(node_after, 0, resources={"resources": {"qpu_b": 1}}) for _ in range(4)]
    assert {f.result(120) for f in futures} == {node_b}
    with pytest.raises(ValueError, match=r"'qpu_z'.*Custom resources there: qpu_b"):
        pilot.submit(node_after, 0, resources={"resources": {"qpu_z": 1}})


def bell_job(ctx, shots, seconds):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    ctx.status("sampling")
    print("sampling the bell state", flush=True)
    counts = ctx.sampler().run([circuit], shots=shots).result()[0].data.meas.get_counts()
    ctx.checkpoint({"counts": counts})
    squares = ctx.map(lambda x: x * x, [1, 2, 3, 4])
    time.sleep(seconds)
    return {
        "node": ray.get_runtime_context().get_node_id(),
        "counts": counts,
        "restored": ctx.restore(),
        "squares": squares,
    }


def test_serverless_jobs_run_on_both_nodes_and_reach_the_control_plane(client, pilot):
    node_ids = {n["id"] for n in pilot.engine.nodes()}
    jobs = [client.run(bell_job, shots=200, seconds=1.0) for _ in range(4)]
    results = [job.result(180) for job in jobs]
    assert {r["node"] for r in results} == node_ids
    for result in results:
        assert sum(result["counts"].values()) == 200
        assert set(result["counts"]) <= {"00", "11"}
        assert result["restored"] == {"counts": result["counts"]}
        assert result["squares"] == [1, 4, 9, 16]
    job = jobs[0]
    assert "sampling the bell state" in job.logs()
    kinds = [e.kind for e in job.events()]
    for kind in (EventKind.STARTED, EventKind.SUB_STATUS, EventKind.QPU_FINISHED):
        assert kind in kinds
    assert kinds[-1] is EventKind.DONE


def ended_on(seconds):
    return node_after(seconds), time.time()


def reports_its_node(ctx, seconds):
    node = ray.get_runtime_context().get_node_id()
    ctx.status(node)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    return node


@pytest.mark.slow
def test_killing_a_node_mid_run_retries_its_work_and_everything_finishes(cluster, client, pilot):
    before = {n["id"] for n in pilot.engine.nodes()}
    doomed = cluster.add_node(cpus=1, name="c")
    node_c = ({n["id"] for n in wait_for_nodes(pilot.engine, 3)} - before).pop()
    jobs = [client.run(reports_its_node, seconds=4) for _ in range(3)]
    tasks = [pilot.submit(ended_on, 3, resources={"timeout": 120}) for _ in range(3)]
    deadline = time.monotonic() + 90
    on_c = []
    while not on_c and time.monotonic() < deadline:
        on_c = [job for job in jobs if job.sub_status() == node_c]
        if not on_c and all(job.done() for job in jobs):  # Ray placed none on C: more
            jobs += [client.run(reports_its_node, seconds=4) for _ in range(3)]
        time.sleep(0.1)
    assert on_c, "no job started on the third node"
    doomed_processes = doomed.tree()
    killed_at = time.time()
    cluster.kill(doomed)
    assert not [p.pid for p in doomed_processes if running(p)]

    results = [job.result(240) for job in jobs]
    assert all(job.status() is JobStatus.DONE for job in jobs)
    assert node_c not in results
    retried = on_c[0]
    started = [e for e in retried.events() if e.kind is EventKind.STARTED]
    assert len(started) == 2  # it ran again, on a surviving node
    # every pilot task finished; none did on the killed node after its death
    for node, ended in (f.result(240) for f in tasks):
        assert node in before or ended < killed_at

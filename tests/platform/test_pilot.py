"""Pilots: futures, map, resources, cancel, several pilots, the pilot's QPUs."""

from __future__ import annotations

import time
from concurrent.futures import CancelledError, Future

import pytest
from qiskit import QuantumCircuit

from qlambda.core.errors import ConfigurationError, TimeLimitError
from qlambda.pilot import PilotDescription, PilotManager


def cube(x):
    return x**3


def pause(seconds):
    time.sleep(seconds)
    return seconds


@pytest.fixture(scope="module")
def manager():
    with PilotManager() as manager:
        yield manager


@pytest.fixture(scope="module")
def pilot(manager):
    return manager.create_pilot(
        PilotDescription(engine="local", cores=2, qpus=[{"name": "sim", "kind": "aer"}])
    )


def test_submit_returns_a_concurrent_future(pilot):
    future = pilot.submit(cube, 3)
    assert isinstance(future, Future)
    assert future.result(60) == 27


def test_map_keeps_the_order(pilot):
    assert list(pilot.map(cube, range(50))) == [x**3 for x in range(50)]


def test_resources_set_limits(pilot):
    future = pilot.submit(pause, 30, resources={"timeout": "0.5s"})
    with pytest.raises(TimeLimitError):
        future.result(60)
    with pytest.raises(ValueError, match=r"unknown resource.*'resources'.*accepted: cpus, memory"):
        pilot.submit(cube, 1, resources={"resources": {"qpu_torino": 1}})
    with pytest.raises(ValueError, match="cannot read memory 'lots'"):
        pilot.submit(cube, 1, resources={"memory": "lots"})


def test_the_pilots_qpus_take_qiskit_primitives(pilot):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    counts = pilot.sampler().run([circuit], shots=500).result()[0].data.meas.get_counts()
    assert set(counts) == {"00", "11"}


def test_unknown_engines_are_refused():
    with pytest.raises(
        ConfigurationError, match="unknown engine 'pbs'; available: local, ray, dask, slurm"
    ):
        PilotDescription(engine="pbs")


def test_the_manager_spreads_tasks_over_its_pilots(manager, pilot):
    second = manager.create_pilot(PilotDescription(cores=1))
    try:
        blockers = [pilot.submit(pause, 1.0) for _ in range(4)]
        routed = manager.submit(cube, 2)
        assert routed.result(60) == 8
        assert second.engine.stats()["completed"] >= 1
        for future in blockers:
            future.result(60)
    finally:
        second.cancel()


def test_cancel_stops_everything():
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(cores=1))
        running = pilot.submit(pause, 60)
        queued = pilot.submit(pause, 60)
        time.sleep(0.3)
        pilot.cancel()
        for future in (running, queued):
            with pytest.raises(CancelledError):
                future.result(10)
        with pytest.raises(RuntimeError, match="canceled"):
            pilot.submit(cube, 1)


def test_the_pilots_primitives_take_execution_options_like_a_jobs(pilot):
    with pytest.raises(ValueError, match=r"unknown execution option 'zen'.*zne"):
        pilot.estimator(options=["zen"])
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    result = pilot.sampler(options=["ddd"]).run([circuit], shots=50).result()
    assert result[0].data.meas.get_counts() == {"1": 50}


def test_a_pilot_s_backend_runs_ibm_runtime_style_code(pilot):
    from qiskit import QuantumCircuit, transpile

    from qlambda.runtime import Batch, SamplerV2, Session

    backend = pilot.backend("sim")
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    isa = transpile(circuit, backend=backend)
    with Batch(backend=backend) as batch:
        sampler = SamplerV2(mode=batch, options={"default_shots": 123})
        counts = sampler.run([isa]).result()[0].data.meas.get_counts()
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 123
    assert sum(backend.run(isa, shots=50).result().get_counts().values()) == 50
    with Session(backend=backend) as session:  # mode=None: the session of the block
        sampler = SamplerV2()
        assert sampler.mode is session and session.backend() == "sim"
        assert sampler.run([isa], shots=7).result()[0].data.meas.num_shots == 7
    assert session.status() == "Closed"
    with pytest.raises(ValueError, match="unknown backend 'torino'; available: sim"):
        pilot.backend("torino")


def ghz_expectations(width, ctx):
    """A task that reaches its pilot's QPUs: its context's estimator, a Runtime-style
    sampler on a backend got by name, and the least busy backend found without ctx."""
    from qiskit.quantum_info import SparsePauliOp

    from qlambda.runtime import QiskitRuntimeService, SamplerV2

    circuit = QuantumCircuit(width)
    circuit.h(0)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    value = ctx.estimator().run([(circuit, SparsePauliOp("Z" * width))]).result()[0].data.evs
    measured = circuit.copy()
    measured.measure_all()
    backend = ctx.backend("sim")
    counts = SamplerV2(mode=backend).run([measured], shots=500).result()[0].data.meas
    least_busy = QiskitRuntimeService().least_busy(min_num_qubits=width)
    return float(value), counts.get_counts(), least_busy.name, [b["name"] for b in ctx.backends()]


def test_a_task_with_ctx_reaches_the_pilots_qpus_through_its_dispatcher(pilot):
    before = pilot.dispatcher.stats()[0]["completed"]
    value, counts, least_busy, names = pilot.submit(ghz_expectations, 3).result(120)
    assert value == pytest.approx(0.0, abs=1e-9)  # <ZZZ> of GHZ-3 is 0, exactly
    assert sorted(counts) == ["000", "111"] and sum(counts.values()) == 500
    assert least_busy == "sim" and names == ["sim"]
    assert pilot.dispatcher.stats()[0]["completed"] == before + 2
    named = pilot.submit_call(ghz_expectations, (2,), name="mine")
    assert named.result(120)[0] == pytest.approx(1.0, abs=1e-9)  # <ZZ> of a Bell pair

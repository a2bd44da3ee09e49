"""Calls that name no backend, on a platform with an ideal simulator and a noisy device.

A call only goes to a backend that can serve it (exact values: the ideal simulator, even
when it is busy), a job's unnamed calls stay on the backend its first one got (so its
results come from one device), ``backend="auto"`` chooses per call, and the pin is gone
when the job ends. Also what users porting code expect of each backend: exact values on
the ideal simulator by default, the device's shots on the noisy one, and a user's own
mitiq ZNE measuring amplified noise.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

import qlambda
from qlambda import JobFailedError

# the ideal simulator emulates a slow QPU (about 0.17 s a task) so a queue forms on it
BACKENDS = [
    {"name": "aer", "kind": "aer", "num_qubits": 6, "emulate_qpu_time": True, "time_scale": 0.05},
    {"name": "kolkata", "kind": "fake", "device": "FakeKolkataV2", "seed": 5},
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = qlambda.Client(
        data_dir=tmp_path_factory.mktemp("choice"), workers=2, backends=BACKENDS, seed=1
    )
    assert client.wait_ready(300)
    yield client
    client.close()


def bell(width: int = 2):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(width)
    circuit.h(0)
    for qubit in range(1, width):
        circuit.cx(0, qubit)
    return circuit


def wait_for(path: str, deadline: float = 120.0) -> None:
    give_up = time.monotonic() + deadline
    while not Path(path).exists():
        if time.monotonic() > give_up:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)


def keep_aer_busy(ctx, stop: str) -> int:
    """Always one task running and one waiting on "aer", until ``stop`` exists."""
    estimator = ctx.estimator("aer")
    in_flight = [estimator.run([(bell(), "ZZ")]) for _ in range(2)]
    calls = 2
    while not Path(stop).exists():
        in_flight.pop(0).result()
        in_flight.append(estimator.run([(bell(), "ZZ")]))
        calls += 1
    for job in in_flight:
        job.result()
    return calls


def exact_values(ctx, calls: int = 2) -> list[float]:
    estimator = ctx.estimator(default_precision=0)  # no backend named
    return [float(estimator.run([(bell(), "ZZ")]).result()[0].data.evs) for _ in range(calls)]


def two_calls(ctx, go_on: str, backend: str | None = None) -> list[float]:
    """One call, then (once ``go_on`` exists) another, both without a backend name."""
    estimator = ctx.estimator(backend)
    first = float(estimator.run([(bell(), "ZZ")]).result()[0].data.evs)
    wait_for(go_on)
    return [first, float(estimator.run([(bell(), "ZZ")]).result()[0].data.evs)]


def backends_of(job) -> list[str]:
    return [e.data["backend"] for e in job.events() if e.kind.value == "QPU_QUEUED"]


def finished_tasks(job) -> int:
    return sum(1 for e in job.events() if e.kind.value == "QPU_FINISHED")


def wait_until(condition, deadline: float = 120.0) -> None:
    give_up = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < give_up, "the platform never got there"
        time.sleep(0.01)


def test_unnamed_calls_go_where_they_can_be_served_and_stay_there(client, tmp_path):
    stop, go_on = str(tmp_path / "stop"), str(tmp_path / "go-on")
    busy = client.run(keep_aer_busy, stop=stop)
    wait_until(lambda: any(e.kind.value == "QPU_STARTED" for e in busy.events()))

    exact = client.run(exact_values)  # only the ideal simulator can: it waits for it
    pinned = client.run(two_calls, go_on=go_on)
    per_call = client.run(two_calls, go_on=go_on, backend="auto")
    assert exact.result(300) == [1.0, 1.0]
    wait_until(lambda: finished_tasks(pinned) == 1 and finished_tasks(per_call) == 1)
    assert client.platform.dispatcher.pinned_backend(pinned.id) == "kolkata"

    Path(stop).touch()
    busy.result(300)  # the ideal simulator is free from now on
    Path(go_on).touch()
    pinned.result(300), per_call.result(300)

    assert set(backends_of(exact)) == {"aer"}
    assert backends_of(pinned) == ["kolkata", "kolkata"]  # the job's results: one device
    assert backends_of(per_call) == ["kolkata", "aer"]  # "auto": the least loaded each time
    for job in (busy, exact, pinned, per_call):
        assert client.platform.dispatcher.pinned_backend(job.id) is None  # forgotten at the end


def test_when_no_backend_can_serve_a_call_the_error_says_why_for_each(client):
    job = client.run(exact_values_of_width, width=8)
    with pytest.raises(JobFailedError) as failed:
        job.result(300)
    message = str(failed.value)
    assert "no backend can serve this estimator request (8 qubits, exact values)" in message
    assert "'aer': circuit needs 8 qubits, it has 6" in message
    assert "'kolkata': a noisy device cannot give exact values (precision 0)" in message


def exact_values_of_width(ctx, width: int) -> float:
    estimator = ctx.estimator(default_precision=0)
    return float(estimator.run([(bell(width), "Z" * width)]).result()[0].data.evs)


def defaults(ctx, backend: str) -> dict:
    """What code ported from Qiskit and PennyLane gets when it asks for no precision."""
    import pennylane as qml
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(1)
    circuit.ry(0.3, 0)
    result = ctx.estimator(backend).run([(circuit, "Z")]).result()[0]

    @qml.qnode(ctx.pennylane_device(wires=1, backend=backend))  # analytic: shots=None
    def qnode(theta):
        qml.RY(theta, wires=0)
        return qml.expval(qml.Z(0))

    return {
        "qiskit": float(result.data.evs),
        "std": float(result.data.stds),
        "precision": result.metadata["target_precision"],
        "pennylane": float(qnode(0.3)),
    }


def test_the_ideal_simulator_is_exact_unless_asked_otherwise(client):
    ideal = client.run(defaults, backend="aer").result(300)
    assert ideal["qiskit"] == pytest.approx(math.cos(0.3), abs=1e-12)
    assert ideal["pennylane"] == pytest.approx(math.cos(0.3), abs=1e-12)
    assert ideal["std"] == 0.0 and ideal["precision"] == 0.0
    noisy = client.run(defaults, backend="kolkata").result(300)
    assert noisy["precision"] == 1 / 64  # a device cannot be exact: 4096 shots
    assert noisy["qiskit"] == pytest.approx(math.cos(0.3), abs=0.1)
    assert noisy["qiskit"] != pytest.approx(math.cos(0.3), abs=1e-6)


def user_zne(ctx) -> dict:
    """mitiq's own ZNE with a platform estimator inside, as ported from a mitiq script."""
    from mitiq import zne
    from mitiq.zne.inference import RichardsonFactory
    from mitiq.zne.scaling import fold_global
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(3)
    circuit.h(0)
    for _ in range(3):
        circuit.cx(0, 1)
        circuit.cx(1, 2)
        circuit.cx(1, 2)
        circuit.cx(0, 1)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    estimator = ctx.estimator("kolkata", default_precision=1 / 128)

    def execute(folded) -> float:
        return float(estimator.run([(folded, "IZZ")]).result()[0].data.evs)

    factory = RichardsonFactory(scale_factors=[1, 3, 5])
    value = zne.execute_with_zne(circuit, execute, factory=factory, scale_noise=fold_global)
    return {"zne": float(value), "values": [float(v) for v in factory.get_expectation_values()]}


def test_a_user_s_own_mitiq_zne_extrapolates_amplified_noise(client):
    result = client.run(user_zne).result(300)
    values = result["values"]
    assert values[0] - 0.03 > values[1] > values[2] + 0.03, values
    assert result["zne"] > values[0]  # extrapolated towards the ideal 1

"""The same variational energy written in Qiskit, Cirq and PennyLane, on one noisy backend.

E(a, b) = <Z0 Z1> + 0.5 <X0> for RY(a) on qubit 0, RY(b) on qubit 1, then CNOT(0, 1).
Each SDK's energies must agree with the others' within shot noise (4096 shots each).
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum.primitives import PlatformEstimatorV2

POINTS = [(0.0, 0.0), (0.7, -0.4), (1.9, 2.6), (np.pi / 2, 0.3)]
HAMILTONIAN = SparsePauliOp.from_list([("ZZ", 1.0), ("IX", 0.5)])


def exact(a: float, b: float) -> float:
    # after RY(a) x RY(b) and CNOT: <Z0 Z1> = cos(b) (Z0Z1 -> Z1 before the CNOT)
    # <X0> -> <X0 X1> before it = sin(a) sin(b)
    return float(np.cos(b) + 0.5 * np.sin(a) * np.sin(b))


def qiskit_energies(estimator) -> list[float]:
    a, b = Parameter("a"), Parameter("b")
    ansatz = QuantumCircuit(2)
    ansatz.ry(a, 0)
    ansatz.ry(b, 1)
    ansatz.cx(0, 1)
    result = estimator.run([(ansatz, HAMILTONIAN, POINTS)]).result()
    return [float(v) for v in result[0].data.evs]


def cirq_energies(estimator) -> list[float]:
    import cirq
    import sympy

    q = cirq.LineQubit.range(2)
    a, b = sympy.symbols("a b")
    ansatz = cirq.Circuit(cirq.ry(a).on(q[0]), cirq.ry(b).on(q[1]), cirq.CNOT(q[0], q[1]))
    circuits = [cirq.resolve_parameters(ansatz, {"a": x, "b": y}) for x, y in POINTS]
    result = estimator.run([(circuit, HAMILTONIAN) for circuit in circuits]).result()
    return [float(pub.data.evs) for pub in result]


def pennylane_energies(estimator) -> list[float]:
    import pennylane as qml

    device = qml.device("qlambda.platform", wires=2, estimator=estimator)

    @qml.qnode(device)
    def energy(x, y):
        qml.RY(x, wires=0)
        qml.RY(y, wires=1)
        qml.CNOT(wires=[0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1) + 0.5 * qml.X(0))

    return [float(energy(x, y)) for x, y in POINTS]


@pytest.fixture(scope="module")
def energies(kolkata_runtime, pool):
    def submit(request):
        return pool.submit(lambda: kolkata_runtime.execute(request).result)

    estimator = PlatformEstimatorV2(submit, default_precision=1 / 64)
    return {
        "qiskit": np.array(qiskit_energies(estimator)),
        "cirq": np.array(cirq_energies(estimator)),
        "pennylane": np.array(pennylane_energies(estimator)),
    }


@pytest.mark.parametrize("sdk", ["cirq", "pennylane"])
def test_every_sdk_gives_qiskit_s_energies_within_shot_noise(energies, sdk):
    # two ~1/64 standard errors per term, a 1.5-weight observable: 5 sigma is about 0.12
    assert np.allclose(energies[sdk], energies["qiskit"], atol=0.12)


def test_the_energies_are_those_of_the_ansatz_on_a_noisy_device(energies):
    ideal = np.array([exact(a, b) for a, b in POINTS])
    assert np.allclose(energies["qiskit"], ideal, atol=0.2)  # noise, not a different circuit
    assert np.ptp(energies["qiskit"]) > 1.0  # the points really differ


def test_a_pennylane_gradient_runs_as_batched_platform_requests(kolkata_submit):
    import pennylane as qml
    from pennylane import numpy as pnp

    estimator = PlatformEstimatorV2(kolkata_submit, default_precision=1 / 64)
    device = qml.device("qlambda.platform", wires=2, estimator=estimator)

    @qml.qnode(device, diff_method="parameter-shift")
    def energy(params):
        qml.RY(params[0], wires=0)
        qml.RY(params[1], wires=1)
        qml.CNOT(wires=[0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1) + 0.5 * qml.X(0))

    params = pnp.array([0.7, -0.4], requires_grad=True)
    gradient = qml.grad(energy)(params)
    a, b = 0.7, -0.4
    ideal = [0.5 * np.cos(a) * np.sin(b), -np.sin(b) + 0.5 * np.sin(a) * np.cos(b)]
    assert np.allclose(gradient, ideal, atol=0.2)
    # 4 shifted tapes (+ the forward pass) in at most 2 requests, not one per tape
    assert len(kolkata_submit.requests) <= 2

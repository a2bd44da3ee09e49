"""Parameterised controlled rotations give their true values on the ideal simulator.

Aer (0.18) ignores values bound to a parameterised ``cry``/``crz``/``crx``/``cp``/
``mcphase`` through ``parameter_binds``; the executor decomposes them first."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector

from qlambda.quantum.backends import backend_kind
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import make_request


@pytest.fixture(scope="module")
def ideal():
    runtime = backend_kind("aer").open(BackendConfig(name="aer", kind="aer", seed=3))
    runtime.warm_up()
    return runtime


def _circuit(gate: str) -> tuple[QuantumCircuit, Parameter]:
    theta = Parameter("theta")
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.rx(0.3, 1)
    circuit.ry(0.4, 2)
    if gate == "mcp":
        circuit.mcp(theta, [0, 1], 2)
    else:
        getattr(circuit, gate)(theta, 0, 1)
    circuit.h(1)
    circuit.s(0)
    return circuit, theta


OBSERVABLE = SparsePauliOp(["ZII", "IZI", "IIZ", "XXI", "IYY", "ZXZ"], [1, 0.7, 0.5, 0.3, 0.2, 0.9])


@pytest.mark.parametrize("gate", ["crx", "cry", "crz", "cp", "mcp"])
def test_estimates_of_a_bound_controlled_rotation_are_exact(ideal, gate: str) -> None:
    circuit, _ = _circuit(gate)
    values = np.array([[0.0], [1.234], [2.5]])
    request = make_request("estimator", [(circuit, OBSERVABLE, values)], precision=0.0)
    evs = ideal.execute(request).result[0].data.evs
    exact = [
        Statevector(circuit.assign_parameters(row)).expectation_value(OBSERVABLE).real
        for row in values
    ]
    assert np.allclose(evs, exact, atol=1e-9)


@pytest.mark.parametrize("gate", ["cry", "mcp"])
def test_samples_of_a_bound_controlled_rotation_follow_its_distribution(ideal, gate) -> None:
    circuit, _ = _circuit(gate)
    circuit.measure_all()
    shots = 20_000
    request = make_request("sampler", [(circuit, [1.9])], shots=shots)
    counts = ideal.execute(request).result[0].data.meas.get_counts()
    probabilities = Statevector(
        circuit.remove_final_measurements(inplace=False).assign_parameters([1.9])
    ).probabilities_dict()
    for outcome, p in probabilities.items():
        assert abs(counts.get(outcome, 0) / shots - p) <= 5 * np.sqrt(p * (1 - p) / shots) + 1e-9

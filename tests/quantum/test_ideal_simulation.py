"""State-vector requests and shots drawn from exact probabilities on an ideal simulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import Statevector

from qlambda.core import NoSuitableBackendError
from qlambda.quantum import ideal_simulation
from qlambda.quantum.codec import QuantumRequestError, decode_request, encode_request
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.envelope import seal
from qlambda.quantum.request import make_request
from qlambda.quantum.selection import choose_backend

THETA = Parameter("theta")


def entangler() -> QuantumCircuit:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.ry(THETA, 1)
    circuit.cx(0, 2)
    circuit.crx(0.4, 1, 2)
    return circuit


@pytest.mark.parametrize("path", ["numpy", "aer"])
def test_a_statevector_request_returns_each_parameter_set_s_final_state(
    aer_runtime, monkeypatch, path
):
    if path == "aer":  # every request through Aer, not numpy's small states
        monkeypatch.setattr(ideal_simulation, "faster_than_aer", lambda work: False)
    values = [[0.3], [1.7], [-2.0]]
    request = seal(make_request("statevector", [(entangler(), values)])).open()
    result = aer_runtime.execute(request).result
    states = result[0].data.state
    assert states.shape == (3, 8)
    for row, value in zip(states, values, strict=True):
        assert np.allclose(row, Statevector(entangler().assign_parameters(value)).data)


def test_a_statevector_request_needs_an_ideal_simulator():
    request = make_request("statevector", [QuantumCircuit(2)], backend="kolkata")
    assert request.needs_exact
    backends = [
        BackendConfig(name="kolkata", kind="fake", device="FakeKolkataV2"),
        BackendConfig(name="aer", kind="aer"),
    ]
    with pytest.raises(
        NoSuitableBackendError, match="state vectors come from ideal simulators: aer"
    ):
        choose_backend(request, backends, {"kolkata": 0, "aer": 0})
    unnamed = make_request("statevector", [QuantumCircuit(2)])
    assert choose_backend(unnamed, backends, {"kolkata": 0, "aer": 5}).name == "aer"


def test_measured_circuits_and_oversized_states_are_refused(aer_runtime):
    measured = QuantumCircuit(1, 1)
    measured.measure(0, 0)
    with pytest.raises(ValueError, match="no single final state"):
        aer_runtime.execute(make_request("statevector", [measured]))
    with pytest.raises(ValueError, match="at most 20 qubits"):
        make_request("statevector", [QuantumCircuit(21)])
    with pytest.raises(ValueError, match="neither shots nor precision"):
        make_request("statevector", [QuantumCircuit(1)], shots=10)
    # an executor checks the size itself: it does not trust the caller's process
    small = make_request("statevector", [QuantumCircuit(2)])
    wide = dataclasses.replace(small, pubs=(SamplerPub.coerce(QuantumCircuit(21), 1),))
    with pytest.raises(QuantumRequestError, match="at most 20 qubits"):
        decode_request(encode_request(wide))


def test_sampled_shots_follow_the_exact_distribution(aer_runtime):
    circuit = entangler()
    circuit.measure_all()
    values = [[0.9], [2.4]]
    shots = 20_000
    result = aer_runtime.execute(make_request("sampler", [(circuit, values)], shots=shots)).result
    counts = result[0].data.meas
    assert counts.shape == (2,)
    for index, value in enumerate(values):
        exact = Statevector(entangler().assign_parameters(value)).probabilities_dict()
        measured = counts[index].get_counts()
        assert sum(measured.values()) == shots
        for outcome, probability in exact.items():
            sigma = np.sqrt(probability * (1 - probability) / shots) + 1e-9
            assert abs(measured.get(outcome, 0) / shots - probability) < 5 * sigma + 1e-3


def test_a_mid_circuit_measurement_is_still_sampled_by_aer(aer_runtime):
    circuit = QuantumCircuit(2, 2)
    circuit.x(0)
    circuit.measure(0, 0)
    circuit.cx(0, 1)
    circuit.measure(1, 1)
    result = aer_runtime.execute(make_request("sampler", [circuit], shots=100)).result
    assert result[0].data.c.get_counts() == {"11": 100}


def test_small_circuits_with_control_flow_go_to_aer(aer_runtime):
    loop = QuantumCircuit(1)
    with loop.for_loop(range(3)):
        loop.x(0)
    estimate = make_request("estimator", [(loop, "Z")], precision=0.0)
    assert aer_runtime.execute(estimate).result[0].data.evs == pytest.approx(-1.0)
    states = make_request("statevector", [loop])
    assert np.allclose(aer_runtime.execute(states).result[0].data.state, [0, 1])

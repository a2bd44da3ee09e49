"""Small circuits' states in numpy agree with Qiskit's Statevector and Aer's estimator."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import CRXGate, XXPlusYYGate, get_standard_gate_name_mapping
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import Pauli, SparsePauliOp, Statevector
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import EstimatorV2 as AerEstimatorV2

from qlambda.quantum import compiled_estimator, ideal_simulation
from qlambda.quantum.compiled_estimator import CompiledEstimator
from qlambda.quantum.ideal_simulation import IdealSampler
from qlambda.quantum.small_state import (
    FORMULAS,
    MAX_QUBITS,
    SmallCircuit,
    faster_than_aer,
    pauli_terms,
    probabilities,
    small_circuit,
)

GATES = [
    gate
    for name, gate in sorted(get_standard_gate_name_mapping().items())
    if name not in ("measure", "reset", "delay")
]
PARAMETERS = [Parameter(f"p{k}") for k in range(4)]
AER_GATES = [gate for gate in GATES if gate.name in AerSimulator().target.operation_names]


def angle(rng: np.random.Generator) -> object:
    """A number, a parameter, an affine expression of two, or one that is not affine."""
    a, b = rng.choice(len(PARAMETERS), 2, replace=False)
    p, q = PARAMETERS[a], PARAMETERS[b]
    return [float(rng.normal()), p, -p / 2 + 0.7, 2 * p - q, p * q, p.sign()][rng.integers(6)]


def random_circuit(
    seed: int, qubits: int, gates: int = 14, library: list | None = None
) -> QuantumCircuit:
    """Standard gates (their parameters too) on random, unordered qubits."""
    rng = np.random.default_rng(seed)
    circuit = QuantumCircuit(qubits, global_phase=PARAMETERS[0] / 3)
    for _ in range(gates):
        candidates = [g for g in library or GATES if g.num_qubits <= qubits]
        gate = candidates[rng.integers(len(candidates))]
        if gate.params:
            gate = type(gate)(*[angle(rng) for _ in gate.params])
        circuit.append(gate, [int(q) for q in rng.permutation(qubits)[: gate.num_qubits]])
    return circuit


def bound_states(circuit: QuantumCircuit, values: np.ndarray) -> list[Statevector]:
    return [
        Statevector(circuit.assign_parameters(dict(zip(circuit.parameters, row, strict=True))))
        for row in values
    ]


@pytest.mark.parametrize("seed", range(12))
def test_states_of_random_circuits_are_statevector_s(seed: int) -> None:
    circuit = random_circuit(seed, qubits=1 + seed % 5)
    values = np.random.default_rng(seed).normal(size=(3, circuit.num_parameters))
    states = SmallCircuit(circuit).states(values)
    assert states.shape == (3, 1 << circuit.num_qubits)
    for state, expected in zip(states, bound_states(circuit, values), strict=True):
        np.testing.assert_allclose(state, expected.data, atol=1e-10)


def test_every_parameterised_standard_gate_matches_qiskit_on_swapped_qubits() -> None:
    rng = np.random.default_rng(5)
    for gate in GATES:
        if not gate.params:
            continue
        circuit = QuantumCircuit(3)
        circuit.h(range(3))
        circuit.append(type(gate)(*PARAMETERS[: len(gate.params)]), [2, 0][: gate.num_qubits])
        values = rng.normal(size=(2, circuit.num_parameters))
        states = SmallCircuit(circuit).states(values)
        for state, expected in zip(states, bound_states(circuit, values), strict=True):
            np.testing.assert_allclose(state, expected.data, atol=1e-10, err_msg=gate.name)
    assert len(FORMULAS) >= 20  # the common gates are built for all sets at once


def test_each_parameter_set_gets_its_own_state() -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    states = SmallCircuit(circuit).states(np.array([[0.0], [np.pi], [np.pi / 2]]))
    np.testing.assert_allclose(states[0], [1, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(states[1], [0, 0, 0, 1], atol=1e-12)  # qubit 0 least significant
    np.testing.assert_allclose(states[2], [2**-0.5, 0, 0, 2**-0.5], atol=1e-12)


def test_an_x_on_qubit_zero_sets_the_least_significant_bit() -> None:
    circuit = QuantumCircuit(3)
    circuit.x(0)
    circuit.cx(0, 2)  # control qubit 0, target qubit 2: |101> = index 5
    np.testing.assert_array_equal(np.abs(SmallCircuit(circuit).states()[0]), np.eye(8)[5])
    other = CRXGate(np.pi, ctrl_state=0)  # controlled on |0>: no formula, still exact
    circuit.append(other, [1, 0])
    expected = Statevector(circuit).data
    np.testing.assert_allclose(SmallCircuit(circuit).states()[0], expected, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_pauli_terms_and_probabilities_are_exact(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    circuit = random_circuit(seed + 40, qubits=4)
    values = rng.normal(size=(2, circuit.num_parameters))
    labels = ["".join(rng.choice(list("IXYZ"), 4)) for _ in range(10)] + ["IIII", "YYYY"]
    states = SmallCircuit(circuit).states(values)
    got = pauli_terms(labels, 4).values(states)
    measured = [int(q) for q in rng.permutation(4)[:3]]
    for row, expected in enumerate(bound_states(circuit, values)):
        exact = [expected.expectation_value(Pauli(label)).real for label in labels]
        np.testing.assert_allclose(got[row], exact, atol=1e-10)
        np.testing.assert_allclose(
            probabilities(states[row : row + 1], measured, 4)[0],
            expected.probabilities(measured),
            atol=1e-10,
        )


def test_estimator_values_agree_with_aer_s_estimator(monkeypatch) -> None:
    circuit = random_circuit(3, qubits=3, library=AER_GATES)
    measured = circuit.copy()
    measured.measure_all()  # final measurements dephase X and Y terms
    observable = SparsePauliOp(["ZZI", "XIY", "IZZ", "III", "ZIX"], [1.0, -0.4, 0.5, 0.2, 0.3])
    values = np.random.default_rng(9).normal(size=(4, circuit.num_parameters))
    pubs = [(c, [[observable], ["ZZZ"]], values) for c in (circuit, measured)]
    expected = AerEstimatorV2().run(pubs[:1], precision=0.0).result()[0].data.evs
    small = CompiledEstimator(AerSimulator()).run(pubs, precision=0.0).result()
    assert small[0].metadata["simulator_metadata"]["simulator"] == "numpy"
    np.testing.assert_allclose(small[0].data.evs, expected, atol=1e-10)
    monkeypatch.setattr(compiled_estimator, "faster_than_aer", lambda work: False)
    aer = CompiledEstimator(AerSimulator()).run(pubs, precision=0.0).result()
    assert "simulator" not in aer[0].metadata["simulator_metadata"]
    np.testing.assert_array_equal(aer[0].data.evs, expected)  # Aer's own: bit for bit
    np.testing.assert_allclose(small[1].data.evs, aer[1].data.evs, atol=1e-10)
    assert not np.allclose(small[1].data.evs, small[0].data.evs)  # X and Y terms gone


def test_sampled_probabilities_agree_with_aer_s(monkeypatch) -> None:
    circuit = random_circuit(8, qubits=4, library=AER_GATES)
    circuit.add_register(*QuantumCircuit(0, 3).cregs)
    for bit, qubit in enumerate([2, 0, 3]):
        circuit.measure(qubit, bit)
    values = np.random.default_rng(8).normal(size=(3, circuit.num_parameters))
    pub = SamplerPub.coerce((circuit, values), shots=10)
    sampler = IdealSampler(AerSimulator())
    split = sampler._split(circuit)
    assert split is not None
    small = sampler._probabilities([pub], [split])[0]
    monkeypatch.setattr(ideal_simulation, "faster_than_aer", lambda work: False)
    aer = sampler._probabilities([pub], [split])[0]
    np.testing.assert_allclose(np.array(small), np.array(aer), atol=1e-10)
    assert isinstance(small, np.ndarray)  # numpy's (Aer's are a list of saved arrays)


def refused() -> list[QuantumCircuit]:
    loop = QuantumCircuit(1)
    with loop.for_loop(range(2)):
        loop.x(0)
    reset = QuantumCircuit(1)
    reset.reset(0)
    mid = QuantumCircuit(2, 1)
    mid.measure(0, 0)
    mid.cx(0, 1)
    delay = QuantumCircuit(1)
    delay.delay(10, 0)
    prepared = QuantumCircuit(1)
    prepared.initialize([0, 1], 0)
    return [loop, reset, mid, delay, prepared, QuantumCircuit(MAX_QUBITS + 1)]


def test_what_is_not_a_small_unitary_circuit_is_refused() -> None:
    for circuit in refused():
        assert small_circuit(circuit) is None, circuit
    assert small_circuit(random_circuit(1, qubits=2)) is not None
    assert not faster_than_aer([(MAX_QUBITS + 1, 1, 1)])
    assert faster_than_aer([(3, 4, 1)])  # the Cirq and PennyLane examples' size


def test_refused_circuits_are_estimated_by_aer() -> None:
    reset = QuantumCircuit(2)
    reset.x(0)
    reset.h(1)
    reset.reset(0)
    result = CompiledEstimator(AerSimulator()).run([(reset, ["ZI", "IZ", "IX"])]).result()[0]
    assert "simulator" not in result.metadata["simulator_metadata"]
    np.testing.assert_allclose(result.data.evs, [0.0, 1.0, 0.0], atol=1e-12)


def test_gates_without_a_formula_are_bound_set_by_set() -> None:
    t, u = PARAMETERS[:2]
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.append(XXPlusYYGate(t, u), [1, 0])
    values = np.array([[0.3, 1.0], [2.0, -0.5]])
    states = SmallCircuit(circuit).states(values)
    for state, expected in zip(states, bound_states(circuit, values), strict=True):
        np.testing.assert_allclose(state, expected.data, atol=1e-12)


def test_a_bell_state_s_correlations_are_exactly_one() -> None:
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    states = SmallCircuit(bell).states()
    assert (states.real**2).sum() != 1.0  # rounding: 2 x 0.4999999999999999
    values = pauli_terms(["ZZ", "XX", "YY"], 2).values(states)[0]
    assert values.tolist() == [1.0, 1.0, -1.0]  # normalised, as Aer gives them

"""The Qiskit -> Amazon Braket converter of kind ``braket``: every mapped gate gives the
same outcome probabilities on Braket's LocalSimulator as the Qiskit circuit on Aer."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit_aer import AerSimulator

from qlambda.quantum.backends.braket.circuits import (
    GATES,
    UnsupportedCircuitError,
    braket_target,
    calibration_of,
    device_data,
    registers_from,
    to_braket,
)

pytest.importorskip("braket.devices")


def _aer_probabilities(circuit: QuantumCircuit) -> dict[str, float]:
    simulator = AerSimulator(method="statevector")
    saved = transpile(circuit, simulator, optimization_level=0)  # gates Aer lacks: iswap
    saved.save_statevector()
    state = simulator.run(saved).result().get_statevector()
    return {k: float(v) for k, v in state.probabilities_dict().items() if v > 1e-12}


def _braket_probabilities(circuit: QuantumCircuit) -> dict[str, float]:
    """Braket's exact probabilities (shots=0), bitstrings turned into Qiskit's order."""
    from braket.devices import LocalSimulator

    qubits = [str(q) for q in range(circuit.num_qubits)]
    converted = to_braket(circuit, qubits).circuit
    for qubit in range(circuit.num_qubits):  # every qubit in the result, in index order
        converted.i(qubit)
    converted.probability(target=list(range(circuit.num_qubits)))
    values = LocalSimulator().run(converted, shots=0).result().values[0]
    out = {}
    for index, value in enumerate(values):
        if value > 1e-12:
            big_endian = format(index, f"0{circuit.num_qubits}b")  # qubit 0 leftmost
            out[big_endian[::-1]] = float(value)  # Qiskit: qubit 0 rightmost
    return out


@pytest.mark.parametrize("name", sorted(GATES))
def test_each_gate_has_the_same_outcome_probabilities_as_on_aer(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    gate = get_standard_gate_name_mapping()[name]
    if gate.params:
        gate = type(gate)(*rng.uniform(-np.pi, np.pi, len(gate.params)))
    width = gate.num_qubits
    circuit = QuantumCircuit(width + 1)
    for qubit in range(width + 1):  # a generic input state, so phases show
        circuit.u(*rng.uniform(-np.pi, np.pi, 3), qubit)
    circuit.cx(width, 0)
    circuit.append(gate, list(range(width)))
    for qubit in range(width + 1):
        circuit.h(qubit)
    expected = _aer_probabilities(circuit)
    found = _braket_probabilities(circuit)
    assert set(found) == set(expected)
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, abs=1e-9)


def test_a_transpiled_circuit_and_its_registers_read_back_as_qiskit_counts():
    """Two registers, a qubit measured into a bit of each, an unmeasured bit: the shots
    come back per register with Qiskit's bit order, as on Aer."""
    from braket.devices import LocalSimulator
    from qiskit import ClassicalRegister, QuantumRegister

    q = QuantumRegister(3, "q")
    a, b = ClassicalRegister(2, "a"), ClassicalRegister(2, "b")
    circuit = QuantumCircuit(q, a, b)
    circuit.x(0)
    circuit.h(1)
    circuit.cx(1, 2)
    circuit.measure(0, a[0])
    circuit.measure(2, a[1])
    circuit.measure(0, b[1])
    data = device_data(LocalSimulator().properties, key="k", local=True)
    target = braket_target(data)
    compiled = transpile(circuit, target=target, seed_transpiler=1)
    converted = to_braket(compiled, data["qubits"])
    result = LocalSimulator().run(converted.circuit, shots=400).result()
    registers = registers_from(converted, result.measurements, result.measured_qubits)
    assert set(registers["a"].get_counts()) == {"01", "11"}  # a[0] = 1 always
    assert registers["b"].get_counts() == {"10": 400}  # b[1] = 1, b[0] never measured


def test_mid_circuit_measurement_and_classical_control_are_refused():
    circuit = QuantumCircuit(1, 1)
    circuit.measure(0, 0)
    circuit.x(0)
    with pytest.raises(UnsupportedCircuitError, match="no mid-circuit measurement"):
        to_braket(circuit, ["0"])
    controlled = QuantumCircuit(1, 1)
    with controlled.if_test((controlled.clbits[0], 1)):
        controlled.x(0)
    with pytest.raises(UnsupportedCircuitError, match="classically controlled"):
        to_braket(controlled, ["0"])


def test_a_qpus_capabilities_give_its_target_and_calibration():
    """An IQM-like device: qubits numbered from 1, a square of couplings, CZ and PRX only,
    Braket's standardized fidelities."""
    from braket.schema_common import BraketSchemaBase
    from tests.platform.braket_cloud_server import garnet_like_capabilities

    properties = BraketSchemaBase.parse_raw_schema(garnet_like_capabilities())
    data = device_data(properties, key="k", local=False)
    assert data["qubits"] == ["1", "2", "3", "4"]
    assert data["gates"] == ["cz", "r"]
    target = braket_target(data)
    assert target.num_qubits == 4
    assert set(target["cz"]) == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3)}
    assert target["cz"][(0, 1)].error == pytest.approx(1 - 0.99)
    assert target["measure"][(2,)].error == pytest.approx(1 - 0.95)
    calibration = calibration_of("garnet", "arn", data, 0.0)
    assert calibration.qubits[0].t1 == pytest.approx(40e-6)
    assert {g.gate for g in calibration.gates} == {"cz"}

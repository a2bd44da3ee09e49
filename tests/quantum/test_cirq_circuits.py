"""Cirq circuits converted gate by gate into Qiskit circuits with symbolic parameters."""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import sympy
from qiskit.quantum_info import Statevector

from qlambda.quantum.sdk.circuits import UnsupportedCircuitError, from_cirq
from qlambda.quantum.sdk.cirq_circuits import cirq_program

Q = cirq.LineQubit.range(3)
A, B = sympy.symbols("a b")
PREPARE = [cirq.ry(0.4).on(Q[0]), cirq.ry(1.3).on(Q[1]), cirq.rx(0.7).on(Q[2]), cirq.CNOT(*Q[:2])]
GATES = [
    cirq.H(Q[0]),
    cirq.X(Q[1]),
    cirq.Y(Q[2]) ** 0.3,
    cirq.rx(A).on(Q[2]),
    cirq.rz(B).on(Q[0]),
    cirq.Z(Q[1]) ** (A / 2),
    cirq.CZ(Q[1], Q[2]) ** B,
    cirq.CNOT(Q[2], Q[0]) ** A,
    cirq.XPowGate(exponent=A, global_shift=0.2).on(Q[0]),
    cirq.PhasedXPowGate(phase_exponent=A, exponent=0.5).on(Q[1]),
    cirq.ISWAP(Q[0], Q[2]) ** 0.5,
    cirq.FSimGate(A, B).on(Q[1], Q[2]),
    cirq.SWAP(Q[0], Q[1]),
    cirq.CCX(*Q),
    cirq.ZZ(Q[0], Q[1]) ** A,
    cirq.XX(Q[0], Q[2]) ** 0.3,
    cirq.YY(Q[1], Q[0]) ** B,
    cirq.H(Q[1]) ** 0.5,
    cirq.T(Q[0]),
    cirq.S(Q[2]) ** -1,
    cirq.MatrixGate(cirq.unitary(cirq.ry(0.9))).on(Q[1]),
    cirq.global_phase_operation(1j),
]
VALUES = {"a": 0.37, "b": -1.21}


def state_of(circuit, values):
    """Our conversion's final state in Cirq's qubit order, global phase included."""
    program = cirq_program(circuit)
    resolver = cirq.ParamResolver(values)
    symbols = program.symbol_values([resolver])
    bound = program.circuit.assign_parameters(
        dict(zip(program.slots, program.slot_values(symbols)[0], strict=True))
    )
    width = len(program.qubits)
    state = Statevector(bound).data * np.exp(1j * program.phases(symbols)[0])
    return state.reshape((2,) * width).transpose(range(width - 1, -1, -1)).reshape(-1)


@pytest.mark.parametrize("gate", GATES, ids=str)
def test_each_gate_gives_cirq_s_state(gate):
    circuit = cirq.Circuit([*PREPARE, gate])
    expected = cirq.final_state_vector(
        cirq.resolve_parameters(circuit, VALUES), dtype=np.complex128
    )
    assert np.allclose(state_of(circuit, VALUES), expected, atol=1e-9)


def test_no_openqasm_is_written(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("cirq.qasm was called")

    monkeypatch.setattr(cirq, "qasm", refuse)
    circuit = cirq.Circuit(cirq.H(Q[0]), cirq.CNOT(Q[0], Q[1]), cirq.measure(*Q[:2], key="k"))
    converted = from_cirq(circuit)
    assert [r.name for r in converted.cregs] == ["m_k"]


def test_a_structure_is_converted_once_and_parameters_stay_symbolic():
    circuit = cirq.Circuit(cirq.rx(A).on(Q[0]), cirq.ry(2 * A + B).on(Q[1]))
    first = cirq_program(circuit)
    again = cirq_program(cirq.Circuit(cirq.rx(A).on(Q[0]), cirq.ry(2 * A + B).on(Q[1])))
    assert again is first
    assert first.circuit.num_parameters == 2  # one slot per distinct angle expression
    values = first.symbol_values([cirq.ParamResolver({"a": 0.5, "b": 1.0})])
    assert np.allclose(first.slot_values(values), [[0.5, 2.0]])


def test_unresolved_parameters_and_noise_say_what_is_accepted():
    with pytest.raises(ValueError, match="parameter a has no value"):
        program = cirq_program(cirq.Circuit(cirq.rx(A).on(Q[0])))
        program.symbol_values([cirq.ParamResolver({})])
    with pytest.raises(UnsupportedCircuitError, match="noise channels"):
        cirq_program(cirq.Circuit(cirq.depolarize(0.1).on(Q[0])))
    with pytest.raises(UnsupportedCircuitError, match="unresolved parameters"):
        from_cirq(cirq.Circuit(cirq.rx(A).on(Q[0])))
    twice = cirq.Circuit(cirq.measure(Q[0], key="k"), cirq.measure(Q[1], key="k"))
    with pytest.raises(UnsupportedCircuitError, match="used more than once"):
        cirq_program(twice)

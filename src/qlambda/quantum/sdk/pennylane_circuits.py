"""PennyLane tapes as Qiskit circuits, built gate by gate with their parameters symbolic.

A QNode in an optimisation loop, and every shifted tape of its parameter-shift gradient,
has one gate structure with new values: :func:`tape_program` converts each structure
(gate names and wires, on the device's qubits) once into a :class:`TapeProgram`, a
Qiskit circuit with one Qiskit parameter per gate parameter, and a tape then only gives
its values (:meth:`TapeProgram.values`). Tapes of one structure share the circuit, so a
whole gradient's tapes become one PUB with a parameter set per tape; nothing goes through
OpenQASM text.

The device hands over tapes decomposed into :data:`GATES` (PennyLane's ``decompose``
transform, :func:`supported`). Controlled rotations are written as single-qubit
rotations and CNOTs: Aer 0.18 ignores the values bound to a parameterised ``crx``,
``cry``, ``crz`` or ``cp``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pennylane.operation import Operator
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.circuit import Parameter

from qlambda.core.arrays import FloatArray
from qlambda.quantum.memo import LRUMemo

REGISTER = "wires"  # the sampling circuits' classical register, one bit per device wire
Angle = Any  # a Parameter, or an expression of one (qiskit ships no types)
Append = Callable[[QuantumCircuit, list[Angle], list[int]], None]


def _controlled_rz(qc: QuantumCircuit, theta: Angle, control: int, target: int) -> None:
    qc.rz(theta / 2, target)
    qc.cx(control, target)
    qc.rz(-theta / 2, target)
    qc.cx(control, target)


def _controlled_ry(qc: QuantumCircuit, theta: Angle, control: int, target: int) -> None:
    qc.ry(theta / 2, target)
    qc.cx(control, target)
    qc.ry(-theta / 2, target)
    qc.cx(control, target)


def _controlled_rx(qc: QuantumCircuit, theta: Angle, control: int, target: int) -> None:
    qc.h(target)
    _controlled_rz(qc, theta, control, target)
    qc.h(target)


def _controlled_phase(qc: QuantumCircuit, theta: Angle, control: int, target: int) -> None:
    qc.p(theta / 2, control)
    _controlled_rz(qc, theta, control, target)


def _fixed(name: str) -> Append:
    return lambda qc, _, wires: getattr(qc, name)(*wires)


def _rotation(name: str) -> Append:
    return lambda qc, angles, wires: getattr(qc, name)(*angles, *wires)


def _rot(qc: QuantumCircuit, angles: list[Angle], wires: list[int]) -> None:
    qc.rz(angles[0], wires[0])
    qc.ry(angles[1], wires[0])
    qc.rz(angles[2], wires[0])


def _nothing(qc: QuantumCircuit, angles: list[Angle], wires: list[int]) -> None:
    """Identity, and a global phase (expectation values and samples do not see it)."""


GATES: dict[str, Append] = {
    "Identity": _nothing,
    "GlobalPhase": _nothing,
    "Hadamard": _fixed("h"),
    "PauliX": _fixed("x"),
    "PauliY": _fixed("y"),
    "PauliZ": _fixed("z"),
    "S": _fixed("s"),
    "T": _fixed("t"),
    "SX": _fixed("sx"),
    "Adjoint(S)": _fixed("sdg"),
    "Adjoint(T)": _fixed("tdg"),
    "Adjoint(SX)": _fixed("sxdg"),
    "CNOT": _fixed("cx"),
    "CZ": _fixed("cz"),
    "CY": _fixed("cy"),
    "SWAP": _fixed("swap"),
    "Toffoli": _fixed("ccx"),
    "RX": _rotation("rx"),
    "RY": _rotation("ry"),
    "RZ": _rotation("rz"),
    "PhaseShift": _rotation("p"),
    "U3": _rotation("u"),
    "IsingXX": _rotation("rxx"),
    "IsingYY": _rotation("ryy"),
    "IsingZZ": _rotation("rzz"),
    "Rot": _rot,
    "CRX": lambda qc, a, w: _controlled_rx(qc, a[0], *w),
    "CRY": lambda qc, a, w: _controlled_ry(qc, a[0], *w),
    "CRZ": lambda qc, a, w: _controlled_rz(qc, a[0], *w),
    "ControlledPhaseShift": lambda qc, a, w: _controlled_phase(qc, a[0], *w),
}
"""The gates a tape reaches the device in; PennyLane decomposes any other into these."""


def supported(operator: Operator) -> bool:
    """Whether the device takes ``operator`` as it is (the ``decompose`` stopping rule)."""
    return operator.name in GATES


@dataclass(frozen=True)
class TapeProgram:
    """A gate structure as a Qiskit circuit with one parameter per gate parameter."""

    circuit: QuantumCircuit
    measured: QuantumCircuit
    """The circuit with every qubit measured, bit i into bit i of register ``wires``."""
    names: tuple[str, ...]
    sources: tuple[tuple[int, int], ...]
    """Per slot, the operation and the index of its parameter that gives its value."""

    def values(self, operations: Sequence[Operator]) -> FloatArray:
        """This tape's slot values (its operations must have the program's structure)."""
        return np.array(
            [float(operations[op].parameters[index]) for op, index in self.sources], dtype=float
        )


def structure(operations: Sequence[Operator]) -> Hashable:
    """The gate structure of ``operations``: names and wires, not parameter values."""
    return tuple((op.name, op.wires) for op in operations)


def _convert(operations: Sequence[Operator], wires: Sequence[Any]) -> TapeProgram:
    index = {wire: position for position, wire in enumerate(wires)}
    circuit = QuantumCircuit(len(wires))
    names: list[str] = []
    sources: list[tuple[int, int]] = []
    for number, operation in enumerate(operations):
        append = GATES.get(operation.name)
        if append is None:
            raise ValueError(
                f"operation {operation.name} reached the qlambda.platform device undecomposed; "
                f"accepted: {', '.join(sorted(GATES))}"
            )
        angles: list[Angle] = []
        for position in range(len(operation.parameters)):
            slot = Parameter(f"_pl_{len(names):06d}")
            names.append(slot.name)
            sources.append((number, position))
            angles.append(slot)
        append(circuit, angles, [index[wire] for wire in operation.wires])
    used = {parameter.name for parameter in circuit.parameters}
    kept = [k for k, name in enumerate(names) if name in used]  # identities, global phases
    measured = circuit.copy()
    register = ClassicalRegister(circuit.num_qubits, REGISTER)
    measured.add_register(register)
    measured.measure(range(circuit.num_qubits), register)
    return TapeProgram(
        circuit, measured, tuple(names[k] for k in kept), tuple(sources[k] for k in kept)
    )


CACHE_SIZE = 256
_programs: LRUMemo[TapeProgram] = LRUMemo(CACHE_SIZE)


def tape_program(operations: Sequence[Operator], wires: Sequence[Any]) -> TapeProgram:
    """The :class:`TapeProgram` of ``operations`` on qubits ``wires`` (qubit i is
    ``wires[i]``), converted once per structure."""
    key = (structure(operations), tuple(wires))
    return _programs.get(key, lambda: _convert(operations, wires))

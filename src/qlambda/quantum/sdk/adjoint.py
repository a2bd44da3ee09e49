"""Adjoint differentiation of a tape from its final state, for the device's gates.

The method of Jones and Gacon, as PennyLane's ``adjoint_jacobian`` implements it: from
the final state, undo the gates one by one, and at each gate of a trainable parameter
take ``2 Re <bra| dU/dθ |ket>``, the bras being the observables applied to the final state
and undone alongside. PennyLane's own version builds every gate's generator as a dense
matrix through its operator arithmetic, which costs about a millisecond for a two-gate
circuit; here every gate of :data:`~.pennylane_circuits.GATES` with one parameter has its
matrix and generator written out, and Pauli observables are applied letter by letter.
:func:`adjoint` returns None for a tape it does not cover (PennyLane's then runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pennylane.measurements import ExpectationMP
from pennylane.tape import QuantumScript

Matrix = np.ndarray[Any, np.dtype[Any]]

_I = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.diag([1, -1]).astype(complex)
_P1 = np.diag([0, 1]).astype(complex)
_PAULI = {"X": _X, "Y": _Y, "Z": _Z}


def _controlled(matrix: Matrix) -> Matrix:
    out = np.eye(4, dtype=complex)
    out[2:, 2:] = matrix
    return out


def _rotation(pauli: Matrix) -> Callable[[float], Matrix]:
    def matrix(theta: float) -> Matrix:
        rotated: Matrix = np.cos(theta / 2) * np.eye(len(pauli)) - 1j * np.sin(theta / 2) * pauli
        return rotated

    return matrix


_XX, _YY, _ZZ = np.kron(_X, _X), np.kron(_Y, _Y), np.kron(_Z, _Z)

# name -> (matrix of the parameter, generator G with U(θ) = exp(i θ G) up to a phase that
# does not depend on θ, so dU/dθ = i G U)
_PARAMETRIC: dict[str, tuple[Callable[[float], Matrix], Matrix]] = {
    "RX": (_rotation(_X), -0.5 * _X),
    "RY": (_rotation(_Y), -0.5 * _Y),
    "RZ": (_rotation(_Z), -0.5 * _Z),
    "PhaseShift": (lambda t: np.diag([1, np.exp(1j * t)]), _P1),
    "IsingXX": (_rotation(_XX), -0.5 * _XX),
    "IsingYY": (_rotation(_YY), -0.5 * _YY),
    "IsingZZ": (_rotation(_ZZ), -0.5 * _ZZ),
    "CRX": (lambda t: _controlled(_rotation(_X)(t)), -0.5 * np.kron(_P1, _X)),
    "CRY": (lambda t: _controlled(_rotation(_Y)(t)), -0.5 * np.kron(_P1, _Y)),
    "CRZ": (lambda t: _controlled(_rotation(_Z)(t)), -0.5 * np.kron(_P1, _Z)),
    "ControlledPhaseShift": (
        lambda t: np.diag([1, 1, 1, np.exp(1j * t)]),
        np.diag([0, 0, 0, 1]).astype(complex),
    ),
}
_FIXED: dict[str, Matrix] = {
    "Identity": _I,
    "Hadamard": np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2),
    "PauliX": _X,
    "PauliY": _Y,
    "PauliZ": _Z,
    "S": np.diag([1, 1j]),
    "T": np.diag([1, np.exp(1j * np.pi / 4)]),
    "SX": 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]),
    "Adjoint(S)": np.diag([1, -1j]),
    "Adjoint(T)": np.diag([1, np.exp(-1j * np.pi / 4)]),
    "Adjoint(SX)": 0.5 * np.array([[1 - 1j, 1 + 1j], [1 + 1j, 1 - 1j]]),
    "CNOT": _controlled(_X),
    "CZ": _controlled(_Z),
    "CY": _controlled(_Y),
    "SWAP": np.eye(4, dtype=complex)[[0, 2, 1, 3]],
    "Toffoli": np.eye(8, dtype=complex)[[0, 1, 2, 3, 4, 5, 7, 6]],
}


def _apply(matrix: Matrix, wires: list[int], state: Matrix) -> Matrix:
    """``matrix`` (its first wire most significant) on axes ``wires`` of ``state``."""
    k = len(wires)
    tensor = matrix.reshape((2,) * (2 * k))
    moved = np.tensordot(tensor, state, axes=(list(range(k, 2 * k)), wires))
    return np.moveaxis(moved, list(range(k)), wires)


def _observable(measurement: ExpectationMP, state: Matrix) -> Matrix | None:
    """The measured observable applied to ``state`` (None: no Pauli form)."""
    sentence = measurement.obs.pauli_rep if measurement.obs is not None else None
    if sentence is None:
        return None
    total = np.zeros_like(state)
    for word, coefficient in sentence.items():
        term = state
        for wire, letter in word.items():
            term = _apply(_PAULI[letter], [wire], term)
        total = total + complex(coefficient) * term
    return total


def adjoint(tape: QuantumScript, state: Matrix) -> tuple[Any, Any] | None:
    """(results, Jacobian) of ``tape`` (wires 0..n-1, axis i of ``state`` wire i), shaped
    as PennyLane's ``measure_final_state`` and ``adjoint_jacobian`` shape them; None if a
    gate or measurement is not covered here."""
    known = {*_FIXED, *_PARAMETRIC, "GlobalPhase"}
    if any(operation.name not in known for operation in tape.operations):
        return None
    if not all(isinstance(m, ExpectationMP) for m in tape.measurements):
        return None
    bras = []
    for measurement in tape.measurements:
        applied = _observable(measurement, state)
        if applied is None:
            return None
        bras.append(applied)
    values = [float(np.real(np.vdot(state, bra))) for bra in bras]
    trainable = list(tape.trainable_params)
    jacobian = np.zeros((len(bras), len(trainable)))
    ket = state
    number = sum(len(op.parameters) for op in tape.operations) - 1
    for operation in reversed(tape.operations):
        name, wires = operation.name, [int(w) for w in operation.wires]
        if name == "GlobalPhase":  # a phase: no effect on expectation values
            number -= 1
            continue
        if name in _FIXED:
            undo = _FIXED[name].conj().T
            ket = _apply(undo, wires, ket)
            bras = [_apply(undo, wires, bra) for bra in bras]
            continue
        matrix, generator = _PARAMETRIC[name]
        undo = matrix(float(operation.parameters[0])).conj().T
        ket = _apply(undo, wires, ket)
        if number in trainable:
            column = trainable.index(number)
            derivative = _apply(
                1j * generator, wires, _apply(matrix(float(operation.parameters[0])), wires, ket)
            )
            for row, bra in enumerate(bras):
                jacobian[row, column] = 2 * np.real(np.vdot(bra, derivative))
        bras = [_apply(undo, wires, bra) for bra in bras]
        number -= 1
    results = tuple(np.float64(v) for v in values) if len(values) > 1 else np.float64(values[0])
    return results, _shaped(jacobian)


def _shaped(jacobian: Any) -> Any:
    """As PennyLane's ``adjoint_jacobian`` returns it (squeezed, then tuples)."""
    squeezed = np.squeeze(jacobian)
    if squeezed.ndim == 0:
        return np.array(squeezed)
    if squeezed.ndim == 1:
        return tuple(np.array(j) for j in squeezed)
    return tuple(tuple(np.array(j) for j in row) for row in squeezed)

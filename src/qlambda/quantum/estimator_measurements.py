"""What an estimator does with measurements a circuit already has.

Qiskit's shot-based estimators (``BackendEstimatorV2``, Aer's ``EstimatorV2``) run a
circuit as written, its measurements included, then measure the observable's bases into
a register of their own. A measurement at the end of the circuit therefore dephases its
qubit and nothing else: a Pauli term with X or Y on a measured qubit averages to 0, any
other term keeps the value it has without the measurement. The executor computes exactly
that, on every backend: it removes the final measurements and drops the terms they
dephase, so a circuit written for a sampler (``measure_all()``) gives Qiskit's values and
takes the path of any circuit without measurements (exact values on an ideal simulator,
shots drawn from probabilities on a noisy device).

A mid-circuit measurement (its qubit used again, or its bit read by a later instruction)
makes the state a mixture over outcomes that only shots sample. A shot-based run keeps
such measurements in the circuit, as ``BackendEstimatorV2`` does; exact values refuse
them, as Qiskit's exact ``StatevectorEstimator`` refuses any measurement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qiskit import QuantumCircuit

from qlambda.quantum.memo import LRUMemo


class MidCircuitMeasurementError(ValueError):
    """Exact expectation values asked of a circuit that measures mid-circuit."""


@dataclass(frozen=True)
class MeasuredCircuit:
    """A circuit as an estimator runs it.

    ``circuit``: without its final measurements (the original when it has none, or when
    some measurement is mid-circuit); ``dephased``: the qubits measured at the end, whose
    X and Y terms vanish; ``mid_circuit``: some measurement is not final (the circuit
    then keeps all of them).
    """

    circuit: QuantumCircuit
    dephased: frozenset[int] = frozenset()
    mid_circuit: bool = False


def split_measurements(circuit: QuantumCircuit) -> MeasuredCircuit:
    """``circuit`` as an estimator runs it (see the module doc); callers keep the result
    per circuit, since this walks the circuit."""
    index = {bit: position for position, bit in enumerate(circuit.qubits)}
    measured = {index[item.qubits[0]] for item in circuit.data if item.operation.name == "measure"}
    if not measured:
        return MeasuredCircuit(circuit)
    stripped = circuit.remove_final_measurements(inplace=False)
    if any(item.operation.name == "measure" for item in stripped.data):
        return MeasuredCircuit(circuit, mid_circuit=True)
    return MeasuredCircuit(stripped, frozenset(measured))


def measured_circuit(circuit: QuantumCircuit, memo: LRUMemo[Any]) -> MeasuredCircuit:
    """:func:`split_measurements` of ``circuit``, worked out once per circuit content."""
    from qlambda.quantum.transpilation import circuit_token

    key = ("estimator-circuit", circuit_token(circuit))
    measured: MeasuredCircuit = memo.get(key, lambda: split_measurements(circuit))
    return measured


def vanishes(label: str, dephased: frozenset[int]) -> bool:
    """Whether the Pauli ``label`` (qubit 0 rightmost) has X or Y on a dephased qubit."""
    width = len(label)
    return any(label[width - 1 - qubit] in "XY" for qubit in dephased if qubit < width)


def dephase(terms: Mapping[str, Any], dephased: frozenset[int]) -> dict[str, Any]:
    """The terms of an observable that survive final measurements of ``dephased``."""
    if not dephased:
        return dict(terms)
    return {label: coeff for label, coeff in terms.items() if not vanishes(label, dephased)}


def refuse_exact(index: int) -> MidCircuitMeasurementError:
    """The error for exact values of a circuit that measures mid-circuit."""
    return MidCircuitMeasurementError(
        f"pub {index}: its circuit measures a qubit mid-circuit (the qubit is used again, "
        "or the bit is read later), so it has no exact expectation value (Qiskit's "
        "StatevectorEstimator refuses it too); accepted: a precision > 0, which runs it "
        "with shots, measurements included, as Qiskit's BackendEstimatorV2 does, or a "
        "circuit whose measurements all come last (they only dephase their qubits)"
    )

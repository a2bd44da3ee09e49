"""The bottom of a pipeline: every execution measured in ONE batched simulator call.

An estimator execution is measured as Qiskit's BackendEstimatorV2 measures it, one circuit
per group of qubit-wise commuting Pauli terms, rotated into that group's basis. Its value
is computed from the individual shots, so readout mitigation can weight each shot with
the inverse of the calibrated confusion matrix. With independent readout errors that
correction is exact for a Pauli term and costs O(shots x weight): the inverse of a
tensor product of 2x2 matrices, applied to a product of single-qubit functions, is again
a product (see :func:`shot_weights`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qlambda.core.arrays import FloatArray
from qlambda.quantum.pipeline.base import BackendView, Execution, Outcome

RunBatch = Callable[[list[tuple[QuantumCircuit, int]]], list[dict[str, Any]]]
"""Runs (circuit, shots) pairs in one call; per circuit, its registers' ``BitArray`` s."""

_RAW: FloatArray = np.array([1.0, -1.0])


def shot_weights(readout: tuple[float, float] | None) -> FloatArray:
    """The per-outcome weight of Z on one qubit: raw (+1, -1), or with readout correction.

    With confusion matrix ``A = [[1 - e0, e1], [e0, 1 - e1]]`` (columns: prepared 0, 1;
    ``e0 = p(1|0)``, ``e1 = p(0|1)``) the ideal expectation of Z is ``(1, -1) A^-1 p``,
    so weighting each shot by ``(1, -1) A^-1`` gives it without building the distribution.
    """
    if readout is None:
        return _RAW
    e0, e1 = readout
    matrix = np.array([[1.0 - e0, e1], [e0, 1.0 - e1]])
    return _RAW @ np.linalg.inv(matrix)


MAX_QUASI_BITS = 16
"""Readout-mitigated distributions are built over all 2^bits outcomes of a register."""


def measured_qubits(circuit: QuantumCircuit, register: str) -> list[int | None]:
    """For each bit of classical register ``register``, the qubit last measured into it."""
    creg = next(r for r in circuit.cregs if r.name == register)
    bit_index = {bit: k for k, bit in enumerate(creg)}
    qubit_index = {bit: q for q, bit in enumerate(circuit.qubits)}
    qubits: list[int | None] = [None] * len(creg)
    for item in circuit.data:
        if item.operation.name == "measure" and item.clbits[0] in bit_index:
            qubits[bit_index[item.clbits[0]]] = qubit_index[item.qubits[0]]
    return qubits


def quasi_distribution(
    counts: dict[str, int], errors: Sequence[tuple[float, float] | None]
) -> dict[str, float]:
    """The measured distribution with each bit's confusion matrix inverted.

    The result is a quasi-probability distribution (it sums to 1; entries may be slightly
    negative), keyed by bitstrings as Qiskit writes them (bit 0 rightmost).
    """
    width = len(errors)
    if width > MAX_QUASI_BITS:
        raise ValueError(
            f"readout mitigation of a sampler builds all 2^{width} outcomes of a register; "
            f"accepted: registers of at most {MAX_QUASI_BITS} bits (or use an estimator)"
        )
    shots = sum(counts.values())
    probabilities: npt.NDArray[np.floating[Any]] = np.zeros((2,) * width)
    for bitstring, count in counts.items():
        index = tuple(int(bitstring[width - 1 - k]) for k in range(width))
        probabilities[index] += count / shots
    for k, error in enumerate(errors):
        if error is None:
            continue
        e0, e1 = error
        inverse = np.linalg.inv(np.array([[1.0 - e0, e1], [e0, 1.0 - e1]]))
        probabilities = np.moveaxis(np.tensordot(inverse, probabilities, axes=([1], [k])), 0, k)
    return {
        "".join(str(index[k]) for k in reversed(range(width))): float(value)
        for index, value in np.ndenumerate(probabilities)
        if abs(value) > 1e-12
    }


@dataclass(frozen=True)
class _Group:
    execution: int
    qubits: tuple[int, ...]  # measured physical qubits; clbit k measures qubits[k]
    terms: tuple[tuple[tuple[int, ...], complex], ...]  # (positions in qubits, coefficient)


def _basis_circuit(
    circuit: QuantumCircuit, basis: dict[int, str], backend: BackendView
) -> tuple[QuantumCircuit, str]:
    """``circuit`` rotated into ``basis`` and measured, and the name of the register the
    rotated qubits are measured into."""
    from qlambda.quantum.transpilation import circuit_token

    # a batch measured again (the scale factors of ZNE, repeats) is not rebuilt and rebased
    key = ("measured", circuit_token(circuit), tuple(sorted(basis.items())))
    measured: tuple[QuantumCircuit, str] = backend.memo.get(
        key, lambda: _rotated_and_measured(circuit, basis, backend)
    )
    return measured


def _free_register_name(circuit: QuantumCircuit) -> str:
    """``meas``, or a variant no register of ``circuit`` has (one that measures
    mid-circuit keeps its own registers, ``meas`` among them after ``measure_all``)."""
    taken = {register.name for register in circuit.cregs}
    name, number = "meas", 0
    while name in taken:
        number += 1
        name = f"meas_{number}"
    return name


def _rotated_and_measured(
    circuit: QuantumCircuit, basis: dict[int, str], backend: BackendView
) -> tuple[QuantumCircuit, str]:
    measured = circuit.copy()
    qubits = sorted(basis)
    for qubit in qubits:
        if basis[qubit] == "X":
            measured.h(qubit)
        elif basis[qubit] == "Y":
            measured.sdg(qubit)
            measured.h(qubit)
    register = ClassicalRegister(len(qubits), _free_register_name(circuit))
    measured.add_register(register)
    measured.measure(qubits, register)
    return backend.rebase(measured), register.name


def _groups(
    index: int, observable: SparsePauliOp
) -> tuple[list[_Group], list[dict[int, str]], complex]:
    """Measured groups, their bases, and the identity part of ``observable``."""
    constant = 0j
    groups, bases = [], []
    for part in observable.group_commuting(qubit_wise=True):
        basis: dict[int, str] = {}
        term_qubits = []
        for pauli, coeff in zip(part.paulis, part.coeffs, strict=True):
            support = [q for q in range(pauli.num_qubits) if pauli.z[q] or pauli.x[q]]
            if not support:
                constant += coeff
                continue
            for q in support:
                basis[q] = "Y" if pauli.z[q] and pauli.x[q] else ("X" if pauli.x[q] else "Z")
            term_qubits.append((support, coeff))
        if not term_qubits:
            continue
        qubits = tuple(sorted(basis))
        position = {q: k for k, q in enumerate(qubits)}
        terms = tuple(
            (tuple(position[q] for q in support), coeff) for support, coeff in term_qubits
        )
        groups.append(_Group(index, qubits, terms))
        bases.append(basis)
    return groups, bases, constant


class _Estimated(NamedTuple):
    """Where an observable's groups were measured: ``batch[first + k]`` into register
    ``registers[k]`` measures ``groups[k]``; ``constant`` is its identity part."""

    first: int
    groups: list[_Group]
    constant: complex
    registers: list[str]


def measure_batch(
    executions: Sequence[Execution], backend: BackendView, run: RunBatch
) -> list[Outcome]:
    """Outcomes of all ``executions`` from one call of ``run``."""
    batch: list[tuple[QuantumCircuit, int]] = []
    plan: list[int | _Estimated] = []  # per execution: its batch index, or its groups'
    for index, execution in enumerate(executions):
        if execution.observable is None:
            plan.append(len(batch))
            batch.append((execution.circuit, execution.shots))
            continue
        groups, bases, constant = _groups(index, execution.observable)
        first = len(batch)
        registers = []
        for basis in bases:
            measured, register = _basis_circuit(execution.circuit, basis, backend)
            batch.append((measured, execution.shots))
            registers.append(register)
        plan.append(_Estimated(first, groups, constant, registers))
    data = run(batch) if batch else []
    outcomes = []
    for execution, detail in zip(executions, plan, strict=True):
        if isinstance(detail, int):
            bits = data[detail]
            metadata = {}
            if execution.mitigate_readout:
                metadata["quasi_dists"] = {
                    name: quasi_distribution(
                        register.get_counts(),
                        [
                            None if q is None else backend.readout_errors.get(q)
                            for q in measured_qubits(execution.circuit, name)
                        ],
                    )
                    for name, register in bits.items()
                }
            outcomes.append(Outcome(bits=bits, metadata=metadata))
            continue
        first, groups, constant, registers = detail
        value, variance = float(np.real(constant)), 0.0
        for offset, group in enumerate(groups):
            shots = data[first + offset][registers[offset]].to_bool_array(order="little")
            weights = [
                shot_weights(backend.readout_errors.get(q) if execution.mitigate_readout else None)
                for q in group.qubits
            ]
            for positions, coeff in group.terms:
                per_shot = np.ones(shots.shape[0])
                for k in positions:
                    per_shot *= weights[k][shots[:, k].astype(int)]
                value += float(np.real(coeff)) * float(per_shot.mean())
                variance += float(np.real(coeff)) ** 2 * float(per_shot.var()) / shots.shape[0]
        outcomes.append(Outcome(value=value, std=float(np.sqrt(variance))))
    return outcomes

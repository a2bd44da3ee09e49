"""Shots of a noisy circuit drawn from its exact outcome distribution.

For a few qubits and many shots, Aer simulates a noisy circuit as a density matrix, once,
and then draws the shots from it; but it draws them one by one in C++, with a fresh random
engine each, which on FakeTorino costs more than the simulation itself (about 7 ms of a
17 ms GHZ-8 run at 4096 shots, whatever the circuit's depth). When every measurement is
at the end, the same shots come from the density matrix's outcome probabilities (saved by
Aer, all gate noise included) and the device's readout errors, drawn in numpy: each shot's
outcome from the probabilities, then each measured bit flipped with the calibrated
``p(1|0)`` or ``p(0|1)`` of its qubit, independently per measurement, as Aer applies them.
The shots follow the same distribution; a batch of circuits (the scale factors of ZNE)
then costs little more than one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BitArray

from qlambda.core.arrays import FloatArray

_PASSIVE = frozenset({"barrier"})

DENSITY_MATRIX_MAX_QUBITS = 10
"""A density matrix of n qubits holds 4^n amplitudes: 16 MB at 10 qubits."""


@dataclass(frozen=True)
class FinalMeasurements:
    """How a circuit's classical registers are filled when every measurement is final:
    the circuit without them, saving the probabilities of the measured qubits' outcomes
    instead, and for each register, the qubit each bit reads (None: a bit never written,
    which reads 0)."""

    saving_probabilities: QuantumCircuit
    qubits: tuple[int, ...]  # measured qubits, in the order probabilities are saved
    registers: dict[str, tuple[int | None, ...]]  # bit k -> position in ``qubits``


def final_measurements(circuit: QuantumCircuit) -> FinalMeasurements | None:
    """The split of ``circuit`` when all its measurements come last, else None."""
    qubit_index = {bit: index for index, bit in enumerate(circuit.qubits)}
    clbit_source: dict[object, int] = {}
    measured: set[int] = set()
    for item in circuit.data:
        operation = item.operation
        qubits = [qubit_index[bit] for bit in item.qubits]
        if operation.name == "measure":
            measured.add(qubits[0])
            clbit_source[item.clbits[0]] = qubits[0]
            continue
        if operation.name in _PASSIVE:
            continue
        if item.clbits or getattr(operation, "condition", None) is not None:
            return None  # classical control: shots are not independent draws
        if measured.intersection(qubits):
            return None  # a qubit acted on after its measurement
    order = sorted(set(clbit_source.values()))
    position = {qubit: k for k, qubit in enumerate(order)}
    registers = {
        register.name: tuple(
            position[clbit_source[bit]] if bit in clbit_source else None for bit in register
        )
        for register in circuit.cregs
    }
    unitary = circuit.copy()
    data = unitary._data  # deleting from the end is cheap; rebuilding costs ~5 us a gate
    for index in reversed(range(len(data))):
        if data[index].operation.name == "measure":
            del data[index]
    if order:
        unitary.save_probabilities(qubits=order, label="probabilities")
    return FinalMeasurements(unitary, tuple(order), registers)


def draw_shots(
    split: FinalMeasurements,
    probabilities: FloatArray,
    shots: int,
    readout: dict[int, FloatArray],
    rng: np.random.Generator,
) -> dict[str, BitArray]:
    """``shots`` draws per register: outcomes from ``probabilities`` (qubit ``split.qubits[0]``
    the least significant bit), then each bit through its qubit's readout confusion matrix
    ``readout[q][prepared, read]``."""
    width = len(split.qubits)
    if width:
        p = np.clip(np.asarray(probabilities, dtype=float), 0.0, None)
        counts = rng.multinomial(shots, p / p.sum())
        outcomes = rng.permutation(np.repeat(np.arange(p.size), counts))
        true_bits = ((outcomes[:, None] >> np.arange(width)) & 1).astype(bool)
    else:
        true_bits = np.zeros((shots, 0), dtype=bool)
    registers = {}
    for name, sources in split.registers.items():
        columns = np.zeros((shots, len(sources)), dtype=bool)
        for k, source in enumerate(sources):
            if source is None:
                continue
            prepared = true_bits[:, source]
            matrix = readout.get(split.qubits[source])
            if matrix is None:
                columns[:, k] = prepared
                continue
            # P(read 1 | prepared b) = matrix[b, 1]; one independent draw per measurement
            columns[:, k] = rng.random(shots) < np.where(prepared, matrix[1, 1], matrix[0, 1])
        registers[name] = BitArray.from_bool_array(columns, order="little")
    return registers

"""Noise models cut down to the qubits a request actually uses.

Aer serialises the whole noise model on every ``run()``: for a 133-qubit device
(FakeTorino) that alone takes 2-4 s, whatever the circuit. A transpiled circuit touches
a handful of physical qubits, and Aer drops idle qubits before simulating, so errors on
the other qubits can never act. Restricting the model to the active qubits gives the
same results for the same seed and makes a noisy run cost milliseconds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
from qiskit import QuantumCircuit
from qiskit_aer.noise import NoiseModel

from qlambda.core.arrays import FloatArray

_NOT_ACTING = frozenset({"barrier", "delay"})


def active_qubits(circuits: Iterable[QuantumCircuit]) -> frozenset[int]:
    """Physical qubits that carry an operation or a laid-out virtual qubit in any circuit."""
    active: set[int] = set()
    for circuit in circuits:
        index = {bit: position for position, bit in enumerate(circuit.qubits)}
        for item in circuit.data:
            if item.operation.name not in _NOT_ACTING:
                active.update(index[bit] for bit in item.qubits)
        if circuit.layout is not None:
            active.update(circuit.layout.final_index_layout())
    return frozenset(active)


def restrict_noise_model(model: NoiseModel, qubits: frozenset[int]) -> NoiseModel:
    """A copy of ``model`` keeping every error that acts only on ``qubits``.

    NoiseModel has no public iterator over its per-qubit errors, so this reads its
    ``_local_*`` and ``_default_*`` tables and rebuilds through the public ``add_*`` methods.
    """
    restricted = NoiseModel(basis_gates=model.basis_gates)
    for name, errors in model._local_quantum_errors.items():
        for qargs, error in errors.items():
            if qubits.issuperset(qargs):
                restricted.add_quantum_error(error, name, qargs, warnings=False)
    for qargs, readout in model._local_readout_errors.items():
        if qubits.issuperset(qargs):
            restricted.add_readout_error(readout, qargs, warnings=False)
    for name, error in model._default_quantum_errors.items():
        restricted.add_all_qubit_quantum_error(error, name, warnings=False)
    if model._default_readout_error is not None:
        restricted.add_all_qubit_readout_error(model._default_readout_error, warnings=False)
    return restricted


def readout_matrices(model: NoiseModel) -> dict[int, FloatArray]:
    """Per qubit, the 2x2 readout confusion matrix ``[prepared, read]`` of ``model``
    (single-qubit readout errors; a default one is not expanded)."""
    return {
        qargs[0]: np.asarray(error.probabilities, dtype=float)
        for qargs, error in model._local_readout_errors.items()
        if len(qargs) == 1
    }


def readout_is_classical(model: NoiseModel) -> bool:
    """Whether measurement errors are only readout flips: no quantum error on ``measure``,
    no correlated or default readout error, so shots can be drawn from probabilities."""
    return (
        "measure" not in model._local_quantum_errors
        and "measure" not in model._default_quantum_errors
        and model._default_readout_error is None
        and all(len(qargs) == 1 for qargs in model._local_readout_errors)
    )


class RestrictedNoise:
    """Restricted copies of one device's noise model, by set of active qubits (LRU)."""

    def __init__(self, model: NoiseModel, capacity: int = 32) -> None:
        self.model = model
        self.readout = readout_matrices(model)
        self.classical_readout = readout_is_classical(model)
        self._capacity = capacity
        self._models: OrderedDict[frozenset[int], NoiseModel] = OrderedDict()

    def for_circuits(self, circuits: Iterable[QuantumCircuit]) -> NoiseModel:
        return self.for_qubits(active_qubits(circuits))

    def for_qubits(self, qubits: frozenset[int]) -> NoiseModel:
        if qubits in self._models:
            self._models.move_to_end(qubits)
            return self._models[qubits]
        restricted = restrict_noise_model(self.model, qubits)
        self._models[qubits] = restricted
        if len(self._models) > self._capacity:
            self._models.popitem(last=False)
        return restricted

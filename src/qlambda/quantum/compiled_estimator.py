"""Exact expectation values on an ideal Aer simulator, instrumented once per circuit.

Aer's own EstimatorV2 copies the circuit and appends one ``save_expectation_value``
per Pauli term on every call. For the 8-qubit QAOA circuit of the demo (13 terms) that
is about 2.5 ms of a 4 ms call, while the simulation itself takes 0.25 ms. A variational
loop sends the same circuit and observable on every iteration, so this estimator builds
the instrumented circuit once per (circuit, Pauli terms) and then only binds the
iteration's parameter values: compiled once, bound per call, like the transpiler cache.

Small circuits skip Aer altogether (:mod:`qlambda.quantum.small_state`): the state of
every parameter set is evolved in numpy (compiled once per circuit) and each Pauli term
read from it, when that costs less than Aer's fixed 0.5 ms per call (the measured rule:
:func:`~qlambda.quantum.small_state.faster_than_aer`; the demo's 8-qubit QAOA circuit
takes this path). Exact values (precision 0) are the exact expectation values either
way: on Aer those of its EstimatorV2 for the same PUB, bit for bit (the same
instructions on the same simulator, summed term by term in the observable's order); in
numpy they agree with Aer's to about 1e-12, not bit for bit (the same arithmetic in
another order). A precision above zero adds Gaussian noise of that standard deviation,
as Aer's estimator does, but drawn from one generator seeded once: Aer reseeds for every
PUB, so with a seed every call got the same noise and repeated estimates were not
independent.

A circuit's final measurements are removed and the Pauli terms they dephase count 0, as
Qiskit's estimators measure them (:mod:`qlambda.quantum.estimator_measurements`); a
mid-circuit measurement has no exact value and is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BaseEstimatorV2, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers import DataBin
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike
from qiskit.quantum_info import Pauli

from qlambda.core.arrays import FloatArray
from qlambda.quantum.estimator_measurements import refuse_exact, split_measurements, vanishes
from qlambda.quantum.memo import LRUMemo
from qlambda.quantum.small_state import SmallCircuit, faster_than_aer, pauli_terms, small_circuit
from qlambda.quantum.transpilation import circuit_token


@dataclass
class _Instrumented:
    """What an estimator keeps per (circuit, Pauli terms): the circuit without its final
    measurements, the terms they do not dephase, and, each built on first use, the
    circuit saving those terms for Aer and the numpy program (None: refused)."""

    measured: QuantumCircuit
    saved: frozenset[str]
    saving: QuantumCircuit | None = None
    program: SmallCircuit | None = None
    compiled: bool = False

    def saving_circuit(self) -> QuantumCircuit:
        if self.saving is None:
            saving = self.measured.copy()
            for label in sorted(self.saved):
                saving.save_expectation_value(
                    Pauli(label), qubits=range(saving.num_qubits), label=label
                )
            self.saving = saving
        return self.saving

    def small(self, key: Hashable) -> SmallCircuit | None:
        if not self.compiled:
            self.program = small_circuit(self.measured, key)
            self.compiled = True
        return self.program


@dataclass(frozen=True)
class _Observables:
    """A PUB's observables as the estimator reads them: the object array of
    ``{pauli: coeff}``, the Paulis in sorted order, and each observable's coefficient of
    each Pauli (observables, Paulis)."""

    source: Any  # the ObservablesArray, held so that its id is not reused meanwhile
    terms: Any
    paulis: frozenset[str]
    labels: tuple[str, ...]
    coefficients: FloatArray

    @classmethod
    def of(cls, source: Any) -> _Observables:
        terms = np.asarray(source)  # object array of {pauli: coeff}
        labels = tuple(sorted({label for observable in terms.ravel() for label in observable}))
        position = {label: k for k, label in enumerate(labels)}
        coefficients = np.zeros((terms.size, len(labels)))
        for number, observable in enumerate(terms.ravel()):
            for label, coeff in observable.items():
                coefficients[number, position[label]] += coeff
        return cls(source, terms, frozenset(labels), labels, coefficients)


class CompiledEstimator(BaseEstimatorV2):
    """An EstimatorV2 on ``simulator`` that keeps instrumented circuits (LRU)."""

    def __init__(
        self, simulator: Any, run_options: dict[str, Any] | None = None, capacity: int = 64
    ) -> None:
        self.simulator = simulator
        self.run_options = dict(run_options or {})
        self._noise = np.random.default_rng(self.run_options.get("seed_simulator"))
        self._instrumented: LRUMemo[_Instrumented] = LRUMemo(capacity)
        # an executor decodes equal observables to one object: read once per object
        self._observables: LRUMemo[_Observables] = LRUMemo(capacity)
        self._lock = threading.Lock()  # an ideal simulator may serve tasks from threads
        self.calls = 0
        self.misses = 0

    @property
    def hits(self) -> int:
        """Calls that found their circuit instrumented already."""
        return self.calls - self.misses

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        coerced = [
            EstimatorPub.coerce(pub, 0.0 if precision is None else precision) for pub in pubs
        ]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        return PrimitiveResult(
            [self._run_pub(pub, index) for index, pub in enumerate(pubs)], metadata={"version": 2}
        )

    def _entry(self, circuit: QuantumCircuit, paulis: frozenset[str], index: int) -> _Instrumented:
        def make() -> _Instrumented:
            with self._lock:
                self.misses += 1
            measured = split_measurements(circuit)
            if measured.mid_circuit:
                raise refuse_exact(index)
            saved = frozenset(label for label in paulis if not vanishes(label, measured.dephased))
            return _Instrumented(measured.circuit, saved)

        with self._lock:
            self.calls += 1
        return self._instrumented.get(("estimator", circuit_token(circuit), paulis), make)

    def instrumented(
        self, circuit: QuantumCircuit, paulis: frozenset[str], index: int = 0
    ) -> tuple[QuantumCircuit, frozenset[str]]:
        """``circuit`` without its final measurements, saving the expectation value of each
        Pauli in ``paulis`` that they do not dephase, and the Paulis saved; built once."""
        entry = self._entry(circuit, paulis, index)
        return entry.saving_circuit(), entry.saved

    def _run_pub(self, pub: EstimatorPub, index: int = 0) -> PubResult:
        circuit = pub.circuit
        precision = pub.precision or 0.0
        source = pub.observables
        read = self._observables.get(id(source), lambda: _Observables.of(source))
        observables = read.terms
        values = pub.parameter_values
        shape = np.broadcast_shapes(values.shape, observables.shape)
        entry = self._entry(circuit, read.paulis, index)
        # which parameter set and which observable each entry of the result shape uses
        value_index = np.broadcast_to(np.arange(values.size).reshape(values.shape), shape)
        observable_index = np.broadcast_to(
            np.arange(observables.size).reshape(observables.shape), shape
        )
        program = entry.small(("estimator", circuit_token(circuit)))
        if program is not None and faster_than_aer(
            [(program.num_qubits, program.gates, max(values.size, 1))]
        ):
            evs, metadata = self._small_values(program, entry, pub, read)
            evs = evs[value_index, observable_index]
        else:
            evs, metadata = self._aer_values(entry, pub, observables, value_index, shape)
        if precision > 0:
            with self._lock:
                evs = self._noise.normal(evs, precision, evs.shape)
        return PubResult(
            DataBin(evs=evs, stds=np.full(shape, precision), shape=shape),
            metadata={
                "target_precision": precision,
                "circuit_metadata": circuit.metadata,
                "simulator_metadata": metadata,
            },
        )

    @staticmethod
    def _small_values(
        program: SmallCircuit, entry: _Instrumented, pub: EstimatorPub, read: _Observables
    ) -> tuple[FloatArray, dict[str, Any]]:
        """The value of every observable in every parameter set (sets, observables)."""
        if program.parameters:
            table = pub.parameter_values.as_array(program.parameters)
            states = program.states(table.reshape(-1, len(program.parameters)))
        else:
            states = program.states()
        coefficients = read.coefficients
        labels = read.labels
        if len(entry.saved) < len(labels):  # the others are dephased by a final measurement
            kept = [k for k, label in enumerate(labels) if label in entry.saved]
            coefficients, labels = coefficients[:, kept], tuple(labels[k] for k in kept)
        terms = pauli_terms(labels, program.num_qubits).values(states)  # (sets, terms)
        evs: FloatArray = terms @ coefficients.T
        if not program.parameters:
            evs = np.broadcast_to(evs, (max(pub.parameter_values.size, 1), len(coefficients)))
        return evs, {"method": "statevector", "simulator": "numpy"}

    def _aer_values(
        self,
        entry: _Instrumented,
        pub: EstimatorPub,
        observables: Any,
        value_index: Any,
        shape: tuple[int, ...],
    ) -> tuple[FloatArray, dict[str, Any]]:
        """The values of the result's shape from one Aer call saving every term."""
        circuit, values = pub.circuit, pub.parameter_values
        binds = None
        if circuit.num_parameters:
            table = values.as_array(circuit.parameters).reshape(-1, circuit.num_parameters)
            binds = [{p: table[:, i] for i, p in enumerate(circuit.parameters)}]
        saving = entry.saving_circuit()
        result = self.simulator.run(saving, parameter_binds=binds, **self.run_options).result()
        observable = np.broadcast_to(observables, shape)
        evs = np.zeros(shape, dtype=float)
        for position in np.ndindex(*shape):
            saved = result.data(int(value_index[position]))
            for label, coeff in observable[position].items():
                if label in entry.saved:  # the others are dephased by a final measurement
                    evs[position] += saved[label] * coeff
        return evs, result.metadata

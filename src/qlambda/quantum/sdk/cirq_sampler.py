"""A ``cirq.Sampler`` (with ``cirq.Simulator``'s ``simulate`` methods) whose runs are
platform quantum tasks.

Cirq code keeps its own shape: ``sampler.run(circuit, repetitions=1000)`` returns a
``cirq.Result`` with ``measurements[key]`` of shape (repetitions, qubits in the
measurement). Each circuit structure is converted once (:mod:`.cirq_circuits`); a call
sends it with a table of parameter values, so:

- ``run_sweep`` over a sweep is ONE sampler request: one PUB, one parameter set per
  resolver; ``run_batch`` sends every circuit of the batch in that one request too;
- ``simulate``/``simulate_sweep`` are ONE ``statevector`` request (an ideal simulator's
  final states, as ``cirq.StateVectorTrialResult`` s);
- ``simulate_expectation_values(_sweep)`` is ONE exact estimator request (precision 0).

The last two need an ideal simulator (kind ``aer``); a device backend refuses them,
saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cirq
import numpy as np
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import SparsePauliOp

from qlambda.core.arrays import FloatArray
from qlambda.quantum.sdk.cirq_circuits import CirqProgram, cirq_program


def _bindings(program: CirqProgram, values: FloatArray, shape: tuple[int, ...]) -> BindingsArray:
    """The slot values of ``values`` (rows of symbol values) as a PUB's bindings."""
    if not program.slots:
        return BindingsArray(shape=shape)
    slots = program.slot_values(values).reshape(*shape, len(program.slots))
    return BindingsArray({program.names: slots}, shape=shape)


def _cirq_order(state: Any, width: int) -> Any:
    """A Qiskit-ordered state (qubit 0 least significant) in Cirq's order (most)."""
    if width < 2:
        return state
    return np.asarray(state).reshape((2,) * width).transpose(range(width - 1, -1, -1)).reshape(-1)


def _pauli_operator(observable: Any, qubits: Sequence[cirq.Qid]) -> SparsePauliOp:
    """A Cirq Pauli string or sum as a SparsePauliOp on ``qubits`` (qubit i: ``qubits[i]``)."""
    index = {qubit: position for position, qubit in enumerate(qubits)}
    terms = []
    for term in cirq.PauliSum.wrap(observable):
        pairs = list(term.items())
        letters = "".join(str(pauli) for _, pauli in pairs)
        terms.append((letters, [index[q] for q, _ in pairs], complex(term.coefficient)))
    if not terms:
        terms.append(("", [], 0.0))
    return SparsePauliOp.from_sparse_list(terms, num_qubits=len(qubits))


class PlatformCirqSampler(cirq.Sampler):
    """``sampler``: a platform SamplerV2 (``ctx.sampler(...)``); ``estimator`` and
    ``states`` (a platform EstimatorV2 and :class:`~qlambda.quantum.primitives.
    PlatformStateVectors` on the same backend) serve the ``simulate`` methods."""

    def __init__(self, sampler: Any, estimator: Any = None, states: Any = None) -> None:
        self._sampler = sampler
        self._estimator = estimator
        self._states = states

    def _sampler_pub(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable, repetitions: int
    ) -> tuple[CirqProgram, list[cirq.ParamResolver], SamplerPub]:
        converted = cirq_program(program)
        if not converted.measurements:
            raise ValueError("the Cirq circuit has no measurements: add cirq.measure(...)")
        if isinstance(repetitions, bool) or not isinstance(repetitions, int | np.integer):
            raise TypeError(f"repetitions must be a positive integer, got {repetitions!r}")
        if repetitions < 1:
            raise ValueError(f"repetitions must be a positive integer, got {repetitions}")
        resolvers = list(cirq.to_resolvers(params))
        values = converted.symbol_values(resolvers)
        bindings = _bindings(converted, values, (len(resolvers),))
        return converted, resolvers, SamplerPub(converted.circuit, bindings, int(repetitions))

    def run_sweep(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable, repetitions: int = 1
    ) -> Sequence[cirq.Result]:
        return self.run_batch([program], [params], repetitions)[0]

    def run_batch(
        self,
        programs: Sequence[cirq.AbstractCircuit],
        params_list: Sequence[cirq.Sweepable] | None = None,
        repetitions: int | Sequence[int] = 1,
    ) -> Sequence[Sequence[cirq.Result]]:
        """Every circuit and parameter set of the batch in ONE sampler request."""
        params_list, repetitions_list = self._normalize_batch_args(
            programs, params_list, repetitions
        )
        made = [
            self._sampler_pub(program, params, reps)
            for program, params, reps in zip(programs, params_list, repetitions_list, strict=True)
        ]
        result = self._sampler.run([pub for _, _, pub in made]).result()
        return [
            self._results(converted, resolvers, pub_result)
            for (converted, resolvers, _), pub_result in zip(made, result, strict=True)
        ]

    @staticmethod
    def _results(
        program: CirqProgram, resolvers: list[cirq.ParamResolver], pub_result: Any
    ) -> list[cirq.Result]:
        bits = {
            m.key: pub_result.data[m.register].to_bool_array(order="little")
            ^ np.array(m.invert, dtype=bool)
            for m in program.measurements
        }
        return [
            cirq.ResultDict(
                params=resolver,
                measurements={key: array[row].astype(np.int8) for key, array in bits.items()},
            )
            for row, resolver in enumerate(resolvers)
        ]

    # cirq.Simulator's SimulatesFinalState and SimulatesExpectationValues, as one request each

    def _need(self, primitive: Any, what: str) -> Any:
        if primitive is None:
            raise ValueError(
                f"{what} needs an ideal simulator's primitives: make this sampler with "
                "ctx.cirq_sampler(backend) (a backend of kind 'aer')"
            )
        return primitive

    def simulate(
        self,
        program: cirq.AbstractCircuit,
        param_resolver: cirq.ParamResolverOrSimilarType = None,
        qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT,
        initial_state: Any = None,
    ) -> cirq.StateVectorTrialResult:
        """The final state vector, as ``cirq.Simulator().simulate`` gives it."""
        return self.simulate_sweep(
            program, cirq.ParamResolver(param_resolver), qubit_order, initial_state
        )[0]

    def simulate_sweep(
        self,
        program: cirq.AbstractCircuit,
        params: cirq.Sweepable,
        qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT,
        initial_state: Any = None,
    ) -> list[cirq.StateVectorTrialResult]:
        """Final state vectors of every parameter set, in ONE statevector request."""
        states = self._need(self._states, "simulate()")
        _check_initial_state(initial_state)
        converted = cirq_program(program, qubit_order)
        if converted.measurements:
            raise ValueError(
                "simulate() here returns the final state of a circuit without measurements "
                "(a measured circuit has no single final state); accepted: remove the "
                "measurements (cirq.drop_terminal_measurements), or sample with run()"
            )
        resolvers = list(cirq.to_resolvers(params))
        values = converted.symbol_values(resolvers)
        bindings = _bindings(converted, values, (len(resolvers),))
        result = states.run([(converted.circuit, bindings)]).result()
        vectors = result[0].data.state
        phases = np.exp(1j * converted.phases(values))
        width = len(converted.qubits)
        return [
            cirq.StateVectorTrialResult(
                params=resolver,
                measurements={},
                final_simulator_state=cirq.StateVectorSimulationState(
                    qubits=converted.qubits,
                    initial_state=(_cirq_order(vectors[row], width) * phases[row]).astype(
                        np.complex64
                    ),
                    dtype=np.complex64,
                ),
            )
            for row, resolver in enumerate(resolvers)
        ]

    def simulate_expectation_values(
        self,
        program: cirq.AbstractCircuit,
        observables: Any,
        param_resolver: cirq.ParamResolverOrSimilarType = None,
        qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT,
        initial_state: Any = None,
        permit_terminal_measurements: bool = False,
    ) -> list[complex]:
        """Exact expectation values, as ``cirq.Simulator`` computes them."""
        return self.simulate_expectation_values_sweep(
            program,
            observables,
            cirq.ParamResolver(param_resolver),
            qubit_order,
            initial_state,
            permit_terminal_measurements,
        )[0]

    def simulate_expectation_values_sweep(
        self,
        program: cirq.AbstractCircuit,
        observables: Any,
        params: cirq.Sweepable,
        qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT,
        initial_state: Any = None,
        permit_terminal_measurements: bool = False,
    ) -> list[list[complex]]:
        """Every observable at every parameter set in ONE exact estimator request."""
        estimator = self._need(self._estimator, "simulate_expectation_values()")
        _check_initial_state(initial_state)
        if program.has_measurements():
            if not permit_terminal_measurements:
                raise ValueError(
                    "the circuit has measurements, which expectation values ignore; pass "
                    "permit_terminal_measurements=True to ignore them"
                )
            program = cirq.drop_terminal_measurements(program)
        listed = list(observables) if isinstance(observables, list | tuple) else [observables]
        sums = [cirq.PauliSum.wrap(observable) for observable in listed]
        qubits = set(program.all_qubits()).union(*(s.qubits for s in sums))
        order = tuple(cirq.QubitOrder.as_qubit_order(qubit_order).order_for(qubits))
        converted = cirq_program(program, order)
        resolvers = list(cirq.to_resolvers(params))
        values = converted.symbol_values(resolvers)
        bindings = _bindings(converted, values, (len(resolvers), 1))
        operators = [_pauli_operator(s, converted.qubits) for s in sums]
        result = estimator.run([(converted.circuit, operators, bindings)], precision=0.0).result()
        evs = np.asarray(result[0].data.evs).reshape(len(resolvers), len(operators))
        return [[complex(value) for value in row] for row in evs]


def _check_initial_state(initial_state: Any) -> None:
    if initial_state not in (None, 0):
        raise ValueError(
            f"initial_state {initial_state!r}: accepted: None or 0 (all qubits in |0>); "
            "prepare another state with gates at the start of the circuit"
        )

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

from collections.abc import Hashable, Sequence
from typing import Any

import cirq
import numpy as np
import sympy
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import SparsePauliOp

from qlambda.core.arrays import FloatArray
from qlambda.quantum.memo import LRUMemo
from qlambda.quantum.sdk.cirq_circuits import CirqProgram, cirq_program


def _bindings(program: CirqProgram, slots: FloatArray, shape: tuple[int, ...]) -> BindingsArray:
    """Rows of slot values (:meth:`CirqProgram.evaluate`) as a PUB's bindings."""
    if not program.slots:
        return BindingsArray(shape=shape)
    return BindingsArray({program.names: slots.reshape(*shape, len(program.slots))}, shape=shape)


def _resolvers(params: cirq.Sweepable) -> list[cirq.ParamResolver]:
    """``cirq.to_resolvers(params)`` as a list. One resolver (what ``run`` and
    ``simulate`` pass: a mapping, a resolver or None) is made without building a sweep:
    a fresh resolver of the same mapping with its symbols named by strings, as Cirq's
    sweep gives it (a name given twice goes to Cirq, which refuses it)."""
    if params is None:
        return [cirq.ParamResolver({})]
    if isinstance(params, dict) and not any(isinstance(v, Sequence) for v in params.values()):
        params = cirq.ParamResolver(params)  # (a value that is a list is a sweep of it)
    if isinstance(params, cirq.ParamResolver):
        given = params.param_dict
        named = {str(k) if isinstance(k, sympy.Symbol) else k: v for k, v in given.items()}
        if len(named) == len(given):
            return [cirq.ParamResolver(named)]
    return list(cirq.to_resolvers(params))


def _cirq_order(states: Any, width: int) -> Any:
    """Rows of Qiskit-ordered states (qubit 0 least significant) in Cirq's order (most)."""
    states = np.asarray(states)
    if width < 2:
        return states
    rows = states.shape[0]
    axes = (0, *range(width, 0, -1))
    return states.reshape((rows,) + (2,) * width).transpose(axes).reshape(rows, -1)


def _observable_key(observable: Any) -> Hashable | None:
    """What a Cirq observable's conversion depends on, or None (not memoised).

    A Pauli string is immutable and hashed by its content; a ``PauliSum`` changes in
    place (``+=``), so its key is a snapshot of its terms, taken on every call."""
    if isinstance(observable, cirq.PauliString):
        return ("string", observable)
    if isinstance(observable, cirq.PauliSum):
        terms = getattr(getattr(observable, "_linear_dict", None), "_terms", None)
        if isinstance(terms, dict):
            return ("sum", tuple(terms.items()))
        return ("sum", tuple(observable))  # its Pauli strings, through Cirq's public API
    return None


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
        resolvers = _resolvers(params)
        slots, _ = converted.evaluate(converted.symbol_values(resolvers))
        bindings = _bindings(converted, slots, (len(resolvers),))
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
        bits = {  # every row's bits at once; a result holds its row
            m.key: (
                pub_result.data[m.register].to_bool_array(order="little")
                ^ np.array(m.invert, dtype=bool)
            ).astype(np.int8)
            for m in program.measurements
        }
        return [
            cirq.ResultDict(
                params=resolver,
                measurements={key: array[row] for key, array in bits.items()},
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
        program = _from_basis_state(program, qubit_order, initial_state)
        converted = cirq_program(program, qubit_order)
        if converted.measurements:
            raise ValueError(
                "simulate() here returns the final state of a circuit without measurements "
                "(a measured circuit has no single final state); accepted: remove the "
                "measurements (cirq.drop_terminal_measurements), or sample with run()"
            )
        resolvers = _resolvers(params)
        slots, phases = converted.evaluate(converted.symbol_values(resolvers))
        bindings = _bindings(converted, slots, (len(resolvers),))
        result = states.run([(converted.circuit, bindings)]).result()
        # every row at once: reordered, its global phase applied, in Cirq's dtype
        vectors = _cirq_order(result[0].data.state, len(converted.qubits))
        vectors = (vectors * np.exp(1j * phases)[:, None]).astype(np.complex64)
        return [
            cirq.StateVectorTrialResult(
                params=resolver,
                measurements={},
                final_simulator_state=cirq.StateVectorSimulationState(
                    qubits=converted.qubits, initial_state=vectors[row], dtype=np.complex64
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
        program = _from_basis_state(program, qubit_order, initial_state)
        if program.has_measurements():
            if not permit_terminal_measurements:
                raise ValueError(
                    "the circuit has measurements, which expectation values ignore; pass "
                    "permit_terminal_measurements=True to ignore them"
                )
            program = _without_measurements(program)
        listed = list(observables) if isinstance(observables, list | tuple) else [observables]
        converted, operators = _observables(program, listed, qubit_order)
        resolvers = _resolvers(params)
        slots, _ = converted.evaluate(converted.symbol_values(resolvers))
        # without parameters every resolver has the same values: one set is estimated
        # (Aer's estimator fails on more sets of a circuit that has no parameters)
        sets = len(resolvers) if converted.slots else 1
        bindings = _bindings(converted, slots[:sets], (sets, 1))
        # valid by construction (Qiskit's check costs more than the rest of this call):
        # the observables are on the circuit's qubits, the bindings give its slots
        pub = EstimatorPub(converted.circuit, operators, bindings, 0.0, validate=False)
        result = estimator.run([pub], precision=0.0).result()
        evs = np.asarray(result[0].data.evs).reshape(sets, len(listed))
        every = np.broadcast_to(evs, (len(resolvers), len(listed)))
        return [[complex(value) for value in row] for row in every]


MEMO_SIZE = 256
_measurements_dropped: LRUMemo[cirq.AbstractCircuit] = LRUMemo(MEMO_SIZE)
_operators: LRUMemo[tuple[tuple[cirq.Qid, ...], ObservablesArray]] = LRUMemo(MEMO_SIZE)


def _without_measurements(program: cirq.AbstractCircuit) -> cirq.AbstractCircuit:
    """``cirq.drop_terminal_measurements(program)``, once per circuit (by content)."""
    frozen = program.freeze() if isinstance(program, cirq.Circuit) else program
    return _measurements_dropped.get(frozen, lambda: cirq.drop_terminal_measurements(frozen))


def _observables(
    program: cirq.AbstractCircuit, listed: list[Any], qubit_order: cirq.QubitOrderOrList
) -> tuple[CirqProgram, ObservablesArray]:
    """The program on the qubits of the circuit and the observables (in ``qubit_order``)
    and the observables as Qiskit's ``ObservablesArray`` on them, worked out once per
    circuit, observables (by content) and qubit order."""

    def make() -> tuple[tuple[cirq.Qid, ...], ObservablesArray]:
        sums = [cirq.PauliSum.wrap(observable) for observable in listed]
        qubits = set(program.all_qubits()).union(*(s.qubits for s in sums))
        order = tuple(cirq.QubitOrder.as_qubit_order(qubit_order).order_for(qubits))
        converted = cirq_program(program, order)
        operators = [_pauli_operator(s, converted.qubits) for s in sums]
        return converted.qubits, ObservablesArray.coerce(operators)

    if not isinstance(qubit_order, cirq.QubitOrder):
        qubit_order = tuple(qubit_order)  # a list of qubits, read once
    keys = tuple(_observable_key(observable) for observable in listed)
    # a rule of the caller's (a function ordering the qubits) is not memoised
    ordered = qubit_order is cirq.QubitOrder.DEFAULT or isinstance(qubit_order, tuple)
    if ordered and all(key is not None for key in keys):
        frozen = program.freeze() if isinstance(program, cirq.Circuit) else program
        order, operators = _operators.get((frozen, keys, qubit_order), make)
    else:
        order, operators = make()
    return cirq_program(program, order), operators


def _from_basis_state(
    program: cirq.AbstractCircuit, qubit_order: cirq.QubitOrderOrList, initial_state: Any
) -> cirq.AbstractCircuit:
    """``program`` started from ``initial_state`` as ``cirq.Simulator`` reads an integer:
    the basis state whose bits, big-endian in ``qubit_order``, are the qubits' values;
    prepared with X gates, so the request is an ordinary circuit from |0...0>."""
    if initial_state is None or (isinstance(initial_state, int | np.integer) and not initial_state):
        return program
    qubits = cirq.QubitOrder.as_qubit_order(qubit_order).order_for(program.all_qubits())
    if isinstance(initial_state, bool) or not isinstance(initial_state, int | np.integer):
        raise ValueError(
            f"initial_state of type {type(initial_state).__name__}: accepted: None or an "
            f"integer from 0 to {(1 << len(qubits)) - 1} (a basis state, big-endian in the "
            "qubit order); prepare other states with gates at the start of the circuit"
        )
    value = int(initial_state)
    if not 0 <= value < 1 << len(qubits):
        raise ValueError(
            f"initial_state {value} is not a basis state of {len(qubits)} qubits: accepted: "
            f"0 to {(1 << len(qubits)) - 1}"
        )
    flips = [
        cirq.X(qubit)
        for position, qubit in enumerate(qubits)
        if value >> (len(qubits) - 1 - position) & 1
    ]
    prepared: cirq.AbstractCircuit = cirq.Circuit(cirq.Moment(flips)) + program
    return prepared

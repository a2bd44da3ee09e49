"""``qlambda.platform``: a PennyLane device whose executions are platform quantum tasks.

```python
def energy(ctx, theta):
    dev = ctx.pennylane_device(wires=2, backend="kolkata", options=["readout"])

    @qml.qnode(dev)
    def circuit(x):
        qml.RY(x, 0); qml.CNOT([0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1))

    return circuit(theta)
```

Measurements (see ``ACCEPTED``):

- ``qml.expval`` and ``qml.var`` of observables with a Pauli form go to the estimator
  (a variance is ``<H²> - <H>²``, ``H²`` being a Pauli sum too);
- ``qml.probs``, ``qml.counts`` and ``qml.sample`` (of wires, or of a Pauli word) need
  shots and go to the sampler; the bits are processed by PennyLane's own measurement
  code, so shapes, dtypes, keys and wire order are those of ``default.qubit``.

Each batch of tapes PennyLane hands the device (a QNode call, or all the shifted tapes of
a parameter-shift gradient) becomes at most ONE estimator request and ONE sampler
request, both in the queue before either is awaited. Tapes are converted gate by gate
(:mod:`.pennylane_circuits`), once per gate structure: tapes of one structure, observables
and shots are one estimator PUB with a parameter set per tape. With a shot vector, the
estimator gets one PUB per distinct shot count (its observables repeated per partition),
the sampler all the shots at once, sliced into the partitions as ``default.qubit`` slices
them.

Gradients are the device's own (``DIFF_METHODS``), the values with them, each one
request: parameter shift (the tape and every shifted tape in one batch), and adjoint on
an ideal simulator (the final states in one ``statevector`` request, the backward pass
here, :mod:`.adjoint`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.preprocess import decompose
from pennylane.devices.qubit import adjoint_jacobian, measure_final_state
from pennylane.measurements import (
    CountsMP,
    ExpectationMP,
    MeasurementProcess,
    ProbabilityMP,
    SampleMP,
    VarianceMP,
)
from pennylane.operation import Operator
from pennylane.tape import QuantumScript
from pennylane.transforms.core import CompilePipeline
from pennylane.wires import Wires
from qiskit.primitives import BaseSamplerV2
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import SparsePauliOp

from qlambda.core.arrays import FloatArray, IntArray
from qlambda.quantum.memo import LRUMemo
from qlambda.quantum.sdk.adjoint import adjoint
from qlambda.quantum.sdk.pennylane_circuits import REGISTER, TapeProgram, supported, tape_program
from qlambda.quantum.sdk.pennylane_shifts import ShiftPlan, plannable, shift_plan

ESTIMATED = (ExpectationMP, VarianceMP)
SAMPLED = (ProbabilityMP, CountsMP, SampleMP)
ACCEPTED = (
    "qml.expval and qml.var of observables with a Pauli form (Pauli words, products, "
    "linear combinations); with shots, qml.probs, qml.counts and qml.sample of wires or "
    "of a Pauli word"
)
DIFF_METHODS = ("parameter-shift", "adjoint")
"""Gradients the device computes itself, a whole gradient in one quantum task; ``best``
is adjoint where the device knows its backend is an ideal simulator and the QNode is
analytic, parameter shift otherwise."""

Combine = Callable[[Sequence[float]], float]


class UnsupportedMeasurementError(ValueError):
    """A measurement the ``qlambda.platform`` device cannot make."""


@dataclass
class _TapePlan:
    """Where one tape's measurements sit in the batch's requests, and how to read them."""

    tape: QuantumScript
    wires: Wires
    # measurement index -> (indices into its estimator PUB's observables, how to combine)
    estimated: dict[int, tuple[list[int], Combine]] = field(default_factory=dict)
    # per shot partition: (estimator group, parameter set, row of the evs)
    estimator_rows: list[tuple[int, int, int]] = field(default_factory=list)
    sampled: dict[int, int] = field(default_factory=dict)  # measurement -> sampler PUB


@dataclass
class _Group:
    """Tapes of one gate structure, observables and shots: ONE estimator PUB, a parameter
    set per distinct tape (the tapes of a parameter-shift gradient differ only there)."""

    program: TapeProgram
    observables: list[SparsePauliOp]
    keys: Hashable
    """The observables' content (what their ``ObservablesArray`` is kept by)."""
    copies: int
    precision: float | None
    rows: list[FloatArray] = field(default_factory=list)
    seen: dict[bytes, int] = field(default_factory=dict)

    def add(self, values: FloatArray) -> int:
        key = values.tobytes()
        known = self.seen.get(key)
        if known is None:
            known = self.seen[key] = len(self.rows)
            self.rows.append(values)
        return known

    def pub(self) -> tuple[Any, ...]:
        count = len(self.rows)
        shape = (count, 1, 1)  # parameter sets x shot partitions x observables
        names = self.program.names
        bindings = (
            BindingsArray({names: np.stack(self.rows).reshape(*shape, len(names))}, shape=shape)
            if names
            else BindingsArray(shape=shape)
        )
        observables = _arrays.get(
            (self.keys, self.copies),
            lambda: ObservablesArray.coerce([self.observables] * self.copies),
        )
        return (self.program.circuit, observables, bindings, self.precision)


def _shifted(plan: _TapePlan, groups: list[_Group], values: FloatArray) -> _TapePlan:
    """The plan of ``plan``'s tape with other slot values (a shifted tape of a
    :class:`~.pennylane_shifts.ShiftPlan`: analytic expectation values only, one group)."""
    ((number, _, copy),) = plan.estimator_rows
    row = groups[number].add(values)
    return _TapePlan(plan.tape, plan.wires, plan.estimated, [(number, row, copy)])


def _bindings(program: TapeProgram, rows: list[FloatArray]) -> BindingsArray:
    shape = (len(rows),)
    if not program.names:
        return BindingsArray(shape=shape)
    return BindingsArray({program.names: np.stack(rows)}, shape=shape)


def _check(measurement: MeasurementProcess) -> None:
    """Refuse what the device cannot measure before anything is sent."""
    if getattr(measurement, "mv", None) is not None:
        raise UnsupportedMeasurementError(
            f"mid-circuit measurement values cannot be measured ({measurement}); "
            f"accepted: {ACCEPTED}"
        )
    if isinstance(measurement, ESTIMATED) and measurement.obs is not None:
        return
    if isinstance(measurement, SAMPLED) and (
        measurement.obs is None or qml.pauli.is_pauli_word(measurement.obs)
    ):
        return
    raise UnsupportedMeasurementError(
        f"the qlambda.platform device cannot measure {measurement}; accepted: {ACCEPTED}"
    )


def _pauli_operator(observable: Operator, wires: Wires) -> SparsePauliOp:
    """``observable`` on the device's qubits (qubit i is ``wires[i]``)."""
    sentence = observable.pauli_rep
    if sentence is None:
        raise UnsupportedMeasurementError(
            f"observable {observable} has no Pauli form; accepted: Pauli words "
            f"(qml.X/Y/Z, products), their linear combinations"
        )
    terms = []
    for word, coeff in sentence.items():
        letters = "".join(word[w] for w in word)
        indices = [wires.index(w) for w in word]
        terms.append((letters, indices, complex(coeff)))
    if not terms:
        terms.append(("", [], 0.0))
    return SparsePauliOp.from_sparse_list(terms, num_qubits=len(wires)).simplify()


def _split_identity(operator: SparsePauliOp) -> tuple[float, SparsePauliOp | None]:
    """The identity coefficient of ``operator`` and the rest (None if nothing is left)."""
    identity = ~(operator.paulis.x.any(axis=1) | operator.paulis.z.any(axis=1))
    constant = float(np.sum(operator.coeffs[identity]).real)
    rest = operator[~identity] if (~identity).any() else None
    return constant, rest


def _estimator_terms(
    measurement: MeasurementProcess, wires: Wires
) -> tuple[list[SparsePauliOp], Combine]:
    """The observables to estimate for ``measurement`` and how their values combine."""
    operator = _pauli_operator(measurement.obs, wires)
    if isinstance(measurement, ExpectationMP):
        return [operator], lambda evs: float(evs[0])
    # Var(H) = <H²> - <H>²; the identity part of H² (all of it for one Pauli word) is
    # exact, not estimated. Shot noise can push the difference below 0, a variance cannot.
    constant, rest = _split_identity((operator @ operator).simplify())
    if rest is None:
        return [operator], lambda evs: max(0.0, constant - float(evs[0]) ** 2)
    return [operator, rest], lambda evs: max(0.0, constant + float(evs[1]) - float(evs[0]) ** 2)


Terms = tuple[list[SparsePauliOp], Combine, Hashable]
"""A measurement's observables to estimate, how they combine, and their content."""
MEMO_SIZE = 256
_terms: LRUMemo[Terms] = LRUMemo(MEMO_SIZE)
_arrays: LRUMemo[ObservablesArray] = LRUMemo(MEMO_SIZE)


def _observable_key(observable: Operator) -> Hashable | None:
    """A snapshot of what the observable's conversion reads: its Pauli words (wire and
    letter, in order) and coefficients; None where it has no Pauli form or a
    coefficient is not a number (not memoised: converted, or refused, each time)."""
    sentence = observable.pauli_rep
    if sentence is None:
        return None
    try:
        return tuple((tuple(word.items()), complex(coeff)) for word, coeff in sentence.items())
    except (TypeError, ValueError):
        return None


def _known_terms(measurement: MeasurementProcess, wires: Wires) -> Terms:
    """:func:`_estimator_terms` of ``measurement``, once per kind, observable (by
    content) and wires."""

    def make() -> Terms:
        terms, combine = _estimator_terms(measurement, wires)
        key = tuple((tuple(t.paulis.to_labels()), t.coeffs.tobytes()) for t in terms)
        return terms, combine, key

    content = _observable_key(measurement.obs)
    if content is None:
        return make()
    return _terms.get((type(measurement), content, tuple(wires)), make)


def _bases(tape: QuantumScript) -> dict[str, tuple[list[Operator], list[int]]]:
    """Sample-based measurements grouped by the gates that rotate them to the Z basis.

    Measurements of wires need none and share one circuit; a Pauli word other than Z
    gets the circuit of its own basis.
    """
    groups: dict[str, tuple[list[Operator], list[int]]] = {}
    for index, measurement in enumerate(tape.measurements):
        if isinstance(measurement, SAMPLED):
            gates = measurement.diagonalizing_gates()
            groups.setdefault(repr(gates), (gates, []))[1].append(index)
    return groups


def _partitions(tape: QuantumScript) -> list[tuple[int, int] | None]:
    """The tape's shot partitions as ranges of shots; ``[None]`` without shots."""
    return list(tape.shots.bins()) if tape.shots else [None]


def _shot_groups(tape: QuantumScript) -> list[tuple[float | None, int]]:
    """(estimator precision, partitions) per distinct shot count, in the tape's order.

    Partitions of equal shots share a PUB whose observables are repeated once per
    partition, so each gets its own estimate. No shots: the estimator's default precision.
    """
    if not tape.shots:
        return [(None, 1)]
    return [(1 / math.sqrt(group.shots), group.copies) for group in tape.shots.shot_vector]


def _adjoint_supported(operator: Operator) -> bool:
    return supported(operator) and operator.num_params <= 1


@qml.transform  # type: ignore[untyped-decorator]  # PennyLane ships no types
def _refuse_broadcast_counts(
    tape: QuantumScript,
) -> tuple[list[QuantumScript], Callable[[Sequence[Any]], Any]]:
    """broadcast_expand would stack count dictionaries into an object array, which is not
    the list ``default.qubit`` returns; refuse rather than differ."""
    if tape.batch_size and any(isinstance(m, CountsMP) for m in tape.measurements):
        raise UnsupportedMeasurementError(
            "qml.counts with broadcast parameters is not supported; call the QNode once per "
            "parameter set, or use qml.probs or qml.sample, which broadcast"
        )
    return [tape], lambda results: results[0]


class QlambdaDevice(Device):
    """``estimator``: a platform EstimatorV2 (``ctx.estimator(...)``) for expval and var;
    ``sampler``: a platform SamplerV2 (``ctx.sampler(...)``), or a function making one on
    first use, for probs, counts and sample. At least one of them is needed. ``states``:
    :class:`~qlambda.quantum.primitives.PlatformStateVectors` on an ideal simulator, for
    ``diff_method="adjoint"``; ``exact``: the backend is known to be an ideal simulator
    (``diff_method="best"`` is then adjoint for analytic QNodes)."""

    name = "qlambda.platform"

    def __init__(
        self,
        wires: Any = None,
        shots: Any = None,
        *,
        estimator: Any = None,
        sampler: BaseSamplerV2 | Callable[[], BaseSamplerV2] | None = None,
        states: Any = None,
        exact: bool = False,
    ) -> None:
        super().__init__(wires=wires, shots=shots)
        if estimator is None and sampler is None:
            raise ValueError(
                "the qlambda.platform device needs estimator=ctx.estimator(...) and/or "
                "sampler=ctx.sampler(...) (or use ctx.pennylane_device(wires=..., backend=...))"
            )
        self._estimator = estimator
        self._sampler = sampler
        self._states = states
        self._exact = exact

    def preprocess_transforms(
        self, execution_config: ExecutionConfig | None = None
    ) -> CompilePipeline:
        """Gates outside :data:`~.pennylane_circuits.GATES` are decomposed (state
        preparations too); broadcast tapes become one tape per parameter set, all in the
        same batch."""
        program = CompilePipeline()
        program.add_transform(_refuse_broadcast_counts)
        adjoint = execution_config is not None and execution_config.gradient_method == "adjoint"
        program.add_transform(
            decompose,
            # the adjoint method differentiates gates of one parameter (Rot: RZ RY RZ)
            stopping_condition=_adjoint_supported if adjoint else supported,
            skip_initial_state_prep=False,
            name=self.name,
        )
        program.add_transform(qml.transforms.broadcast_expand)
        return program

    # gradients: computed here, each one quantum task

    def _method(self, config: ExecutionConfig | None, circuit: QuantumScript | None) -> str | None:
        """The gradient this device computes for ``config`` and ``circuit``, or None."""
        if config is None or config.derivative_order > 1:
            return None
        method = config.gradient_method
        analytic = circuit is None or not circuit.shots
        if method in ("best", "device"):
            return (
                "adjoint"
                if self._exact and self._states is not None and analytic
                else ("parameter-shift")
            )
        if method == "adjoint":
            return "adjoint" if self._states is not None and analytic else None
        if method == "parameter-shift" and not config.gradient_keyword_arguments:
            return "parameter-shift"
        return None

    def supports_derivatives(
        self,
        execution_config: ExecutionConfig | None = None,
        circuit: QuantumScript | None = None,
    ) -> bool:
        return self._method(execution_config, circuit) is not None

    def setup_execution_config(
        self, config: ExecutionConfig | None = None, circuit: QuantumScript | None = None
    ) -> ExecutionConfig:
        """A gradient this device computes is asked for together with the results (one
        request per step of an optimiser)."""
        config = config or ExecutionConfig()
        method = self._method(config, circuit)
        if method is not None:
            config = replace(
                config,
                gradient_method=method,
                use_device_gradient=True,
                use_device_jacobian_product=False,
                grad_on_execution=True,
            )
        return super().setup_execution_config(config, circuit)

    def compute_derivatives(
        self,
        circuits: QuantumScript | Sequence[QuantumScript],
        execution_config: ExecutionConfig | None = None,
    ) -> Any:
        return self.execute_and_compute_derivatives(circuits, execution_config)[1]

    def execute_and_compute_derivatives(
        self,
        circuits: QuantumScript | Sequence[QuantumScript],
        execution_config: ExecutionConfig | None = None,
    ) -> tuple[Any, Any]:
        """Results and Jacobians of every tape: with the adjoint method, ONE statevector
        request (the backward pass in this process, as PennyLane's ``adjoint_jacobian``);
        with parameter shift, every tape and all its shifted tapes in ONE batch."""
        single = isinstance(circuits, QuantumScript)
        tapes = [circuits] if single else list(circuits)
        method = execution_config.gradient_method if execution_config else "parameter-shift"
        if method == "adjoint":
            results, jacobians = self._adjoint(tapes)
        else:
            entries: list[tuple[QuantumScript, FloatArray | None]] = []
            parts = []
            for tape in tapes:
                planned = self._shift_plan(tape)
                if planned is None:
                    shifted, combine = qml.gradients.param_shift(tape)
                    parts.append((len(entries), len(shifted), combine))
                    entries.extend((t, None) for t in [tape, *shifted])
                else:  # the shifted tapes as rows of values, the tape's structure kept
                    plan, values = planned
                    rows = plan.rows(values)
                    parts.append((len(entries), len(rows), plan.combine))
                    entries.append((tape, values))
                    entries.extend((tape, row) for row in rows)
            answers = self._execute(entries)
            results = tuple(answers[start] for start, _, _ in parts)
            jacobians = tuple(
                combine(answers[start + 1 : start + 1 + count]) for start, count, combine in parts
            )
        if single:
            return results[0], jacobians[0]
        return results, jacobians

    def _adjoint(self, tapes: list[QuantumScript]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """Final states from the ideal simulator, then the adjoint backward pass here
        (:mod:`.adjoint`, or PennyLane's ``adjoint_jacobian`` for what that does not cover)."""
        standard = [tape.map_to_standard_wires() for tape in tapes]
        for tape in standard:
            for measurement in tape.measurements:
                if not isinstance(measurement, ExpectationMP):
                    raise UnsupportedMeasurementError(
                        f"diff_method='adjoint' differentiates qml.expval only, not "
                        f"{measurement}; use diff_method='parameter-shift' for it"
                    )
        groups: dict[Any, tuple[TapeProgram, list[FloatArray]]] = {}
        where = []
        for tape in standard:
            program = tape_program(tape.operations, range(len(tape.wires)))
            rows = groups.setdefault(id(program), (program, []))[1]
            where.append((id(program), len(rows)))
            rows.append(program.values(tape.operations))
        order = list(groups)
        pubs = [(groups[k][0].circuit, _bindings(*groups[k])) for k in order]
        result = self._states.run(pubs).result()
        results, jacobians = [], []
        for tape, (key, row) in zip(standard, where, strict=True):
            width = len(tape.wires)
            vector = np.asarray(result[order.index(key)].data.state[row])
            # Qiskit's qubit 0 is the least significant bit; PennyLane's wire 0 the first axis
            state = vector.reshape((2,) * width).transpose(range(width - 1, -1, -1))
            ours = adjoint(tape, state)
            if ours is None:  # a gate or observable only PennyLane's own version knows
                ours = measure_final_state(tape, state, False), adjoint_jacobian(tape, state=state)
            results.append(ours[0])
            jacobians.append(ours[1])
        return tuple(results), tuple(jacobians)

    def _shift_plan(self, tape: QuantumScript) -> tuple[ShiftPlan, FloatArray] | None:
        """The tape's :class:`~.pennylane_shifts.ShiftPlan` and its slot values, or None
        (``param_shift`` builds the shifted tapes)."""
        if not plannable(tape):
            return None
        keys = []
        for measurement in tape.measurements:
            content = _observable_key(measurement.obs)
            if content is None:
                return None
            keys.append((type(measurement), measurement.wires, content))
        program = tape_program(tape.operations, Wires(self._wires_of(tape)))
        plan = shift_plan(tape, program, tuple(keys))
        return None if plan is None else (plan, program.values(tape.operations))

    def _wires_of(self, tape: QuantumScript) -> Any:
        return self.wires if self.wires is not None else tape.wires

    def _primitive(self, kind: str) -> Any:
        if kind == "estimator":
            if self._estimator is None:
                raise ValueError(
                    "qml.expval and qml.var go through an estimator: give the device "
                    "estimator=ctx.estimator(...)"
                )
            return self._estimator
        if self._sampler is None:
            raise ValueError(
                "qml.probs, qml.counts and qml.sample go through a sampler: give the device "
                "sampler=ctx.sampler(...)"
            )
        if not isinstance(self._sampler, BaseSamplerV2):
            self._sampler = self._sampler()  # made on first use, so its options fail only here
        return self._sampler

    def _plan(
        self,
        tape: QuantumScript,
        groups: dict[Any, _Group],
        sampler_pubs: list[Any],
        terms_of: dict[int, tuple[list[SparsePauliOp], Combine, Any]],
        values: FloatArray | None = None,
    ) -> _TapePlan:
        """Add the tape to the batch's estimator groups and sampler PUBs and say where its
        answers will be; ``values``: its slot values, if not its operations' own."""
        for measurement in tape.measurements:
            _check(measurement)
        plan = _TapePlan(tape, Wires(self._wires_of(tape)))
        observables: list[SparsePauliOp] = []
        keys = []
        for index, measurement in enumerate(tape.measurements):
            if isinstance(measurement, ESTIMATED):
                known = terms_of.get(id(measurement))
                if known is None:  # the shifted tapes of a gradient share their measurements
                    known = terms_of[id(measurement)] = _known_terms(measurement, plan.wires)
                terms, combine, key = known
                positions = list(range(len(observables), len(observables) + len(terms)))
                plan.estimated[index] = (positions, combine)
                observables.extend(terms)
                keys.append(key)
        if observables:
            program = tape_program(tape.operations, plan.wires)
            if values is None:
                values = program.values(tape.operations)
            for precision, copies in _shot_groups(tape):
                group_key = (id(program), tuple(keys), precision, copies)
                group = groups.get(group_key)
                if group is None:
                    group = groups[group_key] = _Group(
                        program, observables, tuple(keys), copies, precision
                    )
                number = list(groups).index(group_key)
                row = group.add(values)
                plan.estimator_rows.extend((number, row, copy) for copy in range(copies))
        for gates, indices in _bases(tape).values():
            if not tape.shots:
                raise ValueError(
                    f"{tape.measurements[indices[0]]} needs shots: give the QNode shots "
                    f"(@qml.qnode(dev, shots=1000) or qml.set_shots(qnode, shots=1000)); "
                    f"without shots the device takes qml.expval and qml.var"
                )
            operations = [*tape.operations, *gates]
            program = tape_program(operations, plan.wires)
            values = program.values(operations)
            plan.sampled.update(dict.fromkeys(indices, len(sampler_pubs)))
            sampler_pubs.append(
                (program.measured, _bindings(program, [values]), tape.shots.total_shots)
            )
        return plan

    def execute(
        self,
        circuits: QuantumScript | Sequence[QuantumScript],
        execution_config: ExecutionConfig | None = None,
    ) -> Any:
        single = isinstance(circuits, QuantumScript)
        tapes = [circuits] if single else list(circuits)
        answers = self._execute([(tape, None) for tape in tapes])
        return answers[0] if single else answers

    def _execute(self, entries: list[tuple[QuantumScript, FloatArray | None]]) -> tuple[Any, ...]:
        """Each tape's answer, the tape run with ``values`` as its slot values where given
        (the shifted tapes of a :class:`~.pennylane_shifts.ShiftPlan`)."""
        groups: dict[Any, _Group] = {}
        sampler_pubs: list[Any] = []
        terms_of: dict[int, tuple[list[SparsePauliOp], Combine, Any]] = {}
        plans: list[_TapePlan] = []
        for tape, values in entries:
            last = plans[-1] if plans else None
            if values is not None and last is not None and last.tape is tape:
                plans.append(_shifted(last, list(groups.values()), values))
            else:
                plans.append(self._plan(tape, groups, sampler_pubs, terms_of, values))
        estimator_pubs = [group.pub() for group in groups.values()]
        # both requests are queued before either is awaited
        estimator_job = self._primitive("estimator").run(estimator_pubs) if estimator_pubs else None
        sampler_job = self._primitive("sampler").run(sampler_pubs) if sampler_pubs else None
        evs = [pub.data.evs for pub in estimator_job.result()] if estimator_job else []
        samples = [self._bits(pub) for pub in sampler_job.result()] if sampler_job else []
        return tuple(self._answer(plan, evs, samples) for plan in plans)

    @staticmethod
    def _bits(pub: Any) -> IntArray:
        """Shots x wires, in the device's wire order, as ``default.qubit`` samples them."""
        bits = getattr(pub.data, REGISTER)
        shots: IntArray = bits.to_bool_array(order="little").reshape(-1, bits.num_bits)
        return shots.astype(np.int64)

    @staticmethod
    def _answer(plan: _TapePlan, evs: list[Any], samples: list[IntArray]) -> Any:
        """The tape's result: one value per measurement, per shot partition if several."""
        per_partition = []
        for number, partition in enumerate(_partitions(plan.tape)):
            values = []
            for index, measurement in enumerate(plan.tape.measurements):
                if index in plan.estimated:
                    positions, combine = plan.estimated[index]
                    pub, row, copy = plan.estimator_rows[number]
                    values.append(combine([float(evs[pub][row, copy, p]) for p in positions]))
                else:
                    rows = slice(None) if partition is None else slice(*partition)
                    bits = samples[plan.sampled[index]][rows]
                    values.append(measurement.process_samples(bits, plan.wires))
            per_partition.append(values[0] if len(values) == 1 else tuple(values))
        if plan.tape.shots.has_partitioned_shots:
            return tuple(per_partition)
        return per_partition[0]

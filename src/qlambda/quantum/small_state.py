"""Exact states of small gate-only circuits in numpy, compiled once per circuit content.

An Aer call costs about 0.5 ms whatever the circuit (building the job, a thread hand-off,
reading the result back), and Qiskit's reference ``Statevector`` builds an ``Operator`` per
gate on every call. A variational loop sends the same small circuit with new parameter
values each time, so :func:`small_circuit` compiles a circuit once: every fixed gate's
matrix is computed then, every parameterised gate's angles become an affine map of the
parameter table (its matrices are built for all parameter sets of a call at once), and
each gate is a transpose-reshape-matmul on the states of all sets together, in Qiskit's
qubit order (qubit 0 the least significant). :class:`PauliTerms` gives exact expectation
values of Pauli terms from those states, :func:`probabilities` the outcome probabilities
of measured qubits.

It takes unitary gates (and barriers) only, on at most :data:`MAX_QUBITS` qubits; for
anything else (control flow, resets, measurements, delays, initialisation)
:func:`small_circuit` returns None and the caller runs Aer. Values agree with Aer's and
``Statevector``'s to about 1e-12 (the same arithmetic, summed in another order).

Where it is faster than Aer (:func:`faster_than_aer`): measured on one core
(``OMP_NUM_THREADS=1 benchmarks/bench_small_state.py``, layers of RY on every qubit
and CX chains, 2 to 14 qubits, 4 to 256 gates, 1 or 8 parameter sets), a call costs

    numpy  10 us + 1.8 us a gate + 0.6 us a set + 3.6 ns an amplitude
    Aer   250 us + 19 us a gate + 127 us a set + 2.5 ns an amplitude

an amplitude being one gate on one set's 2^n amplitudes (Aer's cost per gate is mostly
binding parameters, its cost per set building one experiment each). Numpy is faster for
every circuit of up to 10 qubits measured (4 qubits, 4 gates: 17 us against 420 us;
8 qubits, 64 gates: 190 us against 1.4 ms; 10 qubits, 256 gates, 8 sets: 10 ms against
15 ms), and at 12-14 qubits for one parameter set; with 8 sets, from 64 gates at 12
qubits and from 16 at 14 qubits, Aer is (14 qubits, 64 gates: 47 ms against 30 ms).
The rule takes the cheaper of the two fitted costs: in a run at load 3-4 it picked the
faster in 54 of the 56 cases, the two others within 25% of each other.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter, ParameterExpression
from qiskit.circuit.library import (
    CPhaseGate,
    CRXGate,
    CRYGate,
    CRZGate,
    CU1Gate,
    CU3Gate,
    CUGate,
    GlobalPhaseGate,
    PhaseGate,
    RGate,
    RXGate,
    RXXGate,
    RYGate,
    RYYGate,
    RZGate,
    RZXGate,
    RZZGate,
    U1Gate,
    U2Gate,
    U3Gate,
    UGate,
)
from qiskit.quantum_info import Operator

from qlambda.core.arrays import AnyArray, FloatArray
from qlambda.quantum.memo import LRUMemo

MAX_QUBITS = 14
"""Widest circuit compiled here: beyond, the cost per amplitude dominates (Aer's is lower)."""

NUMPY_COSTS = (10e-6, 1.8e-6, 0.6e-6, 3.6e-9)
AER_COSTS = (250e-6, 19e-6, 127e-6, 2.5e-9)
"""Seconds per call, per gate, per parameter set and per amplitude (gates x sets x 2^n)
of numpy here and of one Aer call, fitted on ``benchmarks/bench_small_state.py``."""

Matrices = AnyArray  # (sets, K, K) complex


def faster_than_aer(work: Iterable[tuple[int, int, int]]) -> bool:
    """Whether evolving every circuit of a request here costs less than the one Aer call
    for them all; ``work``: per circuit, its qubits, gates and parameter sets."""
    numpy, aer = NUMPY_COSTS[0], AER_COSTS[0]
    for qubits, gates, sets in work:
        if qubits > MAX_QUBITS:
            return False
        counts = (gates, sets, gates * sets * (1 << qubits))
        numpy += sum(c * n for c, n in zip(NUMPY_COSTS[1:], counts, strict=True))
        aer += sum(c * n for c, n in zip(AER_COSTS[1:], counts, strict=True))
    return numpy < aer


# -- gate matrices for all parameter sets at once -------------------------------------

_I2 = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)


def _pauli_rotation(pauli: AnyArray) -> Callable[[FloatArray], Matrices]:
    """exp(-i theta/2 P) = cos(theta/2) I - i sin(theta/2) P, per set."""
    identity = np.eye(pauli.shape[0], dtype=complex)

    def matrices(angles: FloatArray) -> Matrices:
        half = angles[:, 0, None, None] / 2
        result: Matrices = np.cos(half) * identity - 1j * np.sin(half) * pauli
        return result

    return matrices


def _u(angles: FloatArray) -> Matrices:
    """U(theta, phi, lambda) = U3, Qiskit's convention."""
    theta, phi, lam = angles[:, 0] / 2, angles[:, 1], angles[:, 2]
    cos, sin = np.cos(theta), np.sin(theta)
    out = np.empty((len(angles), 2, 2), dtype=complex)
    out[:, 0, 0] = cos
    out[:, 0, 1] = -np.exp(1j * lam) * sin
    out[:, 1, 0] = np.exp(1j * phi) * sin
    out[:, 1, 1] = np.exp(1j * (phi + lam)) * cos
    return out


def _u2(angles: FloatArray) -> Matrices:
    quarter = np.full((len(angles), 1), np.pi / 2)
    return _u(np.hstack([quarter, angles[:, :2]]))


def _phase(angles: FloatArray) -> Matrices:
    out = np.zeros((len(angles), 2, 2), dtype=complex)
    out[:, 0, 0] = 1
    out[:, 1, 1] = np.exp(1j * angles[:, 0])
    return out


def _r(angles: FloatArray) -> Matrices:
    """R(theta, phi): a rotation by theta about cos(phi) X + sin(phi) Y."""
    theta, phi = angles[:, 0] / 2, angles[:, 1]
    cos, sin = np.cos(theta), np.sin(theta)
    out = np.empty((len(angles), 2, 2), dtype=complex)
    out[:, 0, 0] = cos
    out[:, 0, 1] = -1j * np.exp(-1j * phi) * sin
    out[:, 1, 0] = -1j * np.exp(1j * phi) * sin
    out[:, 1, 1] = cos
    return out


def _global_phase(angles: FloatArray) -> Matrices:
    result: Matrices = np.exp(1j * angles[:, 0])[:, None, None]
    return result


def _controlled(base: Callable[[FloatArray], Matrices]) -> Callable[[FloatArray], Matrices]:
    """A one-control gate on (control, target): ``base`` where the control (qubit 0 of
    the gate, the least significant) is 1."""

    def matrices(angles: FloatArray) -> Matrices:
        out = np.zeros((len(angles), 4, 4), dtype=complex)
        out[:, 0, 0] = out[:, 2, 2] = 1
        out[:, 1::2, 1::2] = base(angles)
        return out

    return matrices


def _cu(angles: FloatArray) -> Matrices:
    """CU(theta, phi, lambda, gamma): e^{i gamma} U(theta, phi, lambda), controlled."""
    return _controlled(lambda a: np.exp(1j * a[:, 3, None, None]) * _u(a))(angles)


FORMULAS: dict[type, Callable[[FloatArray], Matrices]] = {
    RXGate: _pauli_rotation(_X),
    RYGate: _pauli_rotation(_Y),
    RZGate: _pauli_rotation(_Z),
    RXXGate: _pauli_rotation(np.kron(_X, _X)),
    RYYGate: _pauli_rotation(np.kron(_Y, _Y)),
    RZZGate: _pauli_rotation(np.kron(_Z, _Z)),
    RZXGate: _pauli_rotation(np.kron(_X, _Z)),  # Z on the gate's qubit 0, X on its qubit 1
    PhaseGate: _phase,
    U1Gate: _phase,
    UGate: _u,
    U3Gate: _u,
    U2Gate: _u2,
    RGate: _r,
    GlobalPhaseGate: _global_phase,
    CRXGate: _controlled(_pauli_rotation(_X)),
    CRYGate: _controlled(_pauli_rotation(_Y)),
    CRZGate: _controlled(_pauli_rotation(_Z)),
    CPhaseGate: _controlled(_phase),
    CU1Gate: _controlled(_phase),
    CU3Gate: _controlled(_u),
    CUGate: _cu,
}
"""Matrices of Qiskit's parameterised standard gates, for a table of their angles
(one row per parameter set); any other parameterised gate is bound set by set."""


def _has_formula(operation: Gate) -> bool:
    if type(operation) not in FORMULAS:
        return False
    controls = getattr(operation, "num_ctrl_qubits", 0)
    return not controls or operation.ctrl_state == (1 << controls) - 1


# -- angles: affine maps of the parameter table, or expressions bound row by row ------


class _Angles:
    """Every angle a circuit's gates need, as an affine map of the parameter table where
    it is one (``theta``, ``-theta / 2``, ``pi * t + 1``), else bound row by row."""

    def __init__(self, parameters: Sequence[Parameter]) -> None:
        self._column = {parameter: k for k, parameter in enumerate(parameters)}
        self._coefficients: list[FloatArray] = []
        self._constants: list[float] = []
        self._general: dict[int, ParameterExpression] = {}

    def add(self, angle: Any) -> int:
        """The position of ``angle`` (a number or a ParameterExpression) in the table."""
        position = len(self._constants)
        row = np.zeros(len(self._column))
        if not isinstance(angle, ParameterExpression):
            self._constants.append(float(angle))
        elif isinstance(angle, Parameter):
            row[self._column[angle]] = 1.0
            self._constants.append(0.0)
        else:
            affine = self._affine(angle, row)
            self._constants.append(affine if affine is not None else 0.0)
            if affine is None:
                self._general[position] = angle
                row[:] = 0.0
        self._coefficients.append(row)
        return position

    def _affine(self, angle: ParameterExpression, row: FloatArray) -> float | None:
        """The constant term of ``angle`` with its coefficients written into ``row``, or
        None when it is not affine in its parameters (or has complex coefficients)."""
        for parameter in angle.parameters:
            try:
                slope = angle.gradient(parameter)
            except RuntimeError:  # no derivative (sign): bound row by row
                return None
            if isinstance(slope, ParameterExpression) or complex(slope).imag:
                return None
            row[self._column[parameter]] = complex(slope).real
        constant = complex(angle.bind({p: 0.0 for p in angle.parameters}))
        return None if constant.imag else constant.real

    def freeze(self) -> None:
        """Every angle added: the affine map as arrays, built once."""
        count = len(self._constants)
        self._map = np.zeros((len(self._column), count))
        if count:
            self._map[:] = np.array(self._coefficients).T
        self._offsets = np.array(self._constants)

    def table(self, values: FloatArray) -> FloatArray:
        """The angles (sets, count) for the parameter ``values`` (sets, parameters)."""
        sets = len(values)
        if not len(self._constants):
            return np.zeros((sets, 0))
        angles: FloatArray = values @ self._map + self._offsets
        for position, expression in self._general.items():
            names = list(expression.parameters)
            for row in range(sets):
                bound = expression.bind({p: values[row, self._column[p]] for p in names})
                angles[row, position] = complex(bound).real
        return angles


# -- the compiled circuit -------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One gate: the axis order its targets come last in, and its transposed matrix
    (fixed), or where its matrices are among a call's (parameterised)."""

    order: tuple[int, ...] | None  # None: the state's axes are already in that order
    rest: int  # 2^(qubits not acted on)
    width: int  # 2^(qubits acted on)
    fixed: AnyArray | None  # the matrix, transposed
    bound: tuple[int, int] = (-1, -1)  # (formula group, position in it), or (-1, k)
    # for the k-th gate bound set by set


class SmallCircuit:
    """A gate-only circuit compiled to numpy: :meth:`states` for parameter tables."""

    def __init__(self, circuit: QuantumCircuit) -> None:
        self.num_qubits = circuit.num_qubits
        self.parameters = tuple(circuit.parameters)
        self._angles = _Angles(self.parameters)
        # per formula, the angle positions of each of its gates (gates, angles per gate)
        self._groups: dict[Callable[[FloatArray], Matrices], list[tuple[int, ...]]] = {}
        self._bound_each: list[QuantumCircuit] = []
        self._steps: list[_Step] = []
        index = {bit: position for position, bit in enumerate(circuit.qubits)}
        identity = tuple(range(1, self.num_qubits + 1))
        layout = list(reversed(range(self.num_qubits)))  # axis k + 1 holds qubit layout[k]
        for item in circuit.data:
            operation = item.operation
            if operation.name == "barrier":
                continue
            qubits = [index[bit] for bit in item.qubits]
            # the gate's qubit 0 is its matrix's least significant bit: its last axis
            targets = list(reversed(qubits))
            new_layout = [qubit for qubit in layout if qubit not in targets] + targets
            order = tuple(1 + layout.index(qubit) for qubit in new_layout)
            layout = new_layout
            self._steps.append(self._step(operation, None if order == identity else (0, *order)))
        global_phase = circuit.global_phase
        if isinstance(global_phase, ParameterExpression) or global_phase:
            self._steps.append(self._step(GlobalPhaseGate(global_phase), None))
        final = tuple(1 + layout.index(qubit) for qubit in reversed(range(self.num_qubits)))
        self._final = None if final == identity else (0, *final)
        self.gates = len(self._steps)
        self._angles.freeze()
        self._formulas = list(self._groups)
        self._positions = [np.array(self._groups[formula]) for formula in self._formulas]

    def _step(self, operation: Gate, order: tuple[int, ...] | None) -> _Step:
        acted = operation.num_qubits
        rest, width = 1 << (self.num_qubits - acted), 1 << acted
        free = [p for p in operation.params if isinstance(p, ParameterExpression) and p.parameters]
        if not free:
            fixed = np.ascontiguousarray(Operator(operation).data.T)
            return _Step(order, rest, width, fixed)
        if _has_formula(operation):
            formula = FORMULAS[type(operation)]
            gates = self._groups.setdefault(formula, [])
            gates.append(tuple(self._angles.add(angle) for angle in operation.params))
            return _Step(
                order, rest, width, None, (list(self._groups).index(formula), len(gates) - 1)
            )
        alone = QuantumCircuit(acted)
        alone.append(operation, range(acted))
        self._bound_each.append(alone)
        return _Step(order, rest, width, None, (-1, len(self._bound_each) - 1))

    def _matrices(self, values: FloatArray) -> list[Matrices]:
        """Per formula, the transposed matrices (sets, gates, K, K) of its gates."""
        sets = len(values)
        angles = self._angles.table(values)
        built: list[Matrices] = []
        for formula, positions in zip(self._formulas, self._positions, strict=True):
            gates, per_gate = positions.shape
            table = angles[:, positions.ravel()].reshape(sets * gates, per_gate)
            matrices = formula(table)
            width = matrices.shape[-1]
            built.append(matrices.reshape(sets, gates, width, width).transpose(0, 1, 3, 2))
        return built

    def states(self, values: FloatArray | None = None) -> AnyArray:
        """The final states (sets, 2^n) for the parameter ``values`` (sets, parameters),
        columns in ``self.parameters`` order; None: the one set of a circuit without
        parameters."""
        if values is None:
            values = np.zeros((1, len(self.parameters)))
        sets = len(values)
        matrices = self._matrices(values)
        shape = (sets,) + (2,) * self.num_qubits
        state = np.zeros((sets, 1 << self.num_qubits), dtype=complex)
        state[:, 0] = 1.0
        state = state.reshape(shape)
        for step in self._steps:
            if step.order is not None:
                state = state.transpose(step.order)
            flat: AnyArray = state.reshape(sets, step.rest, step.width)
            if step.fixed is not None:
                flat = flat @ step.fixed
            elif step.bound[0] >= 0:
                flat = flat @ matrices[step.bound[0]][:, step.bound[1]]
            else:
                flat = flat @ self._bound_each_set(step.bound[1], values)
            state = flat.reshape(shape)
        if self._final is not None:
            state = state.transpose(self._final)
        result: AnyArray = state.reshape(sets, 1 << self.num_qubits)
        return result

    def _bound_each_set(self, number: int, values: FloatArray) -> Matrices:
        """A gate without a formula: its transposed matrix per parameter set, from Qiskit."""
        alone = self._bound_each[number]
        columns = [self.parameters.index(p) for p in alone.parameters]
        matrices = [Operator(alone.assign_parameters(row[columns])).data for row in values]
        return np.stack(matrices).transpose(0, 2, 1)


def refusal(circuit: QuantumCircuit) -> str | None:
    """Why ``circuit`` is not compiled here (None: it is)."""
    if circuit.num_qubits > MAX_QUBITS:
        return f"{circuit.num_qubits} qubits, more than {MAX_QUBITS}"
    for item in circuit.data:
        operation = item.operation
        if operation.name == "barrier":
            continue
        if not isinstance(operation, Gate) or item.clbits:
            return f"instruction {operation.name!r} is not a unitary gate"
    return None


_compiled: LRUMemo[SmallCircuit | None] = LRUMemo(256)


def small_circuit(
    circuit: QuantumCircuit,
    key: Hashable | None = None,
    build: Callable[[], QuantumCircuit] | None = None,
) -> SmallCircuit | None:
    """``circuit`` compiled, or None when it is refused (see :func:`refusal`): once per
    ``key`` (by default the circuit's content). ``build``, when given, makes the circuit
    to compile from ``circuit`` on a miss (e.g. without its final instructions)."""
    if key is None:
        from qlambda.quantum.transpilation import circuit_token

        key = circuit_token(circuit)

    def compile_() -> SmallCircuit | None:
        gates = build() if build is not None else circuit
        return None if refusal(gates) else SmallCircuit(gates)

    return _compiled.get(("small-circuit", key), compile_)


# -- what is read from the states ------------------------------------------------------


class PauliTerms:
    """Exact expectation values of Pauli ``labels`` (qubit 0 rightmost) on n-qubit states.

    A Pauli string is i^(number of Y) X^x Z^z, so <psi|P|psi> = i^nY sum_b
    conj(psi[b]) (-1)^popcount((b^x)&z) psi[b^x]: one gather per distinct X/Y mask x,
    then one signed sum per term.
    """

    def __init__(self, labels: Sequence[str], num_qubits: int) -> None:
        self.labels = tuple(labels)
        basis = np.arange(1 << num_qubits)
        groups: dict[int, list[tuple[int, int, int]]] = {}
        for position, label in enumerate(self.labels):
            if len(label) != num_qubits:
                raise ValueError(
                    f"Pauli term {label!r} has {len(label)} qubits, the circuit {num_qubits}"
                )
            x = z = 0
            for qubit, letter in enumerate(reversed(label)):
                x |= (letter in "XY") << qubit
                z |= (letter in "ZY") << qubit
            groups.setdefault(x, []).append((position, z, label.count("Y")))
        self._groups = []
        for x, terms in groups.items():
            gather = basis ^ x
            parities = np.array([np.bitwise_count(gather & z) & 1 for _, z, _ in terms])
            signs = 1.0 - 2.0 * parities  # (-1)^popcount((b^x)&z), per term and b
            phases = np.array([1j**ys for _, _, ys in terms])
            positions = np.array([position for position, _, _ in terms])
            self._groups.append((gather if x else None, signs.T.copy(), phases, positions))

    def values(self, states: AnyArray) -> FloatArray:
        """The expectation value of every label (sets, labels) in ``states`` (sets, 2^n),
        divided by each state's norm: rounding in the evolution does not scale them (a
        Bell state's ZZ is 1.0, not 0.9999999999999998)."""
        out = np.empty((len(states), len(self.labels)))
        conjugate = states.conj()
        for gather, signs, phases, positions in self._groups:
            products = conjugate * (states[:, gather] if gather is not None else states)
            out[:, positions] = ((products @ signs) * phases).real
        norms = (states.real**2 + states.imag**2).sum(axis=1)
        result: FloatArray = out / norms[:, None]
        return result


_terms: LRUMemo[PauliTerms] = LRUMemo(256)


def pauli_terms(labels: Sequence[str], num_qubits: int) -> PauliTerms:
    """The :class:`PauliTerms` of ``labels``, built once per labels and width."""
    labels = tuple(labels)
    return _terms.get((labels, num_qubits), lambda: PauliTerms(labels, num_qubits))


def probabilities(states: AnyArray, qubits: Sequence[int], num_qubits: int) -> FloatArray:
    """Outcome probabilities (sets, 2^len(qubits)) of measuring ``qubits`` in ``states``
    (sets, 2^n), ``qubits[0]`` the least significant bit, as ``Statevector.probabilities``."""
    sets = len(states)
    density = (states.real**2 + states.imag**2).reshape((sets,) + (2,) * num_qubits)
    axes = [1 + num_qubits - 1 - qubit for qubit in reversed(qubits)]
    others = tuple(axis for axis in range(1, num_qubits + 1) if axis not in axes)
    marginal = density.sum(axis=others) if others else density
    kept = sorted(axes)  # the summed array keeps these in increasing axis order
    marginal = marginal.transpose([0] + [1 + kept.index(axis) for axis in axes])
    result: FloatArray = marginal.reshape(sets, 1 << len(qubits))
    return result

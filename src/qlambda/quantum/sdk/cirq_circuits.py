"""Cirq circuits as Qiskit circuits, built gate by gate with their parameters symbolic.

A Cirq program in a loop or a sweep sends one circuit structure with new parameter
values: :func:`cirq_program` converts each structure once (cached on Cirq's frozen
circuit, which Cirq itself caches per circuit) into a :class:`CirqProgram`: a Qiskit
circuit whose gate angles are Qiskit parameters, one per distinct angle expression
("slot"), and the Sympy expression each slot stands for. A parameter resolver, or a
whole sweep, then becomes a table of slot values (the expressions compiled once with
``sympy.lambdify``), and the circuit crosses to the executor as QPY once per structure
(:mod:`qlambda.quantum.wire`) with only the values changing: no OpenQASM text is written
or parsed.

Gates map to Qiskit's by their Cirq family: ``X/Y/Z**t`` to ``rx/ry/p``, ``CZ**t`` to
``cp``, ``CX**t`` to ``h``-``cp``-``h``, ``XX/YY/ZZ**t`` to ``rxx/ryy/rzz``, ``H``, and
measurements, resets; any other gate through its Cirq decomposition, or its unitary
matrix when it has no parameters. A gate's global phase (``global_shift``, the phase of
``X**t`` against ``rx``) is kept as an expression too, applied to state vectors, where
it is observable. Qubits are in Cirq's sorted order unless a ``qubit_order`` says
otherwise: Cirq's first qubit is Qiskit's qubit 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cirq
import numpy as np
import sympy
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import UnitaryGate

from qlambda.core.arrays import FloatArray
from qlambda.quantum.memo import LRUMemo
from qlambda.quantum.sdk.circuits import UnsupportedCircuitError

SUPPORTED = (
    "X/Y/Z/H/CZ/CNOT/XX/YY/ZZ and their powers (rx, ry, rz, cirq.X**t, ...), any gate "
    "Cirq decomposes into those, any gate with a unitary matrix and no parameters, "
    "measurements and resets"
)


@dataclass(frozen=True)
class Measurement:
    """A Cirq measurement key, the Qiskit register holding it, and its inverted bits."""

    key: str
    register: str
    invert: tuple[bool, ...]


_PLAIN_NUMBERS = (float, int, np.floating, np.integer)
"""Parameter values a resolver hands back as they are: read without Sympy."""
_MISSING = object()


@dataclass(frozen=True)
class CirqProgram:
    """A Cirq circuit structure as a Qiskit circuit with one parameter per angle slot."""

    circuit: QuantumCircuit
    qubits: tuple[cirq.Qid, ...]
    symbols: tuple[sympy.Symbol, ...]
    """The Cirq parameters the slots depend on."""
    slots: tuple[Parameter, ...]
    measurements: tuple[Measurement, ...]
    _values: Callable[..., Any]
    """Columns of symbol values -> [each slot's angles..., the global phase]."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(slot.name for slot in self.slots)

    def symbol_values(self, resolvers: Sequence[cirq.ParamResolver]) -> FloatArray:
        """Resolvers x symbols: each Cirq parameter's value in each resolver.

        A value given as a plain number, under the symbol or its name, is read from the
        resolver's mapping directly; anything else (an expression, a value naming
        another parameter) is resolved by Cirq's ``value_of``, as before."""
        table = np.empty((len(resolvers), len(self.symbols)))
        for row, resolver in enumerate(resolvers):
            given = resolver.param_dict
            for column, symbol in enumerate(self.symbols):
                value = given.get(symbol, _MISSING)
                if value is _MISSING:
                    value = given.get(symbol.name, _MISSING)
                if isinstance(value, _PLAIN_NUMBERS):
                    table[row, column] = value
                    continue
                value = resolver.value_of(symbol)
                if isinstance(value, sympy.Basic) and not value.is_number:
                    raise ValueError(
                        f"parameter {symbol} has no value in {resolver!r}; give every "
                        f"parameter of the circuit ({', '.join(map(str, self.symbols))}) a "
                        "number"
                    )
                table[row, column] = complex(value).real
        return table

    def evaluate(self, symbol_values: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Rows of symbol values -> (rows of slot values in :attr:`slots` order, each
        row's global phase in radians), from one call of the compiled expressions."""
        rows = symbol_values.shape[0]
        columns = [symbol_values[:, k] for k in range(len(self.symbols))]
        table = np.empty((rows, len(self.slots) + 1))
        for position, value in enumerate(self._values(*columns)):
            table[:, position] = np.real(value)
        return table[:, :-1], table[:, -1]

    def slot_values(self, symbol_values: FloatArray) -> FloatArray:
        """Rows of symbol values -> rows of slot values, in :attr:`slots` order."""
        return self.evaluate(symbol_values)[0]

    def phases(self, symbol_values: FloatArray) -> FloatArray:
        """Each row's global phase, in radians (what the Qiskit circuit leaves out)."""
        return self.evaluate(symbol_values)[1]


class _Builder:
    """Appends Cirq operations to a Qiskit circuit, collecting angle slots and phase."""

    def __init__(self, qubits: Sequence[cirq.Qid]) -> None:
        self.index = {qubit: position for position, qubit in enumerate(qubits)}
        self.circuit = QuantumCircuit(len(qubits))
        self.slots: dict[sympy.Basic, Parameter] = {}
        self.phase: sympy.Basic = sympy.Integer(0)
        self.measurements: list[Measurement] = []

    def angle(self, expression: Any) -> float | Parameter:
        """A number stays a number; an expression gets its slot (shared if seen before)."""
        if not isinstance(expression, sympy.Basic):
            return float(expression)
        if expression.is_number:
            return float(expression)
        slot = self.slots.get(expression)
        if slot is None:
            slot = self.slots[expression] = Parameter(f"_cirq_{len(self.slots):06d}")
        return slot

    def add(self, operation: cirq.Operation, depth: int = 0) -> None:
        if depth > 32:
            raise UnsupportedCircuitError(f"{operation!r} decomposes too deeply")
        gate = operation.gate
        qubits = [self.index[qubit] for qubit in operation.qubits]
        if gate is not None and self._family(gate, qubits):
            return
        if isinstance(operation, cirq.ClassicallyControlledOperation):
            raise UnsupportedCircuitError(
                f"classically controlled operations are not supported ({operation!r}); "
                f"accepted: {SUPPORTED}"
            )
        decomposed: Any = cirq.decompose_once(operation, default=None)
        if decomposed is not None:
            for part in cirq.flatten_to_ops(decomposed):
                self.add(part, depth + 1)
            return
        if not cirq.is_parameterized(operation) and cirq.has_unitary(operation):
            matrix = cirq.unitary(operation)
            # Cirq's matrix has the operation's first qubit most significant, Qiskit's least
            self.circuit.append(UnitaryGate(matrix, check_input=False), list(reversed(qubits)))
            return
        raise UnsupportedCircuitError(
            f"operation {operation!r} has no equivalent here (noise channels run on a noisy "
            f"backend instead); accepted: {SUPPORTED}"
        )

    def _family(self, gate: Any, qubits: list[int]) -> bool:
        """Append ``gate`` if it is one of the families mapped directly; False if not."""
        circuit = self.circuit
        if isinstance(gate, cirq.MeasurementGate):
            self._measure(gate, qubits)
            return True
        if isinstance(gate, cirq.IdentityGate):
            return True
        if isinstance(gate, cirq.ResetChannel):
            circuit.reset(qubits[0])
            return True
        if isinstance(gate, cirq.GlobalPhaseGate):
            coefficient = gate.coefficient
            if isinstance(coefficient, sympy.Basic):
                self.phase += -sympy.I * sympy.log(coefficient)
            else:
                self.phase += float(np.angle(coefficient))
            return True
        # family, its rotation, and the plain gate of exponent 1 (if any)
        rotations: list[tuple[Any, Callable[..., Any], Any]] = [
            (cirq.XPowGate, circuit.rx, circuit.x),
            (cirq.YPowGate, circuit.ry, circuit.y),
            (cirq.XXPowGate, circuit.rxx, None),
            (cirq.YYPowGate, circuit.ryy, None),
            (cirq.ZZPowGate, circuit.rzz, None),
        ]
        for family, append, plain in rotations:
            if isinstance(gate, family):
                exponent, shift = gate.exponent, gate.global_shift
                if plain is not None and exponent == 1 and shift == 0:
                    plain(*qubits)
                    return True
                angle = sympy.pi * exponent
                append(self.angle(angle), *qubits)
                self.phase += angle * (shift + sympy.Rational(1, 2))
                return True
        if isinstance(gate, cirq.ZPowGate | cirq.CZPowGate | cirq.CXPowGate):
            exponent, shift = gate.exponent, gate.global_shift
            angle = sympy.pi * exponent
            self.phase += angle * shift
            if isinstance(gate, cirq.ZPowGate):
                if exponent == 1:
                    circuit.z(qubits[0])
                else:
                    circuit.p(self.angle(angle), qubits[0])
            elif exponent == 1:
                (circuit.cz if isinstance(gate, cirq.CZPowGate) else circuit.cx)(*qubits)
            elif isinstance(gate, cirq.CZPowGate):
                self._controlled_phase(angle, *qubits)
            else:  # CX**t is CZ**t conjugated by H on the target
                circuit.h(qubits[1])
                self._controlled_phase(angle, *qubits)
                circuit.h(qubits[1])
            return True
        if isinstance(gate, cirq.HPowGate) and gate.exponent == 1:
            circuit.h(qubits[0])
            self.phase += sympy.pi * gate.global_shift
            return True
        return False

    def _controlled_phase(self, angle: Any, control: int, target: int) -> None:
        """``cp``; with a symbolic angle in phase gates and CNOTs, since Aer (0.18) ignores
        the bound value of a parameterised ``cp``."""
        if isinstance(angle, sympy.Basic) and not angle.is_number:
            half = angle / 2
            self.circuit.p(self.angle(half), control)
            self.circuit.p(self.angle(half), target)
            self.circuit.cx(control, target)
            self.circuit.p(self.angle(-half), target)
            self.circuit.cx(control, target)
        else:
            self.circuit.cp(self.angle(angle), control, target)

    def _measure(self, gate: cirq.MeasurementGate, qubits: list[int]) -> None:
        key = str(gate.key)
        if any(known.key == key for known in self.measurements):
            raise UnsupportedCircuitError(
                f"measurement key {key!r} is used more than once; accepted: one measurement "
                "per key (give each its own key)"
            )
        if gate.confusion_map:
            raise UnsupportedCircuitError(
                f"measurement {key!r} has a confusion map; accepted: plain measurements "
                "(readout errors come from a noisy backend)"
            )
        name = f"m_{key}" if f"m_{key}".isidentifier() else f"m{len(self.measurements)}"
        register = ClassicalRegister(len(qubits), name)
        self.circuit.add_register(register)
        self.circuit.measure(qubits, register)
        invert = tuple(bool(bit) for bit in gate.full_invert_mask())
        self.measurements.append(Measurement(key, name, invert))


def _compile(
    symbols: tuple[sympy.Symbol, ...], expressions: Sequence[sympy.Basic]
) -> Callable[..., Any]:
    """The expressions as one numpy function of the symbols' columns."""
    return sympy.lambdify(symbols, list(expressions), modules="numpy")  # type: ignore[no-any-return]


def _convert(circuit: cirq.AbstractCircuit, qubit_order: Any) -> CirqProgram:
    order = cirq.QubitOrder.as_qubit_order(
        cirq.QubitOrder.DEFAULT if qubit_order is None else qubit_order
    )
    qubits = tuple(order.order_for(circuit.all_qubits()))
    builder = _Builder(qubits)
    for operation in circuit.all_operations():
        builder.add(operation)
    expressions = list(builder.slots)
    free = set().union(*(e.free_symbols for e in [*expressions, builder.phase]))
    symbols = tuple(sorted(free, key=str))
    return CirqProgram(
        circuit=builder.circuit,
        qubits=qubits,
        symbols=symbols,
        slots=tuple(builder.slots.values()),
        measurements=tuple(builder.measurements),
        _values=_compile(symbols, [*expressions, builder.phase]),
    )


CACHE_SIZE = 256
_programs: LRUMemo[CirqProgram] = LRUMemo(CACHE_SIZE)


def cirq_program(circuit: cirq.AbstractCircuit, qubit_order: Any = None) -> CirqProgram:
    """The :class:`CirqProgram` of ``circuit``, converted once per structure and order."""
    if not isinstance(circuit, cirq.AbstractCircuit):
        raise UnsupportedCircuitError(
            f"expected a cirq.Circuit, got {type(circuit).__module__}.{type(circuit).__name__}"
        )
    frozen = circuit.freeze() if isinstance(circuit, cirq.Circuit) else circuit
    if qubit_order is cirq.QubitOrder.DEFAULT:
        qubit_order = None
    if isinstance(qubit_order, cirq.QubitOrder):  # a rule of the caller's: not cached
        return _convert(frozen, qubit_order)
    key = (frozen, None if qubit_order is None else tuple(qubit_order))
    return _programs.get(key, lambda: _convert(frozen, qubit_order))

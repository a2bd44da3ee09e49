"""Make circuits runnable on a backend once, then reuse the result on every iteration.

A variational loop sends the same parameterised circuit with new parameter values on
each iteration. Transpiling it for a 133-qubit device costs tens of milliseconds to
seconds, so the executor transpiles a circuit structure once and keeps the result,
keyed by :func:`circuit_token`. Parameters stay symbolic through the transpiler, so the
cached ISA circuit binds each iteration's values directly.

What the transpiler may do to a circuit is the caller's choice (:func:`device_pass_manager`):
by default it only lays the circuit out, routes it and translates it into the device's
gates, so the structure a user gave it on purpose (mitiq's unitary folding, echo
sequences, an ansatz already in the device's gates) reaches the device gate for gate.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Instruction, ParameterExpression
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.transpiler import PassManager, Target, generate_preset_pass_manager

_ALWAYS_SUPPORTED = frozenset({"barrier", "measure", "delay", "reset"})


def circuit_key(circuit: QuantumCircuit) -> Hashable:
    """A hashable value equal for two circuits with the same instructions on the same bits.

    Parameters enter by identity (name and UUID, which survive pickling), bound values by
    value, so the same ansatz object sent again compares equal while a different circuit
    of the same shape does not. A user-defined gate (a plain ``Gate``/``Instruction`` made
    by ``to_gate()``) enters by its definition, since two of them may share a name.
    """
    qubits = {bit: index for index, bit in enumerate(circuit.qubits)}
    clbits = {bit: index for index, bit in enumerate(circuit.clbits)}
    instructions = tuple(
        (
            _operation_key(item.operation),
            tuple(qubits[bit] for bit in item.qubits),
            tuple(clbits[bit] for bit in item.clbits),
        )
        for item in circuit.data
    )
    registers = tuple((register.name, register.size) for register in circuit.cregs)
    return (circuit.num_qubits, circuit.num_clbits, registers, circuit.global_phase, instructions)


def unchanged(circuit: QuantumCircuit, snapshot: QuantumCircuit) -> bool:
    """Whether ``circuit`` still equals ``snapshot`` (a copy taken earlier)."""
    same: bool = (
        circuit._data == snapshot._data  # compared in Rust: tens of microseconds
        and circuit.global_phase == snapshot.global_phase
        and circuit.qregs == snapshot.qregs
        and circuit.cregs == snapshot.cregs
        and circuit.name == snapshot.name
        and circuit.metadata == snapshot.metadata
        and circuit.layout == snapshot.layout
    )
    return same


_tokens: dict[Hashable, int] = {}
_token_of: dict[int, tuple[weakref.ref[QuantumCircuit], QuantumCircuit, int]] = {}
_next_token = itertools.count(1)
_tokens_lock = threading.Lock()
TOKEN_CAPACITY = 4096


def circuit_token(circuit: QuantumCircuit) -> Hashable:
    """A small key standing for the circuit's content: equal for equal circuits (from the
    same source), never reused for another, so caches of what is derived from a circuit
    can key on it.

    A circuit this process decoded from the wire is keyed by its wire key, a dictionary
    lookup. Any other is keyed by a number given to its :func:`circuit_key`, which costs
    milliseconds to build and hash for a deep circuit: the number is remembered per
    circuit object and worked out again only when the object no longer equals the
    snapshot taken then (it was changed).
    """
    from qlambda.quantum.wire import content_key

    wire_key = content_key(circuit)
    if wire_key is not None:
        return ("wire", wire_key)
    with _tokens_lock:
        known = _token_of.get(id(circuit))
    if known is not None and known[0]() is circuit and unchanged(circuit, known[1]):
        return ("content", known[2])
    key = circuit_key(circuit)
    with _tokens_lock:
        if len(_tokens) > TOKEN_CAPACITY:  # forgotten contents get new numbers: only misses
            _tokens.clear()
        if len(_token_of) > TOKEN_CAPACITY:
            _token_of.clear()
        token = _tokens.setdefault(key, next(_next_token))
        _token_of[id(circuit)] = (weakref.ref(circuit), circuit.copy(), token)
    return ("content", token)


def _operation_key(operation: Any) -> Hashable:
    key: tuple[Hashable, ...] = (
        type(operation).__qualname__,
        operation.name,
        tuple(_param_key(param) for param in operation.params),
        _param_key(getattr(operation, "condition", None)),
        _param_key(getattr(operation, "target", None)),  # a switch's subject
    )
    if type(operation) in (Gate, Instruction) and operation.definition is not None:
        key += (circuit_key(operation.definition),)
    return key


def _param_key(param: object) -> Hashable:
    if isinstance(param, ParameterExpression | int | float | complex | str):
        return param
    if isinstance(param, np.ndarray):
        return ("ndarray", param.shape, str(param.dtype), param.tobytes())
    if isinstance(param, QuantumCircuit):
        return ("circuit", circuit_key(param))
    try:
        hash(param)
    except TypeError:
        return ("repr", repr(param))
    return param


def device_pass_manager(backend: Any, level: int | None, seed: int | None) -> PassManager:
    """How circuits not yet written for ``backend`` (a Qiskit backend, or a bare
    ``Target``) are made runnable on it.

    ``level`` 0-3: Qiskit's preset pass manager at that level, as ``transpile`` would.
    None: the stages of level 2 that place the circuit (noise-aware VF2Layout, else
    SabreLayout), route it and translate it into the device's gates, without the stages
    that rewrite it: level 2's ``init`` (InverseCancellation, CommutativeCancellation,
    RemoveIdentityEquivalent, ElidePermutations, block consolidation) becomes level 0's,
    which only decomposes gates on three or more qubits, and ``optimization`` goes. A gate
    and its inverse, written on purpose, both run.
    """
    device = {"target": backend} if isinstance(backend, Target) else {"backend": backend}
    if level is not None:
        return generate_preset_pass_manager(
            optimization_level=level, seed_transpiler=seed, **device
        )
    keeping = generate_preset_pass_manager(optimization_level=2, seed_transpiler=seed, **device)
    keeping.init = generate_preset_pass_manager(optimization_level=0, **device).init
    keeping.optimization = None
    return keeping


def is_isa(circuit: QuantumCircuit, target: Target) -> bool:
    """Whether every instruction already acts on a device qubit tuple the target supports."""
    if circuit.num_qubits != target.num_qubits:
        return False
    qubits = {bit: index for index, bit in enumerate(circuit.qubits)}
    for item in circuit.data:
        name = item.operation.name
        if name in _ALWAYS_SUPPORTED:
            continue
        qargs = tuple(qubits[bit] for bit in item.qubits)
        if not target.instruction_supported(name, qargs):
            return False
    return True


UNBINDABLE = frozenset({"crx", "cry", "crz", "cp", "cu1", "mcphase", "mcrx", "mcry", "mcrz"})
"""Gates whose values Aer (0.18) ignores when they are bound through ``parameter_binds``:
its results for a parameterised ``cry(theta)`` are those of ``theta = 0``. An ideal
simulator runs them decomposed instead (rotations and CNOTs, which bind correctly)."""


def binds_unreliably(circuit: QuantumCircuit) -> bool:
    """Whether ``circuit`` holds a parameterised gate of :data:`UNBINDABLE`."""
    return any(
        instruction.operation.name in UNBINDABLE and instruction.is_parameterized()
        for instruction in circuit.data
    )


def without_unbindable(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` with its parameterised :data:`UNBINDABLE` gates decomposed (some
    decompose into others of them: ``mcphase`` into ``crz``, so until none is left)."""
    for _ in range(8):
        names = {
            instruction.operation.name
            for instruction in circuit.data
            if instruction.operation.name in UNBINDABLE and instruction.is_parameterized()
        }
        if not names:
            break
        circuit = circuit.decompose(gates_to_decompose=sorted(names))
    return circuit


def supports_all(circuit: QuantumCircuit, operation_names: frozenset[str]) -> bool:
    """Whether a width-agnostic simulator can run ``circuit`` as it is."""
    return all(name in operation_names or name in _ALWAYS_SUPPORTED for name in circuit.count_ops())


class TranspileCache:
    """Least-recently-used map from circuit structure to the circuit the backend runs.

    ``prepare(circuit)`` returns ``None`` when the circuit runs as it is, so callers
    keep the user's PUB (and its observables' qubit order) untouched in that case.
    """

    def __init__(
        self,
        needs_transpile: Callable[[QuantumCircuit], bool],
        transpile: Callable[[QuantumCircuit], QuantumCircuit],
        capacity: int = 128,
    ) -> None:
        self._needs_transpile = needs_transpile
        self._transpile = transpile
        self._capacity = capacity
        self._entries: OrderedDict[Hashable, QuantumCircuit | None] = OrderedDict()
        self._lock = threading.Lock()  # concurrent simulator slots may share one cache
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def prepare(self, circuit: QuantumCircuit) -> QuantumCircuit | None:
        key = circuit_token(circuit)
        with self._lock:
            if key in self._entries:
                self.hits += 1
                self._entries.move_to_end(key)
                return self._entries[key]
            self.misses += 1
        prepared = self._transpile(circuit) if self._needs_transpile(circuit) else None
        with self._lock:
            self._entries[key] = prepared
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return prepared

    def prepare_pub(self, pub: SamplerPub | EstimatorPub) -> SamplerPub | EstimatorPub:
        """The PUB with its circuit made runnable and, for an estimator, observables laid out."""
        prepared = self.prepare(pub.circuit)
        if prepared is None:
            return pub
        if isinstance(pub, SamplerPub):
            return SamplerPub(
                prepared, parameter_values=pub.parameter_values, shots=pub.shots, validate=False
            )
        observables = pub.observables
        if prepared.layout is not None:
            observables = observables.apply_layout(prepared.layout)
        elif prepared.num_qubits != pub.circuit.num_qubits:
            observables = observables.apply_layout(None, prepared.num_qubits)
        return EstimatorPub(
            prepared,
            observables,
            parameter_values=pub.parameter_values,
            precision=pub.precision,
            validate=False,
        )

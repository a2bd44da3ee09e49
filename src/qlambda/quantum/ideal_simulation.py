"""Samples and state vectors on an ideal Aer simulator, each circuit prepared once.

Aer's own SamplerV2 asks Aer for every shot's bit string as text and parses them in
Python (about 0.6 ms per 1000 shots), and starts a thread per call. On an ideal simulator
a circuit whose measurements all come last has exact outcome probabilities, so
:class:`IdealSampler` asks Aer for those (one call for every PUB and parameter set of a
request) and draws the shots in numpy: the same distribution, as a noisy device's
pipeline already does it (:mod:`qlambda.quantum.sampling`). Circuits measured
mid-circuit, or measuring more than :data:`MAX_DRAWN_QUBITS` qubits, go to Aer's sampler
as before. Requests of a few small circuits skip Aer altogether: Qiskit's reference
``Statevector`` gives the same exact state in less time than Aer's fixed cost per call.

:class:`StateVectors` answers ``statevector`` requests (Cirq's ``simulate()``, PennyLane's
adjoint gradients): the final state of each circuit and parameter set, in Qiskit's qubit
order (qubit 0 the least significant), as the PUB's ``state`` field.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Gate
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.containers.sampler_pub_result import SamplerPubResult

from qlambda.quantum.sampling import FinalMeasurements, draw_shots, final_measurements
from qlambda.quantum.transpilation import circuit_token

MAX_DRAWN_QUBITS = 16
"""Measured qubits up to which shots are drawn from the 2^n outcome probabilities."""
SMALL_QUBITS = 8
SMALL_WORK = 48
"""Circuits of at most ``SMALL_QUBITS`` qubits, whose gates times parameter sets come to
at most ``SMALL_WORK`` in a request, are evolved with ``qiskit.quantum_info.Statevector``
instead of an Aer call (whose fixed cost is larger than theirs)."""


class _Prepared:
    """Circuits derived once per circuit content (LRU)."""

    def __init__(self, capacity: int = 128) -> None:
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, circuit: QuantumCircuit, make: Any) -> Any:
        key = circuit_token(circuit)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        made = make(circuit)
        with self._lock:
            self._entries[key] = made
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return made


def _binds(circuit: QuantumCircuit, pub: SamplerPub) -> dict[Any, Any]:
    """Aer's ``parameter_binds`` entry for one PUB: every parameter set of the PUB."""
    if not circuit.num_parameters:
        return {}
    values = pub.parameter_values
    table = values.as_array(circuit.parameters).reshape(-1, circuit.num_parameters)
    return {parameter: table[:, i] for i, parameter in enumerate(circuit.parameters)}


def _small(circuits: Sequence[QuantumCircuit], pubs: Sequence[SamplerPub]) -> bool:
    """Whether evolving the states in numpy costs less than one Aer call (about 0.5 ms
    of fixed cost, whatever the circuit; numpy: tens of microseconds a gate)."""
    work = 0
    for circuit, pub in zip(circuits, pubs, strict=True):
        if circuit.num_qubits > SMALL_QUBITS:
            return False
        work += len(circuit.data) * max(pub.parameter_values.size, 1)
    return work <= SMALL_WORK and all(only_gates(circuit) for circuit in circuits)


def only_gates(circuit: QuantumCircuit) -> bool:
    """Whether ``circuit`` is gates (and barriers), then Aer's save instructions: what
    ``Statevector`` evolves (control flow, resets or delays are left to Aer)."""
    return all(
        isinstance(item.operation, Gate) or item.operation.name == "barrier"
        for item in circuit.data
        if not item.operation.name.startswith("save_")
    )


_unsaved_lock = threading.Lock()
_unsaved: OrderedDict[int, tuple[QuantumCircuit, QuantumCircuit]] = OrderedDict()


def without_saves(saving: QuantumCircuit) -> QuantumCircuit:
    """``saving`` without its final save instructions (Aer's), made once per circuit
    object: the entry holds ``saving`` itself, so its id is not reused meanwhile."""
    with _unsaved_lock:
        known = _unsaved.get(id(saving))
        if known is not None and known[0] is saving:
            _unsaved.move_to_end(id(saving))
            return known[1]
    gates = saving.copy()
    data = gates._data  # the saves come last; deleting from the end is cheap
    while len(data) and data[len(data) - 1].operation.name.startswith("save_"):
        del data[len(data) - 1]
    with _unsaved_lock:
        _unsaved[id(saving)] = (saving, gates)
        while len(_unsaved) > 256:
            _unsaved.popitem(last=False)
    return gates


def _evolved(circuit: QuantumCircuit, pub: SamplerPub) -> list[dict[str, Any]]:
    """What Aer would save for each parameter set of ``pub``, from Qiskit's own
    ``Statevector`` (the circuit's last instruction is its one save instruction)."""
    from qiskit.quantum_info import Statevector

    gates = without_saves(circuit)
    save = circuit.data[-1]
    label, qubits = save.operation.label, [circuit.find_bit(q).index for q in save.qubits]
    sets: list[dict[str, Any]] = []
    table = None
    if gates.num_parameters:
        table = pub.parameter_values.as_array(gates.parameters).reshape(-1, gates.num_parameters)
    for row in range(max(pub.parameter_values.size, 1) if table is not None else 1):
        bound = gates.assign_parameters(table[row]) if table is not None else gates
        state = Statevector(bound)
        if save.operation.name == "save_probabilities":
            sets.append({label: state.probabilities(qubits)})
        else:
            sets.append({label: state.data})
    return sets


def _run_all(
    simulator: Any, circuits: Sequence[QuantumCircuit], pubs: Sequence[SamplerPub], options: Any
) -> list[list[Any]]:
    """One Aer call for every circuit and parameter set (small circuits: Qiskit's
    ``Statevector``, see :func:`_small`); per PUB, the saved data of each set."""
    if _small(circuits, pubs):
        evolved: list[list[Any]] = []
        for circuit, pub in zip(circuits, pubs, strict=True):
            saved = _evolved(circuit, pub)
            evolved.append(saved * max(pub.parameter_values.size, 1) if len(saved) == 1 else saved)
        return evolved
    binds = [_binds(circuit, pub) for circuit, pub in zip(circuits, pubs, strict=True)]
    result = simulator.run(list(circuits), parameter_binds=binds, **options).result()
    per_pub, position = [], 0
    for circuit, pub in zip(circuits, pubs, strict=True):
        sets = max(pub.parameter_values.size, 1)
        if circuit.num_parameters:
            per_pub.append([result.data(position + k) for k in range(sets)])
            position += sets
        else:  # Aer ran it once; every parameter set is that same circuit
            per_pub.append([result.data(position)] * sets)
            position += 1
    return per_pub


class IdealSampler:
    """A SamplerV2-like runner for an ideal simulator: ``run_pubs(pubs)`` returns the
    ``PrimitiveResult``, or None when a circuit needs Aer's own per-shot sampling."""

    def __init__(self, simulator: Any, seed: int | None = None) -> None:
        self.simulator = simulator
        self._rng = np.random.default_rng(seed)
        self._splits = _Prepared()
        self._lock = threading.Lock()  # an ideal simulator may serve tasks from threads

    def _split(self, circuit: QuantumCircuit) -> FinalMeasurements | None:
        split: FinalMeasurements | None = self._splits.get(circuit, final_measurements)
        if split is None or len(split.qubits) > MAX_DRAWN_QUBITS:
            return None
        return split

    def run_pubs(self, pubs: Sequence[SamplerPub]) -> PrimitiveResult[Any] | None:
        splits = [self._split(pub.circuit) for pub in pubs]
        if any(split is None for split in splits):
            return None
        ready = [split for split in splits if split is not None]
        data = _run_all(self.simulator, [s.saving_probabilities for s in ready], pubs, {})
        results = []
        for pub, split, sets in zip(pubs, ready, data, strict=True):
            shape = pub.parameter_values.shape
            drawn = []
            for saved in sets:
                probabilities = saved["probabilities"] if split.qubits else np.ones(1)
                with self._lock:
                    drawn.append(draw_shots(split, probabilities, int(pub.shots), {}, self._rng))
            registers = {
                name: BitArray(
                    np.stack([d[name].array for d in drawn]).reshape(
                        *shape, *drawn[0][name].array.shape
                    ),
                    drawn[0][name].num_bits,
                )
                for name in split.registers
            }
            results.append(
                SamplerPubResult(
                    DataBin(**registers, shape=shape),
                    metadata={"shots": int(pub.shots), "circuit_metadata": pub.circuit.metadata},
                )
            )
        return PrimitiveResult(results, metadata={"version": 2})


class StateVectors:
    """Final state vectors of measurement-free circuits, one Aer call per request."""

    def __init__(self, simulator: Any) -> None:
        self.simulator = simulator
        self._saving = _Prepared()

    @staticmethod
    def _saving_state(circuit: QuantumCircuit) -> QuantumCircuit:
        if any(item.operation.name in ("measure", "reset") for item in circuit.data):
            raise ValueError(
                f"circuit {circuit.name!r} measures or resets qubits, so it has no single "
                "final state; accepted for a state vector: circuits of gates only (remove "
                "the measurements, or sample the circuit instead)"
            )
        saving = circuit.copy()
        saving.save_statevector(label="state")
        return saving

    def run_pubs(self, pubs: Sequence[SamplerPub]) -> PrimitiveResult[Any]:
        circuits = [self._saving.get(pub.circuit, self._saving_state) for pub in pubs]
        data = _run_all(self.simulator, circuits, pubs, {"method": "statevector"})
        results = []
        for pub, sets in zip(pubs, data, strict=True):
            shape = pub.parameter_values.shape
            states = np.stack([np.asarray(saved["state"], dtype=complex) for saved in sets])
            states = states.reshape(*shape, 1 << pub.circuit.num_qubits)
            results.append(PubResult(DataBin(state=states, shape=shape), metadata={}))
        return PrimitiveResult(results, metadata={"version": 2})

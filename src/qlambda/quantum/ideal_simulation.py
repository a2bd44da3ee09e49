"""Samples and state vectors on an ideal Aer simulator, each circuit prepared once.

Aer's own SamplerV2 asks Aer for every shot's bit string as text and parses them in
Python (about 0.6 ms per 1000 shots), and starts a thread per call. On an ideal simulator
a circuit whose measurements all come last has exact outcome probabilities, so
:class:`IdealSampler` asks Aer for those (one call for every PUB and parameter set of a
request) and draws the shots in numpy: the same distribution, as a noisy device's
pipeline already does it (:mod:`qlambda.quantum.sampling`). Circuits measured
mid-circuit, or measuring more than :data:`MAX_DRAWN_QUBITS` qubits, go to Aer's sampler
as before. Requests of small circuits skip Aer altogether: their states come from
:mod:`qlambda.quantum.small_state` (compiled once per circuit, in numpy), in less time
than Aer's fixed cost per call (the rule, fitted on measurements:
``small_state.faster_than_aer``).

:class:`StateVectors` answers ``statevector`` requests (Cirq's ``simulate()``, PennyLane's
adjoint gradients): the final state of each circuit and parameter set, in Qiskit's qubit
order (qubit 0 the least significant), as the PUB's ``state`` field.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.containers.sampler_pub_result import SamplerPubResult

from qlambda.quantum.memo import LRUMemo
from qlambda.quantum.sampling import FinalMeasurements, draw_shots, final_measurements
from qlambda.quantum.small_state import SmallCircuit, faster_than_aer, probabilities, small_circuit
from qlambda.quantum.transpilation import circuit_token

MAX_DRAWN_QUBITS = 16
"""Measured qubits up to which shots are drawn from the 2^n outcome probabilities."""


def _binds(circuit: QuantumCircuit, pub: SamplerPub) -> dict[Any, Any]:
    """Aer's ``parameter_binds`` entry for one PUB: every parameter set of the PUB."""
    if not circuit.num_parameters:
        return {}
    values = pub.parameter_values
    table = values.as_array(circuit.parameters).reshape(-1, circuit.num_parameters)
    return {parameter: table[:, i] for i, parameter in enumerate(circuit.parameters)}


def _small(
    programs: Sequence[SmallCircuit | None], pubs: Sequence[SamplerPub]
) -> list[SmallCircuit] | None:
    """The compiled circuits when numpy evolves them all faster than one Aer call does,
    else None (some circuit is refused, or the request is too large)."""
    ready = [program for program in programs if program is not None]
    if len(ready) < len(programs):
        return None
    work = [
        (program.num_qubits, program.gates, max(pub.parameter_values.size, 1))
        for program, pub in zip(ready, pubs, strict=True)
    ]
    return ready if faster_than_aer(work) else None


def without_saves(saving: QuantumCircuit) -> QuantumCircuit:
    """``saving`` without its final save instructions (Aer's)."""
    gates = saving.copy()
    data = gates._data  # the saves come last; deleting from the end is cheap
    while len(data) and data[len(data) - 1].operation.name.startswith("save_"):
        del data[len(data) - 1]
    return gates


def evolved(program: SmallCircuit, pub: SamplerPub) -> Any:
    """The final states (sets, 2^n) of ``program`` for every parameter set of ``pub``."""
    if not program.parameters:
        states = program.states()
        return np.broadcast_to(states, (max(pub.parameter_values.size, 1), states.shape[1]))
    table = pub.parameter_values.as_array(program.parameters)
    return program.states(table.reshape(-1, len(program.parameters)))


def _run_all(
    simulator: Any, circuits: Sequence[QuantumCircuit], pubs: Sequence[SamplerPub], options: Any
) -> list[list[Any]]:
    """One Aer call for every circuit and parameter set; per PUB, the saved data of
    each set."""
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
        self._splits: LRUMemo[FinalMeasurements | None] = LRUMemo(128)
        self._lock = threading.Lock()  # an ideal simulator may serve tasks from threads

    def _split(self, circuit: QuantumCircuit) -> FinalMeasurements | None:
        key = ("final-measurements", circuit_token(circuit))
        split = self._splits.get(key, lambda: final_measurements(circuit))
        if split is None or len(split.qubits) > MAX_DRAWN_QUBITS:
            return None
        return split

    @staticmethod
    def _program(pub: SamplerPub, split: FinalMeasurements) -> SmallCircuit | None:
        """The circuit before its final measurements, compiled to numpy (or refused)."""
        unitary = split.saving_probabilities
        key = ("before-final-measurements", circuit_token(pub.circuit))
        return small_circuit(unitary, key, lambda: without_saves(unitary))

    def _probabilities(
        self, pubs: Sequence[SamplerPub], splits: Sequence[FinalMeasurements]
    ) -> list[Any]:
        """Per PUB, the measured qubits' outcome probabilities of each parameter set."""
        programs = _small([self._program(p, s) for p, s in zip(pubs, splits, strict=True)], pubs)
        if programs is not None:
            return [
                probabilities(evolved(program, pub), split.qubits, program.num_qubits)
                for program, pub, split in zip(programs, pubs, splits, strict=True)
            ]
        circuits = [split.saving_probabilities for split in splits]
        saved = _run_all(self.simulator, circuits, pubs, {})
        return [
            [data["probabilities"] if split.qubits else np.ones(1) for data in sets]
            for split, sets in zip(splits, saved, strict=True)
        ]

    def run_pubs(self, pubs: Sequence[SamplerPub]) -> PrimitiveResult[Any] | None:
        splits = [self._split(pub.circuit) for pub in pubs]
        if any(split is None for split in splits):
            return None
        ready = [split for split in splits if split is not None]
        results = []
        for pub, split, sets in zip(pubs, ready, self._probabilities(pubs, ready), strict=True):
            shape = pub.parameter_values.shape
            drawn = []
            for probabilities_of_set in sets:
                with self._lock:
                    drawn.append(
                        draw_shots(split, probabilities_of_set, int(pub.shots), {}, self._rng)
                    )
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
    """Final state vectors of measurement-free circuits: in numpy for small requests,
    else one Aer call per request."""

    def __init__(self, simulator: Any) -> None:
        self.simulator = simulator
        self._saving: LRUMemo[QuantumCircuit] = LRUMemo(128)

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

    def _saving_circuit(self, circuit: QuantumCircuit) -> QuantumCircuit:
        key = ("saving-state", circuit_token(circuit))
        return self._saving.get(key, lambda: self._saving_state(circuit))

    def _states(self, pubs: Sequence[SamplerPub]) -> list[Any]:
        """Per PUB, the final state of each parameter set (sets, 2^n)."""
        circuits = [self._saving_circuit(pub.circuit) for pub in pubs]  # checked, kept
        programs = _small([small_circuit(pub.circuit) for pub in pubs], pubs)
        if programs is not None:
            return [evolved(program, pub) for program, pub in zip(programs, pubs, strict=True)]
        data = _run_all(self.simulator, circuits, pubs, {"method": "statevector"})
        return [np.stack([np.asarray(saved["state"]) for saved in sets]) for sets in data]

    def run_pubs(self, pubs: Sequence[SamplerPub]) -> PrimitiveResult[Any]:
        results = []
        for pub, states in zip(pubs, self._states(pubs), strict=True):
            shape = pub.parameter_values.shape
            states = np.asarray(states, dtype=complex).reshape(*shape, 1 << pub.circuit.num_qubits)
            results.append(PubResult(DataBin(state=states, shape=shape), metadata={}))
        return PrimitiveResult(results, metadata={"version": 2})

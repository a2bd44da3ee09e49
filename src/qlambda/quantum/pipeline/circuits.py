"""Circuit surgery shared by the steps: work on the few qubits a circuit uses, not the device.

A circuit transpiled for a 133-qubit device names every physical qubit; mitiq converts
circuits through Cirq and OpenQASM, which for such a circuit means 133 wires, most idle.
Steps therefore transform the circuit cut down to its active qubits and put the result
back on the same physical qubits.
"""

from __future__ import annotations

from qiskit import QuantumCircuit

_DROPPED = frozenset({"barrier", "delay"})


def active_physical_qubits(circuit: QuantumCircuit) -> list[int]:
    """Qubits that carry an operation, in index order."""
    index = {bit: position for position, bit in enumerate(circuit.qubits)}
    used = {
        index[bit]
        for item in circuit.data
        if item.operation.name not in _DROPPED
        for bit in item.qubits
    }
    return sorted(used)


def compact(circuit: QuantumCircuit) -> tuple[QuantumCircuit, list[int]]:
    """The circuit on its active qubits only (barriers and delays dropped), and where each
    of its qubits sits in the original."""
    physical = active_physical_qubits(circuit)
    position = {circuit.qubits[q]: i for i, q in enumerate(physical)}
    small = QuantumCircuit(len(physical), circuit.num_clbits, global_phase=circuit.global_phase)
    clbit = {bit: i for i, bit in enumerate(circuit.clbits)}
    for item in circuit.data:
        if item.operation.name in _DROPPED:
            continue
        small.append(
            item.operation,
            [small.qubits[position[bit]] for bit in item.qubits],
            [small.clbits[clbit[bit]] for bit in item.clbits],
        )
    return small, physical


def expand(small: QuantumCircuit, physical: list[int], like: QuantumCircuit) -> QuantumCircuit:
    """``small`` put back on ``physical`` qubits of a circuit as wide as ``like``."""
    if small.num_qubits != len(physical):
        raise ValueError(
            f"a transformed circuit has {small.num_qubits} qubits where {len(physical)} were given"
        )
    wide = QuantumCircuit(like.num_qubits, global_phase=small.global_phase)
    for register in like.cregs:
        wide.add_register(register)
    if not like.cregs and small.num_clbits:
        wide.add_bits(small.clbits)
    wide.compose(small, qubits=physical, clbits=list(range(small.num_clbits)), inplace=True)
    return wide

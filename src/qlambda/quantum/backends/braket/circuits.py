"""Between Qiskit and Amazon Braket: circuits, targets and calibrations.

- :func:`device_data`: what a Braket device's capabilities say about it (its qubits,
  connectivity, the gates it accepts, their fidelities) as plain data, read in the
  backend's executor and sent to function workers for ``ctx.backend(name)``;
- :func:`braket_target`: the Qiskit ``Target`` of that data, which circuits are
  transpiled for (qubit ``i`` of the target is the device's ``i``-th qubit id);
- :func:`calibration_of`: the same fidelities as a platform calibration snapshot;
- :func:`to_braket`: a circuit transpiled for the target as a Braket ``Circuit`` and the
  final measurements to read its shots back into Qiskit's classical registers;
  :func:`registers_from` does that reading.

Only gates whose definitions are the same on both sides are mapped (checked against Aer
by the tests); anything else is translated by the transpiler into those first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Qiskit gate name -> Braket gate name (OpenQASM, as in a device's supportedOperations)
GATES: Mapping[str, str] = {
    "id": "i",
    "x": "x",
    "y": "y",
    "z": "z",
    "h": "h",
    "s": "s",
    "sdg": "si",
    "t": "t",
    "tdg": "ti",
    "sx": "v",
    "sxdg": "vi",
    "rx": "rx",
    "ry": "ry",
    "rz": "rz",
    "p": "phaseshift",
    "u": "U",
    "r": "prx",
    "cx": "cnot",
    "cy": "cy",
    "cz": "cz",
    "cp": "cphaseshift",
    "csx": "cv",
    "swap": "swap",
    "iswap": "iswap",
    "ecr": "ecr",
    "rxx": "xx",
    "ryy": "yy",
    "rzz": "zz",
    "ccx": "ccnot",
    "cswap": "cswap",
}
_BRAKET_TO_QISKIT = {braket: qiskit for qiskit, braket in GATES.items()}
# the Braket Circuit method of each gate, where it differs from the name
_METHODS = {"U": "u"}
_IGNORED = ("barrier", "global_phase")  # no effect on measured outcomes


class UnsupportedCircuitError(ValueError):
    """A circuit the adapter cannot express on Braket (mid-circuit measurement, reset,
    classical control)."""


# ----------------------------------------------------------------- the device, as data
def device_data(properties: Any, *, key: str, local: bool) -> dict[str, Any]:
    """Plain data of a Braket device's capabilities (``AwsDevice.properties`` or
    ``LocalSimulator.properties``): qubit ids, gates, edges, errors."""
    action = properties.action.get("braket.ir.openqasm.program")
    operations = [str(op) for op in getattr(action, "supportedOperations", None) or []]
    gates = sorted({_BRAKET_TO_QISKIT[op] for op in operations if op in _BRAKET_TO_QISKIT})
    paradigm = properties.paradigm
    count = int(paradigm.qubitCount)
    connectivity = getattr(paradigm, "connectivity", None)
    edges: list[list[str]] | None = None
    qubits = [str(q) for q in range(count)]
    if connectivity is not None and not connectivity.fullyConnected:
        graph = {str(a): [str(b) for b in bs] for a, bs in connectivity.connectivityGraph.items()}
        named = set(graph) | {b for bs in graph.values() for b in bs}
        qubits = sorted(named, key=_qubit_order)
        edges = sorted({tuple(sorted((a, b), key=_qubit_order)) for a in graph for b in graph[a]})  # type: ignore[misc]
        edges = [list(edge) for edge in edges]
    native = [str(g) for g in getattr(paradigm, "nativeGateSet", None) or []]
    standardized = getattr(properties, "standardized", None)
    one: dict[str, dict[str, float]] = {}
    two: dict[str, dict[str, float]] = {}
    if standardized is not None:
        for qubit, fields in (standardized.oneQubitProperties or {}).items():
            entry: dict[str, float] = {}
            for name in ("T1", "T2"):
                value = getattr(fields, name, None)
                if value is not None:
                    entry[name] = float(value.value) * _unit(getattr(value, "unit", "S"))
            for fidelity in fields.oneQubitFidelity or []:
                label = str(fidelity.fidelityType.name).upper()
                entry["readout_error" if label == "READOUT" else "gate_error"] = 1 - float(
                    fidelity.fidelity
                )
            one[str(qubit)] = entry
        for pair, fields in (standardized.twoQubitProperties or {}).items():
            for fidelity in fields.twoQubitGateFidelity or []:
                gate = _BRAKET_TO_QISKIT.get(str(fidelity.gateName).lower())
                if gate is None and str(fidelity.gateName).upper() == "CNOT":
                    gate = "cx"
                if gate is not None:
                    two.setdefault(str(pair), {})[gate] = 1 - float(fidelity.fidelity)
    return {
        "key": key,
        "local": local,
        "qubits": qubits,
        "edges": edges,
        "gates": gates,
        "native_gates": native,
        "one_qubit": one,
        "two_qubit": two,
        "program_sets": "braket.ir.openqasm.program_set" in properties.action,
    }


def _qubit_order(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (1 << 30, name)


def _unit(unit: str) -> float:
    return {"S": 1.0, "MS": 1e-3, "US": 1e-6, "NS": 1e-9}.get(str(unit).upper(), 1.0)


def braket_target(data: Mapping[str, Any]) -> Any:
    """The Qiskit ``Target`` of :func:`device_data`'s data: its gates on every qubit (one
    qubit) and on every edge both ways (two qubits; every pair when fully connected),
    with the device's errors, and measure with its readout errors. Gates on three qubits
    are left to the transpiler to decompose (Qiskit lays out no circuit for a backend
    with them)."""
    from qiskit.circuit import Measure, Parameter
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit.providers import QubitProperties
    from qiskit.transpiler import InstructionProperties, Target

    qubits: list[str] = list(data["qubits"])
    index = {name: position for position, name in enumerate(qubits)}
    one: Mapping[str, Mapping[str, float]] = data.get("one_qubit") or {}
    two: Mapping[str, Mapping[str, float]] = data.get("two_qubit") or {}
    if data.get("edges") is None:
        pairs = [(a, b) for a in range(len(qubits)) for b in range(len(qubits)) if a != b]
    else:
        pairs = [(index[a], index[b]) for a, b in data["edges"]]
        pairs += [(b, a) for a, b in pairs]
    properties = [
        QubitProperties(t1=one.get(name, {}).get("T1"), t2=one.get(name, {}).get("T2"))
        for name in qubits
    ]
    target = Target(num_qubits=len(qubits), qubit_properties=properties)
    standard = get_standard_gate_name_mapping()
    angles = [Parameter(f"a{i}") for i in range(3)]
    for name in data["gates"]:
        gate = standard[name]
        if gate.params:
            gate = type(gate)(*angles[: len(gate.params)])
        if gate.num_qubits == 1:
            target.add_instruction(
                gate,
                {
                    (q,): InstructionProperties(error=one.get(qubits[q], {}).get("gate_error"))
                    for q in range(len(qubits))
                },
            )
        elif gate.num_qubits == 2:
            target.add_instruction(
                gate,
                {
                    (a, b): InstructionProperties(error=_pair_error(two, qubits, a, b, name))
                    for a, b in pairs
                },
            )
    target.add_instruction(
        Measure(),
        {
            (q,): InstructionProperties(error=one.get(qubits[q], {}).get("readout_error"))
            for q in range(len(qubits))
        },
    )
    return target


def _pair_error(
    two: Mapping[str, Mapping[str, float]], qubits: Sequence[str], a: int, b: int, gate: str
) -> float | None:
    for key in (f"{qubits[a]}-{qubits[b]}", f"{qubits[b]}-{qubits[a]}"):
        errors = two.get(key)
        if errors:
            return errors.get(gate, min(errors.values()))
    return None


def calibration_of(backend: str, device: str, data: Mapping[str, Any], taken_at: float) -> Any:
    """The device's fidelities as a platform calibration snapshot, qubits in target order."""
    from qlambda.quantum.calibration import Calibration
    from qlambda.quantum.calibration.snapshot import GateCalibration, QubitCalibration

    qubits = list(data["qubits"])
    one = data.get("one_qubit") or {}
    entries = []
    for name in qubits:
        fields = one.get(name, {})
        entries.append(
            QubitCalibration(
                t1=fields.get("T1"),
                t2=fields.get("T2"),
                readout_error=fields.get("readout_error"),
                prob_meas1_prep0=None,
                prob_meas0_prep1=None,
            )
        )
    index = {name: position for position, name in enumerate(qubits)}
    gates = []
    for pair, errors in sorted((data.get("two_qubit") or {}).items()):
        a, _, b = pair.partition("-")
        if a in index and b in index:
            for gate, error in sorted(errors.items()):
                for qubits_ in ((index[a], index[b]), (index[b], index[a])):
                    gates.append(GateCalibration(gate, qubits_, error, None))
    return Calibration(
        backend=backend,
        device=device,
        taken_at=taken_at,
        device_date=str(data.get("updated", "")),
        qubits=tuple(entries),
        gates=tuple(gates),
    )


# ----------------------------------------------------------------- circuits
@dataclass(frozen=True)
class Converted:
    """A Braket circuit and how to read its shots: per classical bit of the Qiskit circuit
    (in ``circuit.clbits`` order) the device qubit id it measured (None: never measured,
    reads 0)."""

    circuit: Any
    clbit_qubits: tuple[str | None, ...]
    registers: tuple[tuple[str, tuple[int, ...]], ...]  # register name, its clbits' indices


def to_braket(circuit: Any, qubits: Sequence[str]) -> Converted:
    """``circuit`` (bound, transpiled for :func:`braket_target`: qubit ``i`` is device
    qubit ``qubits[i]``) as a Braket ``Circuit``. Measurements must come last on their
    qubit: Braket measures at the end of a circuit."""
    from braket.circuits import Circuit

    made = Circuit()
    clbit_index = {bit: i for i, bit in enumerate(circuit.clbits)}
    qubit_index = {bit: i for i, bit in enumerate(circuit.qubits)}
    clbit_qubits: list[str | None] = [None] * circuit.num_clbits
    measured: set[int] = set()
    used: set[int] = set()
    for item in circuit.data:
        operation = item.operation
        name = operation.name
        targets = [qubit_index[q] for q in item.qubits]
        if name in _IGNORED:
            continue
        if getattr(operation, "condition", None) is not None or name in (
            "if_else",
            "while_loop",
            "for_loop",
            "switch_case",
        ):
            raise UnsupportedCircuitError(
                f"a Braket device cannot run classically controlled operations ({name!r})"
            )
        if name == "measure":
            clbit_qubits[clbit_index[item.clbits[0]]] = qubits[targets[0]]
            measured.add(targets[0])
            continue
        if measured.intersection(targets):
            raise UnsupportedCircuitError(
                f"{name!r} acts on a qubit after its measurement; Braket measures only at the "
                "end of a circuit (no mid-circuit measurement)"
            )
        braket_name = GATES.get(name)
        if braket_name is None:
            raise UnsupportedCircuitError(
                f"operation {name!r} has no Braket equivalent here; accepted: "
                + ", ".join(sorted(GATES))
            )
        angles = [float(p) for p in operation.params]
        method = getattr(made, _METHODS.get(braket_name, braket_name))
        wires = [int(qubits[q]) if qubits[q].isdigit() else qubits[q] for q in targets]
        method(*wires, *angles)
        used.update(targets)
    for qubit in measured - used:  # Braket measures the qubits its circuit acts on
        made.i(int(qubits[qubit]) if qubits[qubit].isdigit() else qubits[qubit])
    registers = tuple(
        (register.name, tuple(clbit_index[bit] for bit in register)) for register in circuit.cregs
    )
    return Converted(made, tuple(clbit_qubits), registers)


def registers_from(
    converted: Converted, measurements: Any, measured_qubits: Sequence[Any]
) -> dict[str, Any]:
    """Per classical register, a ``BitArray`` of the shots Braket returned
    (``measurements``: shots × measured qubits, columns in ``measured_qubits`` order)."""
    from qiskit.primitives import BitArray

    rows = np.asarray(measurements, dtype=bool).reshape(len(measurements), -1)
    column = {str(q): i for i, q in enumerate(measured_qubits)}
    zeros = np.zeros(len(rows), dtype=bool)
    bits = [
        rows[:, column[qubit]] if qubit is not None and qubit in column else zeros
        for qubit in converted.clbit_qubits
    ]
    data = {}
    for name, indices in converted.registers:
        array = (
            np.stack([bits[i] for i in indices], axis=-1)
            if indices
            else np.zeros((len(rows), 0), bool)
        )
        data[name] = BitArray.from_bool_array(array, order="little")
    return data

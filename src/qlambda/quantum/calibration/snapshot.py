"""One backend's calibration at one moment, as plain data.

Read from the calibration file a fake IBM device ships with (``props_<name>.json``, the
format of IBM's backend properties), so building one needs no Qiskit. Times are seconds,
errors probabilities.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_UNITS = {"us": 1e-6, "µs": 1e-6, "ns": 1e-9, "ms": 1e-3, "s": 1.0, "": 1.0}


@dataclass(frozen=True)
class QubitCalibration:
    t1: float | None
    t2: float | None
    readout_error: float | None
    prob_meas1_prep0: float | None
    prob_meas0_prep1: float | None


@dataclass(frozen=True)
class GateCalibration:
    gate: str
    qubits: tuple[int, ...]
    error: float | None
    duration: float | None


@dataclass(frozen=True)
class Calibration:
    """A snapshot: ``device_date`` is the device's own timestamp, ``taken_at`` when the
    platform took it, ``step`` the drift step it was drifted to (0: as shipped)."""

    backend: str
    device: str
    taken_at: float
    device_date: str
    qubits: tuple[QubitCalibration, ...]
    gates: tuple[GateCalibration, ...]
    step: int = 0

    @functools.cached_property
    def id(self) -> str:
        """Equal for two snapshots with the same numbers, whenever they were taken."""
        content = json.dumps(
            [
                self.backend,
                [dataclasses.astuple(q) for q in self.qubits],
                [dataclasses.astuple(g) for g in self.gates],
            ],
            sort_keys=True,
        )
        return hashlib.sha1(content.encode()).hexdigest()[:16]

    def readout_errors(self) -> dict[int, tuple[float, float]]:
        """Per qubit ``(p(1|0), p(0|1))``; the symmetric readout error where the
        asymmetric ones are missing."""
        errors = {}
        for index, qubit in enumerate(self.qubits):
            p10 = (
                qubit.prob_meas1_prep0
                if qubit.prob_meas1_prep0 is not None
                else qubit.readout_error
            )
            p01 = (
                qubit.prob_meas0_prep1
                if qubit.prob_meas0_prep1 is not None
                else qubit.readout_error
            )
            if p10 is not None and p01 is not None:
                errors[index] = (float(p10), float(p01))
        return errors

    def two_qubit_errors(self) -> dict[tuple[int, int], float]:
        """Error of the best two-qubit gate on each coupled pair (both directions)."""
        errors: dict[tuple[int, int], float] = {}
        for gate in self.gates:
            if len(gate.qubits) == 2 and gate.error is not None:
                a, b = gate.qubits
                for pair in ((a, b), (b, a)):
                    errors[pair] = min(errors.get(pair, 1.0), gate.error)
        return errors

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "device": self.device,
            "taken_at": self.taken_at,
            "device_date": self.device_date,
            "step": self.step,
            "qubits": [dataclasses.astuple(q) for q in self.qubits],
            "gates": [[g.gate, list(g.qubits), g.error, g.duration] for g in self.gates],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            backend=data["backend"],
            device=data["device"],
            taken_at=data["taken_at"],
            device_date=data["device_date"],
            step=data.get("step", 0),
            qubits=tuple(QubitCalibration(*q) for q in data["qubits"]),
            gates=tuple(GateCalibration(g[0], tuple(g[1]), g[2], g[3]) for g in data["gates"]),
        )


def _value(entry: dict[str, Any]) -> float:
    return float(entry["value"]) * _UNITS.get(entry.get("unit", ""), 1.0)


def properties_file(device_class: str) -> Path:
    """The bundled calibration file of a fake device class (``FakeTorino``)."""
    spec = importlib.util.find_spec("qiskit_ibm_runtime")
    if spec is None or spec.origin is None:
        raise RuntimeError("qiskit-ibm-runtime is not installed: no fake device calibrations")
    backends = Path(spec.origin).parent / "fake_provider" / "backends"
    name = device_class.removeprefix("Fake").removesuffix("V2").lower()
    found = sorted(backends.glob(f"{name}/props_*.json"))
    if not found:
        raise FileNotFoundError(f"no calibration file for fake device {device_class!r}")
    return found[0]


@functools.cache
def _read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def device_calibration(backend: str, device_class: str, taken_at: float) -> Calibration:
    """The calibration a fake device class ships with, as a snapshot of ``backend``."""
    return calibration_from_properties(
        backend, device_class, _read(properties_file(device_class)), taken_at
    )


def calibration_from_properties(
    backend: str, device: str, data: dict[str, Any], taken_at: float
) -> Calibration:
    """A snapshot of ``backend`` from a device's properties in IBM's format (a fake
    device's bundled file, or ``BackendProperties.to_dict()`` of a live device)."""
    qubits = []
    for entries in data["qubits"]:
        fields = {entry["name"]: _value(entry) for entry in entries}
        qubits.append(
            QubitCalibration(
                t1=fields.get("T1"),
                t2=fields.get("T2"),
                readout_error=fields.get("readout_error"),
                prob_meas1_prep0=fields.get("prob_meas1_prep0"),
                prob_meas0_prep1=fields.get("prob_meas0_prep1"),
            )
        )
    gates = []
    for entry in data["gates"]:
        parameters = {p["name"]: _value(p) for p in entry["parameters"]}
        gates.append(
            GateCalibration(
                gate=entry["gate"],
                qubits=tuple(entry["qubits"]),
                error=parameters.get("gate_error"),
                duration=parameters.get("gate_length"),
            )
        )
    return Calibration(
        backend=backend,
        device=device,
        taken_at=taken_at,
        device_date=str(data.get("last_update_date", "")),
        qubits=tuple(qubits),
        gates=tuple(gates),
    )

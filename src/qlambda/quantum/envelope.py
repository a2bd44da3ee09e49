"""Quantum requests and results as the control plane carries them: facts and sealed bytes.

The dispatcher needs to know where a request goes (backend, width, whether it needs
exact values) and how long it should take (the workload behind the estimate), never the
circuits themselves. So the caller seals the request once, the QPU executor opens it,
and the result travels back sealed the same way. The control plane forwards bytes: it
does no Qiskit work on its threads and pays no serialisation on either hop.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import (
    QuantumRequest,
    Workload,
    estimate_from_workload,
    request_workload,
)


@dataclass(frozen=True)
class RequestEnvelope:
    primitive: str
    backend: str | None
    num_qubits: int
    workload: Workload
    payload: bytes  # the pickled QuantumRequest (circuits as QPY)
    needs_exact: bool = False  # a PUB asks for precision 0: ideal simulators only

    def open(self) -> QuantumRequest:
        request: QuantumRequest = pickle.loads(self.payload)
        return request

    def estimate_seconds(self, config: BackendConfig) -> float:
        return estimate_from_workload(self.workload, config)

    def to_data(self) -> dict[str, Any]:
        """As plain data, for the trip from a job's worker to the control plane."""
        return {
            "primitive": self.primitive,
            "backend": self.backend,
            "num_qubits": self.num_qubits,
            "workload": [list(item) for item in self.workload],
            "payload": self.payload,
            "needs_exact": self.needs_exact,
        }

    @classmethod
    def from_data(cls, data: Any) -> RequestEnvelope:
        """Check what a job sent: the control plane routes and estimates by these fields."""
        if not isinstance(data, dict) or set(data) != _ENVELOPE_FIELDS:
            raise ValueError(
                "a quantum request must be a mapping of " + ", ".join(sorted(_ENVELOPE_FIELDS))
            )
        primitive, backend, width = data["primitive"], data["backend"], data["num_qubits"]
        if primitive not in ("sampler", "estimator"):
            raise ValueError(
                f"a quantum request for primitive {primitive!r}; accepted: sampler, estimator"
            )
        if backend is not None and not isinstance(backend, str):
            raise ValueError("a quantum request's backend must be a name or None")
        if type(width) is not int or width < 0:
            raise ValueError("a quantum request's num_qubits must be a whole number")
        if not isinstance(data["payload"], bytes):
            raise ValueError("a quantum request's payload must be bytes")
        if not isinstance(data["needs_exact"], bool):
            raise ValueError("a quantum request's needs_exact must be true or false")
        workload = data["workload"]
        if not isinstance(workload, list) or not all(_workload_item(i) for i in workload):
            raise ValueError("a quantum request's workload must be [executions, shots, depth]s")
        return cls(
            primitive=primitive,
            backend=backend,
            num_qubits=width,
            workload=tuple(tuple(item) for item in workload),
            payload=data["payload"],
            needs_exact=data["needs_exact"],
        )


_ENVELOPE_FIELDS = {"primitive", "backend", "num_qubits", "workload", "payload", "needs_exact"}


def _workload_item(item: Any) -> bool:
    return (
        isinstance(item, list)
        and len(item) == 3
        and type(item[0]) is int
        and item[0] >= 0
        and (item[1] is None or (type(item[1]) is int and item[1] >= 0))
        and type(item[2]) is int
        and item[2] >= 0
    )


def seal(request: QuantumRequest) -> RequestEnvelope:
    return RequestEnvelope(
        primitive=request.primitive,
        backend=request.backend,
        num_qubits=request.num_qubits,
        workload=request_workload(request),
        payload=pickle.dumps(request, protocol=5),
        needs_exact=request.needs_exact,
    )


@dataclass(frozen=True)
class ResultEnvelope:
    """An executor's answer: its timings in the open, the PrimitiveResult sealed."""

    busy_seconds: float
    simulated_seconds: float
    emulated_seconds: float | None
    payload: bytes
    calibration: str | None = None
    recompiled: bool = False

    def open(self) -> Any:
        return pickle.loads(self.payload)


def seal_outcome(outcome: Any) -> ResultEnvelope:
    return ResultEnvelope(
        busy_seconds=outcome.busy_seconds,
        simulated_seconds=outcome.simulated_seconds,
        emulated_seconds=outcome.emulated_seconds,
        payload=pickle.dumps(outcome.result, protocol=5),
        calibration=outcome.calibration,
        recompiled=outcome.recompiled,
    )

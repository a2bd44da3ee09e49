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
        return pickle.loads(self.payload)

    def estimate_seconds(self, config: BackendConfig) -> float:
        return estimate_from_workload(self.workload, config)


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

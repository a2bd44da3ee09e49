"""Quantum requests and results as the control plane carries them: facts and sealed bytes.

The dispatcher needs to know where a request goes (backend, width, whether it needs
exact values) and how long it should take (the workload behind the estimate), never the
circuits themselves. So the caller seals the request once, the QPU executor opens it,
and the result travels back sealed the same way. The control plane forwards bytes: it
does no Qiskit work on its threads and pays no serialisation on either hop.

Sealed means encoded as data (:mod:`qlambda.quantum.codec`), never pickled: the QPU
executor that opens a request is shared by every tenant, and checks what it opens
against the facts it was routed by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qlambda.engine.protocol import Encoded, ProtocolError, pack_data, unpack_data
from qlambda.quantum.codec import (
    QuantumRequestError,
    RequestLimits,
    check_routing,
    decode_request,
    decode_result,
    encode_request,
    encode_result,
)
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import (
    PRIMITIVES,
    QuantumRequest,
    Workload,
    check_mode,
    check_tags,
    estimate_from_workload,
    request_workload,
)

MAX_REQUEST_BYTES = RequestLimits.max_bytes
"""The largest sealed request the control plane queues (what an executor would accept)."""


@dataclass(frozen=True)
class RequestEnvelope:
    primitive: str
    backend: str | None
    num_qubits: int
    workload: Workload
    payload: bytes  # the QuantumRequest as data (qlambda.quantum.codec)
    needs_exact: bool = False  # a PUB asks for precision 0: ideal simulators only
    mode: str | None = None  # the session or batch the call runs in (QuantumRequest.mode)
    tags: tuple[str, ...] = ()  # the call's job tags, for its events (QuantumRequest.tags)

    def open(self, limits: RequestLimits | None = None) -> QuantumRequest:
        """The request, decoded with ``limits`` and checked against the facts it was
        routed by (:class:`~qlambda.quantum.codec.QuantumRequestError` otherwise)."""
        request: QuantumRequest = decode_request(self.payload, limits)
        check_routing(request, self.primitive, self.num_qubits, self.needs_exact)
        if request.mode != self.mode:
            raise QuantumRequestError(
                f"the request was routed in mode {self.mode!r} but holds {request.mode!r}"
            )
        if request.tags != self.tags:
            raise QuantumRequestError(
                f"the request was routed with tags {list(self.tags)!r} but holds "
                f"{list(request.tags)!r}"
            )
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
            "mode": self.mode,
            "tags": list(self.tags),
        }

    @classmethod
    def from_data(cls, data: Any) -> RequestEnvelope:
        """Check what a job sent: the control plane routes and estimates by these fields."""
        # "mode" and "tags" may be absent: a client that predates them sends neither
        if not isinstance(data, dict) or set(data) | _OPTIONAL_FIELDS != _ENVELOPE_FIELDS:
            raise ValueError(
                "a quantum request must be a mapping of " + ", ".join(sorted(_ENVELOPE_FIELDS))
            )
        primitive, backend, width = data["primitive"], data["backend"], data["num_qubits"]
        if primitive not in PRIMITIVES:
            raise ValueError(
                f"a quantum request for primitive {primitive!r}; accepted: " + ", ".join(PRIMITIVES)
            )
        if backend is not None and not isinstance(backend, str):
            raise ValueError("a quantum request's backend must be a name or None")
        if type(width) is not int or width < 0:
            raise ValueError("a quantum request's num_qubits must be a whole number")
        if not isinstance(data["payload"], bytes):
            raise ValueError("a quantum request's payload must be bytes")
        if len(data["payload"]) > MAX_REQUEST_BYTES:
            raise ValueError(
                f"a quantum request of {len(data['payload'])} bytes; at most {MAX_REQUEST_BYTES}"
            )
        if not isinstance(data["needs_exact"], bool):
            raise ValueError("a quantum request's needs_exact must be true or false")
        check_mode(data.get("mode"))
        tags = check_tags(data.get("tags", []))
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
            mode=data.get("mode"),
            tags=tags,
        )


_ENVELOPE_FIELDS = {
    "primitive",
    "backend",
    "num_qubits",
    "workload",
    "payload",
    "needs_exact",
    "mode",
    "tags",
}
_OPTIONAL_FIELDS = {"mode", "tags"}


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
    keys: list[tuple[bytes, bytes | None]] = []
    payload = encode_request(request, keys)
    return RequestEnvelope(
        primitive=request.primitive,
        backend=request.backend,
        num_qubits=request.num_qubits,
        workload=request_workload(request, keys),
        payload=payload,
        needs_exact=request.needs_exact,
        mode=request.mode,
        tags=request.tags,
    )


@dataclass(frozen=True)
class ResultEnvelope:
    """An executor's answer: its timings in the open, the PrimitiveResult sealed as data."""

    busy_seconds: float
    simulated_seconds: float
    emulated_seconds: float | None
    payload: bytes
    calibration: str | None = None
    recompiled: bool = False
    delivered: bool = False  # the executor sent the result to the worker itself (no payload)

    def open(self) -> Any:
        return decode_result(self.payload)

    def to_encoded(self) -> Encoded:
        """As the executor hands it to its engine: data, whatever the engine trusts."""
        return Encoded(
            "data",
            pack_data(
                {
                    "busy_seconds": self.busy_seconds,
                    "simulated_seconds": self.simulated_seconds,
                    "emulated_seconds": self.emulated_seconds,
                    "payload": self.payload,
                    "calibration": self.calibration,
                    "recompiled": self.recompiled,
                    "delivered": self.delivered,
                }
            ),
        )

    @classmethod
    def from_encoded(cls, value: Any) -> ResultEnvelope:
        """What an executor's engine handed back, checked field by field."""
        if not isinstance(value, Encoded) or value.format != "data":
            raise QuantumRequestError("a QPU executor answered with something other than data")
        try:
            data = unpack_data(value.data)
        except ProtocolError as exc:
            raise QuantumRequestError(str(exc)) from None
        if not isinstance(data, dict) or set(data) != _RESULT_FIELDS:
            raise QuantumRequestError("a QPU executor's answer lacks its fields")
        seconds = [data["busy_seconds"], data["simulated_seconds"]]
        if data["emulated_seconds"] is not None:
            seconds.append(data["emulated_seconds"])
        if (
            not all(type(x) in (int, float) and math.isfinite(x) and x >= 0 for x in seconds)
            or not isinstance(data["payload"], bytes)
            or not (data["calibration"] is None or isinstance(data["calibration"], str))
            or not isinstance(data["recompiled"], bool)
            or not isinstance(data["delivered"], bool)
        ):
            raise QuantumRequestError("a QPU executor's answer has fields of the wrong types")
        return cls(**data)


_RESULT_FIELDS = {
    "busy_seconds",
    "simulated_seconds",
    "emulated_seconds",
    "payload",
    "calibration",
    "recompiled",
    "delivered",
}


def seal_outcome(outcome: Any) -> ResultEnvelope:
    return ResultEnvelope(
        busy_seconds=outcome.busy_seconds,
        simulated_seconds=outcome.simulated_seconds,
        emulated_seconds=outcome.emulated_seconds,
        payload=encode_result(outcome.result),
        calibration=outcome.calibration,
        recompiled=outcome.recompiled,
    )

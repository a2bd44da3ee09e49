"""What a QPU executor sends back for one request (kept apart from the simulators so a
worker can read it without importing Aer)."""

from __future__ import annotations

from dataclasses import dataclass

from qiskit.primitives import PrimitiveResult


@dataclass(frozen=True)
class ExecutionOutcome:
    """The primitive's result and how long the backend was busy with it.

    ``result`` is exactly what the Qiskit/Aer primitive returned. ``busy_seconds`` is the
    wall time the backend was occupied (simulation plus any emulated wait): the quantum
    task's duration for the dispatcher and the traces. ``emulated_seconds`` is the
    estimate (times ``time_scale``) the task was stretched to, or None without emulation.
    """

    result: PrimitiveResult
    busy_seconds: float
    simulated_seconds: float
    emulated_seconds: float | None
    calibration: str | None = None
    """Id of the calibration snapshot the request was compiled and simulated against."""
    recompiled: bool = False
    """True when a new calibration invalidated this backend's compiled circuits."""

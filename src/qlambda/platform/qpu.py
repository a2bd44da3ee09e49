"""What runs inside a QPU executor process: one simulated device, built once.

An executor is shared by every job that reaches its backend, on a server by every
tenant. It opens each request as data, with the backend's limits (never a pickle, but
for execution-option steps carried by value where ``allow_code``: the embedded
platform, whose executors run its one user's code anyway), and answers with data, so
the dispatcher unpickles nothing it sends either.
"""

from __future__ import annotations

from typing import Any

_runtime: Any = None
_limits: Any = None


def open_device(config: Any, allow_code: bool = False) -> None:
    """Engine initializer: build the backend runtime (noise model, simulator) once and run
    a first circuit, so the first task pays no first-call costs. The worker then freezes
    all of it out of the garbage collector's full passes (``engine.local.worker``)."""
    global _runtime, _limits
    from qlambda.quantum.codec import RequestLimits
    from qlambda.quantum.runtime import BackendRuntime

    _runtime = BackendRuntime(config)
    width = _runtime.device_qubits or config.num_qubits
    _limits = RequestLimits(max_qubits=width, allow_code=allow_code)
    _runtime.warm_up()


def execute(envelope: Any, calibration: Any = None) -> Any:
    """Run one sealed quantum task on this process's device; the result goes back as data
    (a ``protocol.Encoded``).

    ``calibration``: the backend's current snapshot when it changed since the last task
    sent here, else its id (or None for a backend without calibration).
    """
    import dataclasses

    from qlambda.quantum.envelope import seal_outcome

    recompiled = False
    if calibration is not None and not isinstance(calibration, str):
        recompiled = _runtime.calibrate(calibration)
    outcome = _runtime.execute(envelope.open(_limits))
    current = _runtime.calibration
    outcome = dataclasses.replace(
        outcome,
        calibration=None if current is None else current.id,
        recompiled=recompiled,
    )
    return seal_outcome(outcome).to_encoded()

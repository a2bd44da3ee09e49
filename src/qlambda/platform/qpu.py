"""What runs inside a QPU executor process: one simulated device, built once."""

from __future__ import annotations

from typing import Any

_runtime: Any = None


def open_device(config: Any) -> None:
    """Engine initializer: build the backend runtime (noise model, simulator) once and run
    a first circuit, so the first task pays no first-call costs. The worker then freezes
    all of it out of the garbage collector's full passes (``engine.local.worker``)."""
    global _runtime
    from qlambda.quantum.runtime import BackendRuntime

    _runtime = BackendRuntime(config)
    _runtime.warm_up()


def execute(envelope: Any, calibration: Any = None) -> Any:
    """Run one sealed quantum task on this process's device; the result goes back sealed.

    ``calibration``: the backend's current snapshot when it changed since the last task
    sent here, else its id (or None for a backend without calibration).
    """
    import dataclasses

    from qlambda.quantum.envelope import seal_outcome

    recompiled = False
    if calibration is not None and not isinstance(calibration, str):
        recompiled = _runtime.calibrate(calibration)
    outcome = _runtime.execute(envelope.open())
    current = _runtime.calibration
    outcome = dataclasses.replace(
        outcome,
        calibration=None if current is None else current.id,
        recompiled=recompiled,
    )
    return seal_outcome(outcome)

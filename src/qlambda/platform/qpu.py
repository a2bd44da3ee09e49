"""What runs inside a QPU executor process: one simulated device, built once."""

from __future__ import annotations

from typing import Any

_runtime: Any = None


def open_device(config: Any) -> None:
    """Engine initializer: build the backend runtime (noise model, simulator) once."""
    global _runtime
    from qlambda.quantum.runtime import BackendRuntime

    _runtime = BackendRuntime(config)


def execute(envelope: Any) -> Any:
    """Run one sealed quantum task on this process's device; the result goes back sealed."""
    from qlambda.quantum.envelope import seal_outcome

    return seal_outcome(_runtime.execute(envelope.open()))
